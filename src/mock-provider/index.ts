export type { MockBatchStats } from './batches.js';
export { runMockProvider } from './cli.js';
export {
  createMockProvider,
  type MockFault,
  type MockProvider,
  type MockProviderOptions,
  type MockProviderSettings,
  type MockProviderStats,
} from './server.js';
