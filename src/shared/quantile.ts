/**
 * Nearest-rank quantiles: the smallest sample with at least `q` of the samples at or below it
 * (the definition the latency histograms and model profiles use).
 */

/** The `q` quantile (0..1) of `sorted`, which must be in ascending order; NaN when empty. */
export function quantileOfSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

/** The `q` quantile (0..1) of `values` in any order (sorts a copy); NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  return quantileOfSorted(
    [...values].sort((left, right) => left - right),
    q,
  );
}
