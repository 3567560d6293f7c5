import { pbkdf2Sync } from 'node:crypto';
import { redisStore } from '../cache/stores/redis-store.js';
import { sqliteStore } from '../cache/stores/sqlite-store.js';
import { createCache } from '../cache/tiered-cache.js';

/**
 * One demo process: a tiered cache (L1 here, L2 the shared Redis, L3 its own SQLite file)
 * answering commands from the demo orchestrator over IPC.
 */

export type DemoCommand =
  | { type: 'workload'; lookups: number; keys: number; seed: number }
  | { type: 'stampede'; key: string; callers: number; startAt: number }
  | { type: 'load'; key: string }
  | { type: 'watch'; key: string; timeoutMs: number }
  | { type: 'set'; key: string; value: string; tags?: string[] }
  | { type: 'invalidate'; tags: string[] }
  | { type: 'stats' }
  | { type: 'close' };

const [redisUrl, prefix, sqlitePath, name] = process.argv.slice(2);
if (
  redisUrl === undefined ||
  prefix === undefined ||
  sqlitePath === undefined ||
  name === undefined
) {
  throw new Error('usage: demo-worker REDIS_URL PREFIX SQLITE_PATH NAME');
}

const cache = createCache({
  l1: { maxEntries: 40 },
  l2: redisStore({ url: redisUrl, prefix }),
  l3: sqliteStore({ path: sqlitePath, prefix }),
  ttl: '10m',
});

let factoryCalls = 0;
let factoryMs = 0;

/** The "expensive call" the cache saves: real CPU work (PBKDF2, about 5 ms), standing in for an LLM call. */
function expensiveAnswer(question: string): string {
  factoryCalls++;
  const started = performance.now();
  const digest = pbkdf2Sync(question, 'sluice-demo', 20_000, 16, 'sha256').toString('hex');
  factoryMs += performance.now() - started;
  return `answer(${question}) = ${digest}`;
}

/** Zipf(1.0)-distributed key indexes from a seeded generator: a few hot keys, a long tail. */
function zipfSequence(count: number, keys: number, seed: number): number[] {
  const weights = Array.from({ length: keys }, (_, rank) => 1 / (rank + 1));
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  const cumulative: number[] = [];
  let running = 0;
  for (const weight of weights) {
    running += weight / total;
    cumulative.push(running);
  }
  let state = seed >>> 0;
  const random = () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
  return Array.from({ length: count }, () => {
    const u = random();
    const index = cumulative.findIndex((edge) => u <= edge);
    return index === -1 ? keys - 1 : index;
  });
}

const now = () => performance.timeOrigin + performance.now();

async function handle(command: DemoCommand): Promise<unknown> {
  switch (command.type) {
    case 'workload': {
      const before = factoryCalls;
      const started = performance.now();
      for (const index of zipfSequence(command.lookups, command.keys, command.seed)) {
        const question = `question-${index}`;
        await cache.getOrSet(question, () => expensiveAnswer(question));
      }
      return { factoryCalls: factoryCalls - before, elapsedMs: performance.now() - started };
    }
    case 'stampede': {
      const before = factoryCalls;
      await new Promise((done) => setTimeout(done, Math.max(0, command.startAt - Date.now())));
      await Promise.all(
        Array.from({ length: command.callers }, () =>
          cache.getOrSet(command.key, async () => {
            await new Promise((done) => setTimeout(done, 100)); // a slow upstream
            return expensiveAnswer(command.key);
          }),
        ),
      );
      return { factoryCalls: factoryCalls - before };
    }
    case 'load':
      return { value: await cache.get(command.key) };
    case 'watch': {
      // Reads the key in a tight loop until it changes; reports when the change became visible.
      const initial = await cache.get(command.key);
      const deadline = Date.now() + command.timeoutMs;
      process.send?.({ watching: true });
      while (Date.now() < deadline) {
        const value = await cache.get(command.key);
        if (value !== initial) return { seenAt: now(), value };
        await new Promise((done) => setImmediate(done));
      }
      return { seenAt: undefined };
    }
    case 'set': {
      const startedAt = now();
      await cache.set(command.key, command.value, { tags: command.tags ?? [] });
      return { startedAt };
    }
    case 'invalidate': {
      const startedAt = now();
      await cache.invalidateTags(command.tags);
      return { startedAt };
    }
    case 'stats':
      return { stats: cache.stats(), factoryCalls, factoryMs };
    case 'close':
      await cache.close();
      setImmediate(() => process.exit(0));
      return {};
  }
}

process.on('message', (message: { id: number; command: DemoCommand }) => {
  handle(message.command).then(
    (result) => process.send?.({ id: message.id, result }),
    (error: unknown) => process.send?.({ id: message.id, error: (error as Error).message }),
  );
});

cache.ready(3_000).then((ready) => {
  process.send?.({ ready, name });
});
