import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { redisStore } from '../../src/cache/stores/redis-store.js';
import { type Cache, createCache } from '../../src/cache/tiered-cache.js';
import { redisAvailable, redisUrl } from '../helpers/redis.js';
import { freePort } from '../helpers/redis-server.js';

const DB = 7;
const available = await redisAvailable();

/**
 * Operations issued right after `createCache`, before its Redis connection is up (no
 * `await cache.ready()`), as a short script or a fresh process does.
 */
describe.skipIf(!available)('operations before the L2 connection is ready', () => {
  const opened: Cache[] = [];
  const prefixes: string[] = [];
  const admin = new Redis(redisUrl(DB));

  /** A cache as a freshly started process opens it: nothing awaited. */
  function open(prefix: string): Cache {
    // A generous timeout: the bound under test is "waits for the connection", not its speed.
    const cache = createCache({
      l1: { maxEntries: 100 },
      l2: redisStore({ url: redisUrl(DB), prefix, timeout: '2s' }),
      ttl: '1m',
    });
    opened.push(cache);
    return cache;
  }

  /** A cache that is connected before it is used (the other process). */
  async function openReady(prefix: string): Promise<Cache> {
    const cache = open(prefix);
    expect(await cache.ready()).toBe(true);
    return cache;
  }

  function newPrefix(): string {
    const prefix = `before-ready-${randomUUID().slice(0, 8)}`;
    prefixes.push(prefix);
    return prefix;
  }

  afterEach(async () => {
    for (const cache of opened.splice(0)) await cache.close();
  });

  afterAll(async () => {
    for (const prefix of prefixes) {
      const keys = await admin.keys(`${prefix}:*`);
      if (keys.length > 0) await admin.del(...keys);
    }
    admin.disconnect();
  });

  it('a set reaches Redis, so another process reads it', async () => {
    const prefix = newPrefix();
    const writer = open(prefix);
    await writer.set('k', { from: 'writer' });

    const reader = await openReady(prefix);
    expect(await reader.get('k')).toEqual({ from: 'writer' });
    expect(reader.stats().tiers.l2?.hits).toBe(1);
    expect(writer.stats().tiers.l2?.errors).toBe(0);
  });

  it('a getOrSet before ready reads the value another process stored instead of recomputing', async () => {
    const prefix = newPrefix();
    const other = await openReady(prefix);
    await other.set('k', 'from-other');

    const fresh = open(prefix);
    let computed = 0;
    const value = await fresh.getOrSet('k', () => {
      computed++;
      return 'recomputed';
    });
    expect(value).toBe('from-other');
    expect(computed).toBe(0);
  });

  it('a delete reaches Redis, so another process no longer reads the value', async () => {
    const prefix = newPrefix();
    const other = await openReady(prefix);
    await other.set('k', 'old');

    const deleter = open(prefix);
    expect(await deleter.delete('k')).toBe(true);

    const reader = await openReady(prefix);
    expect(await reader.get('k')).toBeUndefined();
    // The bus carried it too: the other process's L1 copy is dropped.
    await expect.poll(() => other.get('k'), { timeout: 2_000 }).toBeUndefined();
  });

  it('a tag invalidation reaches Redis, so another process no longer serves tagged entries', async () => {
    const prefix = newPrefix();
    const other = await openReady(prefix);
    await other.set('k', 'tagged', { tags: ['team'] });

    const invalidator = open(prefix);
    await invalidator.invalidateTags(['team']);

    const reader = await openReady(prefix);
    expect(await reader.get('k')).toBeUndefined();
    await expect.poll(() => other.get('k'), { timeout: 2_000 }).toBeUndefined();
  });
});

describe('operations before ready against a Redis that never comes', () => {
  const opened: Cache[] = [];
  const servers: Server[] = [];
  const sockets = new Set<Socket>();

  afterEach(async () => {
    for (const cache of opened.splice(0)) await cache.close();
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    await Promise.all(servers.splice(0).map((server) => new Promise((done) => server.close(done))));
  });

  /** Runs every kind of operation once, each timed. */
  async function timedOperations(cache: Cache): Promise<Record<string, number>> {
    const timings: Record<string, number> = {};
    const time = async (name: string, operation: () => Promise<unknown>) => {
      const started = performance.now();
      await operation();
      timings[name] = performance.now() - started;
    };
    await time('set', () => cache.set('k', 'v'));
    await time('get', () => cache.get('missing'));
    await time('delete', () => cache.delete('k'));
    await time('invalidateTags', () => cache.invalidateTags(['team']));
    await time('getOrSet', () => cache.getOrSet('other', () => 'computed'));
    return timings;
  }

  it('a port nothing listens on: every operation completes at once, from L1', async () => {
    const port = await freePort();
    const cache = createCache({
      l1: { maxEntries: 100 },
      l2: redisStore({ url: `redis://127.0.0.1:${port}`, timeout: 300 }),
    });
    opened.push(cache);
    const timings = await timedOperations(cache);
    // The connection is refused within milliseconds; no operation waits out its timeout.
    for (const [name, elapsed] of Object.entries(timings)) {
      expect(elapsed, name).toBeLessThan(300 + 1_000);
    }
    expect(await cache.getOrSet('other', () => 'again')).toBe('computed');
  });

  it('a server that accepts but never answers: the wait is bounded by the L2 timeout', async () => {
    // TCP connects, but the ready check never gets an answer: the client stays 'connecting'.
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    servers.push(server);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const address = server.address();
    if (address === null || typeof address !== 'object') throw new Error('no address');
    const cache = createCache({
      l1: { maxEntries: 100 },
      l2: redisStore({ url: `redis://127.0.0.1:${address.port}`, timeout: 300 }),
    });
    opened.push(cache);
    const started = performance.now();
    const timings = await timedOperations(cache);
    const total = performance.now() - started;
    for (const [name, elapsed] of Object.entries(timings)) {
      expect(elapsed, name).toBeLessThan(300 + 1_000);
    }
    // After one wait times out, Redis is skipped (breaker), so the calls do not each wait.
    expect(total).toBeLessThan(5 * 300);
    expect(await cache.get('other')).toBe('computed');
  });
});
