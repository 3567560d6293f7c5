import { memoryStore } from '../../src/cache/stores/memory-store.js';
import { registerStoreConformance } from './store-conformance.js';

registerStoreConformance('memory', async () => ({
  store: memoryStore(),
  neighbour: memoryStore(),
}));
