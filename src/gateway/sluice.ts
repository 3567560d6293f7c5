import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createBatchClient } from '../batching/batch-api.js';
import { createDeferredQueue, type DeferredQueue } from '../batching/deferred-queue.js';
import { type Cache, createCache, redisStore, sqliteStore } from '../cache/index.js';
import { createBudgets } from '../cost/budgets.js';
import { createLedger, type Ledger } from '../cost/ledger.js';
import { createCostTracker } from '../cost/tracker.js';
import { createRateLimiter } from '../routing/rate-limit.js';
import type { RouteConstraints } from '../routing/router.js';
import {
  createSemanticCache,
  type Embedder,
  localEmbedder,
  openAIEmbedder,
  redisSemanticStore,
  type SemanticCache,
  sqliteSemanticStore,
} from '../semantic/index.js';
import type { Clock } from '../shared/clock.js';
import { parseDuration } from '../shared/duration.js';
import { ConfigError } from '../shared/errors.js';
import { describeFailure, type HealthReporter } from '../shared/health.js';
import { isStorageFull } from '../shared/sqlite.js';
import { HealthRegistry } from '../telemetry/health.js';
import { GatewayMetrics } from '../telemetry/metrics.js';
import { Accounting } from './accounting.js';
import { checkChatCompletion } from './answer-check.js';
import { type Caller, KeyRing } from './auth.js';
import { parseCacheDirectives } from './cache-control.js';
import { type CompletionRequest, CompletionService } from './completions.js';
import {
  type DeferredConfig,
  type GatewayConfig,
  type GatewayConfigFile,
  isResolvedConfig,
  type ProviderConfig,
  resolveConfig,
} from './config.js';
import { Dispatcher } from './dispatch.js';
import { HttpError, invalidRequest } from './errors.js';
import type { CacheResult, Exchange, ExchangeRecord } from './exchange.js';
import { type LazyPlan, ModelTable, type Plan, routedPlan, type Target } from './model-table.js';
import type { Provider } from './provider.js';
import { anthropicProvider } from './providers/anthropic.js';
import { openAICompatibleProvider } from './providers/openai-compatible.js';

export interface SluiceOptions {
  /** Called once per answered completion or embedding (hits included), for cost tracking. */
  onRecord?: (record: ExchangeRecord) => void;
  /** Use this cache instead of building one from `config.store` (it is not closed by Sluice). */
  cache?: Cache;
  /** Use these providers instead of building them from `config.providers` (matched by name). */
  providers?: readonly Provider[];
  /** The clock of budget windows (tests). @default the system clock */
  clock?: Clock;
  /** Where Sluice's own log lines go. @default nowhere */
  log?: (
    level: 'info' | 'warn' | 'error',
    message: string,
    fields: Record<string, unknown>,
  ) => void;
}

/** Per-request controls, as the gateway reads them from headers (all optional). */
export interface RequestControls {
  /** `Cache-Control`: `no-cache`, `no-store`, `max-age=N`. */
  readonly cacheControl?: string | undefined;
  /** Seconds to keep the answer (`x-sluice-cache-ttl`). */
  readonly cacheTtl?: string | undefined;
  /** A sub-namespace inside the caller's (`x-sluice-namespace`). */
  readonly namespace?: string | undefined;
  /** `low`, `normal` or `high` (`x-sluice-priority`). */
  readonly priority?: string | undefined;
  /** Lowest acceptable model quality, 0..1 (`x-sluice-min-quality`). */
  readonly minQuality?: string | undefined;
  /** Highest acceptable observed latency, ms (`x-sluice-max-latency-ms`). */
  readonly maxLatencyMs?: string | undefined;
  /** `on`/`off`: hedge this call (`x-sluice-hedge`). */
  readonly hedge?: string | undefined;
  /** The body's bytes as received, forwarded as they are when nothing in them changes. */
  readonly rawBody?: Buffer | undefined;
}

const NAMESPACE = /^[A-Za-z0-9._-]{1,64}$/;
/** The constraints of a request that sets none (most): shared, never mutated. */
const NO_CONSTRAINTS: RouteConstraints = Object.freeze({});

/**
 * Sluice's request pipeline without HTTP: model resolution, budgets' soft actions, the exact
 * cache with coalescing, cost accounting and providers. The gateway serves it over HTTP; the
 * SDK adapters call it in-process, with the same semantics.
 */
export class Sluice {
  readonly config: GatewayConfig;
  readonly cache: Cache | undefined;
  readonly metrics: GatewayMetrics;
  readonly accounting: Accounting;
  readonly service: CompletionService;
  readonly models: ModelTable;
  readonly keyRing: KeyRing;
  readonly providers: ReadonlyMap<string, Provider>;
  readonly ledger: Ledger | undefined;
  /** The deferred-work queue, when `deferred` is configured. */
  readonly deferred: DeferredQueue | undefined;
  /** The semantic cache, when `semantic.enabled`. */
  readonly semantic: SemanticCache | undefined;
  /** Each dependency's health (SQLite files, Redis), for `/healthz` and the metrics. */
  readonly health: HealthRegistry;
  readonly #ownsCache: boolean;
  readonly #log: NonNullable<SluiceOptions['log']>;

  constructor(configInput: GatewayConfig | GatewayConfigFile, options: SluiceOptions = {}) {
    const config = isResolvedConfig(configInput) ? configInput : resolveConfig(configInput);
    this.config = config;
    // Everything opened so far (connections, files, timers) is closed when a later part
    // fails: a configuration error must not leave a process that cannot exit.
    const opened: (() => unknown)[] = [];
    try {
      this.#log = options.log ?? (() => {});
      const log = (
        level: 'info' | 'warn' | 'error',
        message: string,
        fields: Record<string, unknown>,
      ) => this.#log(level, message, fields);
      this.health = new HealthRegistry({ log });
      const health = this.health;
      this.#ownsCache = options.cache === undefined;
      const cache =
        options.cache ?? (config.cache.enabled ? buildCache(config, health, log) : undefined);
      this.cache = cache;
      if (this.#ownsCache && cache !== undefined) opened.push(() => cache.close());
      this.metrics = new GatewayMetrics(
        cache === undefined
          ? undefined
          : () => {
              const stats = cache.stats();
              return { hits: stats.hits, misses: stats.misses };
            },
      );
      const given = new Map((options.providers ?? []).map((provider) => [provider.name, provider]));
      const providers = new Map<string, Provider>();
      for (const provider of config.providers) {
        const built = given.get(provider.name) ?? buildProvider(provider);
        providers.set(provider.name, built);
        if (built !== given.get(provider.name)) opened.push(() => built.close(0));
      }
      for (const [name, provider] of given) if (!providers.has(name)) providers.set(name, provider);
      this.providers = providers;
      this.keyRing = new KeyRing(config.keys);
      this.ledger =
        config.cost.ledger === false
          ? undefined
          : createLedger({
              path: config.cost.ledger,
              durability: config.cost.durability,
              health: health.dependency('ledger'),
            });
      const ledger = this.ledger;
      if (ledger !== undefined) opened.push(() => ledger.close());
      const budgetsOpened =
        config.budgets.length === 0
          ? undefined
          : createBudgets({
              budgets: config.budgets.map((budget) => ({ ...budget, window: budget.window })),
              timeZone: config.cost.timeZone,
              reservationTtl: config.cost.reservationTtlMs,
              prefix: config.store.prefix,
              ...(config.store.redis === undefined ? {} : { redis: config.store.redis }),
              ...(ledger === undefined ? {} : { ledger }),
              ...(config.cost.webhook === undefined ? {} : { webhook: { ...config.cost.webhook } }),
              ...(options.clock === undefined ? {} : { clock: options.clock }),
              log,
              ...(config.store.redis === undefined
                ? {}
                : { health: health.dependency('budgets-store') }),
            });
      if (budgetsOpened !== undefined) opened.push(() => budgetsOpened.close());
      const rateLimiter =
        config.rateLimits.length === 0
          ? undefined
          : createRateLimiter({
              rules: config.rateLimits,
              prefix: config.store.prefix,
              ...(config.store.redis === undefined
                ? {}
                : { redis: config.store.redis, health: health.dependency('rate-limit-store') }),
            });
      if (rateLimiter !== undefined) opened.push(() => rateLimiter.close());
      this.accounting = new Accounting({
        tracker: createCostTracker({
          prices: config.cost.prices,
          ...(config.cost.pricingFile === undefined
            ? {}
            : { pricingFile: config.cost.pricingFile }),
        }),
        ledger,
        budgets: budgetsOpened,
        rateLimiter,
        onRecord: (record) => {
          this.metrics.countSpend(
            record.model,
            record.caller,
            record.costNanos,
            record.avoidedNanos,
          );
          options.onRecord?.(record);
        },
        log,
      });
      const budgets = this.accounting.budgets;
      if (budgets !== undefined) this.metrics.watchBudgets(() => budgets.status());
      this.metrics.watchHealth(() => health.snapshot());
      this.models = new ModelTable(config, providers, this.accounting.tracker, log);
      const retries = config.routing.retries ?? {};
      const dispatcher = new Dispatcher({
        router: this.models.router,
        retry: {
          maxAttempts: retries.attempts ?? 2,
          ...(retries.baseDelay === undefined ? {} : { baseDelay: retries.baseDelay }),
          ...(retries.maxDelay === undefined ? {} : { maxDelay: retries.maxDelay }),
          ...(retries.maxRetryAfter === undefined ? {} : { maxRetryAfter: retries.maxRetryAfter }),
        },
        hedge: {
          enabled: config.routing.hedge?.enabled ?? false,
          delayMs:
            config.routing.hedge?.delay === undefined
              ? undefined
              : parseDuration(config.routing.hedge.delay, 'routing.hedge.delay'),
        },
        contextFallback: (target) => this.models.contextFallbackFor(target),
      });
      this.semantic =
        config.semantic.enabled === true ? buildSemanticCache(config, health, log) : undefined;
      const semantic = this.semantic;
      if (semantic !== undefined) {
        opened.push(() => semantic.close());
        this.metrics.watchSemantic(() => semantic.stats());
      }
      this.deferred =
        config.deferred === undefined
          ? undefined
          : openOnFullDisk(
              () => this.#buildDeferredQueue(config.deferred as DeferredConfig),
              health.dependency('deferred-store'),
              'the deferral queue cannot be opened: deferred requests are refused until a restart',
              log,
            );
      const deferred = this.deferred;
      if (deferred !== undefined) opened.push(() => deferred.close());
      const semanticKeys =
        config.semantic.keys === undefined ? undefined : new Set(config.semantic.keys);
      this.service = new CompletionService({
        cache,
        ttlMs: config.cache.ttlMs,
        metrics: this.metrics,
        accounting: this.accounting,
        dispatcher,
        embeddingsWindowMs: config.batching.embeddingsWindowMs,
        ...(this.semantic === undefined
          ? {}
          : {
              semantic: {
                cache: this.semantic,
                appliesTo: (caller: Caller) =>
                  semanticKeys === undefined || semanticKeys.has(caller.name),
              },
            }),
      });
    } catch (error) {
      closeQuietly(opened);
      throw error;
    }
  }

  /**
   * Low-priority work queued durably: run off-peak through this pipeline's providers, or
   * submitted through the batch provider's Batch API at the batch price; priced with the
   * cost tracker so the savings are recorded.
   */
  #buildDeferredQueue(settings: DeferredConfig): DeferredQueue {
    const tracker = this.accounting.tracker;
    const batchProvider =
      settings.batchProvider === undefined
        ? undefined
        : this.config.providers.find((provider) => provider.name === settings.batchProvider);
    const queue = createDeferredQueue({
      health: this.health.dependency('deferred-store'),
      path:
        settings.path ??
        (this.config.store.sqlite === false
          ? ':memory:'
          : join(dirname(this.config.store.sqlite), 'deferred.db')),
      ...(settings.offPeak === undefined
        ? {}
        : {
            offPeak: settings.offPeak,
            execute: async (call) => {
              const caller: Caller = {
                name: 'deferred',
                namespace: 'deferred',
                models: undefined,
                tags: [],
              };
              const plan = this.models.plan(call.model, caller, call.body);
              const response = await plan.target.provider.chatCompletions({
                body: JSON.stringify({ ...call.body, model: plan.target.upstreamModel }),
              });
              // A provider that read the body whole gives it as `text` (its body is consumed).
              const text = response.text ?? (await response.body.text());
              if (response.status < 200 || response.status >= 300) {
                throw new HttpError(
                  response.status,
                  'upstream_error',
                  'upstream_error',
                  text.slice(0, 500),
                  {
                    isRetryable: response.status === 429 || response.status >= 500,
                  },
                );
              }
              // Not kept unless it is an answer (a retryable 502 otherwise).
              return checkChatCompletion(text, plan.target.provider.name).body;
            },
          }),
      ...(batchProvider === undefined
        ? {}
        : {
            batchClient: createBatchClient({
              baseUrl: batchProvider.baseUrl,
              ...(batchProvider.apiKey === undefined ? {} : { apiKey: batchProvider.apiKey }),
            }),
          }),
      pollInterval: settings.interval ?? '30s',
      price: (model, usage) => {
        const priced = tracker.cost(model, usage, this.models.priceOf(model));
        if (!priced.known) return undefined;
        return { nanos: priced.nanos.total, batchNanos: Math.ceil(priced.nanos.total / 2) };
      },
    });
    queue.start(settings.interval ?? '30s');
    return queue;
  }

  /** A fresh per-request state. */
  exchange(requestId: string, route: string, caller?: Caller): Exchange {
    return {
      requestId,
      startedAt: performance.now(),
      caller,
      route,
      model: '',
      cache: 'bypass' as CacheResult,
      waitMs: 0,
      reservation: undefined,
      recorded: false,
      costNanos: 0,
      answeredBy: undefined,
      headers: {},
      rateLimit: undefined,
      provider: undefined,
      usage: undefined,
      trace: undefined,
      finished: false,
      failure: undefined,
    };
  }

  /**
   * Resolves a validated request body into what the service runs: the target model (after
   * any budget downgrade), the cache directives (after any prefer-cache action), the caller's
   * namespace, and the priority. Throws an `HttpError` for an unknown or forbidden model or
   * a malformed control.
   */
  prepare(
    exchange: Exchange,
    route: 'chat' | 'embeddings',
    input: Record<string, unknown> & { model: string },
    controls: RequestControls = {},
  ): CompletionRequest {
    const caller = exchange.caller as Caller;
    const extension = input.sluice;
    // The body without Sluice's extension: copied only when it has one.
    let body = input;
    if (extension !== undefined) {
      const { sluice: _extension, ...rest } = input;
      body = rest as typeof input;
    }
    const constraints = constraintsOf(controls, extension, this.accounting.remainingFor(caller));
    // A configured model is routed only on a miss (see `LazyPlan`).
    let plan = this.models.lazyPlan(
      body.model,
      caller,
      body,
      constraints,
      controls.rawBody?.length,
    );
    let directives = parseCacheDirectives(controls.cacheControl, controls.cacheTtl);
    const advice = this.accounting.advise(caller, plan.nominal);
    if (advice !== undefined) {
      if (advice.downgradeTo !== undefined && advice.downgradeTo !== plan.nominal.model) {
        const cheaper = this.models.tryPlan(advice.downgradeTo, caller, body, constraints);
        if (cheaper !== undefined) {
          this.#log('info', 'budget action: model downgraded', {
            requestId: exchange.requestId,
            from: plan.nominal.model,
            to: cheaper.target.model,
          });
          plan = routedPlan(cheaper);
        }
      }
      if (advice.preferCache && (!directives.lookup || directives.maxAgeMs !== undefined)) {
        directives = { ...directives, lookup: true, store: true, maxAgeMs: undefined };
      }
    }
    exchange.model = plan.nominal.model;
    exchange.provider = plan.nominal.provider.name;
    const streamOptions = body.stream_options as { include_usage?: boolean } | null | undefined;
    return new PreparedRequest(
      {
        route,
        exchange,
        caller,
        namespace: namespaceOf(caller, controls.namespace),
        body: body as Record<string, unknown> & { model: string },
        directives,
        stream: route === 'chat' && body.stream === true,
        includeUsage: streamOptions?.include_usage === true,
        priority: priorityOf(controls.priority),
        hedge: switchOf(controls.hedge, 'x-sluice-hedge'),
        rawBody: extension === undefined ? controls.rawBody : undefined,
      },
      plan,
    );
  }

  /** Loads token encodings, restores budgets and loads the semantic cache; call before serving. */
  async prepareToServe(): Promise<void> {
    await this.accounting.prepare();
    const semantic = this.semantic;
    if (semantic === undefined) return;
    await Promise.all([
      semantic.ready(),
      semantic.warmUp().catch((error: unknown) => {
        this.#log('warn', 'the semantic cache cannot embed: its lookups will miss', {
          error: error instanceof Error ? error.message : String(error),
        });
      }),
    ]);
  }

  /** Closes providers (aborting calls still pending after `graceMs`), the cache and the ledger. */
  async close(graceMs = 0): Promise<void> {
    await this.service.close();
    if (this.deferred !== undefined) {
      await this.deferred.close();
    }
    await Promise.allSettled(
      [...this.providers.values()].map((provider) => provider.close(graceMs)),
    );
    if (this.#ownsCache) await this.cache?.close();
    await this.semantic?.close();
    await this.accounting.close();
    this.health.close();
  }
}

/** Calls every closer, newest first, ignoring their failures (synchronous or not). */
function closeQuietly(closers: readonly (() => unknown)[]): void {
  for (const close of [...closers].reverse()) {
    try {
      Promise.resolve(close()).catch(() => {});
    } catch {
      // Closing after a failed start is best effort: the start's own error is what matters.
    }
  }
}

/** Builds Sluice's in-process pipeline from a configuration (file shape or `loadConfig`'s). */
export function createSluice(
  config: GatewayConfig | GatewayConfigFile,
  options: SluiceOptions = {},
): Sluice {
  return new Sluice(config, options);
}

/** The semantic cache of a configuration: its embedder, and the store its entries live in. */
function buildSemanticCache(
  config: GatewayConfig,
  health: HealthRegistry,
  log: Log,
): SemanticCache {
  const settings = config.semantic;
  let embedder: Embedder;
  if (settings.embedder === undefined || settings.embedder === 'local') embedder = localEmbedder();
  else {
    const { provider: providerName, model } = settings.embedder;
    const provider = config.providers.find((candidate) => candidate.name === providerName);
    if (provider === undefined) {
      throw new ConfigError(
        `${config.source}: semantic.embedder.provider: unknown provider '${providerName}'`,
      );
    }
    embedder = openAIEmbedder({
      baseUrl: provider.baseUrl,
      model,
      ...(provider.apiKey === undefined ? {} : { apiKey: provider.apiKey }),
    });
  }
  const reporter = health.dependency('semantic-store');
  const sqlite = config.store.sqlite;
  const store =
    config.store.redis !== undefined
      ? redisSemanticStore({ url: config.store.redis, prefix: `${config.store.prefix}-semantic` })
      : sqlite !== false
        ? openOnFullDisk(
            () => sqliteSemanticStore({ path: sqlite, prefix: config.store.prefix }),
            reporter,
            'the semantic store cannot be opened: semantic entries live in memory until a restart',
            log,
          )
        : undefined;
  return createSemanticCache({
    embedder,
    health: reporter,
    ...(store === undefined ? {} : { store }),
    ...(settings.maxEntries === undefined ? {} : { maxEntries: settings.maxEntries }),
    ...(settings.ttl === undefined ? {} : { ttl: settings.ttl }),
    ...(settings.targetFalseHitRate === undefined
      ? {}
      : { targetFalseHitRate: settings.targetFalseHitRate }),
    ...(settings.multiTurn === undefined ? {} : { multiTurn: settings.multiTurn }),
  });
}

function buildProvider(config: ProviderConfig): Provider {
  return config.type === 'anthropic' ? anthropicProvider(config) : openAICompatibleProvider(config);
}

type Log = (
  level: 'info' | 'warn' | 'error',
  message: string,
  fields: Record<string, unknown>,
) => void;

/**
 * Opens a SQLite-backed part, or, when the disk is full, reports it degraded and returns
 * undefined so that the gateway starts without it. Any other failure is a start-up error.
 */
function openOnFullDisk<Part>(
  open: () => Part,
  reporter: HealthReporter,
  consequence: string,
  log: Log,
): Part | undefined {
  try {
    return open();
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause ?? error;
    if (!isStorageFull(cause)) throw error;
    reporter.degraded(consequence, cause);
    log('error', consequence, { error: describeFailure(cause) });
    return undefined;
  }
}

/** Watches a Redis client's connection: degraded while it is down. */
function watchRedis(
  client: { on(event: 'ready' | 'close', listener: () => void): unknown },
  reporter: HealthReporter,
): void {
  client.on('ready', () => reporter.ok());
  client.on('close', () => reporter.degraded('the Redis connection is down'));
}

function buildCache(config: GatewayConfig, health: HealthRegistry, log: Log): Cache {
  const l2 =
    config.store.redis === undefined
      ? undefined
      : redisStore({ url: config.store.redis, prefix: config.store.prefix });
  if (l2 !== undefined) watchRedis(l2.client, health.dependency('cache-l2'));
  const sqlite = config.store.sqlite;
  const l3Health = health.dependency('cache-l3');
  const l3 =
    sqlite === false
      ? undefined
      : openOnFullDisk(
          () =>
            sqliteStore({
              path: sqlite,
              prefix: config.store.prefix,
              maxFileBytes: config.store.sqliteMaxBytes,
              health: l3Health,
            }),
          l3Health,
          'the SQLite cache (L3) cannot be opened: the cache runs without it until a restart',
          log,
        );
  return createCache({
    l1: {
      maxEntries: config.cache.maxEntries,
      maxBytes: config.cache.maxBytes,
      maxEntryBytes: config.cache.maxEntryBytes,
    },
    ...(l2 === undefined ? {} : { l2 }),
    ...(l3 === undefined ? {} : { l3 }),
    ttl: config.cache.ttlMs,
  });
}

/**
 * Routing constraints from headers or the `sluice` body extension
 * (`{ "sluice": { "minQuality": 0.8, "maxLatencyMs": 2000 } }`), plus the caller's remaining budget.
 */
function constraintsOf(
  controls: RequestControls,
  extension: unknown,
  remainingBudgetNanos: number | undefined,
): RouteConstraints {
  if (
    extension === undefined &&
    controls.minQuality === undefined &&
    controls.maxLatencyMs === undefined &&
    remainingBudgetNanos === undefined
  ) {
    return NO_CONSTRAINTS;
  }
  const fromBody = (extension ?? {}) as { minQuality?: unknown; maxLatencyMs?: unknown };
  if (
    extension !== undefined &&
    (extension === null || typeof extension !== 'object' || Array.isArray(extension))
  ) {
    throw invalidRequest('sluice: expected an object such as { "minQuality": 0.8 }', 'sluice');
  }
  const number = (value: unknown, name: string, max: number): number | undefined => {
    if (value === undefined) return undefined;
    const parsed =
      typeof value === 'number'
        ? value
        : typeof value === 'string' && value.trim() !== ''
          ? Number(value)
          : Number.NaN;
    if (!Number.isFinite(parsed) || parsed < 0 || parsed > max) {
      throw invalidRequest(`${name}: expected a number from 0 to ${max}`, name);
    }
    return parsed;
  };
  const minQuality = number(controls.minQuality ?? fromBody.minQuality, 'x-sluice-min-quality', 1);
  const maxLatencyMs = number(
    controls.maxLatencyMs ?? fromBody.maxLatencyMs,
    'x-sluice-max-latency-ms',
    3_600_000,
  );
  return {
    ...(minQuality === undefined ? {} : { minQuality }),
    ...(maxLatencyMs === undefined ? {} : { maxLatencyMs }),
    ...(remainingBudgetNanos === undefined ? {} : { remainingBudgetNanos }),
  };
}

function switchOf(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  const text = value.trim().toLowerCase();
  if (text === 'on' || text === 'true' || text === '1') return true;
  if (text === 'off' || text === 'false' || text === '0') return false;
  throw invalidRequest(`${name}: expected 'on' or 'off'`, name);
}

function namespaceOf(caller: Caller, requested: string | undefined): string {
  if (requested === undefined || requested === '') return caller.namespace;
  if (!NAMESPACE.test(requested)) {
    throw invalidRequest(
      'x-sluice-namespace: expected 1-64 letters, digits, ".", "_" or "-"',
      'x-sluice-namespace',
    );
  }
  return `${caller.namespace}/${requested}`;
}

function priorityOf(value: string | undefined): 'low' | 'normal' | 'high' {
  if (value === undefined) return 'normal';
  const priority = value.trim().toLowerCase();
  if (priority === 'low' || priority === 'normal' || priority === 'high') return priority;
  throw invalidRequest(
    "x-sluice-priority: expected 'low', 'normal' or 'high'",
    'x-sluice-priority',
  );
}

/**
 * A request ready for the completion service, routed when its `target` or `chain` is first
 * read (a configured model's cache hit never is): the routed deployment's provider and the
 * router's explanation (`x-sluice-route`) then join the exchange.
 */
class PreparedRequest implements CompletionRequest {
  readonly route: CompletionRequest['route'];
  readonly exchange: Exchange;
  readonly caller: Caller;
  readonly namespace: string;
  readonly nominal: Target;
  readonly body: Record<string, unknown> & { model: string };
  readonly directives: CompletionRequest['directives'];
  readonly stream: boolean;
  readonly includeUsage: boolean;
  readonly priority: CompletionRequest['priority'];
  readonly hedge: boolean | undefined;
  readonly rawBody: Buffer | undefined;
  readonly #route: (() => Plan) | undefined;
  #routed: Plan | undefined;

  constructor(
    fields: Omit<CompletionRequest, 'nominal' | 'target' | 'chain' | 'planned'>,
    plan: LazyPlan,
  ) {
    this.route = fields.route;
    this.exchange = fields.exchange;
    this.caller = fields.caller;
    this.namespace = fields.namespace;
    this.nominal = plan.nominal;
    this.body = fields.body as Record<string, unknown> & { model: string };
    this.directives = fields.directives;
    this.stream = fields.stream;
    this.includeUsage = fields.includeUsage;
    this.priority = fields.priority;
    this.hedge = fields.hedge;
    this.rawBody = fields.rawBody;
    this.#route = plan.route;
    if (plan.routed !== undefined) this.#noteRoute(plan.routed);
  }

  get target(): Target {
    return this.#resolve().target;
  }

  get chain(): readonly Target[] {
    return this.#resolve().chain;
  }

  get planned(): Target | undefined {
    return this.#routed?.target;
  }

  #resolve(): Plan {
    return this.#routed ?? this.#noteRoute((this.#route as () => Plan)());
  }

  #noteRoute(plan: Plan): Plan {
    this.#routed = plan;
    this.exchange.provider = plan.target.provider.name;
    const explain = plan.decision?.explain ?? plan.explain;
    if (explain !== undefined) this.exchange.headers['x-sluice-route'] = explain;
    return plan;
  }
}
