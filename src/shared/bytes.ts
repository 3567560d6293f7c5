import { ConfigError } from './errors.js';

/** A size in bytes, or a string such as `'512kb'`, `'4mb'`, `'1gb'` (powers of 1024). */
export type ByteSize = number | string;

const UNIT_BYTES: Record<string, number> = {
  b: 1,
  kb: 1024,
  mb: 1024 ** 2,
  gb: 1024 ** 3,
};

const SIZE_PATTERN = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)\s*$/i;

/** Parses a size into bytes; malformed or negative values throw a `ConfigError` naming the option. */
export function parseBytes(value: ByteSize, name: string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) {
      throw new ConfigError(`${name} must be a non-negative number of bytes, got ${value}`);
    }
    return Math.floor(value);
  }
  const match = SIZE_PATTERN.exec(value);
  const amount = match?.[1];
  const unit = match?.[2]?.toLowerCase();
  if (amount === undefined || unit === undefined) {
    throw new ConfigError(
      `${name} must be bytes or a string like '512kb', '4mb', '1gb'; got '${value}'`,
    );
  }
  return Math.floor(Number(amount) * (UNIT_BYTES[unit] ?? 1));
}
