import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisStore, redisStore } from '../../src/cache/stores/redis-store.js';
import { sqliteStore } from '../../src/cache/stores/sqlite-store.js';
import { type Cache, createCache } from '../../src/cache/tiered-cache.js';
import { ThrowawayRedis } from '../helpers/redis-server.js';

/** Runs `operation`, failing the test if it throws or takes longer than `limitMs`. */
async function promptly<Result>(
  limitMs: number,
  operation: () => Promise<Result>,
): Promise<Result> {
  const started = performance.now();
  const result = await operation();
  expect(performance.now() - started).toBeLessThan(limitMs);
  return result;
}

describe('Redis outage', () => {
  let server: ThrowawayRedis;
  let store: RedisStore;
  let cache: Cache;

  beforeAll(async () => {
    server = await ThrowawayRedis.start();
    store = redisStore({ url: server.url, timeout: 50 });
    cache = createCache({
      l1: { maxEntries: 2 },
      l2: store,
      l3: sqliteStore({ path: ':memory:' }),
      ttl: '1h',
    });
    expect(await cache.ready()).toBe(true);
  });

  afterAll(async () => {
    await cache.close();
    await server.stop();
  });

  it('keeps serving from L1/L3 without throwing while Redis is down, then recovers', async () => {
    await cache.set('tagged', 'value-tagged', { tags: ['team:1'] });
    for (const key of ['a', 'b', 'c']) await cache.set(key, `value-${key}`);
    expect(cache.stats().tiers.l2?.sets).toBe(4);

    await server.stop();
    await expect.poll(() => store.client.status, { timeout: 5_000 }).not.toBe('ready');

    // Every operation completes, promptly, from the tiers that are left.
    expect(await promptly(200, () => cache.get('a'))).toBe('value-a'); // from L3: L1 holds two
    await promptly(200, () => cache.set('d', 'value-d'));
    expect(await promptly(200, () => cache.get('d'))).toBe('value-d');
    expect(await promptly(200, () => cache.getOrSet('e', () => 'computed-e'))).toBe('computed-e');
    await promptly(200, () => cache.delete('b'));
    expect(await promptly(200, () => cache.get('b'))).toBeUndefined();
    await promptly(200, () => cache.invalidateTags(['nothing']));
    // A tagged entry cannot be checked against invalidations only Redis knows: not served, not lost.
    expect(await promptly(200, () => cache.get('tagged'))).toBeUndefined();
    const during = cache.stats();
    expect(during.tiers.l2?.errors).toBeGreaterThan(0);
    expect(during.pendingInvalidations).toBeGreaterThan(0);

    await server.start();
    expect(await cache.ready(10_000)).toBe(true);
    const setsBefore = cache.stats().tiers.l2?.sets ?? 0;
    await cache.set('f', 'value-f');
    expect(cache.stats().tiers.l2?.sets).toBe(setsBefore + 1);
    const direct = new Redis(server.url);
    expect(await direct.exists('sluice:e:f')).toBe(1);
    direct.disconnect();
    await expect.poll(() => cache.stats().pendingInvalidations, { timeout: 5_000 }).toBe(0);
    expect(await cache.get('tagged')).toBe('value-tagged'); // from L3, verified again
  });

  it('a slow Redis costs at most the timeout per operation, then the breaker skips it', async () => {
    await cache.set('slow', 'value');
    const blocker = new Redis(server.url);
    // A busy Lua script blocks the whole server (DEBUG SLEEP is disabled by default).
    const busy = `local t = redis.call('TIME'); local start = t[1] * 1000000 + t[2]
      repeat t = redis.call('TIME') until (t[1] * 1000000 + t[2]) - start > 600000 return 1`;
    const blocking = blocker.eval(busy, 0);
    await new Promise((done) => setTimeout(done, 20));
    const errorsBefore = cache.stats().tiers.l2?.errors ?? 0;
    const durations: number[] = [];
    for (let index = 0; index < 8; index++) {
      const started = performance.now();
      await cache.set(`slow-${index}`, index);
      durations.push(performance.now() - started);
    }
    expect(Math.max(...durations)).toBeLessThan(150);
    // After a timeout Redis is skipped for a while: most of these did not wait at all.
    expect(durations.filter((duration) => duration < 10).length).toBeGreaterThanOrEqual(2);
    expect((cache.stats().tiers.l2?.errors ?? 0) - errorsBefore).toBe(8);
    // A miss walks several Redis steps (read, lease, write) but waits for Redis only once.
    await new Promise((done) => setTimeout(done, 60));
    const started = performance.now();
    expect(await cache.getOrSet('slow-miss', () => 'computed')).toBe('computed');
    expect(performance.now() - started).toBeLessThan(100);
    expect(await blocking).toBe(1);
    blocker.disconnect();
  });
});
