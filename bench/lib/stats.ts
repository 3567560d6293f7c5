/** Statistics the bench suites share. Quantiles are nearest-rank, as in `src/shared/quantile`. */
import { quantileOfSorted } from '../../src/shared/quantile.js';

export { quantile, quantileOfSorted } from '../../src/shared/quantile.js';

/** The arithmetic mean; NaN when empty. */
export function mean(values: readonly number[]): number {
  let sum = 0;
  for (const value of values) sum += value;
  return values.length === 0 ? Number.NaN : sum / values.length;
}

/** A distribution of durations, in milliseconds (nearest-rank percentiles). */
export interface DurationSummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  minMs: number;
  maxMs: number;
}

/** Count, mean (0 when empty), p50, p95, min and max (NaN when empty) of `samples` in ms. */
export function summarize(samples: readonly number[]): DurationSummary {
  const sorted = [...samples].sort((left, right) => left - right);
  return {
    count: sorted.length,
    meanMs: sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length),
    p50Ms: quantileOfSorted(sorted, 0.5),
    p95Ms: quantileOfSorted(sorted, 0.95),
    minMs: sorted[0] ?? Number.NaN,
    maxMs: sorted[sorted.length - 1] ?? Number.NaN,
  };
}
