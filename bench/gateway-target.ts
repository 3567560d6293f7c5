/**
 * A child process of `sluice bench gateway`: runs one server of the benchmark in its own
 * process, so the upstream, the system under test and the load generator each get their own
 * event loop.
 *
 *   node dist/bench/gateway-target.js mock
 *   node dist/bench/gateway-target.js bare UPSTREAM_URL
 *   node dist/bench/gateway-target.js sluice UPSTREAM_URL [named|wildcard]
 *   node dist/bench/gateway-target.js sluice-embedded UPSTREAM_URL DATA_DIR [SQLITE_MAX_BYTES]
 *
 * It must be started with an IPC channel (`fork`). It listens on 127.0.0.1 on a free port and
 * sends `{ type: 'ready', url }`, or `{ type: 'failed', message }`. It then answers
 * `{ type: 'stats' }` (the mock's counters), `{ type: 'reset' }`, `{ type: 'alloc-start' }` and
 * `{ type: 'alloc-stop' }` (what it allocates in between, see `AllocationSampler`), and on
 * `{ type: 'close' }`,
 * SIGINT, SIGTERM or the loss of its parent it closes its server and exits (which also writes
 * a `--cpu-prof` profile).
 */
import { Session } from 'node:inspector/promises';
import { createGateway } from '../src/gateway/index.js';
import { createMockProvider, type MockProviderStats } from '../src/mock-provider/index.js';
import { createBareProxy } from './bare-proxy.js';
import { EMBEDDED_KEY } from './gateway-processes.js';
import { exitOnDisconnect } from './lib/child-processes.js';

/** The servers this process can run. */
export type TargetRole = 'mock' | 'bare' | 'sluice' | 'sluice-embedded';

/** Messages the benchmark sends to a target process. */
export type TargetCommand =
  | { type: 'stats' }
  | { type: 'reset' }
  | { type: 'close' }
  | { type: 'alloc-start' }
  | { type: 'alloc-stop' };

/** Messages a target process sends to the benchmark. */
export type TargetReport =
  | { type: 'ready'; url: string }
  | { type: 'failed'; message: string }
  | { type: 'stats'; stats: MockProviderStats | null }
  /** `alloc-start` done (`started: false` when the profiler could not start). */
  | { type: 'alloc-started'; started: boolean }
  /** Bytes allocated since `alloc-start` (garbage included), or null when not measured. */
  | { type: 'alloc'; bytes: number | null };

/**
 * Bytes between two V8 allocation samples. Each sample stands for this many bytes on
 * average, so a run of 10,000 requests of ~25 KB holds ~60,000 samples (a figure within about
 * half a percent); smaller intervals cost the process more while sampling.
 */
const ALLOCATION_SAMPLING_BYTES = 4_096;

/**
 * What this process allocates between `start` and `stop`, garbage included: V8's sampling heap
 * profiler told to keep the samples of objects that minor and major GCs have collected.
 */
class AllocationSampler {
  #session: Session | undefined;

  async start(): Promise<boolean> {
    try {
      const session = new Session();
      session.connect();
      await session.post('HeapProfiler.startSampling', {
        samplingInterval: ALLOCATION_SAMPLING_BYTES,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
      this.#session = session;
      return true;
    } catch {
      return false;
    }
  }

  async stop(): Promise<number | null> {
    const session = this.#session;
    if (session === undefined) return null;
    this.#session = undefined;
    try {
      const { profile } = await session.post('HeapProfiler.stopSampling');
      let bytes = 0;
      const pending = [profile.head];
      for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
        bytes += node.selfSize;
        pending.push(...node.children);
      }
      return bytes;
    } catch {
      return null;
    } finally {
      session.disconnect();
    }
  }
}

/** How long closing may take before the process exits anyway. */
const CLOSE_TIMEOUT_MS = 3_000;

interface RunningServer {
  url: string;
  stats(): MockProviderStats | null;
  reset(): void;
  close(): Promise<void>;
}

async function startServer(
  role: string,
  upstreamUrl: string | undefined,
  route: string | undefined,
  sqliteMaxBytes: string | undefined,
): Promise<RunningServer> {
  if (role === 'mock') {
    const provider = createMockProvider();
    const { url } = await provider.listen(0, '127.0.0.1');
    return {
      url,
      stats: () => provider.stats(),
      reset: () => provider.reset(),
      close: () => provider.close(),
    };
  }
  if (upstreamUrl === undefined) throw new Error(`the ${role} target needs an upstream URL`);
  if (role === 'bare') {
    const proxy = createBareProxy({ upstreamUrl });
    const { url } = await proxy.listen(0);
    return { url, stats: () => null, reset: () => {}, close: () => proxy.close() };
  }
  if (role === 'sluice') {
    const gateway = createGateway(
      {
        server: { logLevel: 'silent' },
        store: { sqlite: false },
        providers: [{ name: 'mock', type: 'openai-compatible', baseUrl: upstreamUrl }],
        // `named` (the default): the benchmark's model configured by name, as in production, so
        // its requests are routed (context window, cost estimates, x-sluice-route); `wildcard`:
        // every model passes through `*`, planned once per model name (earlier runs' setup).
        models:
          route === 'wildcard'
            ? [{ name: '*', provider: 'mock' }]
            : [
                { name: 'gpt-4o-mini', provider: 'mock' },
                { name: '*', provider: 'mock' },
              ],
      },
      { logger: false },
    );
    const { url } = await gateway.listen({ host: '127.0.0.1', port: 0 });
    return { url, stats: () => null, reset: () => {}, close: () => gateway.close() };
  }
  if (role === 'sluice-embedded') {
    // The embedded defaults a user gets, with one virtual key: SQLite L3 and the cost ledger in
    // DATA_DIR (the third argument here), the L3 byte bound given or the default.
    if (route === undefined) throw new Error('the sluice-embedded target needs a data folder');
    const gateway = createGateway(
      {
        server: { logLevel: 'silent' },
        store: {
          sqlite: `${route}/sluice.db`,
          ...(sqliteMaxBytes === undefined ? {} : { sqliteMaxBytes: Number(sqliteMaxBytes) }),
        },
        cost: { ledger: `${route}/ledger.db` },
        providers: [{ name: 'mock', type: 'openai-compatible', baseUrl: upstreamUrl }],
        models: [
          { name: 'gpt-4o-mini', provider: 'mock' },
          { name: 'text-embedding-3-small', provider: 'mock' },
        ],
        keys: [{ name: 'bench', key: EMBEDDED_KEY }],
      },
      { logger: false },
    );
    const { url } = await gateway.listen({ host: '127.0.0.1', port: 0 });
    return { url, stats: () => null, reset: () => {}, close: () => gateway.close() };
  }
  throw new Error(`unknown target role '${role}'; expected mock, bare, sluice or sluice-embedded`);
}

function report(message: TargetReport): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  if (process.send === undefined) {
    console.error(
      'gateway-target.js is started by `sluice bench gateway` (it needs an IPC channel)',
    );
    process.exitCode = 2;
    return;
  }
  const [role = '', upstreamUrl, route, sqliteMaxBytes] = process.argv.slice(2);
  let server: RunningServer | undefined;
  const shutDown = exitOnDisconnect(() => server?.close(), CLOSE_TIMEOUT_MS);
  const sampler = new AllocationSampler();
  process.on('message', (message: TargetCommand) => {
    if (message.type === 'close') shutDown();
    else if (message.type === 'reset') server?.reset();
    else if (message.type === 'stats') report({ type: 'stats', stats: server?.stats() ?? null });
    else if (message.type === 'alloc-start') {
      void sampler.start().then((started) => report({ type: 'alloc-started', started }));
    } else if (message.type === 'alloc-stop') {
      void sampler.stop().then((bytes) => report({ type: 'alloc', bytes }));
    }
  });
  try {
    server = await startServer(role, upstreamUrl, route, sqliteMaxBytes);
  } catch (error) {
    report({ type: 'failed', message: (error as Error).message });
    shutDown();
    return;
  }
  report({ type: 'ready', url: server.url });
}

await main();
