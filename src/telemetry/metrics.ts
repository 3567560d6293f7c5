import { Gauge, Registry } from 'prom-client';
import { CounterFamily, HistogramFamily } from './series.js';

/** Seconds; from 0.1 ms (a cache hit) to 2 min (a long generation). */
const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
  30, 60, 120,
];
/** Seconds; Sluice's own time per request is expected well under a millisecond. */
const OVERHEAD_BUCKETS = [
  0.00005, 0.0001, 0.0002, 0.0003, 0.0005, 0.00075, 0.001, 0.002, 0.005, 0.01, 0.05,
];

/**
 * Label values seen from clients (model names through a wildcard route) are capped, so a
 * client cannot grow the metrics without bound; past the cap they are reported as `other`.
 */
export class LabelLimiter {
  readonly #seen = new Set<string>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  label(value: string): string {
    if (this.#seen.has(value)) return value;
    if (this.#seen.size >= this.#max) return 'other';
    this.#seen.add(value);
    return value;
  }
}

export interface RequestObservation {
  route: string;
  model: string;
  status: number;
  cache: string;
  /** Whole request, seconds. */
  durationSeconds: number;
  /** Time spent in Sluice (excluding the upstream), seconds. */
  overheadSeconds: number;
}

export interface CacheCounters {
  hits: number;
  misses: number;
}

/** The gateway's Prometheus metrics, in a registry of their own (nothing global). */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #requests: CounterFamily;
  readonly #duration: HistogramFamily;
  readonly #upstream: HistogramFamily;
  readonly #overhead: HistogramFamily;
  readonly #tokens: CounterFamily;
  readonly #models = new LabelLimiter(200);
  readonly #requestSeries = new Map<
    string,
    {
      requests: { inc(): void };
      duration: { observe(value: number): void };
      overhead: { observe(value: number): void };
    }
  >();
  readonly #upstreamSeries = new Map<string, { observe(value: number): void }>();
  readonly #tokenSeries = new Map<string, { inc(value: number): void }>();

  constructor(cacheCounters?: () => CacheCounters) {
    const registry = this.registry;
    const registers = [registry];
    this.#requests = new CounterFamily(
      registry,
      'sluice_requests_total',
      'Requests answered, by route, model, HTTP status and cache result',
      ['route', 'model', 'status', 'cache'],
    );
    this.#duration = new HistogramFamily(
      registry,
      'sluice_request_duration_seconds',
      'Time from request to the end of the response',
      ['route', 'model', 'status', 'cache'],
      LATENCY_BUCKETS,
    );
    this.#upstream = new HistogramFamily(
      registry,
      'sluice_upstream_duration_seconds',
      'Time an upstream call took, to the end of its body',
      ['provider', 'model', 'status'],
      LATENCY_BUCKETS,
    );
    this.#overhead = new HistogramFamily(
      registry,
      'sluice_overhead_seconds',
      'Time spent in Sluice per request, excluding the upstream',
      ['route', 'cache'],
      OVERHEAD_BUCKETS,
    );
    this.#tokens = new CounterFamily(
      registry,
      'sluice_tokens_total',
      'Tokens reported by upstreams, by kind (prompt, completion, cached_prompt, reasoning)',
      ['model', 'kind'],
    );
    if (cacheCounters !== undefined) {
      const read = cacheCounters;
      for (const [name, help, field] of [
        ['sluice_cache_hits', 'Response cache hits (all tiers)', 'hits'],
        ['sluice_cache_misses', 'Response cache misses', 'misses'],
      ] as const) {
        new Gauge({
          name,
          help,
          registers,
          collect() {
            this.set(read()[field]);
          },
        });
      }
    }
  }

  modelLabel(model: string): string {
    return this.#models.label(model);
  }

  observeRequest(observation: RequestObservation): void {
    const model = this.#models.label(observation.model);
    const key = `${observation.route}\u0000${model}\u0000${observation.status}\u0000${observation.cache}`;
    let series = this.#requestSeries.get(key);
    if (series === undefined) {
      const labels = [
        observation.route,
        model,
        String(observation.status),
        observation.cache,
      ] as const;
      series = {
        requests: this.#requests.labels(...labels),
        duration: this.#duration.labels(...labels),
        overhead: this.#overhead.labels(observation.route, observation.cache),
      };
      this.#remember(this.#requestSeries, key, series);
    }
    series.requests.inc();
    series.duration.observe(observation.durationSeconds);
    series.overhead.observe(observation.overheadSeconds);
  }

  observeUpstream(provider: string, model: string, status: number, seconds: number): void {
    const label = this.#models.label(model);
    const key = `${provider}\u0000${label}\u0000${status}`;
    let series = this.#upstreamSeries.get(key);
    if (series === undefined) {
      series = this.#upstream.labels(provider, label, String(status));
      this.#remember(this.#upstreamSeries, key, series);
    }
    series.observe(seconds);
  }

  countTokens(model: string, kind: string, tokens: number): void {
    if (tokens <= 0) return;
    const label = this.#models.label(model);
    const key = `${label}\u0000${kind}`;
    let series = this.#tokenSeries.get(key);
    if (series === undefined) {
      series = this.#tokens.labels(label, kind);
      this.#remember(this.#tokenSeries, key, series);
    }
    series.inc(tokens);
  }

  /** Keeps a label set's child metric for reuse (bounded: the labels come from requests). */
  #remember<Series>(cache: Map<string, Series>, key: string, series: Series): void {
    if (cache.size >= 4_096) cache.clear();
    cache.set(key, series);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
