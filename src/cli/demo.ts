import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { CacheStats } from '../cache/stats.js';
import { pingRedis } from '../cache/stores/redis-store.js';
import type { DemoCommand } from './demo-worker.js';
import { withTemporaryDirectory } from './temporary-directory.js';

interface WorkerHandle {
  name: string;
  child: ChildProcess;
  call<Result>(command: DemoCommand): Promise<Result>;
  /** Resolves on the next message without an id (the worker's "watching" signal). */
  signal(): Promise<void>;
}

const WORKER = fileURLToPath(new URL('./demo-worker.js', import.meta.url));

function startWorker(
  name: string,
  redisUrl: string,
  prefix: string,
  sqlitePath: string,
): Promise<WorkerHandle> {
  const child = fork(WORKER, [redisUrl, prefix, sqlitePath, name], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let nextId = 0;
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  const signals: Array<() => void> = [];
  return new Promise((resolveWorker, rejectWorker) => {
    child.on(
      'message',
      (message: { id?: number; result?: unknown; error?: string; ready?: boolean }) => {
        if (message.ready !== undefined) {
          if (!message.ready)
            rejectWorker(new Error(`${name} could not reach Redis at ${redisUrl}`));
          else resolveWorker(handle);
          return;
        }
        if (message.id === undefined) {
          signals.shift()?.();
          return;
        }
        const waiter = pending.get(message.id);
        pending.delete(message.id);
        if (message.error !== undefined) waiter?.reject(new Error(message.error));
        else waiter?.resolve(message.result);
      },
    );
    child.on('exit', (code) => {
      for (const waiter of pending.values())
        waiter.reject(new Error(`${name} exited with ${code}`));
      rejectWorker(new Error(`${name} exited with ${code} before it was ready`));
    });
    const handle: WorkerHandle = {
      name,
      child,
      call: <Result>(command: DemoCommand) =>
        new Promise<Result>((resolveCall, rejectCall) => {
          const id = nextId++;
          pending.set(id, { resolve: resolveCall as (value: unknown) => void, reject: rejectCall });
          child.send({ id, command });
        }),
      signal: () => new Promise<void>((resolveSignal) => signals.push(resolveSignal)),
    };
  });
}

/** Removes every key of the demo's prefix from Redis. */
async function deleteKeys(redisUrl: string, prefix: string): Promise<void> {
  const client = new Redis(redisUrl);
  try {
    const keys = await client.keys(`${prefix}:*`);
    if (keys.length > 0) await client.del(...keys);
  } finally {
    client.disconnect();
  }
}

const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
const ms = (value: number) => `${value.toFixed(1)} ms`;

function describeStats(name: string, stats: CacheStats): string {
  const tier = (label: string, hits = 0) => `${label} ${hits}`;
  return [
    `  ${name}: hit ratio ${percent(stats.hitRatio)}`,
    `(hits by tier: ${tier('L1', stats.tiers.l1.hits)}, ${tier('L2', stats.tiers.l2?.hits)}, ${tier('L3', stats.tiers.l3?.hits)};`,
    `misses ${stats.misses}; L1 evictions ${stats.tiers.l1.evictions}; coalesced ${stats.singleFlight.coalesced}; lease waits ${stats.singleFlight.leaseWaits})`,
  ].join(' ');
}

/**
 * `sluice demo`: two processes share a tiered cache through Redis and show, with real
 * numbers, what it saves: hit ratios per tier, one computation for a cross-process
 * stampede, and how fast an invalidation in one process reaches the other's L1.
 */
export async function runDemo(_args: string[]): Promise<void> {
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  console.log('Sluice demo: the tiered cache across two processes\n');
  if (!(await pingRedis(redisUrl))) {
    console.log(
      `Redis is not reachable at ${redisUrl}. Start Redis (or set REDIS_URL) and run again:`,
    );
    console.log('the demo shows two processes sharing one cache, which needs the shared tier.');
    process.exitCode = 1;
    return;
  }
  const prefix = `sluice-demo-${randomUUID().slice(0, 8)}`;
  // The L3 files live in a temporary folder (removed at the end, also on Ctrl-C), never in the
  // current one; Ctrl-C also removes the demo's Redis keys (the workers die with the terminal).
  await withTemporaryDirectory(`${prefix}-`, (directory) => demo(redisUrl, prefix, directory), {
    onInterrupt: () => deleteKeys(redisUrl, prefix),
  });
}

async function demo(redisUrl: string, prefix: string, directory: string): Promise<void> {
  const workers = await Promise.all([
    startWorker('process A', redisUrl, prefix, join(directory, 'a.db')),
    startWorker('process B', redisUrl, prefix, join(directory, 'b.db')),
  ]);
  const [a, b] = workers as [WorkerHandle, WorkerHandle];
  console.log(`Started process A (pid ${a.child.pid}) and process B (pid ${b.child.pid}).`);
  console.log(
    `Each has an L1 of 40 entries, the shared L2 at ${redisUrl} (prefix ${prefix}), and its own SQLite L3.\n`,
  );

  try {
    // 1. A skewed workload: most lookups go to a few hot questions.
    const lookups = 400;
    console.log(
      `1. Workload: each process asks ${lookups} questions drawn from 100 (Zipf-distributed);`,
    );
    console.log('   each answer costs a real computation (PBKDF2, ~5 ms) when not cached.');
    const [workA, workB] = await Promise.all([
      a.call<{ factoryCalls: number; elapsedMs: number }>({
        type: 'workload',
        lookups,
        keys: 100,
        seed: 1,
      }),
      b.call<{ factoryCalls: number; elapsedMs: number }>({
        type: 'workload',
        lookups,
        keys: 100,
        seed: 2,
      }),
    ]);
    const computed = workA.factoryCalls + workB.factoryCalls;
    console.log(
      `   ${2 * lookups} lookups needed ${computed} computations (${percent(1 - computed / (2 * lookups))} avoided);`,
    );
    console.log(`   A took ${ms(workA.elapsedMs)}, B took ${ms(workB.elapsedMs)}.`);
    const [statsA, statsB] = await Promise.all([
      a.call<{ stats: CacheStats }>({ type: 'stats' }),
      b.call<{ stats: CacheStats }>({ type: 'stats' }),
    ]);
    console.log(describeStats('A', statsA.stats));
    console.log(describeStats('B', statsB.stats));
    console.log(
      '   (L2 hits are answers the other process computed, or that fell out of this L1.)\n',
    );

    // 2. A stampede on a cold key from both processes at once.
    console.log(
      '2. Stampede: 50 concurrent callers in each process ask for the same cold key at the same instant.',
    );
    const startAt = Date.now() + 200;
    const [stampedeA, stampedeB] = await Promise.all([
      a.call<{ factoryCalls: number }>({
        type: 'stampede',
        key: 'quarterly-report',
        callers: 50,
        startAt,
      }),
      b.call<{ factoryCalls: number }>({
        type: 'stampede',
        key: 'quarterly-report',
        callers: 50,
        startAt,
      }),
    ]);
    console.log(
      `   100 callers, ${stampedeA.factoryCalls + stampedeB.factoryCalls} computation (A: ${stampedeA.factoryCalls}, B: ${stampedeB.factoryCalls}):`,
    );
    console.log(
      '   in-process callers share one call; across processes a Redis lease makes one compute while the other waits.\n',
    );

    // 3. Invalidation latency through the bus.
    console.log(
      '3. Invalidation: B holds a value in its L1; A changes it. How long until B sees the change?',
    );
    await a.call({ type: 'set', key: 'profile:42', value: 'v1', tags: ['user:42'] });
    await b.call({ type: 'load', key: 'profile:42' });
    const latencies: Record<string, number> = {};
    const changes: Array<[string, DemoCommand]> = [
      ['set', { type: 'set', key: 'profile:42', value: 'v2', tags: ['user:42'] }],
      ['invalidateTags', { type: 'invalidate', tags: ['user:42'] }],
    ];
    for (const [label, change] of changes) {
      const watching = b.signal();
      const seen = b.call<{ seenAt?: number }>({
        type: 'watch',
        key: 'profile:42',
        timeoutMs: 2_000,
      });
      await watching;
      const { startedAt } = await a.call<{ startedAt: number }>(change);
      const { seenAt } = await seen;
      latencies[label] = seenAt === undefined ? Number.NaN : seenAt - startedAt;
    }
    console.log(`   A.set → B sees the new value after ${ms(latencies.set ?? Number.NaN)}`);
    console.log(
      `   A.invalidateTags(['user:42']) → B's copy is gone after ${ms(latencies.invalidateTags ?? Number.NaN)}\n`,
    );

    // 4. Restart with an empty Redis: the SQLite L3 brings answers back.
    console.log(
      '4. Restart: A exits, Redis loses every key (it keeps nothing on disk), A starts again on its L3 file.',
    );
    await a.call({ type: 'close' });
    await deleteKeys(redisUrl, prefix);
    const restarted = await startWorker(
      'process A (restarted)',
      redisUrl,
      prefix,
      join(directory, 'a.db'),
    );
    workers[0] = restarted;
    const again = await restarted.call<{ factoryCalls: number; elapsedMs: number }>({
      type: 'workload',
      lookups,
      keys: 100,
      seed: 1,
    });
    const { stats: afterRestart } = await restarted.call<{ stats: CacheStats }>({ type: 'stats' });
    console.log(
      `   the same ${lookups} questions: ${again.factoryCalls} computations, ${afterRestart.tiers.l3?.hits ?? 0} answers from L3`,
    );
    console.log(
      `   (promoted to L1 and L2 as they were read), ${ms(again.elapsedMs)} instead of ${ms(workA.elapsedMs)}.\n`,
    );

    const [finalA, finalB] = await Promise.all([
      restarted.call<{ stats: CacheStats }>({ type: 'stats' }),
      b.call<{ stats: CacheStats }>({ type: 'stats' }),
    ]);
    const published = finalA.stats.bus.published + finalB.stats.bus.published;
    console.log(
      `Done: ${published} messages went over the invalidation bus; the L3 files hold ${finalA.stats.tiers.l3?.entries ?? 0} (A) and ${finalB.stats.tiers.l3?.entries ?? 0} (B) entries.`,
    );
    console.log(
      'Run `npm run bench -- cache-ops` for throughput and latency against lru-cache and bentocache.',
    );
  } finally {
    await Promise.allSettled(workers.map((worker) => worker.call({ type: 'close' })));
    await deleteKeys(redisUrl, prefix);
  }
}
