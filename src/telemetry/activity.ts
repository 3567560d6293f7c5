import { type Clock, systemClock } from '../shared/clock.js';
import { ConfigError } from '../shared/errors.js';
import { LatencyHistogram, type LatencyHistogramOptions } from './latency.js';
import { LabelLimiter, type Outcome, outcomeOfStatus } from './metrics.js';

/** One answered model request, as the dashboard counts it. */
export interface ActivityEvent {
  readonly route: string;
  /**
   * Empty for a request refused before its model was known (no key, a malformed body): it is
   * counted in the totals and the series, in no model's row.
   */
  readonly model: string;
  readonly status: number;
  /** How the request ended; from `status` when not given (4xx client, 5xx server). */
  readonly outcome?: Outcome;
  /** `hit`, `semantic-hit`, `miss` or `bypass`. */
  readonly cache: string;
  /** Whole request, milliseconds. */
  readonly durationMs: number;
  /** Time spent in Sluice, excluding the upstream, milliseconds. */
  readonly overheadMs: number;
}

export interface ActivityOptions {
  /**
   * How far back the rate series reaches, seconds.
   * @default 900 (15 minutes)
   */
  windowSeconds?: number;
  /**
   * Width of one point of the rate series, seconds.
   * @default 10
   */
  stepSeconds?: number;
  /**
   * How far back the latency percentiles reach, seconds (whole minutes).
   * @default 300
   */
  latencyWindowSeconds?: number;
  /**
   * Most models told apart in the per-model table; later ones are counted as `other`.
   * @default 200
   */
  maxModels?: number;
  clock?: Clock;
}

/** The request counts of one step of the series. */
export interface ActivityPoint {
  /** Epoch milliseconds at the start of the step. */
  readonly at: number;
  readonly requests: number;
  readonly hits: number;
  readonly semanticHits: number;
  readonly misses: number;
  readonly bypass: number;
  /** Requests that did not succeed, whatever their outcome (client, upstream or server error). */
  readonly errors: number;
}

export interface ModelActivity {
  readonly model: string;
  readonly requests: number;
  readonly hits: number;
  readonly semanticHits: number;
  readonly errors: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
}

export interface ActivitySnapshot {
  /** Epoch milliseconds the recorder started at. */
  readonly since: number;
  readonly totals: {
    readonly requests: number;
    readonly hits: number;
    readonly semanticHits: number;
    readonly misses: number;
    readonly bypass: number;
    /** Refused for the client's request (validation, authentication, its limits). */
    readonly clientErrors: number;
    /** Failed by the upstream (any status, a stream cut after its 200 included). */
    readonly upstreamErrors: number;
    /** Failed in Sluice itself. */
    readonly serverErrors: number;
  };
  readonly stepSeconds: number;
  /** Oldest first; the last point is the step under way. */
  readonly series: readonly ActivityPoint[];
  /** Percentiles over the last `windowSeconds` (whole minutes, the current one included). */
  readonly latency: {
    readonly windowSeconds: number;
    readonly requests: number;
    readonly p50Ms: number;
    readonly p95Ms: number;
    readonly p99Ms: number;
    readonly overheadP50Ms: number;
    readonly overheadP95Ms: number;
  };
  /** Since start, most requests first. */
  readonly models: readonly ModelActivity[];
}

/** Fewer buckets than the routing histograms: a dashboard reads percentiles to about 3 %. */
const LAYOUT: LatencyHistogramOptions = { lowestMs: 0.001, highestMs: 3_600_000, precision: 16 };

interface ModelCounts {
  requests: number;
  hits: number;
  semanticHits: number;
  errors: number;
  latency: LatencyHistogram;
}

interface Minute {
  /** Epoch minute this slot holds, or -1. */
  minute: number;
  duration: LatencyHistogram;
  overhead: LatencyHistogram;
}

const COUNTS = ['requests', 'hits', 'semanticHits', 'misses', 'bypass', 'errors'] as const;
type CountName = (typeof COUNTS)[number];

/**
 * What the dashboard shows of recent traffic, in bounded memory: request counts in a ring of
 * fixed steps (15 minutes of 10 s by default), latency histograms per minute, and per-model
 * totals since start (at most `maxModels` models). Recording is a few array writes.
 */
export class Activity {
  readonly #clock: Clock;
  readonly #stepMs: number;
  readonly #steps: number;
  /** Step number (epoch ms / step) each slot holds, or -1. */
  readonly #stepOf: Float64Array;
  readonly #counts: Record<CountName, Uint32Array>;
  readonly #minutes: Minute[];
  readonly #models = new Map<string, ModelCounts>();
  readonly #labels: LabelLimiter;
  readonly #since: number;
  readonly #totals = {
    requests: 0,
    hits: 0,
    semanticHits: 0,
    misses: 0,
    bypass: 0,
    clientErrors: 0,
    upstreamErrors: 0,
    serverErrors: 0,
  };

  constructor(options: ActivityOptions = {}) {
    const windowSeconds = options.windowSeconds ?? 900;
    const stepSeconds = options.stepSeconds ?? 10;
    const latencyWindowSeconds = options.latencyWindowSeconds ?? 300;
    if (!(Number.isInteger(stepSeconds) && stepSeconds >= 1)) {
      throw new ConfigError(`stepSeconds must be a whole number of seconds, got ${stepSeconds}`);
    }
    if (!(Number.isInteger(windowSeconds / stepSeconds) && windowSeconds >= stepSeconds)) {
      throw new ConfigError('windowSeconds must be a whole number of steps');
    }
    if (!(Number.isInteger(latencyWindowSeconds / 60) && latencyWindowSeconds >= 60)) {
      throw new ConfigError('latencyWindowSeconds must be whole minutes');
    }
    this.#clock = options.clock ?? systemClock;
    this.#stepMs = stepSeconds * 1_000;
    this.#steps = windowSeconds / stepSeconds;
    this.#stepOf = new Float64Array(this.#steps).fill(-1);
    this.#counts = Object.fromEntries(
      COUNTS.map((name) => [name, new Uint32Array(this.#steps)]),
    ) as Record<CountName, Uint32Array>;
    this.#minutes = Array.from({ length: latencyWindowSeconds / 60 }, () => ({
      minute: -1,
      duration: new LatencyHistogram(LAYOUT),
      overhead: new LatencyHistogram(LAYOUT),
    }));
    this.#labels = new LabelLimiter(options.maxModels ?? 200);
    this.#since = this.#clock.now();
  }

  record(event: ActivityEvent): void {
    const now = this.#clock.now();
    const slot = this.#slot(now);
    const counts = this.#counts;
    counts.requests[slot] = (counts.requests[slot] as number) + 1;
    const kind =
      event.cache === 'hit'
        ? 'hits'
        : event.cache === 'semantic-hit'
          ? 'semanticHits'
          : event.cache === 'miss'
            ? 'misses'
            : 'bypass';
    counts[kind][slot] = (counts[kind][slot] as number) + 1;
    this.#totals.requests++;
    this.#totals[kind]++;
    const outcome = event.outcome ?? outcomeOfStatus(event.status);
    const error = outcome !== 'success';
    if (error) {
      counts.errors[slot] = (counts.errors[slot] as number) + 1;
      if (outcome === 'client_error') this.#totals.clientErrors++;
      else if (outcome === 'upstream_error') this.#totals.upstreamErrors++;
      else this.#totals.serverErrors++;
    }
    const minute = this.#minute(now);
    minute.duration.record(event.durationMs);
    minute.overhead.record(event.overheadMs);

    if (event.model === '') return;
    const name = this.#labels.label(event.model);
    let model = this.#models.get(name);
    if (model === undefined) {
      model = {
        requests: 0,
        hits: 0,
        semanticHits: 0,
        errors: 0,
        latency: new LatencyHistogram(LAYOUT),
      };
      this.#models.set(name, model);
    }
    model.requests++;
    if (kind === 'hits') model.hits++;
    else if (kind === 'semanticHits') model.semanticHits++;
    if (error) model.errors++;
    model.latency.record(event.durationMs);
  }

  snapshot(): ActivitySnapshot {
    const now = this.#clock.now();
    const current = Math.floor(now / this.#stepMs);
    const series: ActivityPoint[] = [];
    for (let step = current - this.#steps + 1; step <= current; step++) {
      const slot = step % this.#steps;
      const held = this.#stepOf[slot] === step;
      const read = (name: CountName) => (held ? (this.#counts[name][slot] as number) : 0);
      series.push({
        at: step * this.#stepMs,
        requests: read('requests'),
        hits: read('hits'),
        semanticHits: read('semanticHits'),
        misses: read('misses'),
        bypass: read('bypass'),
        errors: read('errors'),
      });
    }
    const nowMinute = Math.floor(now / 60_000);
    const duration = new LatencyHistogram(LAYOUT);
    const overhead = new LatencyHistogram(LAYOUT);
    for (const minute of this.#minutes) {
      if (minute.minute > nowMinute - this.#minutes.length) {
        duration.merge(minute.duration);
        overhead.merge(minute.overhead);
      }
    }
    const models = [...this.#models]
      .map(([model, counts]) => ({
        model,
        requests: counts.requests,
        hits: counts.hits,
        semanticHits: counts.semanticHits,
        errors: counts.errors,
        p50Ms: counts.latency.percentile(0.5),
        p95Ms: counts.latency.percentile(0.95),
      }))
      .sort(
        (left, right) => right.requests - left.requests || left.model.localeCompare(right.model),
      );
    return {
      since: this.#since,
      totals: { ...this.#totals },
      stepSeconds: this.#stepMs / 1_000,
      series,
      latency: {
        windowSeconds: this.#minutes.length * 60,
        requests: duration.count,
        p50Ms: duration.percentile(0.5),
        p95Ms: duration.percentile(0.95),
        p99Ms: duration.percentile(0.99),
        overheadP50Ms: overhead.percentile(0.5),
        overheadP95Ms: overhead.percentile(0.95),
      },
      models,
    };
  }

  /** The ring slot of `now`'s step, cleared when it last held an older step. */
  #slot(now: number): number {
    const step = Math.floor(now / this.#stepMs);
    const slot = step % this.#steps;
    if (this.#stepOf[slot] !== step) {
      this.#stepOf[slot] = step;
      for (const name of COUNTS) this.#counts[name][slot] = 0;
    }
    return slot;
  }

  #minute(now: number): Minute {
    const epochMinute = Math.floor(now / 60_000);
    const minute = this.#minutes[epochMinute % this.#minutes.length] as Minute;
    if (minute.minute !== epochMinute) {
      minute.minute = epochMinute;
      minute.duration.reset();
      minute.overhead.reset();
    }
    return minute;
  }
}

export function createActivity(options: ActivityOptions = {}): Activity {
  return new Activity(options);
}
