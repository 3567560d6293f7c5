import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { StoredEntry } from '../../src/cache/entry.js';
import { sqliteStore } from '../../src/cache/stores/sqlite-store.js';
import { ManualClock } from '../../src/shared/clock.js';
import { SluiceError } from '../../src/shared/errors.js';
import { registerStoreConformance } from './store-conformance.js';

const directory = mkdtempSync(join(tmpdir(), 'sluice-sqlite-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

registerStoreConformance('sqlite', async (prefix) => {
  const path = join(directory, `${prefix}.db`);
  return {
    store: sqliteStore({ path, prefix }),
    neighbour: sqliteStore({ path, prefix: `${prefix}-neighbour` }),
  };
});

function entry(clock: ManualClock, size: number): StoredEntry {
  const now = clock.now();
  return {
    value: Buffer.alloc(size, 1),
    createdAt: now,
    expiresAt: now + 60_000,
    staleUntil: now + 60_000,
    tags: [],
  };
}

describe('sqlite store', () => {
  it('evicts least recently used rows at the row bound', async () => {
    const clock = new ManualClock();
    const store = sqliteStore({
      path: join(directory, 'rows.db'),
      maxRows: 3,
      accessResolution: 0,
    });
    store.attach({ clock, tagRetentionMs: 86_400_000 });
    for (const key of ['a', 'b', 'c']) {
      await store.set(key, entry(clock, 10));
      clock.advance(1);
    }
    await store.get('a'); // a is now the most recently used
    clock.advance(1);
    await store.set('d', entry(clock, 10));
    expect(await store.get('b')).toBeUndefined();
    expect(await store.get('a')).toBeDefined();
    expect(store.usage()).toMatchObject({ entries: 3, evictions: 1 });
    await store.close();
  });

  it('keeps bytes within the byte bound, counting keys and values exactly', async () => {
    const clock = new ManualClock();
    const store = sqliteStore({ path: join(directory, 'bytes.db'), maxBytes: 1_000 });
    store.attach({ clock, tagRetentionMs: 86_400_000 });
    for (let index = 0; index < 20; index++) {
      await store.set(`k${index}`, entry(clock, 199)); // 2-3 byte key + 199 bytes
      clock.advance(1);
      expect(store.usage().bytes).toBeLessThanOrEqual(1_000);
    }
    const usage = store.usage();
    expect(usage.entries).toBe(4);
    expect(usage.bytes).toBe(4 * (3 + 199));
    await store.set('k19', entry(clock, 10)); // shrink one in place
    expect(store.usage().bytes).toBe(3 * (3 + 199) + 3 + 10);
    await store.close();
  });

  it('purges expired rows', async () => {
    const clock = new ManualClock();
    const store = sqliteStore({ path: join(directory, 'purge.db'), purgeInterval: 0 });
    store.attach({ clock, tagRetentionMs: 86_400_000 });
    await store.set('old', entry(clock, 5));
    clock.advance(30_000);
    await store.set('new', entry(clock, 5));
    clock.advance(40_000);
    expect(store.purgeExpired()).toBe(1);
    expect(store.usage().entries).toBe(1);
    await store.close();
  });

  it('shares one file between two stores (processes) with exact totals', async () => {
    const clock = new ManualClock();
    const path = join(directory, 'shared.db');
    const first = sqliteStore({ path });
    const second = sqliteStore({ path });
    first.attach({ clock, tagRetentionMs: 86_400_000 });
    second.attach({ clock, tagRetentionMs: 86_400_000 });
    await first.set('k', entry(clock, 10));
    expect(await second.get('k')).toBeDefined();
    expect(second.usage().entries).toBe(1);
    await first.close();
    await second.close();
  });

  it('refuses a file that is not a database with a clear error', () => {
    const path = join(directory, 'garbage.db');
    writeFileSync(path, 'this is not a sqlite database, just text '.repeat(200));
    let caught: unknown;
    try {
      sqliteStore({ path });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SluiceError);
    expect((caught as SluiceError).code).toBe('E_L3_OPEN');
    expect((caught as SluiceError).message).toContain(path);
  });

  it('rejects (does not crash or stall) while another connection holds the write lock', async () => {
    const path = join(directory, 'locked.db');
    const clock = new ManualClock();
    const store = sqliteStore({ path, busyTimeout: 20 });
    store.attach({ clock, tagRetentionMs: 86_400_000 });
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    const started = Date.now();
    await expect(store.set('k', entry(clock, 5))).rejects.toThrow(/locked|busy/i);
    expect(Date.now() - started).toBeLessThan(1_000);
    other.exec('ROLLBACK');
    other.close();
    await store.set('k', entry(clock, 5));
    expect(await store.get('k')).toBeDefined();
    await store.close();
  });
});
