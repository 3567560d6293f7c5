import { describe, expect, it } from 'vitest';
import { ProfileStats } from '../../src/routing/profiles.js';
import { quantile } from '../../src/shared/quantile.js';

describe('ProfileStats percentiles', () => {
  it('match a sort of the window after every insert, through wrap-arounds, ties and failures', () => {
    const window = 37;
    const stats = new ProfileStats({ latencyWindow: window });
    const kept: number[] = [];
    let seed = 12_345;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    for (let index = 0; index < 2_000; index++) {
      // Many ties (integers up to 50), some fractions, and failures that must not count.
      const latency = random() < 0.7 ? Math.floor(random() * 50) : random() * 500;
      const ok = random() > 0.1;
      stats.record({ ok, latencyMs: latency });
      if (ok) {
        kept.push(latency);
        if (kept.length > window) kept.shift();
      }
      if (kept.length === 0) {
        expect(stats.p95()).toBeUndefined();
        continue;
      }
      for (const q of [0, 0.5, 0.95, 1]) {
        expect(stats.percentile(q)).toBe(quantile(kept, q));
      }
      expect(stats.samples).toBe(kept.length);
    }
  });
});
