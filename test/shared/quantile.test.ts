import { describe, expect, it } from 'vitest';
import { quantile, quantileOfSorted } from '../../src/shared/quantile.js';

describe('quantile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, index) => index + 1);

  it('is the smallest sample with at least q of the samples at or below it', () => {
    expect(quantileOfSorted(hundred, 0.5)).toBe(50);
    expect(quantileOfSorted(hundred, 0.95)).toBe(95);
    expect(quantileOfSorted(hundred, 0.99)).toBe(99);
    expect(quantileOfSorted(hundred, 0.991)).toBe(100);
    expect(quantileOfSorted([3, 5, 8], 0.5)).toBe(5);
  });

  it('gives the minimum at q = 0 and the maximum at q = 1', () => {
    expect(quantileOfSorted(hundred, 0)).toBe(1);
    expect(quantileOfSorted(hundred, 1)).toBe(100);
  });

  it('is NaN for no samples', () => {
    expect(quantileOfSorted([], 0.5)).toBeNaN();
    expect(quantile([], 0.5)).toBeNaN();
  });

  it('accepts typed arrays, and sorts a copy of unsorted values numerically', () => {
    expect(quantileOfSorted(Float64Array.from([0.5, 2, 10]), 1)).toBe(10);
    const values = [10, 9, 100, 1];
    expect(quantile(values, 0.5)).toBe(9);
    expect(quantile(values, 1)).toBe(100);
    expect(values).toEqual([10, 9, 100, 1]);
  });
});
