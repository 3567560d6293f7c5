import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/shared/clock.js';
import { ConfigError, SluiceError } from '../../src/shared/errors.js';
import { quantileOfSorted } from '../../src/shared/quantile.js';
import { createRandom } from '../../src/shared/random.js';
import {
  createLatencyTracker,
  LatencyHistogram,
  withTimeout,
} from '../../src/telemetry/latency.js';

/** Log-uniform durations from 10 µs to 100 s plus a cluster around 120 ms. */
function sampleDurations(count: number, seed: number): number[] {
  const random = createRandom(seed);
  return Array.from({ length: count }, (_, index) =>
    index % 3 === 0 ? 110 + random() * 20 : 10 ** (random() * 7 - 2),
  );
}

describe('LatencyHistogram', () => {
  it('matches a sorted reference within half a bucket (1/64 relative) at every percentile', () => {
    const values = sampleDurations(20_000, 7);
    const histogram = new LatencyHistogram();
    for (const value of values) histogram.record(value);
    const sorted = [...values].sort((a, b) => a - b);
    for (const quantile of [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999]) {
      const expected = quantileOfSorted(sorted, quantile);
      const actual = histogram.percentile(quantile);
      expect(Math.abs(actual - expected) / expected).toBeLessThanOrEqual(1 / 64 + 1e-9);
    }
    expect(histogram.count).toBe(values.length);
    expect(histogram.min).toBe(sorted[0]);
    expect(histogram.max).toBe(sorted[sorted.length - 1]);
    expect(histogram.percentile(1)).toBe(histogram.max);
    expect(histogram.percentile(0)).toBe(histogram.min);
    expect(histogram.sum).toBeCloseTo(
      values.reduce((sum, value) => sum + value, 0),
      6,
    );
  });

  it('keeps a fixed memory footprint whatever the number of samples', () => {
    const histogram = new LatencyHistogram();
    const buckets = histogram.counts.length;
    const random = createRandom(3);
    for (let index = 0; index < 200_000; index++) histogram.record(random() * 10_000);
    expect(histogram.counts.length).toBe(buckets);
    expect(buckets).toBeLessThan(1_200);
  });

  it('is exact for a tight precision and reports 0 while empty', () => {
    const histogram = new LatencyHistogram();
    expect(histogram.summary()).toEqual({
      count: 0,
      sumMs: 0,
      minMs: 0,
      maxMs: 0,
      meanMs: 0,
      p50Ms: 0,
      p90Ms: 0,
      p95Ms: 0,
      p99Ms: 0,
    });
    for (let value = 1; value <= 100; value++) histogram.record(value);
    const summary = histogram.summary();
    expect(summary.meanMs).toBe(50.5);
    expect(Math.abs(summary.p50Ms - 50) / 50).toBeLessThanOrEqual(1 / 64);
    expect(Math.abs(summary.p99Ms - 99) / 99).toBeLessThanOrEqual(1 / 64);
  });

  it('ignores negative and non-finite values, clamps out-of-range ones to min/max', () => {
    const histogram = new LatencyHistogram({ lowestMs: 1, highestMs: 1_000 });
    histogram.record(-5);
    histogram.record(Number.NaN);
    histogram.record(Number.POSITIVE_INFINITY);
    expect(histogram.count).toBe(0);
    histogram.record(0.001);
    histogram.record(50_000);
    expect(histogram.percentile(0)).toBe(0.001);
    expect(histogram.percentile(1)).toBe(50_000);
  });

  it('merges histograms as if every sample had been recorded in one', () => {
    const values = sampleDurations(5_000, 11);
    const whole = new LatencyHistogram();
    const left = new LatencyHistogram();
    const right = new LatencyHistogram();
    values.forEach((value, index) => {
      whole.record(value);
      (index % 2 === 0 ? left : right).record(value);
    });
    left.merge(right);
    const merged = left.summary();
    const expected = whole.summary();
    expect({ ...merged, sumMs: 0, meanMs: 0 }).toEqual({ ...expected, sumMs: 0, meanMs: 0 });
    expect(merged.sumMs).toBeCloseTo(expected.sumMs, 3);
    expect(() => left.merge(new LatencyHistogram({ precision: 8 }))).toThrow(ConfigError);
  });

  it('refuses bad layouts and percentiles', () => {
    expect(() => new LatencyHistogram({ lowestMs: 0 })).toThrow(ConfigError);
    expect(() => new LatencyHistogram({ lowestMs: 10, highestMs: 5 })).toThrow(ConfigError);
    expect(() => new LatencyHistogram({ precision: 0 })).toThrow(ConfigError);
    expect(() => new LatencyHistogram().percentile(1.5)).toThrow(ConfigError);
  });
});

describe('withTimeout', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves with the work when it finishes in time', async () => {
    await expect(withTimeout(async () => 42, { timeoutMs: 1_000, fallback: 0 })).resolves.toBe(42);
  });

  it('answers with the fallback on timeout and aborts the work', async () => {
    vi.useFakeTimers();
    let seen: AbortSignal | undefined;
    const answer = withTimeout(
      (signal) => {
        seen = signal;
        return new Promise<string>(() => {});
      },
      { timeoutMs: 500, fallback: 'fallback' },
    );
    await vi.advanceTimersByTimeAsync(499);
    expect(seen?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await expect(answer).resolves.toBe('fallback');
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toBeInstanceOf(SluiceError);
    expect(seen?.reason).toMatchObject({ code: 'E_TIMEOUT' });
  });

  it('calls a fallback function with the timeout error and awaits it', async () => {
    vi.useFakeTimers();
    const fallback = vi.fn(async (error: SluiceError) => `late: ${error.code}`);
    const answer = withTimeout(() => new Promise<string>(() => {}), { timeoutMs: '2s', fallback });
    await vi.advanceTimersByTimeAsync(2_000);
    await expect(answer).resolves.toBe('late: E_TIMEOUT');
    expect(fallback).toHaveBeenCalledTimes(1);
  });

  it('rejects with a retryable E_TIMEOUT without a fallback; a late result is dropped', async () => {
    vi.useFakeTimers();
    let finish: (value: number) => void = () => {};
    const answer = withTimeout(() => new Promise<number>((resolve) => (finish = resolve)), {
      timeoutMs: 100,
    });
    const assertion = expect(answer).rejects.toMatchObject({
      code: 'E_TIMEOUT',
      isRetryable: true,
    });
    await vi.advanceTimersByTimeAsync(100);
    await assertion;
    finish(1);
  });

  it('passes the work error through, and a synchronous throw too', async () => {
    await expect(
      withTimeout(
        async () => {
          throw new Error('boom');
        },
        { timeoutMs: 100, fallback: 'x' },
      ),
    ).rejects.toThrow('boom');
    await expect(
      withTimeout(
        () => {
          throw new Error('sync');
        },
        { timeoutMs: 100 },
      ),
    ).rejects.toThrow('sync');
  });

  it('aborts the work and rejects with the reason when the caller cancels', async () => {
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    const answer = withTimeout(
      (signal) => {
        seen = signal;
        return new Promise<string>(() => {});
      },
      { timeoutMs: 10_000, fallback: 'fallback', signal: controller.signal },
    );
    controller.abort(new Error('cancelled'));
    await expect(answer).rejects.toThrow('cancelled');
    expect(seen?.aborted).toBe(true);
  });

  it('sets no timer for an infinite timeout', async () => {
    vi.useFakeTimers();
    const answer = withTimeout(async () => 'done', { timeoutMs: Number.POSITIVE_INFINITY });
    expect(vi.getTimerCount()).toBe(0);
    await expect(answer).resolves.toBe('done');
  });
});

describe('LatencyTracker', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reports lifetime and window percentiles that agree with a sorted reference', () => {
    const clock = new ManualClock();
    const tracker = createLatencyTracker({ clock });
    const values = sampleDurations(3_000, 5);
    for (const value of values) tracker.record(value);
    const snapshot = tracker.snapshot();
    const sorted = [...values].sort((a, b) => a - b);
    for (const [quantile, key] of [
      [0.5, 'p50Ms'],
      [0.9, 'p90Ms'],
      [0.95, 'p95Ms'],
      [0.99, 'p99Ms'],
    ] as const) {
      const expected = quantileOfSorted(sorted, quantile);
      expect(Math.abs(snapshot[key] - expected) / expected).toBeLessThanOrEqual(1 / 64);
      expect(snapshot.window[key]).toBe(snapshot[key]);
    }
    expect(snapshot.count).toBe(3_000);
    expect(snapshot.window.count).toBe(3_000);
  });

  it('slides the window: old samples leave it, the lifetime keeps them', () => {
    const clock = new ManualClock();
    const tracker = createLatencyTracker({ clock, window: '60s', windowSlices: 6 });
    for (let index = 0; index < 10; index++) tracker.record(1_000);
    clock.advance(30_000);
    for (let index = 0; index < 10; index++) tracker.record(10);
    expect(tracker.snapshot().window.count).toBe(20);
    clock.advance(40_000); // the first batch is now 70 s old, the second 40 s
    let snapshot = tracker.snapshot();
    expect(snapshot.window.count).toBe(10);
    expect(snapshot.window.maxMs).toBe(10);
    expect(snapshot.count).toBe(20);
    expect(snapshot.maxMs).toBe(1_000);
    clock.advance(10 * 60_000);
    snapshot = tracker.snapshot();
    expect(snapshot.window.count).toBe(0);
    expect(snapshot.count).toBe(20);
  });

  it('tracks recent p95 × factor within bounds as the adaptive target', () => {
    const clock = new ManualClock();
    const tracker = createLatencyTracker({
      clock,
      target: { factor: 1.5, min: '50ms', max: '2s', initial: '1s', minSamples: 20 },
    });
    expect(tracker.targetMs()).toBe(1_000);
    for (let index = 0; index < 19; index++) tracker.record(100);
    clock.advance(1_000);
    expect(tracker.targetMs()).toBe(1_000); // not enough samples yet
    for (let index = 1; index <= 100; index++) tracker.record(index * 2); // 2..200 ms
    clock.advance(1_000);
    const expected = 190 * 1.5; // nearest-rank p95 of the 119 samples is 190 ms
    expect(Math.abs(tracker.targetMs() - expected) / expected).toBeLessThanOrEqual(1 / 64);

    // Very slow responses: the target follows, up to its maximum.
    for (let index = 0; index < 200; index++) tracker.record(5_000);
    clock.advance(1_000);
    expect(tracker.targetMs()).toBe(2_000);

    // Very fast responses once the slow ones left the window: down to the minimum.
    clock.advance(120_000);
    for (let index = 0; index < 50; index++) tracker.record(1);
    clock.advance(1_000);
    expect(tracker.targetMs()).toBe(50);
  });

  it('keeps the last target while the window is too thin, and a fixed target when off', () => {
    const clock = new ManualClock();
    const tracker = createLatencyTracker({ clock, target: { minSamples: 5, initial: '2s' } });
    for (let index = 0; index < 5; index++) tracker.record(400);
    clock.advance(1_000);
    const target = tracker.targetMs();
    expect(target).toBeCloseTo(600, -1);
    clock.advance(10 * 60_000);
    expect(tracker.targetMs()).toBe(target);

    const fixed = createLatencyTracker({ clock, target: false });
    for (let index = 0; index < 100; index++) fixed.record(5);
    clock.advance(1_000);
    expect(fixed.targetMs()).toBe(2_000);
  });

  it('counts responses under target (the achievement rate)', () => {
    const clock = new ManualClock();
    const tracker = createLatencyTracker({
      clock,
      target: { initial: '100ms', minSamples: 1_000 },
    });
    for (const value of [10, 50, 99, 100, 150, 400]) tracker.record(value);
    const snapshot = tracker.snapshot();
    expect(snapshot.underTargetRatio).toBeCloseTo(4 / 6);
    expect(snapshot.window.underTargetRatio).toBeCloseTo(4 / 6);
    expect(snapshot.targetMs).toBe(100);
  });

  it('withTimeout uses the target, falls back, and grows the target when calls keep timing out', async () => {
    vi.useFakeTimers();
    const clock = new ManualClock();
    const tracker = createLatencyTracker({
      clock,
      target: {
        initial: '100ms',
        min: '100ms',
        max: '1s',
        factor: 2,
        minSamples: 1,
        refreshInterval: 0,
      },
    });
    const targets: number[] = [];
    for (let round = 0; round < 5; round++) {
      const target = tracker.targetMs();
      targets.push(target);
      let aborted = false;
      const answer = tracker.withTimeout(
        (signal) =>
          new Promise<string>((_resolve, reject) => {
            signal.addEventListener('abort', () => {
              aborted = true;
              reject(signal.reason);
            });
          }),
        { fallback: 'cached answer' },
      );
      await vi.advanceTimersByTimeAsync(target);
      await expect(answer).resolves.toBe('cached answer');
      expect(aborted).toBe(true);
    }
    // Each timeout is recorded at its deadline: p95 × 2 doubles the target up to the max.
    expect(targets[0]).toBe(100);
    expect(targets[1]).toBeGreaterThan(190);
    expect(targets[2]).toBeGreaterThan(380);
    expect(targets[4]).toBe(1_000);
    const snapshot = tracker.snapshot();
    expect(snapshot.timeouts).toBe(5);
    expect(snapshot.fallbacks).toBe(5);
  });

  it('withTimeout records the real duration of calls that finish', async () => {
    const clock = new ManualClock();
    const tracker = createLatencyTracker({ clock });
    const value = await tracker.withTimeout(async () => {
      clock.advance(42);
      return 'ok';
    });
    expect(value).toBe('ok');
    const snapshot = tracker.snapshot();
    expect(snapshot.count).toBe(1);
    expect(snapshot.maxMs).toBe(42);
    expect(snapshot.timeouts).toBe(0);
    await expect(
      tracker.time(async () => {
        clock.advance(8);
        throw new Error('failed');
      }),
    ).rejects.toThrow('failed');
    expect(tracker.snapshot().count).toBe(2);
  });

  it('refuses unbounded or contradictory settings', () => {
    expect(() => createLatencyTracker({ windowSlices: 0 })).toThrow(ConfigError);
    expect(() => createLatencyTracker({ target: { min: '2s', max: '1s' } })).toThrow(ConfigError);
    expect(() => createLatencyTracker({ target: { factor: 0 } })).toThrow(ConfigError);
    expect(() => createLatencyTracker({ window: 'forever' })).toThrow(ConfigError);
  });
});
