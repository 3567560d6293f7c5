import { describe, expect, it } from 'vitest';
import { MemoryTier } from '../../src/cache/memory-tier.js';
import { ConfigError } from '../../src/shared/errors.js';

const NEVER = Number.POSITIVE_INFINITY;

function put(tier: MemoryTier<string>, key: string, size = 1, tags?: string[], createdAt = 0) {
  return tier.set(key, `value-of-${key}`, size, createdAt, NEVER, NEVER, tags);
}

describe('MemoryTier', () => {
  it('refuses a configuration with no bound', () => {
    expect(() => new MemoryTier({})).toThrow(ConfigError);
    expect(() => new MemoryTier({ maxEntries: 0 })).toThrow(/positive integer/);
    expect(() => new MemoryTier({ maxBytes: -1 })).toThrow(ConfigError);
    expect(() => new MemoryTier({ maxEntries: 10, policy: 'nope' })).toThrow(
      /unknown eviction policy/,
    );
  });

  it('uses the W-TinyLFU policy unless told otherwise', () => {
    expect(new MemoryTier<string>({ maxEntries: 3 }).policyName).toBe('tinylfu');
    expect(new MemoryTier<string>({ maxBytes: 1_000 }).policyName).toBe('tinylfu');
    expect(new MemoryTier<string>({ maxEntries: 3, policy: 'lru' }).policyName).toBe('lru');
  });

  it('never holds more than maxEntries, evicting the least recently used (lru policy)', () => {
    const tier = new MemoryTier<string>({ maxEntries: 3, policy: 'lru' });
    for (const key of ['a', 'b', 'c']) put(tier, key);
    tier.get('a', 0);
    put(tier, 'd');
    expect([...tier.keys()].sort()).toEqual(['a', 'c', 'd']);
    expect(tier.size).toBe(3);
  });

  it('keeps byte accounting exact through inserts, updates, deletes and evictions (lru policy)', () => {
    const evicted: string[] = [];
    const tier = new MemoryTier<string>({
      maxBytes: 100,
      policy: 'lru',
      onEvict: (key) => evicted.push(key),
    });
    put(tier, 'a', 40);
    put(tier, 'b', 40);
    expect(tier.bytes).toBe(80);
    put(tier, 'a', 10); // update shrinks
    expect(tier.bytes).toBe(50);
    put(tier, 'c', 45); // 95
    expect(tier.bytes).toBe(95);
    put(tier, 'd', 30); // 125 > 100: evict LRU 'b' (a was updated after b)
    expect(evicted).toEqual(['b']);
    expect(tier.bytes).toBe(85);
    tier.delete('c');
    expect(tier.bytes).toBe(40);
    expect(tier.size).toBe(2);
    tier.clear();
    expect(tier.bytes).toBe(0);
  });

  it('does not hold an entry larger than maxEntryBytes and drops the older value under its key', () => {
    const tier = new MemoryTier<string>({ maxBytes: 100, maxEntryBytes: 50 });
    expect(put(tier, 'k', 10)).toBe(true);
    expect(put(tier, 'k', 60)).toBe(false);
    expect(tier.peek('k', 0)).toBeUndefined();
    expect(tier.bytes).toBe(0);
  });

  it('removes an entry past staleUntil on access and reports it as expired', () => {
    const reasons: string[] = [];
    const tier = new MemoryTier<string>({
      maxEntries: 10,
      onEvict: (_key, _value, reason) => reasons.push(reason),
    });
    tier.set('k', 'v', 1, 0, 100, 200, undefined);
    expect(tier.get('k', 150)).toBe('v'); // stale but within grace: returned, caller decides
    expect(tier.get('k', 200)).toBeUndefined();
    expect(reasons).toEqual(['expired']);
    expect(tier.size).toBe(0);
  });

  it('deletes by tag, honouring the creation time', () => {
    const tier = new MemoryTier<string>({ maxEntries: 10 });
    put(tier, 'a', 1, ['t'], 10);
    put(tier, 'b', 1, ['t', 'u'], 30);
    put(tier, 'c', 1, ['u'], 10);
    expect(tier.deleteTag('t', 20)).toBe(1); // only 'a' was created before the invalidation
    expect([...tier.keys()].sort()).toEqual(['b', 'c']);
    expect(tier.deleteTag('u')).toBe(2);
    expect(tier.size).toBe(0);
    expect(tier.deleteTag('u')).toBe(0);
  });

  it('re-indexes tags when an entry is overwritten', () => {
    const tier = new MemoryTier<string>({ maxEntries: 10 });
    put(tier, 'a', 1, ['old']);
    put(tier, 'a', 1, ['new']);
    expect(tier.deleteTag('old')).toBe(0);
    expect(tier.deleteTag('new')).toBe(1);
  });

  it('keeps the bound under a random workload (invariant check)', () => {
    const tier = new MemoryTier<number>({ maxEntries: 50, maxBytes: 2_000 });
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let step = 0; step < 20_000; step++) {
      const key = `k${Math.floor(random() * 200)}`;
      const action = random();
      if (action < 0.6) {
        const size = 1 + Math.floor(random() * 100);
        tier.set(key, step, size, 0, NEVER, NEVER, undefined);
      } else if (action < 0.9) {
        tier.get(key, 0);
      } else {
        tier.delete(key);
      }
      expect(tier.size).toBeLessThanOrEqual(50);
      expect(tier.bytes).toBeLessThanOrEqual(2_000);
    }
    let total = 0;
    for (const key of tier.keys()) total += tier.peek(key, 0)?.size ?? 0;
    expect(tier.bytes).toBe(total);
  });
});

describe.each(['lru', 'tinylfu'])('MemoryTier with the %s policy', (policy) => {
  it('keeps both bounds and exact byte accounting under a random workload', () => {
    const tier = new MemoryTier<number>({ maxEntries: 64, maxBytes: 3_000, policy });
    let seed = 11;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let step = 0; step < 30_000; step++) {
      const key = `k${Math.floor(random() * 300)}`;
      const action = random();
      if (action < 0.5)
        tier.set(key, step, 1 + Math.floor(random() * 120), 0, NEVER, NEVER, undefined);
      else if (action < 0.95) tier.get(key, 0);
      else tier.delete(key);
      expect(tier.size).toBeLessThanOrEqual(64);
      expect(tier.bytes).toBeLessThanOrEqual(3_000);
    }
    let total = 0;
    for (const key of tier.keys()) total += tier.peek(key, 0)?.size ?? 0;
    expect(tier.bytes).toBe(total);
    tier.clear();
    expect(tier.size).toBe(0);
    for (let index = 0; index < 200; index++)
      tier.set(`again${index}`, index, 10, 0, NEVER, NEVER, undefined);
    expect(tier.size).toBeLessThanOrEqual(64);
  });

  it('honours TTL whatever the policy', () => {
    const tier = new MemoryTier<string>({ maxEntries: 10, policy });
    tier.set('k', 'v', 1, 0, 100, 100, undefined);
    expect(tier.get('k', 99)).toBe('v');
    expect(tier.get('k', 100)).toBeUndefined();
  });
});

describe('TinyLFU policy', () => {
  it('resists a scan: a hot set survives a flood of one-time keys that flushes LRU', () => {
    const hitRatioAfterScan = (policy: string) => {
      const tier = new MemoryTier<number>({ maxEntries: 100, policy });
      const hot = Array.from({ length: 50 }, (_, index) => `hot${index}`);
      for (let round = 0; round < 20; round++) {
        for (const key of hot)
          if (!tier.get(key, 0)) tier.set(key, 1, 1, 0, NEVER, NEVER, undefined);
      }
      // A scan ten times the capacity (longer ones age the sketch's memory of the hot set).
      for (let index = 0; index < 1_000; index++) {
        const key = `scan${index}`;
        if (!tier.get(key, 0)) tier.set(key, 1, 1, 0, NEVER, NEVER, undefined);
      }
      let hits = 0;
      for (const key of hot) if (tier.get(key, 0)) hits++;
      return hits / hot.length;
    };
    expect(hitRatioAfterScan('lru')).toBe(0);
    expect(hitRatioAfterScan('tinylfu')).toBeGreaterThanOrEqual(0.9);
  });
});

describe('TinyLFU against LRU where recency is all there is', () => {
  it('falls back to LRU on keys swept up and down (no frequency signal)', () => {
    // 1,000 keys swept up, then down, 12 times: every key is equally frequent, and only the
    // keys just seen come back soon, so LRU is optimal. The shadow LRU notices that it
    // would hit far more and hands the whole cache to the (LRU) window.
    const hitRatio = (policy: string) => {
      const tier = new MemoryTier<number>({ maxEntries: 100, policy });
      let hits = 0;
      let accesses = 0;
      for (let sweep = 0; sweep < 12; sweep++) {
        for (let step = 0; step < 1_000; step++) {
          const key = `k${sweep % 2 === 0 ? step : 999 - step}`;
          accesses++;
          if (tier.get(key, 0) !== undefined) hits++;
          else tier.set(key, 1, 1, 0, NEVER, NEVER, undefined);
        }
      }
      return hits / accesses;
    };
    const lru = hitRatio('lru');
    expect(lru).toBeGreaterThan(0.08);
    expect(hitRatio('tinylfu')).toBeGreaterThanOrEqual(lru - 0.01);
  });
});

describe('TinyLFU on a trace derived by hand', () => {
  it('admits by frequency: 5 hits in 12 accesses where LRU gets 2', () => {
    // Capacity 3: a 1-entry window, a 2-entry main space (probation, protected ≤ 1.6).
    // f(X) is X's sketch count: +1 when added, +1 on its first hit since last looked at.
    //  1 A miss: window [A], f(A)=1
    //  2 A hit: A referenced, f(A)=2          3 A hit (already referenced)
    //  4 B miss: window tail A was referenced: second chance; B moves to probation
    //  5 C miss: A moves to probation [A B]; window [C]
    //  6 D miss: candidate C (f 1) against probation's victim B (f 1): a tie, C refused
    //  7 A hit: f(A)=3                        8 B hit: f(B)=2
    //  9 C miss (f 2): referenced B then A are promoted to protected, B is demoted back
    //    (protected holds 1.6); candidate D (f 1) loses to B (f 2): D refused
    // 10 D miss (f 2): candidate C (f 2) ties with B (f 2), but C was refused recently: C in,
    //    B out
    // 11 A hit (protected)
    // 12 B miss
    // LRU with 3 entries hits only at steps 2 and 3 (A B C D A B C D A B cycles 4 keys).
    const trace = 'A A A B C D A B C D A B'.split(' ');
    const replay = (policy: string) => {
      const tier = new MemoryTier<number>({ maxEntries: 3, policy });
      const hits: number[] = [];
      trace.forEach((key, index) => {
        if (tier.get(key, 0) !== undefined) hits.push(index + 1);
        else tier.set(key, 1, 1, 0, NEVER, NEVER, undefined);
      });
      return hits;
    };
    expect(replay('tinylfu')).toEqual([2, 3, 7, 8, 11]);
    expect(replay('lru')).toEqual([2, 3]);
  });
});

describe('cost-aware TinyLFU', () => {
  it('keeps an expensive entry that frequency alone would evict', () => {
    const survives = (withCosts: boolean) => {
      const tier = new MemoryTier<number>({ maxEntries: 10, policy: 'tinylfu' });
      tier.set('expensive', 1, 1, 0, NEVER, NEVER, undefined, withCosts ? 100 : 0);
      for (let index = 0; index < 200; index++) {
        const key = `cheap${index}`;
        // Each cheap key is asked for twice in a row (a miss, then a hit): frequency 2.
        for (let repeat = 0; repeat < 2; repeat++) {
          if (tier.get(key, 0) === undefined) {
            tier.set(key, 1, 1, 0, NEVER, NEVER, undefined, withCosts ? 1 : 0);
          }
        }
      }
      return tier.has('expensive', 0);
    };
    expect(survives(false)).toBe(false);
    expect(survives(true)).toBe(true);
  });
});
