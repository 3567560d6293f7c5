/** Option checks shared by the context manager and the memory store; each names the option. */
import { ConfigError } from '../shared/errors.js';

/** A number in [min, max] (or (min, max] when `exclusiveMin`). */
export function ratioOption(
  name: string,
  value: number,
  {
    min = 0,
    max = 1,
    exclusiveMin = false,
  }: { min?: number; max?: number; exclusiveMin?: boolean } = {},
): number {
  const aboveMin = exclusiveMin ? value > min : value >= min;
  if (!Number.isFinite(value) || !aboveMin || value > max) {
    const range = `${exclusiveMin ? '(' : '['}${min}, ${max}]`;
    throw new ConfigError(`${name} must be a number in ${range}, got ${value}`);
  }
  return value;
}
