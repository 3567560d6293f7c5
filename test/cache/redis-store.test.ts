import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pingRedis, redisStore } from '../../src/cache/stores/redis-store.js';
import { ManualClock } from '../../src/shared/clock.js';
import { redisAvailable, redisUrl } from '../helpers/redis.js';
import { freePort } from '../helpers/redis-server.js';
import { registerStoreConformance } from './store-conformance.js';

const DB = 11;
const available = await redisAvailable();

describe.skipIf(!available)('redis store', () => {
  registerStoreConformance('redis', async (prefix) => {
    const store = redisStore({ url: redisUrl(DB), prefix });
    const neighbour = redisStore({ url: redisUrl(DB), prefix: `${prefix}-neighbour` });
    await store.ready();
    await neighbour.ready();
    return { store, neighbour };
  });

  let client: Redis;
  beforeAll(() => {
    client = new Redis(redisUrl(DB));
  });
  afterAll(async () => {
    await client.quit();
  });

  it('works with a caller-owned client and leaves it open', async () => {
    const prefix = `own-${Date.now()}`;
    const store = redisStore({ client, prefix });
    store.attach({ clock: new ManualClock(), tagRetentionMs: 60_000 });
    await store.ready();
    await store.set('k', {
      value: Buffer.from('v'),
      createdAt: 1,
      expiresAt: Number.POSITIVE_INFINITY,
      staleUntil: Number.POSITIVE_INFINITY,
      tags: [],
    });
    expect(await client.exists(`${prefix}:e:k`)).toBe(1);
    await store.clear();
    await store.close();
    expect(client.status).toBe('ready');
  });

  it('grants a lease to one holder at a time and releases only with the token', async () => {
    const store = redisStore({ client, prefix: `lease-${Date.now()}` });
    await store.ready();
    const token = await store.acquireLease('k', 5_000);
    expect(token).toBeTypeOf('string');
    expect(await store.acquireLease('k', 5_000)).toBeUndefined();
    await store.releaseLease('k', 'not-the-token');
    expect(await store.acquireLease('k', 5_000)).toBeUndefined();
    await store.releaseLease('k', token as string);
    const next = await store.acquireLease('k', 5_000);
    expect(next).toBeTypeOf('string');
    await store.releaseLease('k', next as string);
    await store.close();
  });

  it('sets a Redis TTL that ends at staleUntil', async () => {
    const prefix = `ttl-${Date.now()}`;
    const clock = new ManualClock();
    const store = redisStore({ client, prefix });
    store.attach({ clock, tagRetentionMs: 60_000 });
    const now = clock.now();
    await store.set('k', {
      value: Buffer.from('v'),
      createdAt: now,
      expiresAt: now + 1_000,
      staleUntil: now + 5_000,
      tags: [],
    });
    const ttl = await client.pttl(`${prefix}:e:k`);
    expect(ttl).toBeGreaterThan(4_000);
    expect(ttl).toBeLessThanOrEqual(5_000);
    await store.clear();
  });
});

describe('redis store options', () => {
  it('refuses a prefix that could overlap another namespace', () => {
    expect(() => redisStore({ url: 'redis://127.0.0.1:1', prefix: 'app:e' })).toThrow(/prefix/);
    expect(() => redisStore({ url: 'redis://127.0.0.1:1', prefix: 'a*' })).toThrow(/prefix/);
    expect(() => redisStore({})).toThrow(/url or a client/);
  });

  it('pings: false for a closed port, without throwing', async () => {
    const port = await freePort();
    expect(await pingRedis(`redis://127.0.0.1:${port}`, 500)).toBe(false);
  });
});
