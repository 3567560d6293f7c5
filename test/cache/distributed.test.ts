import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { redisStore } from '../../src/cache/stores/redis-store.js';
import { sqliteStore } from '../../src/cache/stores/sqlite-store.js';
import { type Cache, createCache } from '../../src/cache/tiered-cache.js';
import { redisAvailable, redisUrl } from '../helpers/redis.js';

const DB = 12;
const available = await redisAvailable();

/** Polls until `check` holds, returning the time it took; fails after `limitMs`. */
async function within(limitMs: number, check: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > limitMs)
      throw new Error(`condition not met within ${limitMs} ms`);
    await new Promise((done) => setTimeout(done, 1));
  }
  return performance.now() - started;
}

describe.skipIf(!available)('two caches sharing one Redis (two processes)', () => {
  const opened: Cache[] = [];

  /** A cache as one process would open it, on the shared prefix. */
  async function open(
    prefix: string,
    options: { l3?: boolean; leaseWait?: number } = {},
  ): Promise<Cache> {
    const cache = createCache({
      l1: { maxEntries: 1_000 },
      l2: redisStore({ url: redisUrl(DB), prefix }),
      ...(options.l3 ? { l3: sqliteStore({ path: ':memory:' }) } : {}),
      ...(options.leaseWait === undefined ? {} : { lease: { wait: options.leaseWait } }),
      ttl: '1m',
    });
    opened.push(cache);
    expect(await cache.ready()).toBe(true);
    return cache;
  }

  async function pair(options: { l3?: boolean } = {}): Promise<[Cache, Cache, string]> {
    const prefix = `dist-${randomUUID()}`;
    return [await open(prefix, options), await open(prefix, options), prefix];
  }

  afterEach(async () => {
    for (const cache of opened.splice(0)) {
      await cache.clear();
      await cache.close();
    }
  });

  it('shares values through L2', async () => {
    const [first, second] = await pair();
    await first.set('k', { from: 'first' });
    expect(await second.get('k')).toEqual({ from: 'first' });
    expect(second.stats().tiers.l2?.hits).toBe(1);
  });

  it('a set in one process drops the stale copy from the other L1', async () => {
    const [first, second] = await pair();
    await first.set('k', 'v1');
    expect(await second.get('k')).toBe('v1'); // now in second's L1
    await first.set('k', 'v2');
    const elapsed = await within(100, async () => (await second.get('k')) === 'v2');
    expect(elapsed).toBeLessThan(100);
  });

  it('delete, invalidateTags and clear reach the other L1 within 100 ms', async () => {
    const [first, second] = await pair({ l3: true });
    await first.set('d', 1);
    await first.set('t', 2, { tags: ['tag'] });
    await first.set('c', 3);
    for (const key of ['d', 't', 'c']) expect(await second.get(key)).toBeDefined();

    await first.delete('d');
    await within(100, async () => (await second.get('d')) === undefined);
    await first.invalidateTags(['tag']);
    await within(100, async () => (await second.get('t')) === undefined);
    await first.clear();
    await within(100, async () => (await second.get('c')) === undefined);
    expect(second.stats().bus.received).toBeGreaterThanOrEqual(3);
  });

  it('a tag invalidated before a process started still hides old L2 entries from it', async () => {
    const [first, , prefix] = await pair();
    await first.set('k', 'old', { tags: ['tenant:1'] });
    await first.set('other', 'kept', { tags: ['tenant:2'] });
    await first.invalidateTags(['tenant:1']);
    const late = await open(prefix); // started after the invalidation: never saw the bus message
    expect(await late.get('k')).toBeUndefined();
    expect(await late.get('other')).toBe('kept');
  });

  it('100 concurrent getOrSet calls split across both processes run the factory once', async () => {
    const [first, second] = await pair();
    let calls = 0;
    const factory = async () => {
      calls++;
      await new Promise((done) => setTimeout(done, 50));
      return { computed: true };
    };
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, index) =>
        (index % 2 === 0 ? first : second).getOrSet('k', factory),
      ),
    );
    expect(calls).toBe(1);
    expect(results.every((result) => result.computed)).toBe(true);
    const waits = first.stats().singleFlight.leaseWaits + second.stats().singleFlight.leaseWaits;
    expect(waits).toBe(1); // the losing process waited once, its other 49 callers coalesced
  });

  it('computes itself after a bounded wait when the lease holder never delivers', async () => {
    const prefix = `dist-${randomUUID()}`;
    const crashed = redisStore({ url: redisUrl(DB), prefix });
    await crashed.ready();
    // Another process took the lease and died without releasing it.
    expect(await crashed.acquireLease('k', 60_000)).toBeTypeOf('string');
    const cache = await open(prefix, { leaseWait: 200 });
    const started = performance.now();
    expect(await cache.getOrSet('k', () => 'computed here')).toBe('computed here');
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(190);
    expect(waited).toBeLessThan(1_000);
    expect(cache.stats().singleFlight).toMatchObject({ leaseWaits: 1, leaseWaitTimeouts: 1 });
    await crashed.clear();
    await crashed.close();
  });

  it('replays an invalidation made while one process was cut off from Redis', async () => {
    const prefix = `dist-${randomUUID()}`;
    const store = redisStore({ url: redisUrl(DB), prefix });
    const cutOff = createCache({ l1: { maxEntries: 100 }, l2: store, ttl: '1m' });
    opened.push(cutOff);
    expect(await cutOff.ready()).toBe(true);
    const other = await open(prefix);
    await cutOff.set('k', 'old');
    expect(await other.get('k')).toBe('old'); // now in the other process's L1

    store.client.disconnect(); // only this process loses Redis
    await expect.poll(() => store.client.status).toBe('end');
    expect(await cutOff.delete('k')).toBe(true); // removed from this process's L1
    expect(cutOff.stats().pendingInvalidations).toBeGreaterThan(0);
    expect(await other.get('k')).toBe('old'); // nobody told it yet

    await store.client.connect();
    await expect.poll(() => other.get('k'), { timeout: 5_000, interval: 50 }).toBeUndefined();
    expect(cutOff.stats().pendingInvalidations).toBe(0);
  });
});
