/** Small measuring tools shared by the routing benchmark's phases. */

/** Runs `task(0)` … `task(count - 1)` with at most `concurrency` in flight; results in order. */
export async function runConcurrently<T>(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<T>,
): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      results[index] = await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

/** `12.3 ms`, or `n/a` for NaN. */
export function ms(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(1)} ms` : 'n/a';
}

/** `99.80 %`. */
export function percent(share: number): string {
  return `${(share * 100).toFixed(2)} %`;
}

/** Left-aligned first column, right-aligned others, for a fixed-width table. */
export function tableRow(cells: readonly string[], widths: readonly number[]): string {
  return cells
    .map((cell, index) =>
      index === 0 ? cell.padEnd(widths[index] ?? 0) : cell.padStart(widths[index] ?? 0),
    )
    .join('');
}
