import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Cache } from '../cache/index.js';
import { formatUsd } from '../cost/money.js';
import type { Clock } from '../shared/clock.js';
import { exceedsJsonDepth, MAX_JSON_DEPTH } from '../shared/json-depth.js';
import { type Activity, createActivity } from '../telemetry/activity.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { endRequestTrace, startRequestTrace } from '../telemetry/tracing.js';
import { registerAdminRoutes } from './admin-routes.js';
import { type Caller, secretMatches } from './auth.js';
import { BodyMemo } from './body-memo.js';
import { type CompletionRequest, type JsonReply, overheadMs } from './completions.js';
import {
  type GatewayConfig,
  type GatewayConfigFile,
  isResolvedConfig,
  resolveConfig,
} from './config.js';
import { checkReferences } from './config-references.js';
import { registerDashboard } from './dashboard.js';
import {
  HttpError,
  invalidRequest,
  jsonTooDeep,
  outcomeOf,
  requestTooLarge,
  shuttingDown,
  storageUnavailable,
} from './errors.js';
import type { Exchange, ExchangeRecord } from './exchange.js';
import { createHttpEdge } from './http-edge.js';
import { LARGE_BODY_BYTES, parseLargeBody } from './large-body.js';
import type { Provider } from './provider.js';
import { createSluice } from './sluice.js';
import { parseChatBody, parseEmbeddingsBody } from './validation.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route needs a virtual key (`Authorization: Bearer`). */
    keyed?: boolean;
  }
  interface FastifyRequest {
    exchange: Exchange;
    /** The request body's bytes as received (JSON bodies). */
    rawBody: Buffer | undefined;
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
const CHAT_ROUTE = '/v1/chat/completions';
const EMBEDDINGS_ROUTE = '/v1/embeddings';
/** Route config of the routes that need a virtual key (checked in the onRequest hook). */
const KEYED = { keyed: true };
const _NAMESPACE = /^[A-Za-z0-9._-]{1,64}$/;

/** Builds the OpenAI-compatible gateway from a configuration (file shape or `loadConfig`'s). */
export function createGateway(
  configInput: GatewayConfig | GatewayConfigFile,
  options: GatewayOptions = {},
): Gateway {
  const config = isResolvedConfig(configInput) ? configInput : resolveConfig(configInput);
  // The gateway's callers are its keys: a scope naming another key or tag never applies.
  checkReferences(config, { callersAreKeys: true });
  // What the server answers before (or instead of) a route: timeouts, malformed HTTP, bad URLs.
  const edge = createHttpEdge(config.server, (error, cause) => {
    app.log.debug({ code: error.code, status: error.status, cause: cause.code }, error.message);
  });
  const app: FastifyInstance = Fastify({
    logger: loggerOptions(options.logger, config.server.logLevel),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.server.bodyLimit,
    forceCloseConnections: 'idle',
    // Answered by the onRequest hook instead, in OpenAI's shape.
    return503OnClosing: false,
    keepAliveTimeout: 30_000,
    ...edge.options,
  });
  const log = (
    level: 'info' | 'warn' | 'error',
    message: string,
    fields: Record<string, unknown>,
  ) => {
    app.log[level](fields, message);
  };
  const sluice = createSluice(config, {
    ...(options.onRecord === undefined ? {} : { onRecord: options.onRecord }),
    ...(options.cache === undefined ? {} : { cache: options.cache }),
    ...(options.providers === undefined ? {} : { providers: options.providers }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    log,
  });
  const { cache, metrics, service, models, keyRing, accounting, ledger } = sluice;
  const activity = createActivity();
  const accessLog: AccessLog | undefined = config.server.accessLog
    ? (fields) => app.log.info(fields, 'request')
    : undefined;
  app.decorateRequest('exchange', null as unknown as Exchange);
  app.decorateRequest('rawBody', undefined);
  // Bodies sent without (or with another) content type are still read as JSON.
  // The body's bytes are kept: a request forwarded unchanged is sent upstream as received,
  // without serialising or encoding it again.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  // A repeated body (what an exact cache hit is) is parsed, validated and keyed once.
  const bodies = new BodyMemo();
  const keepBytes = (
    request: FastifyRequest,
    bytes: Buffer,
    done: (error: Error | null, body?: unknown) => void,
  ) => {
    request.rawBody = bytes;
    const recalled = bodies.recall(bytes);
    if (recalled?.body !== undefined) return done(null, recalled.body);
    // Over several turns of the event loop (see `parseLargeBody`).
    if (bytes.length >= LARGE_BODY_BYTES) return parseLargeBody(bytes, done);
    // fastify's JSON parser reads a Buffer as well (its type says string only).
    parseJson(request, bytes as unknown as string, (error, body) => {
      if (error !== null) return done(error);
      // Checked iteratively before anything recursive (freezing, cache keys) walks the body.
      if (exceedsJsonDepth(body, MAX_JSON_DEPTH)) return done(jsonTooDeep(MAX_JSON_DEPTH));
      done(null, recalled === undefined ? body : bodies.remember(recalled, body));
    });
  };
  app.removeContentTypeParser(['text/plain', 'application/json']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, keepBytes);
  app.addContentTypeParser('*', { parseAs: 'buffer' }, keepBytes);

  // Set as soon as the gateway starts closing.
  let draining = false;
  app.addHook('preClose', (done) => {
    draining = true;
    done();
  });
  // One hook for every request: its id and state, then its virtual key on the routes that
  // take one (`config: KEYED`); one hook call less than a route-level authentication hook.
  app.addHook('onRequest', (request, reply, done) => {
    const incoming = request.headers['x-request-id'];
    const requestId =
      typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const route = routeName(request);
    const exchange = sluice.exchange(requestId, route);
    request.exchange = exchange;
    if (route === 'chat' || route === 'embeddings') {
      exchange.trace = startRequestTrace(route, request.routeOptions.url ?? '', request.headers);
    }
    reply.header('x-request-id', requestId);
    // A request on a connection still open while the gateway drains (fastify adds
    // `connection: close`).
    if (draining) return done(shuttingDown());
    if (request.routeOptions.config?.keyed !== true) return done();
    try {
      exchange.caller = keyRing.authenticate(request.headers.authorization);
    } catch (error) {
      return done(error as Error);
    }
    done();
  });
  // Sluice's headers and the request's metrics, set once, just before the reply is written. The
  // model routes do it in their handlers, and the error and not-found handlers for their own
  // replies: with no onSend hook fastify writes a reply at once, one hook run less per request.
  // Every other route has it as its own onSend hook.
  const finish = (request: FastifyRequest, reply: FastifyReply): void => {
    const exchange = request.exchange;
    if (exchange === null || exchange.finished) return;
    exchange.finished = true;
    reply.header('x-sluice-cache', exchange.cache);
    reply.header('x-sluice-overhead-ms', overheadMs(exchange).toFixed(3));
    if (exchange.recorded) reply.header('x-sluice-cost-usd', formatUsd(exchange.costNanos));
    for (const name in exchange.headers) reply.header(name, exchange.headers[name]);
    // Observed as the response leaves (the socket write excluded).
    observe(metrics, activity, accessLog, exchange, reply.statusCode);
  };
  const finishOnSend = (
    request: FastifyRequest,
    reply: FastifyReply,
    payload: unknown,
    done: (error: Error | null, payload?: unknown) => void,
  ): void => {
    finish(request, reply);
    done(null, payload);
  };
  app.addHook('onRoute', (route) => {
    if (route.url === CHAT_ROUTE || route.url === EMBEDDINGS_ROUTE) return;
    const own = route.onSend === undefined ? [] : [route.onSend].flat();
    route.onSend = [...own, finishOnSend];
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const httpError = edge.refusalOf(request.raw) ?? toHttpError(error, config.server.bodyLimit);
    // The trace id, when a tracer records this request, ties the log line to its trace.
    const span = request.exchange?.trace?.span;
    const traceId = span?.isRecording() === true ? span.spanContext().traceId : undefined;
    if (httpError.status >= 500 && !(error instanceof HttpError)) {
      request.log.error(
        { err: error, requestId: request.exchange?.requestId, traceId },
        'request failed',
      );
    } else if (httpError.status >= 500) {
      request.log.warn(
        {
          requestId: request.exchange?.requestId,
          traceId,
          code: httpError.code,
          status: httpError.status,
        },
        httpError.message,
      );
    }
    if (request.exchange !== null) request.exchange.failure ??= httpError;
    // A refusal sent while the client is still uploading would reach it as a reset: the rest
    // of the body is read (and dropped) first.
    edge.afterBody(request.raw, (close) => {
      reply.code(httpError.status).headers(httpError.headers);
      if (close) reply.header('connection', 'close');
      finish(request, reply);
      void reply.send(httpError.toBody());
    });
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new HttpError(
      404,
      'not_found_error',
      'not_found',
      `no route for ${request.method} ${request.url.split('?')[0]}`,
    );
    edge.afterBody(request.raw, (close) => {
      reply.code(404);
      if (close) reply.header('connection', 'close');
      finish(request, reply);
      void reply.send(error.toBody());
    });
  });

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
    const headers = request.headers;
    return sluice.prepare(request.exchange, route, body, {
      cacheControl: headerValue(headers['cache-control']),
      cacheTtl: headerValue(headers['x-sluice-cache-ttl']),
      namespace: headerValue(headers['x-sluice-namespace']),
      priority: headerValue(headers['x-sluice-priority']),
      minQuality: headerValue(headers['x-sluice-min-quality']),
      maxLatencyMs: headerValue(headers['x-sluice-max-latency-ms']),
      hedge: headerValue(headers['x-sluice-hedge']),
      rawBody: request.rawBody,
    });
  };

  const sendJson = (request: FastifyRequest, reply: FastifyReply, answer: JsonReply) => {
    reply.code(answer.status).type('application/json');
    finish(request, reply);
    return reply.send(answer.body);
  };

  app.post(CHAT_ROUTE, { config: KEYED }, async (request, reply) => {
    const defer = headerValue(request.headers['x-sluice-defer']);
    if (defer !== undefined) {
      const deferred = deferRequest(request, defer, parseChatBody(request.body));
      reply.code(202);
      finish(request, reply);
      return reply.send(deferred);
    }
    const completion = completionRequest(request, 'chat', parseChatBody(request.body));
    if (completion.stream) {
      reply.hijack();
      await service.stream(completion, reply.raw);
      observe(metrics, activity, accessLog, request.exchange, reply.raw.statusCode);
      return;
    }
    return sendJson(request, reply, await service.json(completion));
  });

  app.post(EMBEDDINGS_ROUTE, { config: KEYED }, async (request, reply) => {
    const completion = completionRequest(request, 'embeddings', parseEmbeddingsBody(request.body));
    return sendJson(request, reply, await service.json(completion));
  });

  /**
   * `x-sluice-defer: batch | off-peak`: the request is queued durably instead of answered;
   * 202 with an id to fetch the result from `GET /v1/sluice/deferred/{id}`.
   */
  const deferRequest = (
    request: FastifyRequest,
    mode: string,
    body: Record<string, unknown> & { model: string },
  ) => {
    const queue = sluice.deferred;
    if (queue === undefined) {
      throw invalidRequest(
        'x-sluice-defer: deferred work is not configured (deferred in the configuration)',
        'x-sluice-defer',
      );
    }
    if (mode !== 'batch' && mode !== 'off-peak') {
      throw invalidRequest("x-sluice-defer: expected 'batch' or 'off-peak'", 'x-sluice-defer');
    }
    if (body.stream === true) throw invalidRequest('a deferred request cannot stream', 'stream');
    const caller = request.exchange.caller as Caller;
    const plan = models.plan(body.model, caller, body);
    request.exchange.model = plan.target.model;
    const { sluice: _extension, ...rest } = body;
    let id: string;
    try {
      id = queue.enqueue(
        { ...rest, model: plan.target.upstreamModel },
        { model: plan.target.upstreamModel, mode: mode === 'batch' ? 'batch-api' : 'off-peak' },
      );
    } catch (error) {
      throw (
        storageUnavailable(error) ??
        invalidRequest(`x-sluice-defer: ${(error as Error).message}`, 'x-sluice-defer')
      );
    }
    return { id, object: 'sluice.deferred', status: 'queued', mode };
  };

  app.get('/v1/sluice/deferred/:id', { config: KEYED }, async (request) => {
    const id = (request.params as { id: string }).id;
    const item = sluice.deferred?.get(id);
    if (item === undefined) {
      throw new HttpError(404, 'not_found_error', 'not_found', `no deferred request '${id}'`);
    }
    return { ...item, object: 'sluice.deferred' };
  });

  app.get('/v1/models', { config: KEYED }, async (request) => {
    return { object: 'list', data: models.list(request.exchange.caller as Caller) };
  });

  app.get('/v1/models/:id', { config: KEYED }, async (request) => {
    const id = (request.params as { id: string }).id;
    return models.retrieve(id, request.exchange.caller as Caller);
  });

  // 200 while requests are served; `status: 'degraded'` names the dependencies at fault.
  app.get('/healthz', async () => ({
    ...sluice.health.snapshot(),
    uptimeSeconds: Math.round(process.uptime()),
    cache: cache === undefined ? 'off' : 'on',
    budgets: accounting.budgets?.storeKind ?? 'off',
    ledger: ledger === undefined ? 'off' : 'on',
  }));

  app.get('/metrics', async (_request, reply) => {
    return reply.type(metrics.contentType).send(await metrics.text());
  });

  registerAdminRoutes(app, sluice, authenticateAdmin);
  // The dashboard's data is guarded like the admin API; a gateway running open (no keys,
  // loopback only) without an admin key shows it to whoever may already call it.
  registerDashboard(app, sluice, activity, (request, reply, done) => {
    if (config.admin === undefined && keyRing.open) return done();
    authenticateAdmin(request, reply, done);
  });

  let closing: Promise<void> | undefined;
  return {
    app,
    config,
    metrics,
    cache,
    async listen(listenOptions = {}) {
      const host = listenOptions.host ?? config.server.host;
      await sluice.prepareToServe();
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
          await sluice.close(Math.max(0, deadlineAt - Date.now()));
        }
      })();
      return closing;
    },
  };
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

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

function routeName(request: FastifyRequest): string {
  const url = request.routeOptions.url;
  if (url === CHAT_ROUTE) return 'chat';
  if (url === EMBEDDINGS_ROUTE) return 'embeddings';
  return url ?? 'unknown';
}

/** Writes one access-log line. */
type AccessLog = (fields: Record<string, unknown>) => void;

function observe(
  metrics: GatewayMetrics,
  activity: Activity,
  accessLog: AccessLog | undefined,
  exchange: Exchange | undefined,
  status: number,
): void {
  if (exchange === undefined) return;
  const elapsedMs = performance.now() - exchange.startedAt;
  const overheadMs = Math.max(0, elapsedMs - exchange.waitMs);
  const modelRoute = exchange.route === 'chat' || exchange.route === 'embeddings';
  const failure = exchange.failure;
  const outcome = outcomeOf(status, failure);
  metrics.observeRequest({
    route: exchange.route,
    model: exchange.model,
    status,
    cache: exchange.cache,
    outcome,
    durationSeconds: elapsedMs / 1_000,
    overheadSeconds: overheadMs / 1_000,
  });
  const requestTrace = exchange.trace;
  const span = requestTrace?.span;
  const traced = span?.isRecording() === true;
  // Model traffic, and refusals anywhere (a failed admin login is worth a line).
  const logged = accessLog !== undefined && (modelRoute || status >= 400);
  if (traced || logged) {
    // What the span and the log line share, worked out once and only for them.
    const provider = exchange.answeredBy?.provider.name ?? exchange.provider;
    const caller = exchange.caller?.name;
    const costUsd = exchange.recorded ? formatUsd(exchange.costNanos) : undefined;
    if (logged) {
      // Never the body, never a key: the caller by its key's name (`key` is a redacted field).
      accessLog({
        requestId: exchange.requestId,
        route: exchange.route,
        model: exchange.model === '' ? undefined : exchange.model,
        provider,
        caller,
        status,
        cache: exchange.cache,
        error: failure?.code,
        durationMs: Number(elapsedMs.toFixed(3)),
        overheadMs: Number(overheadMs.toFixed(3)),
        costUsd,
        fallback: exchange.answeredBy?.model,
        traceId: traced ? span.spanContext().traceId : undefined,
      });
    }
    if (traced && requestTrace !== undefined) {
      endRequestTrace(requestTrace, {
        status,
        cache: exchange.cache,
        requestId: exchange.requestId,
        requestModel: exchange.model,
        responseModel:
          exchange.answeredBy?.model ?? (exchange.model === '' ? undefined : exchange.model),
        provider,
        caller,
        costUsd,
        overheadMs,
        inputTokens: exchange.usage?.prompt_tokens,
        outputTokens: exchange.usage?.completion_tokens,
        errorType: status >= 400 ? String(status) : failure?.code,
      });
    }
  }
  // A span nothing records (no SDK registered) is only ended.
  if (!traced) span?.end();
  // The dashboard shows model traffic, not its own polling or scrapes.
  if (modelRoute) {
    activity.record({
      route: exchange.route,
      model: exchange.model,
      status,
      outcome,
      cache: exchange.cache,
      durationMs: elapsedMs,
      overheadMs,
    });
  }
}

/** Maps anything thrown while serving a request to one OpenAI-shaped error. */
function toHttpError(error: FastifyError | HttpError, bodyLimit: number): HttpError {
  if (error instanceof HttpError) return error;
  // The ledger could not be opened (a full disk at start): its rows are held until it can,
  // and what reads it (spend, savings, the dashboard's figures) answers 503 meanwhile.
  const storage = storageUnavailable(error);
  if (storage !== undefined) return storage;
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return requestTooLarge(bodyLimit);
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
