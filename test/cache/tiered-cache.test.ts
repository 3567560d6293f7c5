import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CacheEvents } from '../../src/cache/stats.js';
import { memoryStore } from '../../src/cache/stores/memory-store.js';
import { sqliteStore } from '../../src/cache/stores/sqlite-store.js';
import { type CacheOptions, createCache } from '../../src/cache/tiered-cache.js';
import { ManualClock } from '../../src/shared/clock.js';
import { ConfigError, SluiceError } from '../../src/shared/errors.js';

const directory = mkdtempSync(join(tmpdir(), 'sluice-tiered-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function setup(options: Partial<CacheOptions> = {}) {
  const clock = new ManualClock();
  const cache = createCache({ l1: { maxEntries: 100 }, ttl: '1m', clock, ...options });
  return { clock, cache };
}

/** Lets queued promise callbacks (background refreshes, promotions) run. */
async function settle(): Promise<void> {
  for (let round = 0; round < 5; round++) await new Promise((done) => setImmediate(done));
}

describe('createCache', () => {
  it('refuses a configuration without an L1 bound', () => {
    expect(() => createCache({ l1: {} })).toThrow(ConfigError);
    // @ts-expect-error l1 is required
    expect(() => createCache({})).toThrow(/l1/);
    expect(() => createCache({ l1: { maxEntries: 10 }, ttl: '5 parsecs' })).toThrow(/ttl/);
  });

  it('is a plain in-memory cache with only an L1', async () => {
    const { cache } = setup();
    expect(await cache.get('k')).toBeUndefined();
    await cache.set('k', { answer: 42 });
    expect(await cache.get('k')).toEqual({ answer: 42 });
    expect(await cache.delete('k')).toBe(true);
    expect(await cache.get('k')).toBeUndefined();
    const stats = cache.stats();
    expect(stats).toMatchObject({ hits: 1, misses: 2 });
    expect(stats.hitRatio).toBeCloseTo(1 / 3);
  });

  it('expires entries after their TTL (per entry, string or ms)', async () => {
    const { cache, clock } = setup();
    await cache.set('default', 1);
    await cache.set('short', 2, { ttl: '10s' });
    await cache.set('ms', 3, { ttl: 500 });
    clock.advance(501);
    expect(await cache.get('ms')).toBeUndefined();
    expect(await cache.get('short')).toBe(2);
    clock.advance(10_000);
    expect(await cache.get('short')).toBeUndefined();
    expect(await cache.get('default')).toBe(1);
    clock.advance(60_000);
    expect(await cache.get('default')).toBeUndefined();
  });

  it('refuses to cache undefined and unserializable values', async () => {
    const { cache } = setup({ l3: sqliteStore({ path: ':memory:' }) });
    await expect(cache.set('u', undefined)).rejects.toMatchObject({ code: 'E_INVALID_VALUE' });
    await expect(cache.set('big', 10n)).rejects.toMatchObject({ code: 'E_SERIALIZE' });
    await cache.close();
  });

  it('round-trips binary values through the lower tiers', async () => {
    const { cache } = setup({ l1: { maxEntries: 1 }, l3: sqliteStore({ path: ':memory:' }) });
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    await cache.set('bin', bytes);
    await cache.set('nested', { image: bytes, label: 'x' });
    await cache.set('evict-l1', 0); // pushes the others out of the 1-entry L1
    expect(Buffer.compare((await cache.get<Buffer>('bin')) as Buffer, bytes)).toBe(0);
    const nested = await cache.get<{ image: Buffer; label: string }>('nested');
    expect(Buffer.compare(nested?.image as Buffer, bytes)).toBe(0);
    expect(nested?.label).toBe('x');
    await cache.close();
  });
});

describe('tiers and promotion', () => {
  it('walks L1 → L2 → L3 and promotes a hit with its remaining TTL', async () => {
    const clock = new ManualClock();
    const l2 = memoryStore();
    const l3 = sqliteStore({ path: join(directory, 'promote.db') });
    const writer = createCache({ l1: { maxEntries: 10 }, l3, clock, ttl: '1m', lease: false });
    await writer.set('k', 'v');
    await writer.close();

    // A new process: empty L1 and L2, the same L3 file.
    const reopenedL3 = sqliteStore({ path: join(directory, 'promote.db') });
    const cache = createCache({ l1: { maxEntries: 10 }, l2, l3: reopenedL3, clock, ttl: '1m' });
    clock.advance(40_000);
    expect(await cache.get('k')).toBe('v');
    let stats = cache.stats();
    expect(stats.tiers.l3?.hits).toBe(1);
    expect(stats.tiers.l2?.misses).toBe(1);
    await settle();
    const promoted = await l2.get('k');
    expect(promoted?.expiresAt).toBe(clock.now() - 40_000 + 60_000);

    expect(await cache.get('k')).toBe('v'); // now from L1
    stats = cache.stats();
    expect(stats.tiers.l1.hits).toBe(1);
    clock.advance(20_001); // the promoted copies expire with the original
    expect(await cache.get('k')).toBeUndefined();
    await cache.close();
  });

  it('writes through every tier', async () => {
    const { cache } = setup({ l2: memoryStore(), l3: sqliteStore({ path: ':memory:' }) });
    await cache.set('k', [1, 2, 3]);
    const stats = cache.stats();
    expect(stats.tiers.l1.sets).toBe(1);
    expect(stats.tiers.l2?.sets).toBe(1);
    expect(stats.tiers.l3?.sets).toBe(1);
    expect(stats.tiers.l3?.entries).toBe(1);
    await cache.close();
  });

  it('counts a failing tier and carries on with the others', async () => {
    const broken = memoryStore();
    broken.get = () => Promise.reject(new Error('disk on fire'));
    broken.set = () => Promise.reject(new Error('disk on fire'));
    const { cache } = setup({ l1: { maxEntries: 1 }, l3: broken });
    const errors: CacheEvents['cache-error'][] = [];
    cache.on('cache-error', (event) => errors.push(event));
    await cache.set('a', 1);
    expect(await cache.get('a')).toBe(1);
    await cache.set('b', 2);
    expect(await cache.get('a')).toBeUndefined();
    expect(cache.stats().tiers.l3?.errors).toBe(3);
    expect(errors.map((event) => event.operation)).toEqual(['set', 'set', 'get']);
    await cache.close();
  });
});

describe('getLocal', () => {
  it('answers a fresh L1 value synchronously and counts it as a hit', async () => {
    const { cache, clock } = setup();
    await cache.set('k', { answer: 42 });
    expect(cache.getLocal('k')).toEqual({ answer: 42 });
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 0 });
    clock.advance(60_001);
    expect(cache.getLocal('k')).toBeUndefined();
    await cache.close();
  });

  it('counts nothing on a miss, leaving the miss to get or getOrSet', async () => {
    const { cache } = setup();
    expect(cache.getLocal('absent')).toBeUndefined();
    expect(cache.stats()).toMatchObject({ hits: 0, misses: 0 });
    expect(await cache.getOrSet('absent', () => 'made')).toBe('made');
    expect(cache.stats()).toMatchObject({ hits: 0, misses: 1 });
    await cache.close();
  });

  it('does not read the slower tiers', async () => {
    const l2 = memoryStore();
    const writer = createCache({ l1: { maxEntries: 10 }, l2, ttl: '1m', bus: false });
    await writer.set('k', 'v');
    const reader = createCache({ l1: { maxEntries: 10 }, l2, ttl: '1m', bus: false });
    expect(reader.getLocal('k')).toBeUndefined();
    expect(await reader.get('k')).toBe('v');
    await settle();
    expect(reader.getLocal('k')).toBe('v'); // promoted into this process's memory
    await writer.close();
    await reader.close();
  });
});

describe('getOrSet', () => {
  it('runs the factory once for 100 concurrent callers', async () => {
    const { cache } = setup();
    let calls = 0;
    const factory = async () => {
      calls++;
      await new Promise((done) => setTimeout(done, 10));
      return 'computed';
    };
    const results = await Promise.all(
      Array.from({ length: 100 }, () => cache.getOrSet('k', factory)),
    );
    expect(new Set(results)).toEqual(new Set(['computed']));
    expect(calls).toBe(1);
    expect(cache.stats().singleFlight.coalesced).toBe(99);
  });

  it('shares a factory failure with every waiter and caches nothing', async () => {
    const { cache } = setup();
    let calls = 0;
    const failing = async () => {
      calls++;
      await new Promise((done) => setTimeout(done, 5));
      throw new Error('upstream down');
    };
    const outcomes = await Promise.allSettled(
      Array.from({ length: 5 }, () => cache.getOrSet('k', failing)),
    );
    expect(outcomes.every((outcome) => outcome.status === 'rejected')).toBe(true);
    expect(calls).toBe(1);
    expect(await cache.get('k')).toBeUndefined();
    expect(cache.stats().factory).toMatchObject({ calls: 1, errors: 1 });
  });

  it('lets the factory skip caching, change the TTL and the tags', async () => {
    const { cache, clock } = setup();
    expect(
      await cache.getOrSet('partial', (context) => {
        context.skip();
        return 'partial answer';
      }),
    ).toBe('partial answer');
    expect(await cache.get('partial')).toBeUndefined();

    await cache.getOrSet('short', (context) => {
      context.setTtl('1s');
      context.setTags(['t']);
      return 'v';
    });
    clock.advance(1_001);
    expect(await cache.get('short')).toBeUndefined();

    await cache.getOrSet('tagged', (context) => {
      context.setTags(['t']);
      return 'v';
    });
    await cache.invalidateTags(['t']);
    expect(await cache.get('tagged')).toBeUndefined();
  });

  it('fails a slow factory after its timeout', async () => {
    const { cache } = setup();
    const slow = () => new Promise<string>((done) => setTimeout(() => done('late'), 200));
    await expect(cache.getOrSet('k', slow, { timeout: 20 })).rejects.toMatchObject({
      code: 'E_FACTORY_TIMEOUT',
    });
    expect(cache.stats().factory.timeouts).toBe(1);
  });
});

describe('grace', () => {
  it('serves stale while exactly one background refresh runs', async () => {
    const { cache, clock } = setup({ grace: '1h' });
    let calls = 0;
    let release: (value: string) => void = () => {};
    const factory = () => {
      calls++;
      return calls === 1
        ? 'v1'
        : new Promise<string>((done) => {
            release = done;
          });
    };
    expect(await cache.getOrSet('k', factory)).toBe('v1');
    clock.advance(61_000); // expired, within grace
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => cache.getOrSet('k', factory)),
    );
    expect(answers.every((answer) => answer === 'v1')).toBe(true);
    expect(calls).toBe(2); // one refresh for twenty stale reads
    release('v2');
    await settle();
    expect(await cache.getOrSet('k', factory)).toBe('v2');
    expect(calls).toBe(2);
    const stats = cache.stats();
    expect(stats.staleHits).toBe(20);
    expect(stats.refresh).toEqual({ started: 1, failed: 0 });
  });

  it('keeps serving stale when the refresh fails, counts it, and backs off', async () => {
    const { cache, clock } = setup({ grace: '1h', graceBackoff: '10s' });
    await cache.set('k', 'stale value');
    clock.advance(61_000);
    let calls = 0;
    const failing = async () => {
      calls++;
      throw new Error('upstream 500');
    };
    const refreshErrors: unknown[] = [];
    cache.on('cache-refresh-error', (event) => refreshErrors.push(event.error));
    expect(await cache.getOrSet('k', failing)).toBe('stale value');
    await settle();
    expect(await cache.getOrSet('k', failing)).toBe('stale value'); // within backoff: no new call
    await settle();
    expect(calls).toBe(1);
    clock.advance(10_001);
    expect(await cache.getOrSet('k', failing)).toBe('stale value');
    await settle();
    expect(calls).toBe(2);
    expect(cache.stats().refresh.failed).toBe(2);
    expect(refreshErrors).toHaveLength(2);
  });

  it('stops serving after the grace period', async () => {
    const { cache, clock } = setup({ grace: '1m' });
    await cache.set('k', 'old');
    clock.advance(120_001);
    expect(await cache.getOrSet('k', () => 'new')).toBe('new');
  });

  it('get returns stale values only when asked', async () => {
    const { cache, clock } = setup({ grace: '1h' });
    await cache.set('k', 'v');
    clock.advance(61_000);
    expect(await cache.get('k')).toBeUndefined();
    expect(await cache.get('k', { allowStale: true })).toBe('v');
  });

  it('serves stale from a lower tier and refreshes once', async () => {
    const clock = new ManualClock();
    const l3 = sqliteStore({ path: ':memory:' });
    const cache = createCache({ l1: { maxEntries: 1 }, l3, clock, ttl: '1m', grace: '1h' });
    await cache.set('k', 'v1');
    await cache.set('other', 'x'); // evicts k from the 1-entry L1
    clock.advance(61_000);
    let calls = 0;
    expect(await cache.getOrSet('k', () => `v${++calls + 1}`)).toBe('v1');
    await settle();
    expect(calls).toBe(1);
    expect(await cache.get('k')).toBe('v2');
    await cache.close();
  });
});

describe('tags and namespaces', () => {
  it('makes tagged entries unreachable in every tier', async () => {
    const l3 = sqliteStore({ path: ':memory:' });
    const { cache } = setup({ l1: { maxEntries: 2 }, l2: memoryStore(), l3 });
    await cache.set('a', 1, { tags: ['user:1'] });
    await cache.set('b', 2, { tags: ['user:2'] });
    await cache.set('c', 3, { tags: ['user:1', 'org:9'] });
    await cache.invalidateTags(['user:1']);
    expect(await cache.get('a')).toBeUndefined();
    expect(await cache.get('c')).toBeUndefined();
    expect(await cache.get('b')).toBe(2);
    await cache.close();
  });

  it('keeps entries written after the invalidation', async () => {
    const { cache, clock } = setup({ l2: memoryStore() });
    await cache.set('a', 1, { tags: ['t'] });
    await cache.invalidateTags(['t']);
    clock.advance(1);
    await cache.set('a', 2, { tags: ['t'] });
    expect(await cache.get('a')).toBe(2);
  });

  it('isolates namespaces and clears one without touching the others', async () => {
    const { cache } = setup({ l2: memoryStore(), l3: sqliteStore({ path: ':memory:' }) });
    const users = cache.namespace('users');
    const admins = users.namespace('admins');
    const posts = cache.namespace('posts');
    await cache.set('k', 'root');
    await users.set('k', 'user');
    await admins.set('k', 'admin');
    await posts.set('k', 'post');
    expect(await users.get('k')).toBe('user');
    expect(await admins.get('k')).toBe('admin');
    await users.clear(); // clears users and its child namespace
    expect(await users.get('k')).toBeUndefined();
    expect(await admins.get('k')).toBeUndefined();
    expect(await posts.get('k')).toBe('post');
    expect(await cache.get('k')).toBe('root');
    await cache.clear();
    expect(await posts.get('k')).toBeUndefined();
    expect(() => cache.namespace('')).toThrow(ConfigError);
    await cache.close();
  });
});

describe('events and statistics', () => {
  it('emits hits, misses, sets, evictions and invalidations', async () => {
    const { cache } = setup({ l1: { maxEntries: 1 } });
    const seen: string[] = [];
    const names: Array<keyof CacheEvents> = [
      'cache-hit',
      'cache-miss',
      'cache-set',
      'cache-evict',
      'cache-invalidate',
      'cache-delete',
    ];
    for (const name of names) cache.on(name, () => seen.push(name));
    const off = cache.on('cache-hit', () => {
      throw new Error('a broken listener must not break the cache');
    });
    await cache.get('a');
    await cache.set('a', 1);
    await cache.get('a');
    await cache.set('b', 2);
    await cache.invalidateTags(['x']);
    await cache.delete('b');
    off();
    expect(seen).toEqual([
      'cache-miss',
      'cache-set',
      'cache-hit',
      'cache-evict',
      'cache-set',
      'cache-invalidate',
      'cache-delete',
    ]);
    expect(cache.stats().tiers.l1).toMatchObject({ evictions: 1, entries: 0, policy: 'tinylfu' });
  });

  it('accounts L1 bytes at the serialized size', async () => {
    const { cache } = setup({ l1: { maxBytes: 1_000 } });
    await cache.set('k', 'x'.repeat(100));
    // 1 tag byte + JSON string with quotes
    expect(cache.stats().tiers.l1.bytes).toBe(1 + 102);
    for (let index = 0; index < 20; index++) await cache.set(`k${index}`, 'y'.repeat(100));
    expect(cache.stats().tiers.l1.bytes).toBeLessThanOrEqual(1_000);
  });

  it('raises SluiceError with a stable code', async () => {
    const { cache } = setup();
    const error = await cache.set('k', undefined).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SluiceError);
  });
});
