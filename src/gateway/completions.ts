import { performance } from 'node:perf_hooks';
import { createEmbeddingsBatcher, type EmbeddingsBatcher } from '../batching/embeddings.js';
import type { Cache } from '../cache/index.js';
import type { SemanticCache, SemanticRequest } from '../semantic/index.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { endUpstreamTrace, startUpstreamTrace } from '../telemetry/tracing.js';
import type { Accounting } from './accounting.js';
import { checkChatCompletion, checkEmbeddings } from './answer-check.js';
import type { Caller } from './auth.js';
import type { CacheDirectives } from './cache-control.js';
import { requestKey } from './cache-key.js';
import type { ModelConfig } from './config.js';
import type { Dispatched, Dispatcher } from './dispatch.js';
import { HttpError, upstreamStreamCut } from './errors.js';
import {
  type CachedAnswer,
  type CachedJson,
  type CachedStream,
  type Exchange,
  type Usage,
  usageOf,
} from './exchange.js';
import { StreamFlight, type StreamListener } from './flight.js';
import { spliceMembers } from './json-splice.js';
import { LARGE_BODY_BYTES, nextTurn } from './large-body.js';
import type { Target } from './model-table.js';
import type { Provider, UpstreamCall, UpstreamResponse } from './provider.js';
import { SseParser, type StreamEvent, sseFrame } from './sse.js';

/** One request as the service needs it, already validated. */
export interface CompletionRequest {
  readonly route: 'chat' | 'embeddings';
  readonly exchange: Exchange;
  readonly caller: Caller;
  /** The caller's namespace, with the `x-sluice-namespace` sub-namespace if given. */
  readonly namespace: string;
  /**
   * The model asked for (after alias resolution and any budget downgrade), as its first
   * deployment: what the exact cache keys on, and what a cache hit is recorded against.
   */
  readonly nominal: Target;
  /**
   * The deployment to call. A configured model is routed when this (or `chain`) is first
   * read, on a miss; the read throws the router's refusal (400 `no_route`, 503 `circuit_open`).
   */
  readonly target: Target;
  /** The target, then the deployments to fall back to (routes, as `target` does). */
  readonly chain: readonly Target[];
  /** The routed target, once routed; reading it never routes. */
  readonly planned: Target | undefined;
  readonly body: Record<string, unknown>;
  readonly directives: CacheDirectives;
  readonly stream: boolean;
  /** The client asked for the usage chunk (`stream_options.include_usage`). */
  readonly includeUsage: boolean;
  /** From `x-sluice-priority`; low-priority work is deferred first when a budget runs low. */
  readonly priority: 'low' | 'normal' | 'high';
  /** Hedge this call (`x-sluice-hedge`); undefined for the configured default. */
  readonly hedge: boolean | undefined;
  /** The body's bytes as received, when they can be forwarded unchanged (no Sluice extension). */
  readonly rawBody?: Buffer | undefined;
}

/**
 * Where a stream is written: an HTTP `ServerResponse` in the gateway, an in-memory sink in the
 * SDK adapters. The subset of `ServerResponse` the service uses.
 */
export interface ResponseSink {
  statusCode: number;
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  setHeader(name: string, value: string): unknown;
  flushHeaders(): void;
  write(chunk: string): boolean;
  end(chunk?: string): unknown;
  /** 'close': the client went away (or the response ended). */
  once(event: 'close', listener: () => void): unknown;
}

/** What the route handler sends for a JSON answer. */
export interface JsonReply {
  readonly status: number;
  readonly body: string;
}

export interface CompletionServiceOptions {
  readonly cache: Cache | undefined;
  readonly ttlMs: number;
  readonly metrics: GatewayMetrics;
  readonly accounting: Accounting;
  readonly dispatcher: Dispatcher;
  /**
   * Merge concurrent embeddings requests for the same model arriving within this many
   * milliseconds into one upstream call; 0 or undefined to send each on its own.
   */
  readonly embeddingsWindowMs?: number;
  /** The semantic cache, and which callers it answers. */
  readonly semantic?: {
    readonly cache: SemanticCache;
    readonly appliesTo: (caller: Caller) => boolean;
  };
}

/**
 * Answers completion and embedding requests from the exact cache or the upstream, with
 * identical concurrent requests sharing one upstream call: in this process through flights
 * (a streaming joiner follows the live stream), across processes through the cache's
 * single-flight lease.
 */
export class CompletionService {
  readonly #cache: Cache | undefined;
  readonly #ttlMs: number;
  readonly #metrics: GatewayMetrics;
  readonly #accounting: Accounting;
  readonly #dispatcher: Dispatcher;
  readonly #semantic: CompletionServiceOptions['semantic'];
  readonly #embeddingsBatcher: EmbeddingsBatcher | undefined;
  /** The deployment chain of each merged-embeddings route (the model's, refreshed per request). */
  readonly #embeddingRoutes = new Map<string, readonly Target[]>();
  readonly #jsonFlights = new Map<string, Promise<CachedJson>>();
  readonly #streamFlights = new Map<string, StreamFlight>();

  constructor(options: CompletionServiceOptions) {
    this.#cache = options.cache;
    this.#ttlMs = options.ttlMs;
    this.#metrics = options.metrics;
    this.#accounting = options.accounting;
    this.#dispatcher = options.dispatcher;
    this.#semantic = options.semantic;
    this.#embeddingsBatcher =
      options.embeddingsWindowMs === undefined || options.embeddingsWindowMs <= 0
        ? undefined
        : createEmbeddingsBatcher({
            window: options.embeddingsWindowMs,
            embed: (model, inputs, parameters) => this.#embedMerged(model, inputs, parameters),
          });
  }

  /** Runs the embeddings calls waiting to be merged. */
  async close(): Promise<void> {
    await this.#embeddingsBatcher?.close();
  }

  /** In-process flights under way (for tests and the dashboard). */
  get inFlight(): number {
    return this.#jsonFlights.size + this.#streamFlights.size;
  }

  /**
   * Answers a non-streaming request. Upstream errors reject with an `HttpError`. (One async
   * frame: the error path is the same function's catch, not a wrapper's.)
   */
  async json(request: CompletionRequest): Promise<JsonReply> {
    try {
      // A large body's estimate (for its rate limit) is counted in a turn of its own.
      if (isLarge(request)) await nextTurn();
      const limited = this.#accounting.limit(request);
      if (limited !== undefined) await limited;
      const { exchange, directives } = request;
      const cache = this.#cache;
      if (cache === undefined || (!directives.lookup && !directives.store)) {
        exchange.cache = 'bypass';
        const answer = await this.#fetchJson(request);
        this.#record(request, answer.status, answer.usage);
        return answer;
      }
      if (isLarge(request)) await nextTurn();
      const key = this.#key(request);
      if (!directives.lookup) {
        exchange.cache = 'bypass';
        const answer = await this.#fetchJson(request);
        await this.#store(request, key, answer);
        this.#record(request, answer.status, answer.usage);
        return answer;
      }
      // Most hits are answered from this process's memory, without a flight or a promise chain.
      const local = cache.getLocal<CachedAnswer>(key);
      if (local?.kind === 'json' && isYoungEnough(local, directives.maxAgeMs)) {
        return this.#hit(request, local);
      }
      if (directives.maxAgeMs !== undefined) {
        const cached = await this.#read(key, directives.maxAgeMs);
        if (cached?.kind === 'json') return this.#hit(request, cached);
      }
      const joined = this.#jsonFlights.get(key);
      if (joined !== undefined) {
        exchange.cache = 'hit';
        const waitStart = performance.now();
        const answer = await joined.finally(() => {
          exchange.waitMs += performance.now() - waitStart;
        });
        this.#record(request, answer.status, answer.usage);
        return answer;
      }
      let fetched = false;
      let semanticHit = false;
      const flight = (async (): Promise<CachedJson> => {
        if (directives.maxAgeMs !== undefined) {
          fetched = true;
          const answer = await this.#fetchJson(request);
          await this.#store(request, key, answer);
          return answer;
        }
        const value = await cache.getOrSet<CachedAnswer>(
          key,
          async (context) => {
            fetched = true;
            const semantic = this.#semanticFor(request);
            if (semantic !== undefined) {
              const found = await semantic.cache
                .lookup(semanticBody(request), { scope: semanticScope(request) })
                .catch(() => undefined);
              if (found?.hit === true) {
                semanticHit = true;
                exchange.headers['x-sluice-similarity'] = found.similarity.toFixed(4);
                const body = JSON.stringify(found.response);
                return {
                  kind: 'json',
                  status: 200,
                  body,
                  createdAt: Date.now(),
                  usage: usageOf(body),
                };
              }
            }
            const answer = await this.#fetchJson(request);
            if (answer.usage !== undefined) context.setCost(tokensOf(answer.usage));
            if (semantic !== undefined) {
              // Off the response path; a failure only costs a future semantic hit.
              void semantic.cache
                .store(semanticBody(request), JSON.parse(answer.body) as unknown, {
                  scope: semanticScope(request),
                  ttl: request.directives.ttlMs ?? this.#ttlMs,
                })
                .catch(() => undefined);
            }
            return answer;
          },
          this.#setOptions(request),
        );
        if (value.kind !== 'json') throw corrupt(key);
        return value;
      })();
      this.#jsonFlights.set(key, flight);
      try {
        const answer = await flight;
        exchange.cache = semanticHit ? 'semantic-hit' : fetched ? 'miss' : 'hit';
        this.#record(request, answer.status, answer.usage);
        return answer;
      } finally {
        this.#jsonFlights.delete(key);
      }
    } catch (error) {
      this.#record(request, error instanceof HttpError ? error.status : 500, undefined);
      throw error;
    }
  }

  /**
   * Answers a streaming request on `response` (already hijacked from the framework). Resolves
   * when the response has ended; never rejects.
   */
  async stream(request: CompletionRequest, response: ResponseSink): Promise<void> {
    const { exchange, directives } = request;
    const cache = this.#cache;
    const responder = new SseResponder(response, exchange, request.includeUsage, (status, usage) =>
      this.#record(request, status, usage),
    );
    try {
      if (isLarge(request)) await nextTurn();
      const limited = this.#accounting.limit(request);
      if (limited !== undefined) await limited;
      if (cache === undefined || !directives.lookup) {
        exchange.cache = 'bypass';
        const key = cache === undefined || !directives.store ? undefined : this.#key(request);
        await this.#streamFromUpstream(request, responder, key);
        return;
      }
      if (isLarge(request)) await nextTurn();
      const key = this.#key(request);
      // As for JSON: this process's memory first (a hit counted, a miss not), then, with
      // max-age, a full read; otherwise getOrSet below reads the other tiers and counts once.
      const local = cache.getLocal<CachedAnswer>(key);
      const cached =
        local !== undefined && isYoungEnough(local, directives.maxAgeMs)
          ? local
          : directives.maxAgeMs !== undefined
            ? await this.#read(key, directives.maxAgeMs)
            : undefined;
      if (cached?.kind === 'stream') {
        exchange.cache = 'hit';
        responder.replay(cached);
        return;
      }
      const joined = this.#streamFlights.get(key);
      if (joined !== undefined) {
        exchange.cache = 'hit';
        const waitStart = performance.now();
        responder.onStart = () => {
          exchange.waitMs += performance.now() - waitStart;
        };
        const leave = joined.join(responder);
        response.once('close', leave);
        await responder.done;
        return;
      }
      exchange.cache = 'miss';
      await this.#streamFromUpstream(request, responder, key);
    } catch (error) {
      responder.fail(toHttpError(error));
    }
  }

  async #streamFromUpstream(
    request: CompletionRequest,
    responder: SseResponder,
    key: string | undefined,
  ): Promise<void> {
    const controller = new AbortController();
    const flight = new StreamFlight(() => controller.abort());
    const { directives, exchange } = request;
    const shared = key !== undefined && directives.lookup;
    if (shared) this.#streamFlights.set(key, flight);
    const leave = flight.join(responder);
    responder.response.once('close', leave);
    try {
      const cache = this.#cache;
      if (shared && cache !== undefined && directives.maxAgeMs === undefined) {
        // Through getOrSet, so that another process's identical stream is waited for.
        let fetched = false;
        const answer = await cache.getOrSet<CachedAnswer | undefined>(
          key,
          async (context) => {
            fetched = true;
            const recorded = await this.#fetchStream(request, flight, controller.signal);
            if (recorded === undefined) context.skip();
            else if (recorded.usage !== undefined) context.setCost(tokensOf(recorded.usage));
            return recorded;
          },
          this.#setOptions(request),
        );
        if (!fetched && answer?.kind === 'stream') {
          exchange.cache = 'hit';
          flight.start();
          for (const event of answer.events) flight.push(event);
          flight.finish(true);
        }
      } else {
        const answer = await this.#fetchStream(request, flight, controller.signal);
        if (answer !== undefined && key !== undefined) await this.#store(request, key, answer);
      }
    } catch (error) {
      flight.fail(toHttpError(error));
    } finally {
      if (shared && this.#streamFlights.get(key) === flight) this.#streamFlights.delete(key);
      if (flight.state === 'pending') {
        flight.fail(toHttpError(new Error('the stream ended without an answer')));
      }
    }
    await responder.done;
  }

  async #fetchJson(request: CompletionRequest): Promise<CachedJson> {
    const large = isLarge(request);
    if (request.route === 'embeddings' && this.#embeddingsBatcher !== undefined && !large) {
      return this.#fetchMergedEmbeddings(request, this.#embeddingsBatcher);
    }
    const admitted = this.#accounting.admit(request);
    if (admitted !== undefined) await admitted;
    if (large) await nextTurn();
    const started = performance.now();
    let waitedMs = 0;
    let dispatched: Dispatched;
    try {
      dispatched = await this.#send(request, undefined);
    } finally {
      waitedMs = performance.now() - started;
      request.exchange.waitMs += waitedMs;
    }
    this.#answered(request, dispatched);
    const { response, text = '' } = dispatched;
    // A stream's upstream time is observed at its end, in #fetchStream.
    this.#metrics.observeUpstream(
      dispatched.target.provider.name,
      dispatched.target.model,
      response.status,
      waitedMs / 1_000,
    );
    // The usage as the answer's check read it (the body is checked whole before it counts).
    const usage = dispatched.checked?.usage;
    this.#countTokens(answeringModel(request), usage);
    return { kind: 'json', status: response.status, body: text, createdAt: Date.now(), usage };
  }

  /**
   * An embeddings request merged with the other embeddings requests for the same model (and
   * dimensions, encoding, input kind) that arrive within the batching window: one upstream
   * call, each caller's vectors and share of the usage split back out. Each request keeps its
   * own budget reservation and ledger row.
   */
  async #fetchMergedEmbeddings(
    request: CompletionRequest,
    batcher: EmbeddingsBatcher,
  ): Promise<CachedJson> {
    const admitted = this.#accounting.admit(request);
    if (admitted !== undefined) await admitted;
    const routeKey = request.target.cacheScope;
    this.#embeddingRoutes.set(routeKey, request.chain);
    const body = request.body as {
      input: string | string[] | number[] | number[][];
      dimensions?: number;
      encoding_format?: 'float' | 'base64';
      user?: string;
    };
    const started = performance.now();
    try {
      const merged = await batcher.embed({
        model: routeKey,
        input: body.input,
        ...(body.dimensions === undefined ? {} : { dimensions: body.dimensions }),
        ...(body.encoding_format === undefined ? {} : { encoding_format: body.encoding_format }),
        ...(body.user === undefined ? {} : { user: body.user }),
      });
      const text = JSON.stringify({ ...merged, model: request.target.upstreamModel });
      const usage = usageOf(text);
      this.#countTokens(request.target.model, usage);
      return { kind: 'json', status: 200, body: text, createdAt: Date.now(), usage };
    } catch (error) {
      throw toHttpError(error);
    } finally {
      request.exchange.waitMs += performance.now() - started;
    }
  }

  /** The one upstream call of a merged embeddings batch, through the dispatcher. */
  async #embedMerged(
    routeKey: string,
    inputs: string[] | number[][],
    parameters: { dimensions?: number; encoding_format?: 'float' | 'base64'; user?: string },
  ): Promise<{
    data: { embedding: number[] | string; index: number }[];
    usage: { prompt_tokens: number; total_tokens: number };
  }> {
    const chain = this.#embeddingRoutes.get(routeKey);
    if (chain === undefined)
      throw new HttpError(
        500,
        'server_error',
        'internal_error',
        'no route for a merged embeddings call',
      );
    const dispatched = await this.#dispatcher.send(
      chain,
      (target, signal) =>
        target.provider.embeddings({
          body: JSON.stringify({ ...parameters, model: target.upstreamModel, input: inputs }),
          ...(signal === undefined ? {} : { signal }),
        }),
      { stream: false, check: checkEmbeddings },
    );
    // Parsed once, by the check.
    return dispatched.checked?.body as {
      data: { embedding: number[] | string; index: number }[];
      usage: { prompt_tokens: number; total_tokens: number };
    };
  }

  /**
   * Runs one upstream stream into `flight`. Returns the recorded answer when the stream
   * completed with `[DONE]` after a `finish_reason`; undefined, and nothing is stored, when it
   * was cut (it ends with an `upstream_stream_cut` error event) or never gave a finish reason
   * (passed on with its `[DONE]`, but not kept).
   */
  async #fetchStream(
    request: CompletionRequest,
    flight: StreamFlight,
    signal: AbortSignal,
  ): Promise<CachedStream | undefined> {
    let response: UpstreamResponse;
    let provider: Provider;
    try {
      const admitted = this.#accounting.admit(request);
      if (admitted !== undefined) await admitted;
      if (isLarge(request)) await nextTurn();
      // The time to the headers, answered or not, is time waiting on the upstream.
      const called = performance.now();
      const dispatched = await this.#send(request, signal).finally(() => {
        request.exchange.waitMs += performance.now() - called;
      });
      this.#answered(request, dispatched);
      response = dispatched.response;
      provider = dispatched.target.provider;
    } catch (error) {
      flight.fail(toHttpError(error));
      return undefined;
    }
    const started = performance.now();
    flight.start();
    const parser = new SseParser();
    let complete = false;
    let finished = false;
    const take = (events: StreamEvent[]): void => {
      for (const event of events) {
        if (event.data === '[DONE]') complete = true;
        else {
          if (!finished && FINISH_REASON.test(event.data)) finished = true;
          flight.push(event);
        }
      }
    };
    try {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>)
        take(parser.push(chunk));
      take(parser.end());
    } catch (error) {
      flight.finish(false, streamCut(provider.name, error));
      return undefined;
    } finally {
      this.#metrics.observeUpstream(
        provider.name,
        answeringModel(request),
        response.status,
        (performance.now() - started) / 1_000,
      );
    }
    if (!complete) {
      flight.finish(
        false,
        upstreamStreamCut(provider.name, 'ended the stream before its end marker (DONE)'),
      );
      return undefined;
    }
    flight.finish(true);
    const usage = usageOfEvents(flight.events);
    this.#countTokens(answeringModel(request), usage);
    // No choice ever finished: an upstream that sends an error event and then [DONE] looks
    // like this. The client has what the upstream sent; the cache keeps none of it.
    if (!finished) return undefined;
    return { kind: 'stream', events: flight.events, createdAt: Date.now(), usage };
  }

  /**
   * Sends the call along its chain of deployments (retries, breakers, fallbacks, hedging), its
   * budget already reserved. Resolves with a 2xx response: its body read for JSON, unread for
   * a stream. Not async: the caller's frame is the only one between it and the dispatcher.
   */
  #send(request: CompletionRequest, signal: AbortSignal | undefined): Promise<Dispatched> {
    const exchange = request.exchange;
    const build = (
      target: Target,
      attemptSignal: AbortSignal | undefined,
    ): Promise<UpstreamResponse> => {
      const traced = startUpstreamTrace(
        exchange.trace,
        request.route,
        target.provider.name,
        target.upstreamModel,
        target.provider.host,
      );
      // One shape for every call (no conditional spreads: each costs a slow object literal).
      const call: UpstreamCall = {
        body: upstreamBodyOf(request, target.upstreamModel),
        requestId: exchange.requestId,
        traceHeaders: traced.headers.length === 0 ? undefined : traced.headers,
        signal: attemptSignal,
        stream: request.stream,
      };
      const sent =
        request.route === 'chat'
          ? target.provider.chatCompletions(call)
          : target.provider.embeddings(call);
      // A span nothing records has nothing to end with: the call's own promise, no frame more.
      if (!traced.span.isRecording()) return sent;
      // Ended at the headers of a stream (its body's time is the request span's), at the
      // whole answer otherwise.
      return sent.then(
        (response) => {
          endUpstreamTrace(traced, response.status);
          return response;
        },
        (error: unknown) => {
          endUpstreamTrace(traced, undefined, error);
          throw error;
        },
      );
    };
    return this.#dispatcher.send(request.chain, build, {
      stream: request.stream,
      signal,
      hedge: request.hedge,
      check: request.stream
        ? undefined
        : request.route === 'chat'
          ? checkChatCompletion
          : checkEmbeddings,
    });
  }

  /** The fallback that answered a dispatched call, if one did, on the exchange. */
  #answered(request: CompletionRequest, dispatched: Dispatched): void {
    if (dispatched.target === request.target) return;
    const exchange = request.exchange;
    exchange.answeredBy = dispatched.target;
    exchange.headers['x-sluice-fallback'] =
      `${dispatched.target.model} (${dispatched.target.provider.name})`;
  }

  /** The semantic cache when it serves this request: chat, not streaming, an enabled caller. */
  #semanticFor(request: CompletionRequest): CompletionServiceOptions['semantic'] {
    const semantic = this.#semantic;
    if (semantic === undefined || request.route !== 'chat' || request.stream) return undefined;
    return semantic.appliesTo(request.caller) ? semantic : undefined;
  }

  #key(request: CompletionRequest): string {
    return requestKey(
      request.route,
      request.namespace,
      request.nominal.cacheScope,
      request.nominal.model,
      request.body,
    );
  }

  async #read(key: string, maxAgeMs: number | undefined): Promise<CachedAnswer | undefined> {
    const cache = this.#cache;
    if (cache === undefined) return undefined;
    const value = (await cache.get(key)) as CachedAnswer | undefined;
    if (value === undefined) return undefined;
    return isYoungEnough(value, maxAgeMs) ? value : undefined;
  }

  async #store(request: CompletionRequest, key: string, answer: CachedAnswer): Promise<void> {
    if (this.#cache === undefined || !request.directives.store) return;
    await this.#cache.set(key, answer, {
      ...this.#setOptions(request),
      ...(answer.usage === undefined ? {} : { cost: tokensOf(answer.usage) }),
    });
  }

  #setOptions(request: CompletionRequest): { ttl: number; tags: string[] } {
    return {
      ttl: request.directives.ttlMs ?? this.#ttlMs,
      tags: namespaceTags(request.caller.namespace, request.namespace),
    };
  }

  #hit(request: CompletionRequest, answer: CachedJson): JsonReply {
    request.exchange.cache = 'hit';
    this.#record(request, answer.status, answer.usage);
    return answer;
  }

  #countTokens(model: string, usage: Usage | undefined): void {
    if (usage === undefined) return;
    const cached = usage.prompt_tokens_details?.cached_tokens ?? 0;
    this.#metrics.countTokens(model, 'prompt', (usage.prompt_tokens ?? 0) - cached);
    this.#metrics.countTokens(model, 'cached_prompt', cached);
    this.#metrics.countTokens(model, 'completion', usage.completion_tokens ?? 0);
    this.#metrics.countTokens(
      model,
      'reasoning',
      usage.completion_tokens_details?.reasoning_tokens ?? 0,
    );
  }

  #record(request: CompletionRequest, status: number, usage: Usage | undefined): void {
    request.exchange.usage = usage;
    this.#accounting.complete(request, status, usage);
  }
}

/**
 * The request as the semantic cache sees it: the resolved model in place of an alias (read
 * from `nominal`, so that a semantic hit is not routed either).
 */
function semanticBody(request: CompletionRequest): SemanticRequest {
  return { ...request.body, model: request.nominal.model } as unknown as SemanticRequest;
}

function semanticScope(request: CompletionRequest): { namespace: string; provider: string } {
  return { namespace: request.namespace, provider: request.nominal.cacheScope };
}

/** Whether a cached answer is at most `maxAgeMs` old (`Cache-Control: max-age`); any if undefined. */
function isYoungEnough(answer: CachedAnswer, maxAgeMs: number | undefined): boolean {
  return maxAgeMs === undefined || Date.now() - answer.createdAt <= maxAgeMs;
}

/** The model that answered (a fallback's, when one did). */
function answeringModel(request: CompletionRequest): string {
  return request.exchange.answeredBy?.model ?? request.target.model;
}

/** Tags every entry with its caller's namespace (and sub-namespace), for per-tenant clears. */
export function namespaceTags(base: string, namespace: string): string[] {
  return base === namespace ? [`ns:${base}`] : [`ns:${base}`, `ns:${namespace}`];
}

/** A cost weight for the cache's eviction policy: the tokens an answer would cost again. */
function tokensOf(usage: Usage): number {
  return (usage.prompt_tokens ?? 0) + 4 * (usage.completion_tokens ?? 0);
}

function usageOfEvents(events: readonly StreamEvent[]): Usage | undefined {
  for (let index = events.length - 1; index >= 0; index--) {
    const event = events[index];
    if (event?.isUsage) return usageOf(event.data);
  }
  return undefined;
}

function corrupt(key: string): HttpError {
  return new HttpError(
    500,
    'server_error',
    'cache_entry_mismatch',
    `cache entry ${key} has the wrong kind`,
  );
}

function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  return new HttpError(500, 'server_error', 'internal_error', 'internal error', { cause: error });
}

/** A chunk in which a choice finished (`"finish_reason":"stop"`, not `null`). */
const FINISH_REASON = /"finish_reason"\s*:\s*"/;

/**
 * The error event of a stream whose body failed after it began: the provider was reached and
 * answered, so this is a cut (a closed or reset connection, or a stall past the body timeout),
 * not an unreachable provider.
 */
function streamCut(provider: string, error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  const code = (error as { code?: unknown } | undefined)?.code;
  return upstreamStreamCut(
    provider,
    code === 'UND_ERR_BODY_TIMEOUT'
      ? 'stopped sending the stream mid-way (body timeout)'
      : 'broke off the stream mid-way (connection closed or reset)',
    error,
  );
}

/** Writes one stream (live or replayed) to a client as SSE. */
class SseResponder implements StreamListener {
  readonly response: ResponseSink;
  readonly done: Promise<void>;
  status = 0;
  onStart: (() => void) | undefined;
  readonly #exchange: Exchange;
  readonly #includeUsage: boolean;
  readonly #onFinish: (status: number, usage: Usage | undefined) => void;
  #usage: string | undefined;
  #resolve!: () => void;

  constructor(
    response: ResponseSink,
    exchange: Exchange,
    includeUsage: boolean,
    onFinish: (status: number, usage: Usage | undefined) => void,
  ) {
    this.response = response;
    this.#exchange = exchange;
    this.#includeUsage = includeUsage;
    this.#onFinish = onFinish;
    this.done = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  start(): void {
    if (this.status !== 0) return;
    this.onStart?.();
    this.status = 200;
    this.#writeHead(200, 'text/event-stream; charset=utf-8');
  }

  event(event: StreamEvent): void {
    if (event.isUsage) {
      this.#usage = event.data;
      if (!this.#includeUsage) return;
    }
    if (!this.response.writableEnded) this.response.write(sseFrame(event.data));
  }

  end(complete: boolean, error?: HttpError): void {
    const failure = complete ? undefined : (error ?? cutError());
    // Sent with a 200, the stream still failed: metrics count it by this error.
    if (failure !== undefined) this.#exchange.failure = failure;
    // The ledger row is written before the last bytes leave.
    this.#onFinish(
      failure === undefined ? 200 : failure.status,
      this.#usage === undefined ? undefined : usageOf(this.#usage),
    );
    if (!this.response.writableEnded) {
      // A cut stream ends with an error event, never with a fake [DONE].
      this.response.end(
        failure === undefined ? 'data: [DONE]\n\n' : sseFrame(JSON.stringify(failure.toBody())),
      );
    }
    this.#resolve();
  }

  fail(error: HttpError): void {
    if (this.status !== 0) {
      this.end(false, error);
      return;
    }
    this.#exchange.failure = error;
    this.status = error.status;
    this.#onFinish(error.status, undefined);
    if (!this.response.headersSent && !this.response.writableEnded) {
      this.#writeHead(error.status, 'application/json; charset=utf-8', error.headers);
      this.response.end(JSON.stringify(error.toBody()));
    }
    this.#resolve();
  }

  replay(answer: CachedStream): void {
    this.start();
    for (const event of answer.events) this.event(event);
    this.end(true);
  }

  #writeHead(
    status: number,
    contentType: string,
    extra: Readonly<Record<string, string>> = {},
  ): void {
    const response = this.response;
    if (response.headersSent) return;
    const exchange = this.#exchange;
    response.statusCode = status;
    response.setHeader('content-type', contentType);
    if (status === 200) response.setHeader('cache-control', 'no-cache');
    response.setHeader('x-request-id', exchange.requestId);
    response.setHeader('x-sluice-cache', exchange.cache);
    response.setHeader('x-sluice-overhead-ms', overheadMs(exchange).toFixed(3));
    for (const [name, value] of Object.entries(exchange.headers)) response.setHeader(name, value);
    for (const [name, value] of Object.entries(extra)) response.setHeader(name, value);
    response.flushHeaders();
  }
}

function cutError(): HttpError {
  const message = 'the upstream stream was cut';
  return new HttpError(502, 'upstream_error', 'upstream_stream_cut', message, { upstream: true });
}

/** Milliseconds spent in Sluice so far: elapsed time minus time waiting on upstreams. */
export function overheadMs(exchange: Exchange): number {
  return Math.max(0, performance.now() - exchange.startedAt - exchange.waitMs);
}

export type { ModelConfig };

/**
 * The body sent to `upstreamModel`: the client's own bytes when nothing in them changes (same
 * model, not a stream, no Sluice extension), else the body re-serialised with the upstream model
 * (and, for streams, usage asked for).
 */
function upstreamBodyOf(request: CompletionRequest, upstreamModel: string): string | Buffer {
  const { body, rawBody } = request;
  if (rawBody !== undefined && !request.stream && upstreamModel === body.model) return rawBody;
  const streamOptions = request.stream
    ? { ...((body.stream_options ?? {}) as Record<string, unknown>), include_usage: true }
    : undefined;
  // A large body keeps its bytes, with only these members rewritten in them.
  if (rawBody !== undefined && isLarge(request)) {
    const members: Record<string, string> = { model: JSON.stringify(upstreamModel) };
    if (streamOptions !== undefined) members.stream_options = JSON.stringify(streamOptions);
    const spliced = spliceMembers(rawBody, members);
    if (spliced !== undefined) return spliced;
  }
  if (streamOptions === undefined) return JSON.stringify({ ...body, model: upstreamModel });
  return JSON.stringify({ ...body, model: upstreamModel, stream_options: streamOptions });
}

/** Whether the request came as a large body (see `LARGE_BODY_BYTES`). */
function isLarge(request: CompletionRequest): boolean {
  return request.rawBody !== undefined && request.rawBody.length >= LARGE_BODY_BYTES;
}
