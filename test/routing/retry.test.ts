import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeadlineExceededError } from '../../src/routing/errors.js';
import { backoffDelay, continueRetry, type RetryOptions, retry } from '../../src/routing/retry.js';
import { ManualClock } from '../../src/shared/clock.js';
import { SluiceError } from '../../src/shared/errors.js';
import { createRandom } from '../../src/shared/random.js';

const retryable = (message = 'upstream 503', extra: Record<string, unknown> = {}) =>
  Object.assign(new SluiceError('upstream_error', message, { isRetryable: true }), extra);

/** A sleep that records delays and moves a manual clock instead of waiting. */
function fakeTime() {
  const clock = new ManualClock();
  const delays: number[] = [];
  const sleep = async (ms: number, signal?: AbortSignal) => {
    signal?.throwIfAborted();
    delays.push(ms);
    clock.advance(ms);
  };
  return { clock, delays, sleep };
}

/** A function failing with `errors` in turn, then resolving 'ok'. */
function failing(errors: unknown[]) {
  const calls: number[] = [];
  const fn = async ({ attempt }: { attempt: number }) => {
    calls.push(attempt);
    const error = errors[attempt];
    if (error !== undefined) throw error;
    return 'ok';
  };
  return { fn, calls };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('retry', () => {
  it('backs off exponentially with full jitter, within [0, min(cap, base × 2^n))', () => {
    const random = createRandom(42);
    for (let retryIndex = 0; retryIndex < 12; retryIndex += 1) {
      const ceiling = Math.min(10_000, 100 * 2 ** retryIndex);
      const samples = Array.from({ length: 200 }, () =>
        backoffDelay(retryIndex, 100, 10_000, random),
      );
      expect(Math.min(...samples)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...samples)).toBeLessThan(ceiling);
      // Full jitter spreads over the whole range, not just near the ceiling.
      expect(Math.min(...samples)).toBeLessThan(ceiling * 0.1);
      expect(Math.max(...samples)).toBeGreaterThan(ceiling * 0.9);
    }
    expect([0, 1, 2, 3, 4, 10].map((n) => backoffDelay(n, 100, 1_000, () => 0.5))).toEqual([
      50, 100, 200, 400, 500, 500,
    ]);
  });

  it('retries retryable errors with the seeded delays, then succeeds', async () => {
    const { sleep, delays, clock } = fakeTime();
    const { fn, calls } = failing([retryable(), retryable(), retryable()]);
    const options: RetryOptions = {
      maxAttempts: 4,
      baseDelay: 100,
      maxDelay: 1_000,
      random: createRandom(7),
      sleep,
      clock,
    };
    await expect(retry(fn, options)).resolves.toBe('ok');
    expect(calls).toEqual([0, 1, 2, 3]);
    const replay = createRandom(7);
    expect(delays).toEqual([0, 1, 2].map((n) => backoffDelay(n, 100, 1_000, replay)));
    delays.forEach((delay, n) => {
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(100 * 2 ** n);
    });
    expect(clock.now() - new ManualClock().now()).toBe(delays.reduce((a, b) => a + b, 0));
  });

  it('rethrows the last error once maxAttempts calls were made', async () => {
    const { sleep } = fakeTime();
    const last = retryable('third');
    const { fn, calls } = failing([retryable('first'), retryable('second'), last]);
    await expect(retry(fn, { maxAttempts: 3, sleep })).rejects.toBe(last);
    expect(calls).toEqual([0, 1, 2]);
  });

  it('never retries an error that is not marked retryable, whatever its message says', async () => {
    const { sleep } = fakeTime();
    for (const error of [
      new SluiceError('E_CONFIG', 'please retry: 503 timeout'),
      new Error('ECONNRESET retryable'),
      Object.assign(new Error('rate limited'), { status: 429 }),
      Object.assign(new Error('x'), { isRetryable: 'true' }),
    ]) {
      const { fn, calls } = failing([error]);
      await expect(retry(fn, { sleep })).rejects.toBe(error);
      expect(calls).toEqual([0]);
    }
  });

  it('waits the retry-after the error asks for, capped at maxRetryAfter', async () => {
    const { sleep, delays } = fakeTime();
    const { fn } = failing([
      retryable('429', { retryAfterMs: 1_500 }),
      retryable('429', { retryAfterMs: 120_000 }),
      retryable('503', { retryAfterMs: 'soon' }),
    ]);
    const events: { delayMs: number; fromRetryAfter: boolean }[] = [];
    await retry(fn, {
      maxAttempts: 4,
      maxRetryAfter: '30s',
      baseDelay: 100,
      random: () => 0.5,
      sleep,
      onRetry: ({ delayMs, fromRetryAfter }) => events.push({ delayMs, fromRetryAfter }),
    });
    expect(delays).toEqual([1_500, 30_000, 200]);
    expect(events.map((event) => event.fromRetryAfter)).toEqual([true, true, false]);
  });

  it('gives up with DeadlineExceededError when the next delay would pass the deadline', async () => {
    const { sleep, delays, clock } = fakeTime();
    const last = retryable('still down', { retryAfterMs: 4_000 });
    const { fn, calls } = failing([retryable('down', { retryAfterMs: 4_000 }), last]);
    const error = await retry(fn, { deadline: '6s', sleep, clock, maxAttempts: 5 }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect((error as DeadlineExceededError).cause).toBe(last);
    expect((error as DeadlineExceededError).attempts).toBe(2);
    expect(delays).toEqual([4_000]);
    expect(calls).toEqual([0, 1]);
  });

  it('aborts an attempt still running at the deadline', async () => {
    vi.useFakeTimers();
    let seenSignal: AbortSignal | undefined;
    const pending = retry(
      ({ signal }) => {
        seenSignal = signal;
        return new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason));
        });
      },
      // The deadline measured on the faked clock: the default clock is the real Date.now, bound
      // at import, and a real pause between its two readings would fire the timer early.
      { deadline: 1_000, clock: { now: () => Date.now() } },
    ).catch((caught: unknown) => caught);
    await vi.advanceTimersByTimeAsync(999);
    expect(seenSignal?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const error = await pending;
    expect(seenSignal?.aborted).toBe(true);
    expect(error).toBeInstanceOf(DeadlineExceededError);
  });

  it('stops at once when the caller aborts: during a sleep or during an attempt', async () => {
    const reason = new Error('client went away');
    // During the (real, abortable) backoff sleep.
    const controller = new AbortController();
    const { fn, calls } = failing([retryable(), retryable()]);
    const sleeping = retry(fn, { signal: controller.signal, baseDelay: 60_000, random: () => 1 });
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort(reason);
    await expect(sleeping).rejects.toBe(reason);
    expect(calls).toEqual([0]);

    // During an attempt: its signal aborts, and the loop does not retry.
    const second = new AbortController();
    let attemptSignal: AbortSignal | undefined;
    const running = retry(
      ({ signal }) => {
        attemptSignal = signal;
        return new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => reject(retryable('aborted mid-flight')));
        });
      },
      { signal: second.signal },
    );
    second.abort(reason);
    await expect(running).rejects.toBe(reason);
    expect(attemptSignal?.aborted).toBe(true);

    // Already aborted: never calls.
    const { fn: never, calls: none } = failing([]);
    await expect(retry(never, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(none).toEqual([]);
  });

  it('refuses invalid options', async () => {
    await expect(retry(async () => 1, { maxAttempts: 0 })).rejects.toThrow(/maxAttempts/);
    await expect(retry(async () => 1, { baseDelay: -1 })).rejects.toThrow(/baseDelay/);
  });
});

describe('continueRetry', () => {
  it('goes on from attempt 1 exactly as retry would after the same first failure', async () => {
    const errors = [retryable('first'), retryable('second'), retryable('third')];
    const options = (sleep: RetryOptions['sleep']): RetryOptions => ({
      maxAttempts: 4,
      baseDelay: 100,
      random: createRandom(3),
      sleep,
    });
    const whole = fakeTime();
    const { fn: wholeFn, calls: wholeCalls } = failing(errors);
    await expect(retry(wholeFn, options(whole.sleep))).resolves.toBe('ok');

    const rest = fakeTime();
    const { fn: restFn, calls: restCalls } = failing(errors);
    await expect(continueRetry(errors[0], restFn, options(rest.sleep))).resolves.toBe('ok');
    expect(restCalls).toEqual(wholeCalls.slice(1));
    expect(rest.delays).toEqual(whole.delays);
  });

  it('rethrows a first error that is not retryable, or when one attempt is all there is', async () => {
    const { fn, calls } = failing([]);
    const final = new SluiceError('upstream_error', 'bad request');
    await expect(continueRetry(final, fn)).rejects.toBe(final);
    const spent = retryable();
    await expect(continueRetry(spent, fn, { maxAttempts: 1 })).rejects.toBe(spent);
    expect(calls).toEqual([]);
  });

  it('stops with the reason when the caller has aborted, and refuses a deadline', async () => {
    const { fn, calls } = failing([]);
    const reason = new Error('client went away');
    await expect(
      continueRetry(retryable(), fn, { signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);
    await expect(continueRetry(retryable(), fn, { deadline: '1s' })).rejects.toThrow(/deadline/);
    expect(calls).toEqual([]);
  });
});
