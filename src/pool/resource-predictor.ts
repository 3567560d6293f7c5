import { ConfigError, SluiceError } from '../shared/errors.js';
import { integerAtLeast } from '../shared/integers.js';
import { quantileOfSorted } from '../shared/quantile.js';

/** What one run of a kind of work used. Any field may be missing (not measured). */
export interface ResourceUsage {
  /** CPU used, in percent of one core (may exceed 100 for several cores). */
  cpuPercent?: number;
  /** Peak memory, in megabytes. */
  memoryMb?: number;
  /** Wall-clock time, in milliseconds. */
  durationMs?: number;
}

export type ResourceDimension = keyof ResourceUsage;

const DIMENSIONS: readonly ResourceDimension[] = ['cpuPercent', 'memoryMb', 'durationMs'];

/** How much history stands behind a prediction. */
export type PredictionConfidence = 'low' | 'medium' | 'high';

export interface ResourcePrediction extends Required<ResourceUsage> {
  kind: string;
  confidence: PredictionConfidence;
  /** Samples held / `historySize`, from 0 to 1. */
  confidenceScore: number;
  /** Samples behind the prediction (at most `historySize`). */
  samples: number;
  /** `defaults` when nothing was recorded for the kind. */
  source: 'history' | 'defaults';
  /** The buffer applied above the percentile (0.2 = +20 %). */
  buffer: number;
}

export interface ResourcePredictorOptions {
  /**
   * The percentile of recent usage predicted, from 0 to 1 (nearest rank).
   * @default 0.95
   */
  percentile?: number;
  /** Safety margin above the percentile with high confidence: 0.2 = +20 %. @default 0.2 */
  buffer?: number;
  /** Safety margin with low or medium confidence. @default 0.5 */
  uncertainBuffer?: number;
  /** Samples kept per kind and dimension (the oldest are dropped). @default 100 */
  historySize?: number;
  /** Kinds remembered at most; the least recently recorded is forgotten first. @default 1000 */
  maxKinds?: number;
  /**
   * Conservative values used with no data, and as a floor while confidence is low.
   * @default { cpuPercent: 50, memoryMb: 256, durationMs: 60_000 }
   */
  defaults?: ResourceUsage;
  /**
   * Sample counts where confidence becomes medium and high (below `medium`: low).
   * @default { medium: 10, high: 50 }
   */
  confidence?: { medium?: number; high?: number };
}

/** A fixed-size ring of the most recent samples of one dimension. */
class SampleRing {
  readonly #values: Float64Array;
  #next = 0;
  #size = 0;

  constructor(capacity: number) {
    this.#values = new Float64Array(capacity);
  }

  get size(): number {
    return this.#size;
  }

  push(value: number): void {
    this.#values[this.#next] = value;
    this.#next = (this.#next + 1) % this.#values.length;
    if (this.#size < this.#values.length) this.#size++;
  }

  /** Nearest-rank percentile of the held samples. */
  percentile(quantile: number): number {
    if (this.#size === 0) return 0;
    return quantileOfSorted(this.#values.slice(0, this.#size).sort(), quantile);
  }
}

interface KindHistory {
  samples: number;
  rings: Record<ResourceDimension, SampleRing>;
}

/**
 * Predicts what a kind of work will need from what it used before: per kind and dimension,
 * the `percentile` of the last `historySize` samples plus a buffer. Confidence follows the
 * sample count: with high confidence the buffer is `buffer`; with medium, `uncertainBuffer`;
 * with low, `uncertainBuffer` and never below the conservative `defaults`; with no data,
 * the defaults. Memory is bounded by `maxKinds × 3 × historySize` numbers.
 */
export class ResourcePredictor {
  readonly #percentile: number;
  readonly #buffer: number;
  readonly #uncertainBuffer: number;
  readonly #historySize: number;
  readonly #maxKinds: number;
  readonly #defaults: Required<ResourceUsage>;
  readonly #medium: number;
  readonly #high: number;
  readonly #kinds = new Map<string, KindHistory>();

  constructor(options: ResourcePredictorOptions = {}) {
    this.#percentile = options.percentile ?? 0.95;
    if (!(this.#percentile > 0 && this.#percentile <= 1)) {
      throw new ConfigError(`percentile must be a fraction in (0, 1], got ${this.#percentile}`);
    }
    this.#buffer = nonNegative(options.buffer ?? 0.2, 'buffer');
    this.#uncertainBuffer = nonNegative(options.uncertainBuffer ?? 0.5, 'uncertainBuffer');
    this.#historySize = integerAtLeast(options.historySize ?? 100, 1, 'historySize');
    this.#maxKinds = integerAtLeast(options.maxKinds ?? 1000, 1, 'maxKinds');
    this.#defaults = {
      cpuPercent: nonNegative(options.defaults?.cpuPercent ?? 50, 'defaults.cpuPercent'),
      memoryMb: nonNegative(options.defaults?.memoryMb ?? 256, 'defaults.memoryMb'),
      durationMs: nonNegative(options.defaults?.durationMs ?? 60_000, 'defaults.durationMs'),
    };
    this.#medium = integerAtLeast(options.confidence?.medium ?? 10, 1, 'confidence.medium');
    this.#high = integerAtLeast(options.confidence?.high ?? 50, this.#medium, 'confidence.high');
    if (this.#high > this.#historySize) {
      throw new ConfigError(
        `confidence.high (${this.#high}) cannot exceed historySize (${this.#historySize}): it could never be reached`,
      );
    }
  }

  /** Records what one run of `kind` used. Throws `E_INVALID_USAGE` on a negative or non-finite value. */
  record(kind: string, usage: ResourceUsage): void {
    for (const dimension of DIMENSIONS) {
      const value = usage[dimension];
      if (value !== undefined && (!Number.isFinite(value) || value < 0)) {
        throw new SluiceError(
          'E_INVALID_USAGE',
          `${dimension} of '${kind}' must be a non-negative number, got ${value}`,
        );
      }
    }
    let history = this.#kinds.get(kind);
    if (history === undefined) {
      if (this.#kinds.size >= this.#maxKinds) {
        const oldest = this.#kinds.keys().next().value;
        if (oldest !== undefined) this.#kinds.delete(oldest);
      }
      history = {
        samples: 0,
        rings: {
          cpuPercent: new SampleRing(this.#historySize),
          memoryMb: new SampleRing(this.#historySize),
          durationMs: new SampleRing(this.#historySize),
        },
      };
    } else {
      // Most recently recorded last: the map's order is the forgetting order.
      this.#kinds.delete(kind);
    }
    this.#kinds.set(kind, history);
    history.samples = Math.min(this.#historySize, history.samples + 1);
    for (const dimension of DIMENSIONS) {
      const value = usage[dimension];
      if (value !== undefined) history.rings[dimension].push(value);
    }
  }

  /** What the next run of `kind` is predicted to need. */
  predict(kind: string): ResourcePrediction {
    const history = this.#kinds.get(kind);
    const samples = history?.samples ?? 0;
    const confidence = this.#level(samples);
    const confidenceScore = samples / this.#historySize;
    if (history === undefined || samples === 0) {
      return {
        kind,
        ...this.#defaults,
        confidence,
        confidenceScore,
        samples: 0,
        source: 'defaults',
        buffer: 0,
      };
    }
    const buffer = confidence === 'high' ? this.#buffer : this.#uncertainBuffer;
    const predicted = {} as Required<ResourceUsage>;
    for (const dimension of DIMENSIONS) {
      const ring = history.rings[dimension];
      const fallback = this.#defaults[dimension];
      if (ring.size === 0) {
        predicted[dimension] = fallback;
        continue;
      }
      const value = ring.percentile(this.#percentile) * (1 + buffer);
      predicted[dimension] = confidence === 'low' ? Math.max(value, fallback) : value;
    }
    return { kind, ...predicted, confidence, confidenceScore, samples, source: 'history', buffer };
  }

  /** The confidence level of a kind's predictions, its score (0..1) and sample count. */
  confidence(kind: string): { level: PredictionConfidence; score: number; samples: number } {
    const samples = this.#kinds.get(kind)?.samples ?? 0;
    return { level: this.#level(samples), score: samples / this.#historySize, samples };
  }

  /** Kinds with recorded history, least recently recorded first. */
  kinds(): string[] {
    return [...this.#kinds.keys()];
  }

  forget(kind: string): boolean {
    return this.#kinds.delete(kind);
  }

  #level(samples: number): PredictionConfidence {
    if (samples >= this.#high) return 'high';
    if (samples >= this.#medium) return 'medium';
    return 'low';
  }
}

function nonNegative(value: number, name: string): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new ConfigError(`${name} must be a non-negative number, got ${value}`);
  }
  return value;
}

export function createResourcePredictor(options: ResourcePredictorOptions = {}): ResourcePredictor {
  return new ResourcePredictor(options);
}
