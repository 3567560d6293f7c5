/**
 * Retries with exponential backoff and full jitter (AWS Architecture Blog, "Exponential Backoff
 * and Jitter"): before retry `n` (0-based) it sleeps random(0, min(maxDelay, baseDelay × 2^n)).
 * An error's `retryAfterMs` (from a `retry-after` header) replaces the backoff, capped at
 * `maxRetryAfter`. Only errors with `isRetryable === true` are retried: the decision is read from
 * the error, never from its message. Abortable through a signal, bounded by a total deadline,
 * and testable without waiting (inject `sleep`, `random` and `clock`).
 */
import { type Clock, systemClock } from '../shared/clock.js';
import { type Duration, parseDuration } from '../shared/duration.js';
import { ConfigError } from '../shared/errors.js';
import { abortableSleep } from '../shared/sleep.js';
import { DeadlineExceededError, isRetryableError, retryAfterOf } from './errors.js';

/** What each attempt is given. */
export interface RetryContext {
  /** 0 for the first call, 1 for the first retry, ... */
  readonly attempt: number;
  /** Aborted when the caller's signal aborts or the deadline passes: pass it to the call. */
  readonly signal: AbortSignal;
}

/** A retry about to happen. */
export interface RetryEvent {
  /** The attempt that failed (0-based). */
  readonly attempt: number;
  readonly error: unknown;
  /** How long the loop sleeps before the next attempt, in ms. */
  readonly delayMs: number;
  /** Whether the delay came from the error's `retryAfterMs`. */
  readonly fromRetryAfter: boolean;
}

export interface RetryOptions {
  /** Calls in total, the first included (1 = no retry). @default 3 */
  maxAttempts?: number;
  /** The backoff's base delay. @default 200 (ms) */
  baseDelay?: Duration;
  /** The backoff's cap (before jitter). @default '10s' */
  maxDelay?: Duration;
  /** The most an error's `retryAfterMs` is honoured for; longer waits are cut to this. @default '30s' */
  maxRetryAfter?: Duration;
  /**
   * Total time budget from the first call: an attempt still running then is aborted, and no
   * retry starts whose delay would end past it. @default undefined (none)
   */
  deadline?: Duration;
  /** Aborts the loop: the running attempt's signal aborts and the loop rejects with the reason. */
  signal?: AbortSignal;
  /** Uniform random in [0, 1). @default Math.random */
  random?: () => number;
  /** Sleeps `ms`, rejecting with `signal.reason` when it aborts. @default a timer */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Measures the deadline. @default the system clock */
  clock?: Clock;
  /** Called before each sleep, e.g. for metrics or logs. */
  onRetry?: (event: RetryEvent) => void;
}

/** The full-jitter backoff before retry `retry` (0-based): random × min(cap, base × 2^retry). */
export function backoffDelay(
  retry: number,
  baseDelayMs: number,
  maxDelayMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** retry);
  return Math.floor(random() * ceiling);
}

/**
 * Calls `fn` until it resolves, it throws an error that is not retryable, `maxAttempts` calls
 * were made, the deadline passes (rejects with a `DeadlineExceededError` whose `cause` is the
 * last error) or the signal aborts (rejects with its reason). Otherwise rejects with the last
 * error as thrown.
 */
export function retry<T>(
  fn: (context: RetryContext) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  return retryLoop(fn, options, undefined);
}

/**
 * The rest of `retry` after a first attempt the caller made itself failed with `error`: decides
 * on it as `retry` would have (rethrows it when it is not retryable, sleeps the backoff when it
 * is) and goes on with attempt 1. For a hot path whose calls nearly always succeed at once, so
 * that a success costs no retry loop; only for options without a `deadline`, since the first
 * attempt ran without one (throws a `ConfigError` otherwise). `fn` is called with attempt 1
 * first.
 */
export function continueRetry<T>(
  error: unknown,
  fn: (context: RetryContext) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  if (options.deadline !== undefined) {
    return Promise.reject(
      new ConfigError('continueRetry cannot keep a deadline its first attempt ran without'),
    );
  }
  return retryLoop(fn, options, { error });
}

async function retryLoop<T>(
  fn: (context: RetryContext) => Promise<T>,
  options: RetryOptions,
  failed: { readonly error: unknown } | undefined,
): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 3;
  if (!(Number.isSafeInteger(maxAttempts) && maxAttempts >= 1)) {
    throw new ConfigError(`maxAttempts must be a positive integer, got ${maxAttempts}`);
  }
  // Defaults in milliseconds: a number costs no parsing on every call.
  const baseDelayMs = parseDuration(options.baseDelay ?? 200, 'baseDelay');
  const maxDelayMs = parseDuration(options.maxDelay ?? 10_000, 'maxDelay');
  const maxRetryAfterMs = parseDuration(options.maxRetryAfter ?? 30_000, 'maxRetryAfter');
  const deadlineMs =
    options.deadline === undefined ? undefined : parseDuration(options.deadline, 'deadline');
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? abortableSleep;
  const clock = options.clock ?? systemClock;
  const { signal } = options;

  if (failed === undefined) signal?.throwIfAborted();
  const deadlineAt = deadlineMs === undefined ? Number.POSITIVE_INFINITY : clock.now() + deadlineMs;

  for (let attempt = 0; ; attempt += 1) {
    let error: unknown;
    if (attempt === 0 && failed !== undefined) error = failed.error;
    else {
      try {
        return await runAttempt(fn, attempt, signal, deadlineMs, deadlineAt, clock);
      } catch (caught) {
        error = caught;
      }
    }
    if (signal?.aborted) throw signal.reason;
    if (error instanceof DeadlineExceededError || clock.now() >= deadlineAt) {
      throw error instanceof DeadlineExceededError
        ? error
        : new DeadlineExceededError(deadlineMs ?? 0, attempt + 1, error);
    }
    if (!isRetryableError(error) || attempt + 1 >= maxAttempts) throw error;
    const retryAfter = retryAfterOf(error);
    const delayMs =
      retryAfter === undefined
        ? backoffDelay(attempt, baseDelayMs, maxDelayMs, random)
        : Math.min(retryAfter, maxRetryAfterMs);
    if (clock.now() + delayMs >= deadlineAt) {
      throw new DeadlineExceededError(deadlineMs ?? 0, attempt + 1, error);
    }
    options.onRetry?.({ attempt, error, delayMs, fromRetryAfter: retryAfter !== undefined });
    await sleep(delayMs, signal);
    signal?.throwIfAborted();
  }
}

/**
 * The signal of an attempt nothing can abort (no caller signal, no deadline). Shared: never
 * add listeners to it; compare with `===` to skip passing it on.
 */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/**
 * One call with its own signal, aborted by the caller's signal or at the deadline. A call that
 * fails because the deadline aborted it rejects with a `DeadlineExceededError`.
 */
async function runAttempt<T>(
  fn: (context: RetryContext) => Promise<T>,
  attempt: number,
  signal: AbortSignal | undefined,
  deadlineMs: number | undefined,
  deadlineAt: number,
  clock: Clock,
): Promise<T> {
  if (signal === undefined && deadlineMs === undefined) {
    // Nothing can abort this attempt: no controller (and no allocation) per call.
    return fn({ attempt, signal: NEVER_ABORTED });
  }
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  let deadlineTimer: NodeJS.Timeout | undefined;
  let deadlineHit = false;
  if (deadlineMs !== undefined) {
    deadlineTimer = setTimeout(
      () => {
        deadlineHit = true;
        controller.abort(new DeadlineExceededError(deadlineMs, attempt + 1, undefined));
      },
      Math.max(0, deadlineAt - clock.now()),
    );
    deadlineTimer.unref();
  }
  try {
    return await fn({ attempt, signal: controller.signal });
  } catch (error) {
    if (deadlineHit && !signal?.aborted) {
      throw error === controller.signal.reason
        ? error
        : new DeadlineExceededError(deadlineMs ?? 0, attempt + 1, error);
    }
    throw error;
  } finally {
    clearTimeout(deadlineTimer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** The default `sleep` of `retry`, from `shared/sleep`. */
export { abortableSleep };
