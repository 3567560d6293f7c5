import { Gauge, Registry } from 'prom-client';
import type { BudgetStatus } from '../cost/budgets.js';
import type { HealthSnapshot } from './health.js';
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

/**
 * How a request ended, as the metrics and the dashboard count it: `success`; `client_error`,
 * refused for the client's request (validation, authentication, its rate limit or budget);
 * `upstream_error`, the upstream failed it (unreachable, timeout, an error status such as its
 * 429, an invalid answer, a stream it cut after the 200); `server_error`, Sluice's own failure.
 */
export type Outcome = 'success' | 'client_error' | 'upstream_error' | 'server_error';

/** The outcome a status implies when nothing more is known of the request. */
export function outcomeOfStatus(status: number): Outcome {
  return status < 400 ? 'success' : status < 500 ? 'client_error' : 'server_error';
}

export interface RequestObservation {
  route: string;
  /** Empty for a request that names no model or was refused before its model was known. */
  model: string;
  /** The HTTP status sent (200 for a stream cut after it began: see `outcome`). */
  status: number;
  cache: string;
  /** How the request ended; from `status` when not given. */
  outcome?: Outcome;
  /** Whole request, seconds. */
  durationSeconds: number;
  /** Time spent in Sluice (excluding the upstream), seconds. */
  overheadSeconds: number;
}

export interface CacheCounters {
  hits: number;
  misses: number;
}

/** A budget's state as the metrics report it (`Budgets.status()` gives these). */
export type BudgetGaugeSource = Pick<
  BudgetStatus,
  'scope' | 'window' | 'limitNanos' | 'spentNanos' | 'ratio'
>;

/** The semantic cache's counters as the metrics report them. */
export interface SemanticGaugeSource {
  readonly lookups: number;
  readonly hits: number;
  readonly entries: number;
  readonly embed: { readonly errors: number };
}

/** The gateway's Prometheus metrics, in a registry of their own (nothing global). */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #requests: CounterFamily;
  readonly #duration: HistogramFamily;
  readonly #upstream: HistogramFamily;
  readonly #overhead: HistogramFamily;
  readonly #tokens: CounterFamily;
  readonly #spend: CounterFamily;
  readonly #avoided: CounterFamily;
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
  readonly #spendSeries = new Map<
    string,
    { spend: { inc(value: number): void }; avoided: { inc(value: number): void } }
  >();

  constructor(cacheCounters?: () => CacheCounters) {
    const registry = this.registry;
    this.#requests = new CounterFamily(
      registry,
      'sluice_requests_total',
      'Requests answered, by route, model, HTTP status, cache result and outcome',
      ['route', 'model', 'status', 'cache', 'outcome'],
    );
    this.#duration = new HistogramFamily(
      registry,
      'sluice_request_duration_seconds',
      'Time from request to the end of the response',
      ['route', 'model', 'status', 'cache', 'outcome'],
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
    this.#spend = new CounterFamily(
      registry,
      'sluice_spend_usd_total',
      'What answered requests cost, USD, by the model that answered and the virtual key',
      ['model', 'key'],
    );
    this.#avoided = new CounterFamily(
      registry,
      'sluice_avoided_usd_total',
      'What cache hits avoided paying, USD, by model and virtual key',
      ['model', 'key'],
    );
    if (cacheCounters !== undefined) {
      const read = cacheCounters;
      this.#scrapedGauges([
        ['sluice_cache_hits', 'Response cache hits (all tiers)', () => read().hits],
        ['sluice_cache_misses', 'Response cache misses', () => read().misses],
      ]);
    }
  }

  /**
   * Reports budgets on every scrape, per scope and window: the used share (spend plus open
   * reservations over the limit), the settled spend and the limit. A failed read (Redis away)
   * keeps the last values.
   */
  watchBudgets(read: () => Promise<readonly BudgetGaugeSource[]>): void {
    const registers = [this.registry];
    const labelNames = ['scope', 'window'] as const;
    let reading: Promise<void> | undefined;
    const refresh = async () => {
      let statuses: readonly BudgetGaugeSource[];
      try {
        statuses = await read();
      } catch {
        return;
      }
      for (const status of statuses) {
        const labels = { scope: status.scope, window: status.window };
        used.set(labels, status.ratio);
        spent.set(labels, status.spentNanos / 1e9);
        limit.set(labels, status.limitNanos / 1e9);
      }
    };
    // One read serves the three gauges of a scrape.
    const collect = () => {
      reading ??= refresh().finally(() => {
        reading = undefined;
      });
      return reading;
    };
    const used = new Gauge({
      name: 'sluice_budget_used_ratio',
      help: 'Spend plus open reservations over the limit, per budget (1 = at the limit)',
      labelNames,
      registers,
      collect,
    });
    const spent = new Gauge({
      name: 'sluice_budget_spent_usd',
      help: 'Settled spend in the current window, USD, per budget',
      labelNames,
      registers,
      collect,
    });
    const limit = new Gauge({
      name: 'sluice_budget_limit_usd',
      help: 'The limit of the current window, USD, per budget',
      labelNames,
      registers,
      collect,
    });
  }

  /** Reports the semantic cache's lookups, hits, entries and embedding errors on every scrape. */
  watchSemantic(read: () => SemanticGaugeSource): void {
    this.#scrapedGauges([
      ['sluice_semantic_lookups', 'Semantic cache lookups since start', () => read().lookups],
      [
        'sluice_semantic_hits',
        'Semantic cache hits (verified paraphrases) since start',
        () => read().hits,
      ],
      ['sluice_semantic_entries', 'Entries in the semantic cache', () => read().entries],
      [
        'sluice_semantic_embed_errors',
        'Embedding calls that failed since start',
        () => read().embed.errors,
      ],
    ]);
  }

  /**
   * Reports each dependency's health on every scrape: `sluice_dependency_degraded` (1 while
   * degraded) and `sluice_dependency_errors` (failures since start).
   */
  watchHealth(read: () => HealthSnapshot): void {
    const registers = [this.registry];
    new Gauge({
      name: 'sluice_dependency_degraded',
      help: 'Whether a dependency (SQLite file, Redis connection) is degraded: 1 degraded, 0 ok',
      labelNames: ['dependency'],
      registers,
      collect() {
        for (const [name, state] of Object.entries(read().dependencies)) {
          this.set({ dependency: name }, state.status === 'degraded' ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'sluice_dependency_errors',
      help: 'Failures a dependency (SQLite file, Redis connection) reported since start',
      labelNames: ['dependency'],
      registers,
      collect() {
        for (const [name, state] of Object.entries(read().dependencies)) {
          this.set({ dependency: name }, state.errors);
        }
      },
    });
  }

  /** Unlabelled gauges whose value is read at each scrape. */
  #scrapedGauges(gauges: readonly (readonly [string, string, () => number])[]): void {
    for (const [name, help, read] of gauges) {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(read());
        },
      });
    }
  }

  /** Adds an answered request's cost, or what its cache hit avoided, to the spend counters. */
  countSpend(model: string, key: string, costNanos: number, avoidedNanos: number): void {
    if (costNanos <= 0 && avoidedNanos <= 0) return;
    const label = this.#models.label(model);
    const id = `${label}\u0000${key}`;
    let series = this.#spendSeries.get(id);
    if (series === undefined) {
      series = { spend: this.#spend.labels(label, key), avoided: this.#avoided.labels(label, key) };
      this.#remember(this.#spendSeries, id, series);
    }
    if (costNanos > 0) series.spend.inc(costNanos / 1e9);
    if (avoidedNanos > 0) series.avoided.inc(avoidedNanos / 1e9);
  }

  modelLabel(model: string): string {
    return this.#models.label(model);
  }

  observeRequest(observation: RequestObservation): void {
    // No model is no label value, and takes none of the model labels' places.
    const model = observation.model === '' ? '' : this.#models.label(observation.model);
    const outcome = observation.outcome ?? outcomeOfStatus(observation.status);
    const key = `${observation.route}\u0000${model}\u0000${observation.status}\u0000${observation.cache}\u0000${outcome}`;
    let series = this.#requestSeries.get(key);
    if (series === undefined) {
      const labels = [
        observation.route,
        model,
        String(observation.status),
        observation.cache,
        outcome,
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
