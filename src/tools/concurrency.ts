import { ConfigError } from '../shared/errors.js';

export function checkConcurrency(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1 || value > 10_000) {
    throw new ConfigError(`${name} must be an integer from 1 to 10000, got ${value}`);
  }
  return value;
}

/**
 * Maps `items` with at most `concurrency` calls of `work` in flight; results keep the order
 * of `items`. `work` must not reject (callers isolate errors per item).
 */
export async function mapConcurrent<Item, Result>(
  items: readonly Item[],
  concurrency: number,
  work: (item: Item, index: number) => Promise<Result>,
): Promise<Result[]> {
  const results = new Array<Result>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as Item, index);
    }
  };
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, worker);
  await Promise.all(workers);
  return results;
}
