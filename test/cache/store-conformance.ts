import { afterEach, describe, expect, it } from 'vitest';
import type { StoredEntry } from '../../src/cache/entry.js';
import type { CacheStore } from '../../src/cache/store.js';
import { ManualClock } from '../../src/shared/clock.js';

const HOUR = 3_600_000;
const RETENTION = 7 * 24 * HOUR;

export interface StoreUnderTest {
  store: CacheStore;
  /** Another store on the same backend with a different namespace (prefix). */
  neighbour: CacheStore;
  cleanup?: () => Promise<void>;
}

/**
 * The behaviour every store (memory, Redis, SQLite, ...) must show. Each driver's test
 * file calls this with a factory that opens a fresh store on the real backend.
 */
export function registerStoreConformance(
  name: string,
  open: (prefix: string) => Promise<StoreUnderTest>,
): void {
  describe(`${name} store conformance`, () => {
    let opened: StoreUnderTest | undefined;
    let clock: ManualClock;

    async function setup(): Promise<StoreUnderTest> {
      clock = new ManualClock();
      const prefix = `conf-${Math.random().toString(36).slice(2)}`;
      opened = await open(prefix);
      opened.store.attach({ clock, tagRetentionMs: RETENTION });
      opened.neighbour.attach({ clock, tagRetentionMs: RETENTION });
      return opened;
    }

    function entry(value: string | Uint8Array, overrides: Partial<StoredEntry> = {}): StoredEntry {
      const now = clock.now();
      return {
        value: typeof value === 'string' ? Buffer.from(value) : value,
        createdAt: now,
        expiresAt: now + HOUR,
        staleUntil: now + 2 * HOUR,
        tags: [],
        ...overrides,
      };
    }

    afterEach(async () => {
      if (opened === undefined) return;
      await opened.store.clear().catch(() => {});
      await opened.neighbour.clear().catch(() => {});
      await opened.store.close();
      await opened.neighbour.close();
      await opened.cleanup?.();
      opened = undefined;
    });

    it('returns undefined for an absent key', async () => {
      const { store } = await setup();
      expect(await store.get('absent')).toBeUndefined();
    });

    it('round-trips value bytes and every metadata field', async () => {
      const { store } = await setup();
      const bytes = Uint8Array.from({ length: 256 }, (_, index) => index);
      const written = entry(bytes, { tags: ['user:1', 'ns\x1fpath'] });
      await store.set('k', written);
      const read = await store.get('k');
      expect(read).toBeDefined();
      expect(Buffer.from(read?.value ?? [])).toEqual(Buffer.from(bytes));
      expect(read?.createdAt).toBe(written.createdAt);
      expect(read?.expiresAt).toBe(written.expiresAt);
      expect(read?.staleUntil).toBe(written.staleUntil);
      expect(read?.tags).toEqual(['user:1', 'ns\x1fpath']);
    });

    it('keeps entries that never expire', async () => {
      const { store } = await setup();
      await store.set(
        'forever',
        entry('x', { expiresAt: Number.POSITIVE_INFINITY, staleUntil: Number.POSITIVE_INFINITY }),
      );
      clock.advance(365 * 24 * HOUR);
      const read = await store.get('forever');
      expect(read?.expiresAt).toBe(Number.POSITIVE_INFINITY);
      expect(read?.staleUntil).toBe(Number.POSITIVE_INFINITY);
    });

    it('replaces an entry on overwrite', async () => {
      const { store } = await setup();
      await store.set('k', entry('one'));
      clock.advance(10);
      await store.set('k', entry('two'));
      expect(Buffer.from((await store.get('k'))?.value ?? []).toString()).toBe('two');
    });

    it('serves an entry until staleUntil, then not at all', async () => {
      const { store } = await setup();
      await store.set('k', entry('v'));
      clock.advance(HOUR + 1); // expired, within grace: still returned (the cache decides)
      expect(await store.get('k')).toBeDefined();
      clock.advance(HOUR); // past staleUntil
      expect(await store.get('k')).toBeUndefined();
    });

    it('deletes, reporting whether the key was there', async () => {
      const { store } = await setup();
      await store.set('k', entry('v'));
      expect(await store.delete('k')).toBe(true);
      expect(await store.get('k')).toBeUndefined();
      expect(await store.delete('k')).toBe(false);
    });

    it('deletes conditionally on creation time', async () => {
      const { store } = await setup();
      const written = entry('v');
      await store.set('k', written);
      expect(await store.delete('k', written.createdAt - 1)).toBe(false);
      expect(await store.get('k')).toBeDefined();
      expect(await store.delete('k', written.createdAt)).toBe(true);
      expect(await store.get('k')).toBeUndefined();
    });

    it('clears its own namespace only', async () => {
      const { store, neighbour } = await setup();
      await store.set('a', entry('1'));
      await store.set('b', entry('2'));
      await neighbour.set('a', entry('other'));
      await store.clear();
      expect(await store.get('a')).toBeUndefined();
      expect(await store.get('b')).toBeUndefined();
      expect(Buffer.from((await neighbour.get('a'))?.value ?? []).toString()).toBe('other');
    });

    it('records tag invalidation times; a later time wins, an earlier one does not regress', async () => {
      const { store, neighbour } = await setup();
      expect(await store.tagTimes(['t1', 't2'])).toEqual([undefined, undefined]);
      const t = clock.now();
      await store.invalidateTags(['t1'], t);
      expect(await store.tagTimes(['t1', 't2'])).toEqual([t, undefined]);
      await store.invalidateTags(['t1'], t - 100);
      expect(await store.tagTimes(['t1'])).toEqual([t]);
      await store.invalidateTags(['t1', 't2'], t + 5);
      expect(await store.tagTimes(['t1', 't2'])).toEqual([t + 5, t + 5]);
      expect(await neighbour.tagTimes(['t1'])).toEqual([undefined]);
    });

    it('forgets tag invalidations after the retention period', async () => {
      const { store } = await setup();
      await store.invalidateTags(['t'], clock.now());
      clock.advance(RETENTION + 1);
      expect(await store.tagTimes(['t'])).toEqual([undefined]);
    });

    it('reports usage without throwing', async () => {
      const { store } = await setup();
      await store.set('k', entry('v'));
      const usage = store.usage();
      expect(typeof usage).toBe('object');
      if (usage.entries !== undefined) expect(usage.entries).toBeGreaterThanOrEqual(1);
    });
  });
}
