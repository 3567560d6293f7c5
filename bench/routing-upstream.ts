/**
 * A child process of `sluice bench routing`: one mock upstream in its own process, so that the
 * upstreams, the gateway and the load generator do not share an event loop.
 *
 *   node dist/bench/routing-upstream.js '{"error500Rate":0.1,"timeoutRate":0.05,"seed":7}'
 *
 * The argument is the mock's settings as JSON (`MockProviderSettings`). It must be started with
 * an IPC channel: it listens on 127.0.0.1 on a free port and sends `{ type: 'ready', url }` (or
 * `{ type: 'failed', message }`), then answers `{ type: 'stats' }` with the mock's counters and
 * `{ type: 'reset' }` by zeroing them (followed by its stats, as an acknowledgement). It closes
 * the mock and exits on SIGINT, SIGTERM or when the IPC channel closes (its parent stopped it
 * or died).
 */
import {
  createMockProvider,
  type MockProvider,
  type MockProviderSettings,
  type MockProviderStats,
} from '../src/mock-provider/index.js';
import { exitOnDisconnect } from './lib/child-processes.js';

/** Messages the benchmark sends to an upstream process. */
export type UpstreamCommand = { type: 'stats' } | { type: 'reset' };

/** Messages an upstream process sends to the benchmark. */
export type UpstreamReport =
  | { type: 'ready'; url: string }
  | { type: 'failed'; message: string }
  | { type: 'stats'; stats: MockProviderStats };

/** How long closing may take before the process exits anyway. */
const CLOSE_TIMEOUT_MS = 2_000;

function report(message: UpstreamReport): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  if (process.send === undefined) {
    console.error('routing-upstream.js is started by `sluice bench routing` (it needs IPC)');
    process.exitCode = 2;
    return;
  }
  let provider: MockProvider | undefined;
  const shutDown = exitOnDisconnect(() => provider?.close(), CLOSE_TIMEOUT_MS);
  process.on('message', (command: UpstreamCommand) => {
    if (provider === undefined) return;
    if (command.type === 'reset') provider.reset();
    report({ type: 'stats', stats: provider.stats() });
  });
  try {
    const settings = JSON.parse(process.argv[2] ?? '{}') as MockProviderSettings;
    provider = createMockProvider(settings);
    const { url } = await provider.listen(0, '127.0.0.1');
    report({ type: 'ready', url });
  } catch (error) {
    report({ type: 'failed', message: (error as Error).message });
    shutDown();
  }
}

await main();
