/** Checks of whole-number options and request fields. */
import { ConfigError } from './errors.js';

/** `value` when it is a safe integer of at least 1; otherwise a `ConfigError` naming `name`. */
export function positiveInteger(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new ConfigError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** `value` when it is a safe integer of at least 0; otherwise a `ConfigError` naming `name`. */
export function nonNegativeInteger(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ConfigError(`${name} must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}

/** `value` when it is a safe integer of at least `least`; otherwise a `ConfigError` naming `name`. */
export function integerAtLeast(value: unknown, least: number, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < least) {
    throw new ConfigError(`${name} must be an integer of at least ${least}, got ${String(value)}`);
  }
  return value;
}

/**
 * `value` when it is a safe integer of at least 1, otherwise undefined: for optional request
 * fields (`max_tokens`, `n`) where anything else means "not given".
 */
export function positiveIntegerOrUndefined(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : undefined;
}
