import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { type Cache, createCache, redisStore, sqliteStore } from '../cache/index.js';
import { createBudgets } from '../cost/budgets.js';
import { createLedger, ledgerCsvHeader, ledgerCsvLine, type SpendSummary } from '../cost/ledger.js';
import { formatUsd } from '../cost/money.js';
import { createCostTracker } from '../cost/tracker.js';
import { BudgetWindow } from '../cost/windows.js';
import type { Clock } from '../shared/clock.js';
import { GatewayMetrics } from '../telemetry/metrics.js';
import { Accounting } from './accounting.js';
import { type Caller, KeyRing, secretMatches } from './auth.js';
import { parseCacheDirectives } from './cache-control.js';
import {
  type CompletionRequest,
  CompletionService,
  overheadMs,
  type Target,
} from './completions.js';
import {
  type GatewayConfig,
  type GatewayConfigFile,
  isResolvedConfig,
  type ProviderConfig,
  resolveConfig,
} from './config.js';
import { HttpError, invalidRequest } from './errors.js';
import type { Exchange, ExchangeRecord } from './exchange.js';
import type { Provider } from './provider.js';
import { anthropicProvider } from './providers/anthropic.js';
import { openAICompatibleProvider } from './providers/openai-compatible.js';
import { parseChatBody, parseEmbeddingsBody } from './validation.js';

declare module 'fastify' {
  interface FastifyRequest {
    exchange: Exchange;
  }
}

export interface GatewayOptions {
  /**
   * Log output: `true` for JSON lines on stdout at the configured level, `false` for none, or
   * a pino options object. Authorization headers are always redacted.
   * @default true
   */
  logger?: boolean | Record<string, unknown>;
  /** Called once per answered completion or embedding (hits included), for cost tracking. */
  onRecord?: (record: ExchangeRecord) => void;
  /** Use this cache instead of building one from `config.store` (the gateway will not close it). */
  cache?: Cache;
  /** Use these providers instead of building them from `config.providers`. */
  providers?: readonly Provider[];
  /** The clock of budget windows (tests). @default the system clock */
  clock?: Clock;
}

export interface Gateway {
  /** The Fastify instance, for tests (`inject`) and for adding routes. */
  readonly app: FastifyInstance;
  readonly config: GatewayConfig;
  readonly metrics: GatewayMetrics;
  readonly cache: Cache | undefined;
  /** Starts listening on the configured host and port (0 picks a free port). */
  listen(options?: { host?: string; port?: number }): Promise<{ url: string; port: number }>;
  /**
   * Stops accepting connections, lets in-flight requests and streams finish up to
   * `server.shutdownTimeout`, then closes every connection, provider pool and store.
   */
  close(): Promise<void>;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const NAMESPACE = /^[A-Za-z0-9._-]{1,64}$/;

/** Builds the OpenAI-compatible gateway from a configuration (file shape or `loadConfig`'s). */
export function createGateway(
  configInput: GatewayConfig | GatewayConfigFile,
  options: GatewayOptions = {},
): Gateway {
  const config = isResolvedConfig(configInput) ? configInput : resolveConfig(configInput);
  const ownsCache = options.cache === undefined;
  const cache = options.cache ?? (config.cache.enabled ? buildCache(config) : undefined);
  const metrics = new GatewayMetrics(
    cache === undefined
      ? undefined
      : () => {
          const stats = cache.stats();
          return { hits: stats.hits, misses: stats.misses };
        },
  );
  const providers = new Map<string, Provider>();
  for (const provider of options.providers ?? config.providers.map(buildProvider)) {
    providers.set(provider.name, provider);
  }
  const models = new ModelTable(config, providers);
  const keyRing = new KeyRing(config.keys);
  const app = Fastify({
    logger: loggerOptions(options.logger, config.server.logLevel),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.server.bodyLimit,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    keepAliveTimeout: 30_000,
  });
  const log = (
    level: 'info' | 'warn' | 'error',
    message: string,
    fields: Record<string, unknown>,
  ) => {
    app.log[level](fields, message);
  };
  const ledger =
    config.cost.ledger === false
      ? undefined
      : createLedger({ path: config.cost.ledger, durability: config.cost.durability });
  const accounting = new Accounting({
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
  const service = new CompletionService({
    cache,
    ttlMs: config.cache.ttlMs,
    metrics,
    accounting,
  });

  app.decorateRequest('exchange', null as unknown as Exchange);
  // Bodies sent without (or with another) content type are still read as JSON.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('*', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));

  app.addHook('onRequest', (request, reply, done) => {
    const incoming = request.headers['x-request-id'];
    const requestId =
      typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    request.exchange = {
      requestId,
      startedAt: performance.now(),
      caller: undefined,
      route: routeName(request),
      model: 'none',
      cache: 'bypass',
      waitMs: 0,
      reservation: undefined,
      recorded: false,
      costNanos: 0,
    };
    reply.header('x-request-id', requestId);
    done();
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    const exchange = request.exchange;
    reply.header('x-sluice-cache', exchange.cache);
    reply.header('x-sluice-overhead-ms', overheadMs(exchange).toFixed(3));
    if (exchange.recorded) reply.header('x-sluice-cost-usd', formatUsd(exchange.costNanos));
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    observe(metrics, request.exchange, reply.statusCode);
    done();
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const httpError = toHttpError(error);
    if (httpError.status >= 500 && !(error instanceof HttpError)) {
      request.log.error({ err: error, requestId: request.exchange?.requestId }, 'request failed');
    } else if (httpError.status >= 500) {
      request.log.warn(
        { requestId: request.exchange?.requestId, code: httpError.code, status: httpError.status },
        httpError.message,
      );
    }
    void reply.code(httpError.status).headers(httpError.headers).send(httpError.toBody());
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new HttpError(
      404,
      'not_found_error',
      'not_found',
      `no route for ${request.method} ${request.url.split('?')[0]}`,
    );
    void reply.code(404).send(error.toBody());
  });

  const authenticate = (
    request: FastifyRequest,
    _reply: FastifyReply,
    done: (error?: Error) => void,
  ) => {
    try {
      request.exchange.caller = keyRing.authenticate(request.headers.authorization);
      done();
    } catch (error) {
      done(error as Error);
    }
  };
  const authenticateAdmin = (
    request: FastifyRequest,
    _reply: FastifyReply,
    done: (error?: Error) => void,
  ) => {
    if (config.admin === undefined) {
      return done(
        new HttpError(
          404,
          'not_found_error',
          'admin_disabled',
          'the admin API is disabled: configure admin.key',
        ),
      );
    }
    const presented = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
    if (!secretMatches(config.admin.key, presented)) {
      return done(
        new HttpError(
          401,
          'authentication_error',
          'invalid_admin_key',
          'a valid admin key is required',
        ),
      );
    }
    done();
  };

  const completionRequest = (
    request: FastifyRequest,
    route: 'chat' | 'embeddings',
    body: Record<string, unknown> & { model: string },
  ): CompletionRequest => {
    const exchange = request.exchange;
    const caller = exchange.caller as Caller;
    let target = models.resolve(body.model, caller);
    const headers = request.headers;
    let directives = parseCacheDirectives(
      headerValue(headers['cache-control']),
      headerValue(headers['x-sluice-cache-ttl']),
    );
    const advice = accounting.advise(caller, target);
    if (advice !== undefined) {
      if (advice.downgradeTo !== undefined && advice.downgradeTo !== target.model) {
        const cheaper = models.tryResolve(advice.downgradeTo, caller);
        if (cheaper !== undefined) {
          request.log.info(
            { requestId: exchange.requestId, from: target.model, to: cheaper.model },
            'budget action: model downgraded',
          );
          target = cheaper;
        }
      }
      if (advice.preferCache && (!directives.lookup || directives.maxAgeMs !== undefined)) {
        directives = { ...directives, lookup: true, store: true, maxAgeMs: undefined };
      }
    }
    exchange.model = target.model;
    const stream = route === 'chat' && body.stream === true;
    const streamOptions = body.stream_options as { include_usage?: boolean } | null | undefined;
    return {
      route,
      exchange,
      caller,
      namespace: namespaceOf(caller, headerValue(headers['x-sluice-namespace'])),
      target,
      body,
      directives,
      stream,
      includeUsage: streamOptions?.include_usage === true,
      priority: priorityOf(headerValue(headers['x-sluice-priority'])),
    };
  };

  app.post('/v1/chat/completions', { onRequest: authenticate }, async (request, reply) => {
    const completion = completionRequest(request, 'chat', parseChatBody(request.body));
    if (completion.stream) {
      reply.hijack();
      await service.stream(completion, reply.raw);
      observe(metrics, request.exchange, reply.raw.statusCode);
      return;
    }
    const answer = await service.json(completion);
    return reply.code(answer.status).type('application/json').send(answer.body);
  });

  app.post('/v1/embeddings', { onRequest: authenticate }, async (request, reply) => {
    const completion = completionRequest(request, 'embeddings', parseEmbeddingsBody(request.body));
    const answer = await service.json(completion);
    return reply.code(answer.status).type('application/json').send(answer.body);
  });

  app.get('/v1/models', { onRequest: authenticate }, async (request) => {
    return { object: 'list', data: models.list(request.exchange.caller as Caller) };
  });

  app.get('/healthz', async () => ({
    status: 'ok',
    uptimeSeconds: Math.round(process.uptime()),
    cache: cache === undefined ? 'off' : 'on',
    budgets: accounting.budgets?.storeKind ?? 'off',
    ledger: ledger === undefined ? 'off' : 'on',
  }));

  app.get('/metrics', async (_request, reply) => {
    return reply.type(metrics.contentType).send(await metrics.text());
  });

  app.get('/admin/cache/stats', { onRequest: authenticateAdmin }, async () => {
    if (cache === undefined) return { enabled: false };
    return { enabled: true, inFlight: service.inFlight, ...cache.stats() };
  });

  app.post('/admin/cache/clear', { onRequest: authenticateAdmin }, async (request) => {
    if (cache === undefined) return { cleared: false };
    const namespace = (request.body as { namespace?: unknown } | undefined)?.namespace;
    if (namespace === undefined) {
      await cache.clear();
      return { cleared: true, namespace: null };
    }
    if (typeof namespace !== 'string' || !NAMESPACE.test(namespace)) {
      throw invalidRequest('namespace: expected a namespace name', 'namespace');
    }
    await cache.invalidateTags([`ns:${namespace}`]);
    return { cleared: true, namespace };
  });

  const requireLedger = () => {
    if (ledger === undefined) {
      throw new HttpError(
        404,
        'not_found_error',
        'ledger_disabled',
        'the ledger is disabled (cost.ledger: false)',
      );
    }
    return ledger;
  };

  app.get('/admin/budgets', { onRequest: authenticateAdmin }, async () => {
    const budgets = accounting.budgets;
    if (budgets === undefined) return { store: 'off', budgets: [] };
    const statuses = await budgets.status();
    return {
      store: budgets.storeKind,
      budgets: statuses.map((status) => ({
        scope: status.scope,
        window: status.window,
        limit_usd: formatUsd(status.limitNanos),
        spent_usd: formatUsd(status.spentNanos),
        reserved_usd: formatUsd(status.reservedNanos),
        ratio: Number(status.ratio.toFixed(6)),
        window_start: new Date(status.windowStart).toISOString(),
        reset_at: new Date(status.resetAt).toISOString(),
      })),
    };
  });

  app.get('/admin/spend', { onRequest: authenticateAdmin }, async (request) => {
    const query = request.query as Record<string, string | undefined>;
    const range = timeRange(query, config.cost.timeZone);
    const store = requireLedger();
    const by = query.by;
    if (by !== undefined) {
      if (by !== 'key' && by !== 'model' && by !== 'provider') {
        throw invalidRequest("by: expected 'key', 'model' or 'provider'", 'by');
      }
      return {
        from: new Date(range.from).toISOString(),
        to: new Date(range.to).toISOString(),
        by,
        groups: store
          .grouped(by, range.from, range.to)
          .map((group) => ({ name: group.name, ...summaryJson(group) })),
      };
    }
    const scope = query.scope ?? 'global';
    if (!/^(global|(key|model|provider|tag):[^\s,]{1,128})$/.test(scope)) {
      throw invalidRequest(
        'scope: expected global, key:NAME, model:NAME, provider:NAME or tag:NAME',
        'scope',
      );
    }
    return {
      scope,
      from: new Date(range.from).toISOString(),
      to: new Date(range.to).toISOString(),
      ...summaryJson(store.summary(scope, range.from, range.to)),
    };
  });

  app.get('/admin/savings', { onRequest: authenticateAdmin }, async (request) => {
    const range = timeRange(
      request.query as Record<string, string | undefined>,
      config.cost.timeZone,
    );
    const summary = requireLedger().summary('global', range.from, range.to);
    const spentPlusAvoided = summary.costNanos + summary.avoidedNanos;
    return {
      from: new Date(range.from).toISOString(),
      to: new Date(range.to).toISOString(),
      ...summaryJson(summary),
      hit_ratio: summary.requests === 0 ? 0 : Number((summary.hits / summary.requests).toFixed(6)),
      saved_share:
        spentPlusAvoided === 0 ? 0 : Number((summary.avoidedNanos / spentPlusAvoided).toFixed(6)),
    };
  });

  app.get('/admin/ledger', { onRequest: authenticateAdmin }, async (request, reply) => {
    const query = request.query as Record<string, string | undefined>;
    const range = timeRange(query, config.cost.timeZone);
    const limit = query.limit === undefined ? 10_000 : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1_000_000) {
      throw invalidRequest('limit: expected a whole number from 1 to 1000000', 'limit');
    }
    const rows = requireLedger().rows(range.from, range.to, limit);
    if (query.format === 'csv') {
      reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', 'attachment; filename="sluice-ledger.csv"');
      return Readable.from(
        (function* () {
          yield ledgerCsvHeader();
          for (const row of rows) yield ledgerCsvLine(row);
        })(),
      );
    }
    if (query.format !== undefined && query.format !== 'json') {
      throw invalidRequest("format: expected 'json' or 'csv'", 'format');
    }
    return { object: 'list', data: [...rows] };
  });

  let closing: Promise<void> | undefined;
  return {
    app,
    config,
    metrics,
    cache,
    async listen(listenOptions = {}) {
      const host = listenOptions.host ?? config.server.host;
      await accounting.prepare();
      await app.listen({ host, port: listenOptions.port ?? config.server.port });
      if (keyRing.open) {
        app.log.warn(
          `no keys configured: the gateway is OPEN to anyone who can reach ${host} (loopback only); configure keys before exposing it`,
        );
      }
      const port = (app.server.address() as AddressInfo).port;
      const shownHost = host.includes(':') ? `[${host}]` : host;
      return { url: `http://${shownHost}:${port}`, port };
    },
    close() {
      closing ??= (async () => {
        const deadlineAt = Date.now() + config.server.shutdownTimeoutMs;
        const deadline = setTimeout(() => {
          app.server.closeAllConnections();
        }, config.server.shutdownTimeoutMs);
        // A keep-alive connection whose last request ends during the drain is closed as soon
        // as it is idle, not at its keep-alive timeout.
        const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
        deadline.unref();
        sweep.unref();
        try {
          await app.close();
        } finally {
          clearTimeout(deadline);
          clearInterval(sweep);
          const graceMs = Math.max(0, deadlineAt - Date.now());
          await Promise.allSettled(
            [...providers.values()].map((provider) => provider.close(graceMs)),
          );
          if (ownsCache) await cache?.close();
          await accounting.close();
        }
      })();
      return closing;
    },
  };
}

/** Configured models, and where each requested name goes. */
class ModelTable {
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

function loggerOptions(
  logger: GatewayOptions['logger'],
  level: string,
): boolean | Record<string, unknown> {
  if (logger === false) return false;
  const base = logger === true || logger === undefined ? {} : logger;
  return {
    level,
    ...base,
    redact: ['req.headers.authorization', 'headers.authorization', 'apiKey', 'key'],
  };
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

/** `from`/`to` (ISO dates or epoch ms), or `window=daily|weekly|monthly` (the current one). */
function timeRange(
  query: Record<string, string | undefined>,
  timeZone: string,
): { from: number; to: number } {
  const now = Date.now();
  if (query.window !== undefined) {
    if (!['daily', 'weekly', 'monthly'].includes(query.window)) {
      throw invalidRequest("window: expected 'daily', 'weekly' or 'monthly'", 'window');
    }
    const position = new BudgetWindow(query.window as 'daily', timeZone).position(now);
    return { from: position.start, to: position.reset };
  }
  const instant = (value: string | undefined, name: string, fallback: number): number => {
    if (value === undefined || value === '') return fallback;
    const parsed = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
    if (!Number.isFinite(parsed))
      throw invalidRequest(`${name}: expected an ISO date or epoch milliseconds`, name);
    return parsed;
  };
  const from = instant(query.from, 'from', 0);
  const to = instant(query.to, 'to', now + 1);
  if (to < from) throw invalidRequest('to: must not be before from', 'to');
  return { from, to };
}

function summaryJson(summary: SpendSummary) {
  return {
    requests: summary.requests,
    hits: summary.hits,
    cost_usd: formatUsd(summary.costNanos),
    avoided_usd: formatUsd(summary.avoidedNanos),
  };
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

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

function routeName(request: FastifyRequest): string {
  const url = request.routeOptions.url;
  if (url === '/v1/chat/completions') return 'chat';
  if (url === '/v1/embeddings') return 'embeddings';
  return url ?? 'unknown';
}

function observe(metrics: GatewayMetrics, exchange: Exchange | undefined, status: number): void {
  if (exchange === undefined) return;
  const elapsedMs = performance.now() - exchange.startedAt;
  metrics.observeRequest({
    route: exchange.route,
    model: exchange.model,
    status,
    cache: exchange.cache,
    durationSeconds: elapsedMs / 1_000,
    overheadSeconds: Math.max(0, elapsedMs - exchange.waitMs) / 1_000,
  });
}

/** Maps anything thrown while serving a request to one OpenAI-shaped error. */
function toHttpError(error: FastifyError | HttpError): HttpError {
  if (error instanceof HttpError) return error;
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpError(
        413,
        'invalid_request_error',
        'request_too_large',
        'the request body is too large',
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return invalidRequest('the request body is empty; expected a JSON object');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpError(
        415,
        'invalid_request_error',
        'unsupported_media_type',
        'expected a JSON body',
      );
  }
  if (error instanceof SyntaxError || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return invalidRequest(`the request body is not valid JSON: ${error.message}`);
  }
  const status = error.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return new HttpError(status, 'invalid_request_error', 'invalid_request_error', error.message);
  }
  return new HttpError(500, 'server_error', 'internal_error', 'internal error', { cause: error });
}
