import { describe, expect, it } from 'vitest';
import { createRandom } from '../../src/shared/random.js';

describe('createRandom (mulberry32)', () => {
  it('gives the published mulberry32 sequence, so seeded workloads and fixtures stay the same', () => {
    const random = createRandom(42);
    expect([random(), random(), random()]).toEqual([
      0.6011037519201636, 0.44829055899754167, 0.8524657934904099,
    ]);
    expect(createRandom(0)()).toBe(0.26642920868471265);
  });

  it('repeats for a seed, differs between seeds, and stays in [0, 1)', () => {
    const first = createRandom(7);
    const again = createRandom(7);
    const other = createRandom(8);
    const drawn = Array.from({ length: 10_000 }, () => first());
    expect(Array.from({ length: 10_000 }, () => again())).toEqual(drawn);
    expect(other()).not.toBe(drawn[0]);
    expect(Math.min(...drawn)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...drawn)).toBeLessThan(1);
    const mean = drawn.reduce((sum, value) => sum + value, 0) / drawn.length;
    expect(mean).toBeGreaterThan(0.48);
    expect(mean).toBeLessThan(0.52);
  });

  it('treats the seed as an unsigned 32-bit integer', () => {
    expect(createRandom(-1)()).toBe(createRandom(0xffff_ffff)());
  });
});
