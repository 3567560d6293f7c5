import { ConfigError } from './errors.js';

/** A duration in milliseconds, or a string such as `'250ms'`, `'30s'`, `'30m'`, `'1h'`, `'7d'`. */
export type Duration = number | string;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const DURATION_PATTERN = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/;

/**
 * Parses a duration into milliseconds. `Infinity` is accepted where `allowInfinite` is set
 * (for "never expires"); negative, NaN and malformed values throw a `ConfigError` that names
 * the option.
 */
export function parseDuration(
  value: Duration,
  name: string,
  { allowInfinite = false }: { allowInfinite?: boolean } = {},
): number {
  if (typeof value === 'number') {
    if (value === Number.POSITIVE_INFINITY && allowInfinite) return value;
    if (!Number.isFinite(value) || value < 0) {
      throw new ConfigError(`${name} must be a non-negative number of milliseconds, got ${value}`);
    }
    return value;
  }
  const match = DURATION_PATTERN.exec(value);
  const amount = match?.[1];
  const unit = match?.[2];
  if (amount === undefined || unit === undefined) {
    throw new ConfigError(
      `${name} must be milliseconds or a string like '500ms', '30s', '30m', '1h', '7d'; got '${value}'`,
    );
  }
  return Math.round(Number(amount) * (UNIT_MS[unit] ?? 1));
}
