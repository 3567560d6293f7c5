/**
 * Model profiles (what a deployment is: price, limits, quality, weight) and the live statistics
 * routing reads about each deployment (latency EWMA and p95, error rate, in-flight calls), all
 * in bounded memory.
 */

import { perMillionToPico } from '../cost/money.js';
import type { ModelClass, ModelPrice, TokenPrices, UsdPerMillion } from '../cost/prices.js';
import { type Clock, systemClock } from '../shared/clock.js';
import { type Duration, parseDuration } from '../shared/duration.js';
import { ConfigError } from '../shared/errors.js';

/** Quality scores by price-table class, used when a deployment gives no `quality`. */
export const DEFAULT_QUALITY_BY_CLASS: Readonly<Record<ModelClass, number>> = Object.freeze({
  small: 0.6,
  medium: 0.75,
  large: 0.9,
});

/** A deployment's own price, in US dollars per 1M tokens (as in the price table). */
export interface DeploymentPrice {
  input: UsdPerMillion;
  output: UsdPerMillion;
  /** @default input */
  cachedInput?: UsdPerMillion;
  /** @default input */
  cacheWrite?: UsdPerMillion;
  /** @default output */
  reasoning?: UsdPerMillion;
}

/** One deployment of a model, as configured. */
export interface DeploymentConfig {
  /** The model name clients and routers use, e.g. `gpt-4o-mini`. */
  model: string;
  /** Unique id of this deployment. @default `${provider}/${upstreamModel}` */
  deployment?: string;
  /** The provider the call goes to. @default the price table's provider for the model */
  provider?: string;
  /** The model name sent upstream. @default model */
  upstreamModel?: string;
  /** The price, when the price table does not have it or it differs for this deployment. */
  price?: DeploymentPrice;
  /** The price-table entry to price this deployment as. @default upstreamModel, then model */
  pricedAs?: string;
  /** Most tokens of one call (prompt + output). @default the price table's, else unknown */
  contextWindow?: number;
  /** The provider's cap on one response, in tokens. @default the price table's, else unknown */
  maxOutputTokens?: number;
  /** Capability tier. @default the price table's class */
  class?: ModelClass;
  /** Quality score, 0..1. @default the router's per-model quality, else by class */
  quality?: number;
  /** Share of the model's traffic under weighted balancing (> 0). @default 1 */
  weight?: number;
  /**
   * Latency assumed until the deployment has been observed, in ms (the reference design's static
   * `avg_response_time_ms`). @default undefined (unknown: neutral when scoring, never rejected)
   */
  expectedLatencyMs?: number;
}

/** A resolved deployment: everything routing needs to know about it, immutable. */
export interface ModelProfile {
  /** The model name clients and routers use. */
  readonly model: string;
  /** Unique deployment id. */
  readonly deployment: string;
  readonly provider: string;
  /** The model name sent upstream. */
  readonly upstreamModel: string;
  /** Integer pico-dollars per token, by kind of token. */
  readonly price: Readonly<TokenPrices>;
  /** The price-table entry it is priced as, or undefined for a configured `price`. */
  readonly pricedAs: string | undefined;
  /** Most tokens of one call (prompt + output), or undefined when unknown. */
  readonly contextWindow: number | undefined;
  /** The provider's cap on one response, or undefined when unknown. */
  readonly maxOutputTokens: number | undefined;
  readonly class: ModelClass | undefined;
  /** 0..1. */
  readonly quality: number;
  /** > 0. */
  readonly weight: number;
  readonly expectedLatencyMs: number | undefined;
}

export interface ProfileOptions {
  /** Resolves a price-table entry; pass `costTracker.priceOf`. */
  priceOf: (model: string) => ModelPrice | undefined;
  /** Quality by class, merged over `DEFAULT_QUALITY_BY_CLASS`. @default small 0.6, medium 0.75, large 0.9 */
  qualityByClass?: Partial<Record<ModelClass, number>>;
  /** Quality by model name, over the class default (a deployment's own `quality` wins). */
  quality?: Readonly<Record<string, number>>;
}

/**
 * Resolves deployments into profiles. Throws a `ConfigError` for a duplicate deployment id, a
 * model with no known price (give `price`), no quality (give `quality` or `class`), or an
 * out-of-range number.
 */
export function createProfiles(
  deployments: readonly DeploymentConfig[],
  options: ProfileOptions,
): ModelProfile[] {
  const qualityByClass = { ...DEFAULT_QUALITY_BY_CLASS, ...options.qualityByClass };
  for (const [name, value] of Object.entries(qualityByClass)) {
    checkUnit(value, `qualityByClass.${name}`);
  }
  for (const [name, value] of Object.entries(options.quality ?? {})) {
    checkUnit(value, `quality["${name}"]`);
  }
  const seen = new Set<string>();
  return deployments.map((config, index) => {
    const label = `deployments[${index}]`;
    if (typeof config.model !== 'string' || config.model.length === 0) {
      throw new ConfigError(`${label}.model must be a non-empty string`);
    }
    const upstreamModel = config.upstreamModel ?? config.model;
    const tableName = config.pricedAs ?? upstreamModel;
    const tablePrice =
      options.priceOf(tableName) ??
      (config.pricedAs === undefined ? options.priceOf(config.model) : undefined);
    let price: Readonly<TokenPrices>;
    if (config.price !== undefined) {
      price = convertPrice(config.price, `${label}.price`);
    } else if (tablePrice !== undefined) {
      price = tablePrice.picoPerToken;
    } else {
      throw new ConfigError(
        `${label}: model '${tableName}' is not in the price table; give it a \`price\` (USD per 1M tokens)`,
      );
    }
    const provider = config.provider ?? tablePrice?.provider;
    if (provider === undefined) {
      throw new ConfigError(`${label}: give a \`provider\` for model '${config.model}'`);
    }
    const modelClass = config.class ?? tablePrice?.class;
    const quality =
      config.quality ??
      options.quality?.[config.model] ??
      (modelClass === undefined ? undefined : qualityByClass[modelClass]);
    if (quality === undefined) {
      throw new ConfigError(
        `${label}: model '${config.model}' has no class in the price table; give a \`quality\` (0..1) or a \`class\``,
      );
    }
    checkUnit(quality, `${label}.quality`);
    const weight = config.weight ?? 1;
    if (!Number.isFinite(weight) || weight <= 0) {
      throw new ConfigError(`${label}.weight must be a positive number, got ${weight}`);
    }
    const contextWindow = config.contextWindow ?? tablePrice?.contextWindow;
    const maxOutputTokens = config.maxOutputTokens ?? tablePrice?.maxOutputTokens;
    checkTokens(contextWindow, `${label}.contextWindow`);
    checkTokens(maxOutputTokens, `${label}.maxOutputTokens`);
    if (
      config.expectedLatencyMs !== undefined &&
      !(Number.isFinite(config.expectedLatencyMs) && config.expectedLatencyMs > 0)
    ) {
      throw new ConfigError(`${label}.expectedLatencyMs must be a positive number of ms`);
    }
    const deployment = config.deployment ?? `${provider}/${upstreamModel}`;
    if (seen.has(deployment)) {
      throw new ConfigError(
        `${label}: deployment id '${deployment}' is used twice; give each deployment a unique \`deployment\``,
      );
    }
    seen.add(deployment);
    return Object.freeze({
      model: config.model,
      deployment,
      provider,
      upstreamModel,
      price,
      pricedAs: config.price === undefined ? tablePrice?.model : undefined,
      contextWindow,
      maxOutputTokens,
      class: modelClass,
      quality,
      weight,
      expectedLatencyMs: config.expectedLatencyMs,
    });
  });
}

function convertPrice(price: DeploymentPrice, label: string): Readonly<TokenPrices> {
  const input = perMillionToPico(price.input, `${label}.input`);
  const output = perMillionToPico(price.output, `${label}.output`);
  const optional = (value: UsdPerMillion | undefined, fallback: number, field: string) =>
    value === undefined ? fallback : perMillionToPico(value, `${label}.${field}`);
  return Object.freeze({
    input,
    output,
    cachedInput: optional(price.cachedInput, input, 'cachedInput'),
    cacheWrite: optional(price.cacheWrite, input, 'cacheWrite'),
    reasoning: optional(price.reasoning, output, 'reasoning'),
  });
}

function checkUnit(value: number, label: string): void {
  if (!(Number.isFinite(value) && value >= 0 && value <= 1)) {
    throw new ConfigError(`${label} must be a number between 0 and 1, got ${value}`);
  }
}

function checkTokens(value: number | undefined, label: string): void {
  if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) {
    throw new ConfigError(`${label} must be a positive integer number of tokens, got ${value}`);
  }
}

// ---- Live statistics ------------------------------------------------------------------------

export interface ProfileStatsOptions {
  /** Weight of the newest sample in the latency EWMA, in (0, 1]. @default 0.2 */
  latencyAlpha?: number;
  /** Latency samples kept for percentiles (a ring buffer). @default 200 */
  latencyWindow?: number;
  /**
   * Time constant of the error rate: an outcome this old weighs 1/e of a new one.
   * @default '60s'
   */
  errorWindow?: Duration;
  /** @default the system clock */
  clock?: Clock;
}

/** How one call to a deployment ended. */
export interface CallOutcome {
  /** Whether the deployment answered successfully. */
  ok: boolean;
  /**
   * How long the call took, in ms. Only successful calls feed the latency statistics: a failure's
   * duration (often a timeout) says nothing about how fast the deployment answers.
   */
  latencyMs?: number;
}

/** A point-in-time view of a deployment's statistics. */
export interface ProfileSnapshot {
  /** Latency samples in the window. */
  readonly samples: number;
  readonly latencyEwmaMs: number | undefined;
  readonly p50Ms: number | undefined;
  readonly p95Ms: number | undefined;
  /** Time-decayed share of failed calls, 0..1 (0 with no data). */
  readonly errorRate: number;
  readonly inFlight: number;
  /** Calls recorded since creation. */
  readonly calls: number;
}

/** A call in progress; `finish` or `cancel` it exactly once (later calls are ignored). */
export interface TrackedCall {
  /** Records the outcome; latency defaults to the time since `start()`. */
  finish(outcome: CallOutcome): void;
  /** The call was abandoned (e.g. a hedging loser): releases it without recording anything. */
  cancel(): void;
}

/**
 * Statistics of one deployment: a latency EWMA, percentiles over the last `latencyWindow`
 * successful calls (a ring buffer with a sorted copy kept in step: an insert moves at most the
 * window, a percentile is one read), a time-decayed error rate and the in-flight count. Memory
 * is fixed at creation.
 */
export class ProfileStats {
  readonly #alpha: number;
  readonly #window: Float64Array;
  readonly #errorTauMs: number;
  readonly #clock: Clock;
  #next = 0;
  #count = 0;
  /** The window's samples in ascending order (the first `#count`). */
  readonly #sorted: Float64Array;
  #ewma: number | undefined;
  #failures = 0;
  #weight = 0;
  #lastOutcomeAt = 0;
  #inFlight = 0;
  #calls = 0;

  constructor(options: ProfileStatsOptions = {}) {
    const alpha = options.latencyAlpha ?? 0.2;
    if (!(alpha > 0 && alpha <= 1)) {
      throw new ConfigError(`latencyAlpha must be in (0, 1], got ${alpha}`);
    }
    const size = options.latencyWindow ?? 200;
    if (!(Number.isSafeInteger(size) && size >= 1 && size <= 100_000)) {
      throw new ConfigError(`latencyWindow must be an integer from 1 to 100000, got ${size}`);
    }
    this.#errorTauMs = parseDuration(options.errorWindow ?? '60s', 'errorWindow');
    if (this.#errorTauMs <= 0) throw new ConfigError('errorWindow must be positive');
    this.#alpha = alpha;
    this.#window = new Float64Array(size);
    this.#sorted = new Float64Array(size);
    this.#clock = options.clock ?? systemClock;
  }

  /** Records a finished call. */
  record(outcome: CallOutcome): void {
    this.#calls += 1;
    const now = this.#clock.now();
    const decay =
      this.#weight === 0 ? 0 : Math.exp(-Math.max(0, now - this.#lastOutcomeAt) / this.#errorTauMs);
    this.#failures = this.#failures * decay + (outcome.ok ? 0 : 1);
    this.#weight = this.#weight * decay + 1;
    this.#lastOutcomeAt = now;
    const latency = outcome.latencyMs;
    if (!outcome.ok || latency === undefined || !Number.isFinite(latency) || latency < 0) return;
    this.#ewma =
      this.#ewma === undefined ? latency : this.#ewma + this.#alpha * (latency - this.#ewma);
    // The sorted copy follows the ring: the evicted sample out, the new one in, each found by
    // binary search and moved into place (a memmove), instead of a sort on the next read.
    const sorted = this.#sorted;
    let count = this.#count;
    if (count === this.#window.length) {
      const at = lowerBound(sorted, count, this.#window[this.#next] as number);
      sorted.copyWithin(at, at + 1, count);
      count -= 1;
    }
    const at = lowerBound(sorted, count, latency);
    sorted.copyWithin(at + 1, at, count);
    sorted[at] = latency;
    this.#window[this.#next] = latency;
    this.#next = (this.#next + 1) % this.#window.length;
    this.#count = count + 1;
  }

  /** Starts tracking a call: counts it in flight until `finish` or `cancel`. */
  start(): TrackedCall {
    const startedAt = this.#clock.now();
    this.#inFlight += 1;
    let done = false;
    const release = (): boolean => {
      if (done) return false;
      done = true;
      this.#inFlight -= 1;
      return true;
    };
    return {
      finish: (outcome) => {
        if (!release()) return;
        this.record({
          ok: outcome.ok,
          latencyMs: outcome.latencyMs ?? this.#clock.now() - startedAt,
        });
      },
      cancel: () => {
        release();
      },
    };
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Latency samples currently in the window. */
  get samples(): number {
    return this.#count;
  }

  /** Exponentially weighted moving average of successful calls' latency, in ms. */
  get latencyEwma(): number | undefined {
    return this.#ewma;
  }

  /** The `q` quantile (0..1, nearest rank) of the windowed latencies, in ms. */
  percentile(q: number): number | undefined {
    if (this.#count === 0) return undefined;
    const rank = Math.min(this.#count, Math.max(1, Math.ceil(q * this.#count)));
    return this.#sorted[rank - 1];
  }

  p95(): number | undefined {
    return this.percentile(0.95);
  }

  /** Time-decayed share of failed calls (0 with no data). */
  errorRate(): number {
    return this.#weight === 0 ? 0 : this.#failures / this.#weight;
  }

  snapshot(): ProfileSnapshot {
    return {
      samples: this.#count,
      latencyEwmaMs: this.#ewma,
      p50Ms: this.percentile(0.5),
      p95Ms: this.p95(),
      errorRate: this.errorRate(),
      inFlight: this.#inFlight,
      calls: this.#calls,
    };
  }
}

/** The first index in `sorted[0, count)` whose value is not below `value`. */
function lowerBound(sorted: Float64Array, count: number, value: number): number {
  let low = 0;
  let high = count;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] as number) < value) low = middle + 1;
    else high = middle;
  }
  return low;
}
