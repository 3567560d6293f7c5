import { describe, expect, it } from 'vitest';
import { isRetryableError, SluiceError } from '../../src/shared/errors.js';
import { abortableSleep } from '../../src/shared/sleep.js';

describe('abortableSleep', () => {
  it('resolves after the delay', async () => {
    const started = performance.now();
    await abortableSleep(20);
    // Timers may fire up to a millisecond early on some platforms; never much earlier.
    expect(performance.now() - started).toBeGreaterThanOrEqual(18);
  });

  it('rejects at once with the reason of a signal already aborted', async () => {
    const reason = new Error('stop');
    await expect(abortableSleep(60_000, AbortSignal.abort(reason))).rejects.toBe(reason);
  });

  it('rejects with the reason as soon as the signal aborts', async () => {
    const controller = new AbortController();
    const reason = new Error('cancelled');
    const sleeping = abortableSleep(60_000, controller.signal);
    setTimeout(() => controller.abort(reason), 5);
    const started = performance.now();
    await expect(sleeping).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(30_000);
  });

  it('removes its abort listener once it has slept', async () => {
    const controller = new AbortController();
    let added = 0;
    let removed = 0;
    const signal = controller.signal;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<typeof add>) => {
      added++;
      add(...args);
    }) as typeof signal.addEventListener;
    signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      removed++;
      remove(...args);
    }) as typeof signal.removeEventListener;
    await abortableSleep(1, signal);
    expect([added, removed]).toEqual([1, 1]);
  });
});

describe('isRetryableError', () => {
  it('is true only when the error says so', () => {
    expect(isRetryableError(new SluiceError('E_X', 'x', { isRetryable: true }))).toBe(true);
    expect(isRetryableError(new SluiceError('E_X', 'x'))).toBe(false);
    expect(isRetryableError(Object.assign(new Error('api'), { isRetryable: true }))).toBe(true);
    expect(isRetryableError(Object.assign(new Error('api'), { isRetryable: 'yes' }))).toBe(false);
    expect(isRetryableError(new Error('503 retry later'))).toBe(false);
    expect(isRetryableError(null)).toBe(false);
    expect(isRetryableError('retryable')).toBe(false);
  });
});
