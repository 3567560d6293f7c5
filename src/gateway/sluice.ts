import { performance } from 'node:perf_hooks';
import { type Cache, createCache, redisStore, sqliteStore } from '../cache/index.js';
import { createBudgets } from '../cost/budgets.js';
import { createLedger, type Ledger } from '../cost/ledger.js';
import { createCostTracker } from '../cost/tracker.js';
import type { Clock } from '../shared/clock.js';
import { GatewayMetrics } from '../telemetry/metrics.js';
import { Accounting } from './accounting.js';
import { type Caller, KeyRing } from './auth.js';
import { parseCacheDirectives } from './cache-control.js';
import { type CompletionRequest, CompletionService, type Target } from './completions.js';
import {
  type GatewayConfig,
  type GatewayConfigFile,
  isResolvedConfig,
  type ProviderConfig,
  resolveConfig,
} from './config.js';
import { HttpError, invalidRequest } from './errors.js';
import type { CacheResult, Exchange, ExchangeRecord } from './exchange.js';
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
}

const NAMESPACE = /^[A-Za-z0-9._-]{1,64}$/;

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
  readonly #ownsCache: boolean;
  readonly #log: NonNullable<SluiceOptions['log']>;

  constructor(configInput: GatewayConfig | GatewayConfigFile, options: SluiceOptions = {}) {
    const config = isResolvedConfig(configInput) ? configInput : resolveConfig(configInput);
    this.config = config;
    this.#log = options.log ?? (() => {});
    const log = (
      level: 'info' | 'warn' | 'error',
      message: string,
      fields: Record<string, unknown>,
    ) => this.#log(level, message, fields);
    this.#ownsCache = options.cache === undefined;
    const cache = options.cache ?? (config.cache.enabled ? buildCache(config) : undefined);
    this.cache = cache;
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
      providers.set(provider.name, given.get(provider.name) ?? buildProvider(provider));
    }
    for (const [name, provider] of given) if (!providers.has(name)) providers.set(name, provider);
    this.providers = providers;
    this.models = new ModelTable(config, providers);
    this.keyRing = new KeyRing(config.keys);
    this.ledger =
      config.cost.ledger === false
        ? undefined
        : createLedger({ path: config.cost.ledger, durability: config.cost.durability });
    const ledger = this.ledger;
    this.accounting = new Accounting({
      tracker: createCostTracker({
        prices: config.cost.prices,
        ...(config.cost.pricingFile === undefined ? {} : { pricingFile: config.cost.pricingFile }),
      }),
      ledger,
      budgets:
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
            }),
      onRecord: options.onRecord,
      log,
    });
    this.service = new CompletionService({
      cache,
      ttlMs: config.cache.ttlMs,
      metrics: this.metrics,
      accounting: this.accounting,
    });
  }

  /** A fresh per-request state. */
  exchange(requestId: string, route: string, caller?: Caller): Exchange {
    return {
      requestId,
      startedAt: performance.now(),
      caller,
      route,
      model: 'none',
      cache: 'bypass' as CacheResult,
      waitMs: 0,
      reservation: undefined,
      recorded: false,
      costNanos: 0,
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
    body: Record<string, unknown> & { model: string },
    controls: RequestControls = {},
  ): CompletionRequest {
    const caller = exchange.caller as Caller;
    let target = this.models.resolve(body.model, caller);
    let directives = parseCacheDirectives(controls.cacheControl, controls.cacheTtl);
    const advice = this.accounting.advise(caller, target);
    if (advice !== undefined) {
      if (advice.downgradeTo !== undefined && advice.downgradeTo !== target.model) {
        const cheaper = this.models.tryResolve(advice.downgradeTo, caller);
        if (cheaper !== undefined) {
          this.#log('info', 'budget action: model downgraded', {
            requestId: exchange.requestId,
            from: target.model,
            to: cheaper.model,
          });
          target = cheaper;
        }
      }
      if (advice.preferCache && (!directives.lookup || directives.maxAgeMs !== undefined)) {
        directives = { ...directives, lookup: true, store: true, maxAgeMs: undefined };
      }
    }
    exchange.model = target.model;
    const streamOptions = body.stream_options as { include_usage?: boolean } | null | undefined;
    return {
      route,
      exchange,
      caller,
      namespace: namespaceOf(caller, controls.namespace),
      target,
      body,
      directives,
      stream: route === 'chat' && body.stream === true,
      includeUsage: streamOptions?.include_usage === true,
      priority: priorityOf(controls.priority),
    };
  }

  /** Loads token encodings and restores budgets; call before serving. */
  prepareToServe(): Promise<void> {
    return this.accounting.prepare();
  }

  /** Closes providers (aborting calls still pending after `graceMs`), the cache and the ledger. */
  async close(graceMs = 0): Promise<void> {
    await Promise.allSettled(
      [...this.providers.values()].map((provider) => provider.close(graceMs)),
    );
    if (this.#ownsCache) await this.cache?.close();
    await this.accounting.close();
  }
}

/** Builds Sluice's in-process pipeline from a configuration (file shape or `loadConfig`'s). */
export function createSluice(
  config: GatewayConfig | GatewayConfigFile,
  options: SluiceOptions = {},
): Sluice {
  return new Sluice(config, options);
}

/** Configured models, and where each requested name goes. */
export class ModelTable {
  readonly #exact = new Map<string, Target>();
  readonly #wildcard: Provider | undefined;
  readonly #listed: { id: string; object: 'model'; created: number; owned_by: string }[];

  constructor(config: GatewayConfig, providers: ReadonlyMap<string, Provider>) {
    let wildcard: Provider | undefined;
    for (const model of config.models) {
      const provider = providers.get(model.provider);
      if (provider === undefined) {
        throw new HttpError(
          500,
          'server_error',
          'E_CONFIG',
          `no provider named '${model.provider}'`,
        );
      }
      if (model.name === '*') wildcard = provider;
      else {
        this.#exact.set(model.name, {
          model: model.name,
          upstreamModel: model.upstreamModel ?? model.name,
          provider,
        });
      }
    }
    this.#wildcard = wildcard;
    this.#listed = [...this.#exact.values()].map((target) => ({
      id: target.model,
      object: 'model' as const,
      created: 0,
      owned_by: target.provider.name,
    }));
  }

  /** The target for a name the caller may use, or undefined. */
  tryResolve(name: string, caller: Caller): Target | undefined {
    try {
      return this.resolve(name, caller);
    } catch {
      return undefined;
    }
  }

  resolve(name: string, caller: Caller): Target {
    const target =
      this.#exact.get(name) ??
      (this.#wildcard === undefined
        ? undefined
        : { model: name, upstreamModel: name, provider: this.#wildcard });
    if (target === undefined) {
      throw new HttpError(
        404,
        'not_found_error',
        'model_not_found',
        `the model '${name}' does not exist`,
        {
          param: 'model',
        },
      );
    }
    if (caller.models !== undefined && !caller.models.has(name) && !caller.models.has('*')) {
      throw new HttpError(
        403,
        'permission_error',
        'model_not_allowed',
        `this key may not use the model '${name}'`,
        { param: 'model' },
      );
    }
    return target;
  }

  list(caller: Caller): readonly { id: string }[] {
    const allowed = caller.models;
    if (allowed === undefined || allowed.has('*')) return this.#listed;
    return this.#listed.filter((model) => allowed.has(model.id));
  }
}

function buildProvider(config: ProviderConfig): Provider {
  return config.type === 'anthropic' ? anthropicProvider(config) : openAICompatibleProvider(config);
}

function buildCache(config: GatewayConfig): Cache {
  return createCache({
    l1: {
      maxEntries: config.cache.maxEntries,
      maxBytes: config.cache.maxBytes,
      maxEntryBytes: config.cache.maxEntryBytes,
    },
    ...(config.store.redis === undefined
      ? {}
      : { l2: redisStore({ url: config.store.redis, prefix: config.store.prefix }) }),
    ...(config.store.sqlite === false
      ? {}
      : { l3: sqliteStore({ path: config.store.sqlite, prefix: config.store.prefix }) }),
    ttl: config.cache.ttlMs,
  });
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
