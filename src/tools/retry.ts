import { type Duration, parseDuration } from '../shared/duration.js';
import { ConfigError } from '../shared/errors.js';

/** Retries of an idempotent tool: exponential backoff with full jitter. */
export interface RetryOptions {
  /** Attempts after the first. @default 2 */
  retries?: number;
  /** Backoff ceiling before the first retry; it doubles (`factor`) per retry. @default '100ms' */
  minDelay?: Duration;
  /** Largest backoff ceiling. @default '5s' */
  maxDelay?: Duration;
  /** Growth of the backoff ceiling per retry. @default 2 */
  factor?: number;
}

export interface RetryPolicy {
  retries: number;
  minDelayMs: number;
  maxDelayMs: number;
  factor: number;
}

export const NO_RETRY: RetryPolicy = Object.freeze({
  retries: 0,
  minDelayMs: 0,
  maxDelayMs: 0,
  factor: 1,
});

export function resolveRetry(
  options: RetryOptions | false | undefined,
  fallback: RetryPolicy,
  name: string,
): RetryPolicy {
  if (options === false) return NO_RETRY;
  if (options === undefined) return fallback;
  const retries = options.retries ?? fallback.retries;
  if (!Number.isInteger(retries) || retries < 0 || retries > 20) {
    throw new ConfigError(`${name}.retries must be an integer from 0 to 20, got ${retries}`);
  }
  const factor = options.factor ?? fallback.factor;
  if (!(factor >= 1) || !Number.isFinite(factor)) {
    throw new ConfigError(`${name}.factor must be a number of at least 1, got ${factor}`);
  }
  const minDelayMs =
    options.minDelay === undefined
      ? fallback.minDelayMs
      : parseDuration(options.minDelay, `${name}.minDelay`);
  const maxDelayMs =
    options.maxDelay === undefined
      ? fallback.maxDelayMs
      : parseDuration(options.maxDelay, `${name}.maxDelay`);
  if (maxDelayMs < minDelayMs) {
    throw new ConfigError(`${name}.maxDelay must not be below ${name}.minDelay`);
  }
  return { retries, minDelayMs, maxDelayMs, factor };
}

/**
 * The pause before retry number `retry` (1-based): a uniform draw between 0 and
 * `min(maxDelay, minDelay · factor^(retry − 1))` ("full jitter": retries of many callers
 * spread out instead of arriving together).
 */
export function backoffDelay(policy: RetryPolicy, retry: number, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.minDelayMs * policy.factor ** (retry - 1));
  return Math.floor(random() * ceiling);
}
