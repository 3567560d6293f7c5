import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createCache } from '../../src/cache/index.js';
import { sqliteStore } from '../../src/cache/stores/sqlite-store.js';
import type { HealthReporter } from '../../src/shared/health.js';
import { SmallDisk } from '../helpers/small-disk.js';

const directory = mkdtempSync(join(tmpdir(), 'sluice-sqlite-disk-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

describe('sqlite store file bound', () => {
  for (const valueBytes of [1_500, 300]) {
    it(`keeps the file near maxFileBytes under many distinct writes (${valueBytes}-byte values)`, async () => {
      const bound = 2 * 1024 * 1024;
      const path = join(directory, `bound-${valueBytes}.db`);
      const store = sqliteStore({ path, maxFileBytes: bound, purgeInterval: 0 });
      const writes = Math.ceil((2.5 * bound) / valueBytes); // 2.5 times the bound in payload
      const now = Date.now();
      let largest = 0;
      for (let index = 0; index < writes; index++) {
        await store.set(`key-${index}-${randomBytes(8).toString('hex')}`, {
          value: randomBytes(valueBytes),
          createdAt: now,
          expiresAt: now + 3_600_000,
          staleUntil: now + 3_600_000,
          tags: [],
        });
        if (index % 500 === 0) largest = Math.max(largest, sizeOf(path));
      }
      largest = Math.max(largest, sizeOf(path));
      const usage = store.usage();
      console.log(
        `L3 file bound ${bound} B, ${writes} distinct writes of ${valueBytes} B: file ${sizeOf(path)} B (largest seen ${largest} B), WAL ${sizeOf(`${path}-wal`)} B, ${usage.entries} entries (${usage.bytes} B of keys and values), ${usage.evictions} evictions`,
      );
      // The file stops growing at the bound (one write and a page of slack over it at most).
      expect(largest).toBeLessThanOrEqual(bound + valueBytes + 64 * 1024);
      // Eviction frees pages without emptying the cache. A value of 1-4 KB leaves about 490
      // bytes in its row and the rest in an overflow page of its own (4 KB), hence the lower
      // share of keys and values for 1,500-byte values.
      expect(usage.bytes ?? 0).toBeGreaterThan(bound / (valueBytes > 1_000 ? 5 : 3));
      await store.close();
    });
  }
});

describe('sqlite store on a full disk', () => {
  const cleanup: (() => void | Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('reports failed writes to its health reporter, and recovery; the cache serves from memory', async () => {
    const small = SmallDisk.create(2 * 1024 * 1024);
    cleanup.push(() => small.close());
    const path = join(small.directory, 'cache.db');
    const events: string[] = [];
    const health: HealthReporter = {
      ok: () => {
        if (events.at(-1) === 'degraded') events.push('ok');
      },
      degraded: () => {
        if (events.at(-1) !== 'degraded') events.push('degraded');
      },
    };
    const cache = createCache({
      l1: { maxEntries: 10_000 },
      l3: sqliteStore({ path, health, purgeInterval: 0 }),
    });
    cleanup.push(() => cache.close());
    await cache.set('before', 'x'.repeat(1_000));
    small.fill([{ file: path, table: 'sluice_cache' }]);
    for (let index = 0; index < 400; index++) await cache.set(`full-${index}`, 'y'.repeat(4_000));
    await new Promise((done) => setTimeout(done, 50));
    const stats = cache.stats();
    expect(stats.tiers.l3?.errors).toBeGreaterThan(0);
    expect(await cache.get('full-399')).toBe('y'.repeat(4_000));
    expect(events).toEqual(['degraded']);
    small.free();
    await cache.set('after', 'z');
    await new Promise((done) => setTimeout(done, 50));
    expect(events).toEqual(['degraded', 'ok']);
  });
});
