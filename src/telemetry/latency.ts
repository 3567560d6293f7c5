import { type Clock, systemClock } from '../shared/clock.js';
import { type Duration, parseDuration } from '../shared/duration.js';
import { ConfigError, SluiceError } from '../shared/errors.js';

/**
 * Response-time tracking in bounded memory.
 *
 * - `LatencyHistogram`: a fixed-bucket log-linear histogram (HdrHistogram's layout). Each
 *   power of two between `lowestMs` and `highestMs` is split into `precision` equal buckets,
 *   so a percentile is off by at most half a bucket: 1/(2 · precision) of the value
 *   (1.6 % at the default 32). Memory is fixed (about 8 KB at the defaults) whatever the count.
 * - `LatencyTracker`: a lifetime histogram plus a sliding window of histograms (recent
 *   percentiles), timeout and fallback counts, and an adaptive target timeout that follows
 *   the recent p95 × a factor within bounds.
 * - `withTimeout`: runs work under a deadline, aborts it through its `AbortSignal` on timeout
 *   and answers with a fallback.
 */

export interface LatencyHistogramOptions {
  /**
   * Smallest value told apart, in milliseconds; smaller values share one bucket.
   * @default 0.001 (1 µs)
   */
  lowestMs?: number;
  /**
   * Largest value told apart, in milliseconds; larger values share one bucket (min/max stay exact).
   * @default 3_600_000 (1 h)
   */
  highestMs?: number;
  /**
   * Buckets per power of two. Relative error of a percentile ≤ 1 / (2 · precision).
   * @default 32
   */
  precision?: number;
}

/** Percentiles and moments of recorded durations, in milliseconds; all 0 while `count` is 0. */
export interface LatencySummary {
  count: number;
  sumMs: number;
  minMs: number;
  maxMs: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p95Ms: number;
  p99Ms: number;
}

/** Bucket geometry shared by histograms that can be merged. */
class BucketLayout {
  readonly lowestMs: number;
  readonly highestMs: number;
  readonly precision: number;
  readonly exponents: number;
  /** Underflow bucket, `exponents · precision` log-linear buckets, overflow bucket. */
  readonly size: number;

  constructor(options: LatencyHistogramOptions) {
    this.lowestMs = options.lowestMs ?? 0.001;
    this.highestMs = options.highestMs ?? 3_600_000;
    this.precision = options.precision ?? 32;
    if (!(this.lowestMs > 0) || !Number.isFinite(this.lowestMs)) {
      throw new ConfigError(`lowestMs must be a positive number, got ${this.lowestMs}`);
    }
    if (!(this.highestMs > this.lowestMs) || !Number.isFinite(this.highestMs)) {
      throw new ConfigError(`highestMs must be finite and above lowestMs, got ${this.highestMs}`);
    }
    if (!Number.isInteger(this.precision) || this.precision < 1 || this.precision > 1024) {
      throw new ConfigError(`precision must be an integer from 1 to 1024, got ${this.precision}`);
    }
    this.exponents = Math.ceil(Math.log2(this.highestMs / this.lowestMs));
    this.size = this.exponents * this.precision + 2;
  }

  equals(other: BucketLayout): boolean {
    return (
      this.lowestMs === other.lowestMs &&
      this.highestMs === other.highestMs &&
      this.precision === other.precision
    );
  }

  index(valueMs: number): number {
    if (valueMs < this.lowestMs) return 0;
    const ratio = valueMs / this.lowestMs;
    let exponent = Math.floor(Math.log2(ratio));
    let mantissa = ratio / 2 ** exponent;
    // Guard against rounding in log2 at exact powers of two.
    if (mantissa >= 2) {
      exponent++;
      mantissa /= 2;
    } else if (mantissa < 1) {
      exponent--;
      mantissa *= 2;
    }
    if (exponent >= this.exponents) return this.size - 1;
    const sub = Math.min(this.precision - 1, Math.floor((mantissa - 1) * this.precision));
    return 1 + exponent * this.precision + sub;
  }

  /** The value a bucket stands for: its midpoint (callers clamp it to the observed min/max). */
  representative(index: number): number {
    if (index === 0) return this.lowestMs / 2;
    if (index === this.size - 1) return this.lowestMs * 2 ** this.exponents;
    const offset = index - 1;
    const exponent = Math.floor(offset / this.precision);
    const sub = offset - exponent * this.precision;
    const base = this.lowestMs * 2 ** exponent;
    return base * (1 + (sub + 0.5) / this.precision);
  }
}

function checkQuantile(quantile: number): void {
  if (!(quantile >= 0 && quantile <= 1)) {
    throw new ConfigError(`a percentile is a fraction from 0 to 1, got ${quantile}`);
  }
}

/** The 1-based rank a nearest-rank percentile reads (at least the first sample). */
function rankFor(quantile: number, count: number): number {
  return Math.max(1, Math.ceil(quantile * count));
}

/**
 * A fixed-bucket log-linear histogram of durations in milliseconds. `count`, `sum`, `min` and
 * `max` are exact; percentiles use the nearest-rank definition and are exact to the bucket.
 */
export class LatencyHistogram {
  /** @internal */
  readonly layout: BucketLayout;
  /** @internal */
  readonly counts: Float64Array;
  #count = 0;
  #sum = 0;
  #min = Number.POSITIVE_INFINITY;
  #max = Number.NEGATIVE_INFINITY;

  constructor(options: LatencyHistogramOptions | BucketLayout = {}) {
    this.layout = options instanceof BucketLayout ? options : new BucketLayout(options);
    this.counts = new Float64Array(this.layout.size);
  }

  get count(): number {
    return this.#count;
  }

  get sum(): number {
    return this.#sum;
  }

  /** Smallest recorded value; 0 while empty. */
  get min(): number {
    return this.#count === 0 ? 0 : this.#min;
  }

  /** Largest recorded value; 0 while empty. */
  get max(): number {
    return this.#count === 0 ? 0 : this.#max;
  }

  get mean(): number {
    return this.#count === 0 ? 0 : this.#sum / this.#count;
  }

  /** Records one duration. Negative and non-finite values are ignored (a clock went backwards). */
  record(valueMs: number): void {
    if (!(valueMs >= 0) || !Number.isFinite(valueMs)) return;
    const index = this.layout.index(valueMs);
    this.counts[index] = (this.counts[index] as number) + 1;
    this.#count++;
    this.#sum += valueMs;
    if (valueMs < this.#min) this.#min = valueMs;
    if (valueMs > this.#max) this.#max = valueMs;
  }

  /** The nearest-rank percentile (`quantile` from 0 to 1), within one bucket; 0 while empty. */
  percentile(quantile: number): number {
    checkQuantile(quantile);
    return percentileOf(this.layout, [this], quantile);
  }

  /** Adds another histogram's samples (same layout required). */
  merge(other: LatencyHistogram): void {
    if (!this.layout.equals(other.layout)) {
      throw new ConfigError(
        'only histograms with the same lowestMs, highestMs and precision merge',
      );
    }
    if (other.#count === 0) return;
    for (let index = 0; index < this.counts.length; index++) {
      this.counts[index] = (this.counts[index] as number) + (other.counts[index] as number);
    }
    this.#count += other.#count;
    this.#sum += other.#sum;
    if (other.#min < this.#min) this.#min = other.#min;
    if (other.#max > this.#max) this.#max = other.#max;
  }

  reset(): void {
    if (this.#count === 0) return;
    this.counts.fill(0);
    this.#count = 0;
    this.#sum = 0;
    this.#min = Number.POSITIVE_INFINITY;
    this.#max = Number.NEGATIVE_INFINITY;
  }

  summary(): LatencySummary {
    return summarize(this.layout, [this]);
  }
}

/** Nearest-rank percentile over the union of several histograms with one layout. */
function percentileOf(
  layout: BucketLayout,
  histograms: readonly LatencyHistogram[],
  quantile: number,
): number {
  let count = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const histogram of histograms) {
    if (histogram.count === 0) continue;
    count += histogram.count;
    min = Math.min(min, histogram.min);
    max = Math.max(max, histogram.max);
  }
  if (count === 0) return 0;
  const rank = rankFor(quantile, count);
  // The extreme ranks are known exactly.
  if (rank === 1) return min;
  if (rank === count) return max;
  let seen = 0;
  for (let index = 0; index < layout.size; index++) {
    for (const histogram of histograms) seen += histogram.counts[index] as number;
    if (seen >= rank) {
      const value = layout.representative(index);
      return Math.min(max, Math.max(min, value));
    }
  }
  return max;
}

function summarize(layout: BucketLayout, histograms: readonly LatencyHistogram[]): LatencySummary {
  let count = 0;
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const histogram of histograms) {
    if (histogram.count === 0) continue;
    count += histogram.count;
    sum += histogram.sum;
    min = Math.min(min, histogram.min);
    max = Math.max(max, histogram.max);
  }
  if (count === 0) {
    return {
      count: 0,
      sumMs: 0,
      minMs: 0,
      maxMs: 0,
      meanMs: 0,
      p50Ms: 0,
      p90Ms: 0,
      p95Ms: 0,
      p99Ms: 0,
    };
  }
  return {
    count,
    sumMs: sum,
    minMs: min,
    maxMs: max,
    meanMs: sum / count,
    p50Ms: percentileOf(layout, histograms, 0.5),
    p90Ms: percentileOf(layout, histograms, 0.9),
    p95Ms: percentileOf(layout, histograms, 0.95),
    p99Ms: percentileOf(layout, histograms, 0.99),
  };
}

// ---------------------------------------------------------------------------- withTimeout

/** setTimeout cannot wait longer than this; longer timeouts mean "no timer". */
const MAX_TIMER_MS = 2_147_483_647;

export interface WithTimeoutOptions<Fallback> {
  /** Deadline in milliseconds (or a duration string); `Infinity` for none. */
  timeoutMs: Duration;
  /**
   * Answer on timeout: a value, or a function called with the timeout error (its result,
   * awaited, is the answer). Without a fallback the timeout rejects with `E_TIMEOUT`.
   */
  fallback?: Fallback | ((error: SluiceError) => Fallback | PromiseLike<Fallback>);
  /** Cancels the work from outside: it is aborted and the call rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Runs `work` under a deadline. On timeout the work's `AbortSignal` is aborted (its reason is
 * an `E_TIMEOUT` `SluiceError`), and the call answers with the fallback, or rejects with that
 * error when there is none. A result the work produces after the deadline is discarded.
 */
export function withTimeout<Value, Fallback = never>(
  work: (signal: AbortSignal) => Value | PromiseLike<Value>,
  options: WithTimeoutOptions<Fallback>,
): Promise<Value | Fallback> {
  const timeoutMs = parseDuration(options.timeoutMs, 'timeoutMs', { allowInfinite: true });
  const hasFallback = 'fallback' in options;
  const outer = options.signal;
  const controller = new AbortController();

  return new Promise<Value | Fallback>((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const onOuterAbort = (): void => {
      if (settled) return;
      finish();
      controller.abort(outer?.reason);
      reject(outer?.reason);
    };
    const finish = (): void => {
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
    };

    if (outer?.aborted) {
      settled = true;
      controller.abort(outer.reason);
      reject(outer.reason);
      return;
    }
    outer?.addEventListener('abort', onOuterAbort, { once: true });

    if (timeoutMs <= MAX_TIMER_MS) {
      timer = setTimeout(() => {
        if (settled) return;
        finish();
        const error = new SluiceError(
          'E_TIMEOUT',
          `the operation took longer than ${timeoutMs} ms`,
          {
            isRetryable: true,
          },
        );
        controller.abort(error);
        if (!hasFallback) {
          reject(error);
          return;
        }
        const fallback = options.fallback;
        try {
          const answer =
            typeof fallback === 'function'
              ? (fallback as (error: SluiceError) => Fallback | PromiseLike<Fallback>)(error)
              : (fallback as Fallback);
          Promise.resolve(answer).then(resolve, reject);
        } catch (fallbackError) {
          reject(fallbackError);
        }
      }, timeoutMs);
    }

    let produced: Value | PromiseLike<Value>;
    try {
      produced = work(controller.signal);
    } catch (error) {
      if (!settled) {
        finish();
        reject(error);
      }
      return;
    }
    Promise.resolve(produced).then(
      (value) => {
        if (settled) return;
        finish();
        resolve(value);
      },
      (error: unknown) => {
        // After the deadline the work usually fails with the abort reason: nobody listens.
        if (settled) return;
        finish();
        reject(error);
      },
    );
  });
}

// ---------------------------------------------------------------------------- tracker

export interface AdaptiveTargetOptions {
  /**
   * The recent percentile the target follows, from 0 to 1.
   * @default 0.95
   */
  percentile?: number;
  /**
   * Target = recent percentile × factor (headroom above normal slowness).
   * @default 1.5
   */
  factor?: number;
  /** Lowest target. @default '100ms' */
  min?: Duration;
  /** Highest target. @default '30s' */
  max?: Duration;
  /** Target before `minSamples` samples were seen. @default '2s' */
  initial?: Duration;
  /**
   * Samples the window needs before the target moves; with fewer, the last target stays.
   * @default 20
   */
  minSamples?: number;
  /** How often the target is recomputed at most. @default '1s' */
  refreshInterval?: Duration;
}

export interface LatencyTrackerOptions extends LatencyHistogramOptions {
  /** Where time is read (window rotation, target refresh). @default the system clock */
  clock?: Clock;
  /** Span of the recent-latency window. @default '1m' */
  window?: Duration;
  /**
   * Slices the window is kept in; it slides by one slice at a time, so the window covers
   * between `window − window/slices` and `window`.
   * @default 6
   */
  windowSlices?: number;
  /** Adaptive target timeout; `false` for a fixed `initial` target. @default {} (on) */
  target?: AdaptiveTargetOptions | false;
}

export interface LatencySnapshot extends LatencySummary {
  /** Percentiles of the recent window only. */
  window: LatencySummary & { durationMs: number; underTargetRatio: number };
  /** The current target timeout, in milliseconds. */
  targetMs: number;
  /** Share of all samples at or under the target in force when they were recorded; 0 while empty. */
  underTargetRatio: number;
  /** Calls through `withTimeout` that hit the deadline. */
  timeouts: number;
  /** Of those, the ones answered with a fallback. */
  fallbacks: number;
}

export interface TrackedTimeoutOptions<Fallback> {
  /** Overrides the adaptive target for this call. */
  timeoutMs?: Duration;
  fallback?: WithTimeoutOptions<Fallback>['fallback'];
  signal?: AbortSignal;
}

/**
 * Tracks response times of one operation: lifetime and recent percentiles, the share of
 * responses under target, and an adaptive target timeout (`targetMs()`): the recent
 * `percentile` × `factor`, clamped to `[min, max]`. A timed-out call is recorded at the
 * deadline (a lower bound of its real duration), so when calls keep timing out the recent
 * percentile reaches the target and the next target grows by `factor`, up to `max`.
 */
export class LatencyTracker {
  readonly #clock: Clock;
  readonly #lifetime: LatencyHistogram;
  readonly #slices: LatencyHistogram[];
  readonly #sliceMs: number;
  #sliceIndex = 0;
  #sliceStart: number;
  readonly #sliceUnderTarget: Float64Array;
  #underTarget = 0;
  #timeouts = 0;
  #fallbacks = 0;

  readonly #adaptive: boolean;
  readonly #percentile: number;
  readonly #factor: number;
  readonly #minTargetMs: number;
  readonly #maxTargetMs: number;
  readonly #minSamples: number;
  readonly #refreshMs: number;
  #targetMs: number;
  #targetComputedAt = Number.NEGATIVE_INFINITY;

  constructor(options: LatencyTrackerOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    const layout = new BucketLayout(options);
    this.#lifetime = new LatencyHistogram(layout);
    const windowMs = parseDuration(options.window ?? '1m', 'window');
    const slices = options.windowSlices ?? 6;
    if (!Number.isInteger(slices) || slices < 1 || slices > 120) {
      throw new ConfigError(`windowSlices must be an integer from 1 to 120, got ${slices}`);
    }
    if (windowMs < slices) throw new ConfigError(`window must be at least ${slices} ms`);
    this.#slices = Array.from({ length: slices }, () => new LatencyHistogram(layout));
    this.#sliceUnderTarget = new Float64Array(slices);
    this.#sliceMs = windowMs / slices;
    this.#sliceStart = this.#clock.now();

    const target = options.target === false ? {} : (options.target ?? {});
    this.#adaptive = options.target !== false;
    this.#percentile = target.percentile ?? 0.95;
    checkQuantile(this.#percentile);
    this.#factor = target.factor ?? 1.5;
    if (!(this.#factor > 0) || !Number.isFinite(this.#factor)) {
      throw new ConfigError(`target.factor must be a positive number, got ${this.#factor}`);
    }
    this.#minTargetMs = parseDuration(target.min ?? '100ms', 'target.min');
    this.#maxTargetMs = parseDuration(target.max ?? '30s', 'target.max');
    if (this.#maxTargetMs < this.#minTargetMs) {
      throw new ConfigError('target.max must not be below target.min');
    }
    const initial = parseDuration(target.initial ?? '2s', 'target.initial');
    this.#targetMs = Math.min(this.#maxTargetMs, Math.max(this.#minTargetMs, initial));
    this.#minSamples = target.minSamples ?? 20;
    if (!Number.isInteger(this.#minSamples) || this.#minSamples < 1) {
      throw new ConfigError(
        `target.minSamples must be a positive integer, got ${this.#minSamples}`,
      );
    }
    this.#refreshMs = parseDuration(target.refreshInterval ?? '1s', 'target.refreshInterval');
  }

  /** Records one response time in milliseconds. */
  record(durationMs: number): void {
    if (!(durationMs >= 0) || !Number.isFinite(durationMs)) return;
    this.#rotate();
    const under = durationMs <= this.targetMs() ? 1 : 0;
    this.#lifetime.record(durationMs);
    const slice = this.#sliceIndex;
    (this.#slices[slice] as LatencyHistogram).record(durationMs);
    this.#underTarget += under;
    this.#sliceUnderTarget[slice] = (this.#sliceUnderTarget[slice] as number) + under;
  }

  /** Runs `work`, records how long it took (also when it fails), and returns its result. */
  async time<Value>(work: () => Value | PromiseLike<Value>): Promise<Value> {
    const started = this.#clock.now();
    try {
      return await work();
    } finally {
      this.record(this.#clock.now() - started);
    }
  }

  /**
   * `withTimeout` with the adaptive target as the deadline. The duration is recorded; a
   * timeout is recorded at the deadline and counted (and as a fallback when one answered).
   */
  async withTimeout<Value, Fallback = never>(
    work: (signal: AbortSignal) => Value | PromiseLike<Value>,
    options: TrackedTimeoutOptions<Fallback> = {},
  ): Promise<Value | Fallback> {
    const timeoutMs =
      options.timeoutMs === undefined
        ? this.targetMs()
        : parseDuration(options.timeoutMs, 'timeoutMs', { allowInfinite: true });
    const started = this.#clock.now();
    let timedOut = false;
    const fallback = options.fallback;
    const hasFallback = 'fallback' in options;
    const settings: WithTimeoutOptions<Fallback> = {
      timeoutMs,
      fallback: (error: SluiceError) => {
        timedOut = true;
        if (!hasFallback) throw error;
        return typeof fallback === 'function'
          ? (fallback as (error: SluiceError) => Fallback | PromiseLike<Fallback>)(error)
          : (fallback as Fallback);
      },
    };
    if (options.signal !== undefined) settings.signal = options.signal;
    try {
      const value = await withTimeout(work, settings);
      if (timedOut) this.#fallbacks++;
      return value;
    } finally {
      if (timedOut) {
        this.#timeouts++;
        this.record(timeoutMs);
      } else {
        this.record(this.#clock.now() - started);
      }
    }
  }

  /** The current target timeout in milliseconds (recomputed at most every `refreshInterval`). */
  targetMs(): number {
    if (!this.#adaptive) return this.#targetMs;
    const now = this.#clock.now();
    if (now - this.#targetComputedAt < this.#refreshMs) return this.#targetMs;
    this.#targetComputedAt = now;
    this.#rotate();
    const recentCount = this.#slices.reduce((sum, slice) => sum + slice.count, 0);
    if (recentCount >= this.#minSamples) {
      const recent = percentileOf(this.#lifetime.layout, this.#slices, this.#percentile);
      this.#targetMs = Math.min(
        this.#maxTargetMs,
        Math.max(this.#minTargetMs, recent * this.#factor),
      );
    }
    return this.#targetMs;
  }

  /** Percentile over the lifetime (`recent: false`) or the window. */
  percentile(quantile: number, { recent = false }: { recent?: boolean } = {}): number {
    checkQuantile(quantile);
    if (!recent) return this.#lifetime.percentile(quantile);
    this.#rotate();
    return percentileOf(this.#lifetime.layout, this.#slices, quantile);
  }

  /** Everything a telemetry adapter needs, in milliseconds. */
  snapshot(): LatencySnapshot {
    this.#rotate();
    const lifetime = this.#lifetime.summary();
    const recent = summarize(this.#lifetime.layout, this.#slices);
    let recentUnder = 0;
    for (const under of this.#sliceUnderTarget) recentUnder += under;
    return {
      ...lifetime,
      window: {
        ...recent,
        durationMs: this.#sliceMs * this.#slices.length,
        underTargetRatio: recent.count === 0 ? 0 : recentUnder / recent.count,
      },
      targetMs: this.targetMs(),
      underTargetRatio: lifetime.count === 0 ? 0 : this.#underTarget / lifetime.count,
      timeouts: this.#timeouts,
      fallbacks: this.#fallbacks,
    };
  }

  reset(): void {
    this.#lifetime.reset();
    for (const slice of this.#slices) slice.reset();
    this.#sliceUnderTarget.fill(0);
    this.#underTarget = 0;
    this.#timeouts = 0;
    this.#fallbacks = 0;
    this.#targetComputedAt = Number.NEGATIVE_INFINITY;
  }

  /** Moves the window forward to now, clearing slices that fell out of it. */
  #rotate(): void {
    const now = this.#clock.now();
    const elapsed = now - this.#sliceStart;
    if (elapsed < this.#sliceMs) return;
    const steps = Math.floor(elapsed / this.#sliceMs);
    const count = this.#slices.length;
    for (let step = 1; step <= Math.min(steps, count); step++) {
      const index = (this.#sliceIndex + step) % count;
      (this.#slices[index] as LatencyHistogram).reset();
      this.#sliceUnderTarget[index] = 0;
    }
    this.#sliceIndex = (this.#sliceIndex + steps) % count;
    this.#sliceStart += steps * this.#sliceMs;
  }
}

export function createLatencyTracker(options: LatencyTrackerOptions = {}): LatencyTracker {
  return new LatencyTracker(options);
}
