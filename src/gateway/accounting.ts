import type { BudgetAdvice, BudgetSubject, Budgets, Reservation } from '../cost/budgets.js';
import { BudgetExceededError } from '../cost/budgets.js';
import type { Ledger } from '../cost/ledger.js';
import type { ModelPrice } from '../cost/prices.js';
import type { CostTracker, RequestCost } from '../cost/tracker.js';
import { RateLimitError, type RateLimiter } from '../routing/rate-limit.js';
import type { Caller } from './auth.js';
import { HttpError } from './errors.js';
import type { Exchange, ExchangeRecord, Usage } from './exchange.js';

/** Where a call goes, as accounting sees it: the model, the provider's name and the price. */
export interface AccountedTarget {
  readonly model: string;
  readonly provider: { readonly name: string };
  /** The deployment's price; undefined: the price table's price of `model`. */
  readonly price?: ModelPrice | undefined;
}

/** The part of a request accounting needs. */
export interface AccountedRequest {
  readonly route: 'chat' | 'embeddings';
  readonly exchange: Exchange;
  readonly caller: Caller;
  readonly namespace: string;
  /** The deployment called (reading it may route the request: only on a miss). */
  readonly target: AccountedTarget;
  /**
   * The model asked for, when `target` is chosen later: a hit, or a request never routed, is
   * recorded against it. Undefined: `target`.
   */
  readonly nominal?: AccountedTarget;
  /** The routed target, once routed (with `nominal`). */
  readonly planned?: AccountedTarget | undefined;
  /** Every deployment the call may end up on (the target first); the reservation covers the dearest. */
  readonly chain?: readonly AccountedTarget[];
  readonly body: Readonly<Record<string, unknown>>;
  readonly priority: 'low' | 'normal' | 'high';
}

export interface AccountingOptions {
  readonly tracker: CostTracker;
  readonly ledger: Ledger | undefined;
  readonly budgets: Budgets | undefined;
  readonly rateLimiter: RateLimiter | undefined;
  readonly onRecord: ((record: ExchangeRecord) => void) | undefined;
  readonly log: (level: 'warn' | 'error', message: string, fields: Record<string, unknown>) => void;
}

/**
 * Money around each request: a budget reservation before the upstream call (the estimated
 * maximum cost), and after the answer one ledger row, written synchronously before the
 * response completes, and the settlement of the reservation to the actual cost.
 */
export class Accounting {
  readonly #tracker: CostTracker;
  readonly #ledger: Ledger | undefined;
  readonly #budgets: Budgets | undefined;
  readonly #rateLimiter: RateLimiter | undefined;
  readonly #onRecord: AccountingOptions['onRecord'];
  readonly #log: AccountingOptions['log'];
  readonly #unknownModels = new Set<string>();
  /**
   * The price of a cached answer's usage, by the usage object: hits from the memory tier share
   * one object, so a hot entry is priced once instead of once per hit.
   */
  readonly #hitPrices = new WeakMap<Usage, { target: AccountedTarget; priced: RequestCost }>();

  constructor(options: AccountingOptions) {
    this.#tracker = options.tracker;
    this.#ledger = options.ledger;
    this.#budgets = options.budgets;
    this.#rateLimiter = options.rateLimiter;
    this.#onRecord = options.onRecord;
    this.#log = options.log;
  }

  get budgets(): Budgets | undefined {
    return this.#budgets;
  }

  get ledger(): Ledger | undefined {
    return this.#ledger;
  }

  get tracker(): CostTracker {
    return this.#tracker;
  }

  /** What `usage` costs on `target`; memoised for cache hits (prices never change). */
  #price(target: AccountedTarget, usage: Usage, hit: boolean): RequestCost {
    if (!hit) return this.#tracker.cost(target.model, usage, target.price);
    const memo = this.#hitPrices.get(usage);
    if (
      memo !== undefined &&
      memo.target.model === target.model &&
      memo.target.price === target.price
    ) {
      return memo.priced;
    }
    const priced = this.#tracker.cost(target.model, usage, target.price);
    this.#hitPrices.set(usage, { target, priced });
    return priced;
  }

  /** Loads token encodings and restores budgets from the ledger, before the first request. */
  async prepare(): Promise<void> {
    this.#tracker.warmUp();
    await this.#budgets?.ready();
  }

  /** What the caller may still spend (nano-dollars), for routing; undefined without budgets. */
  remainingFor(caller: Caller): number | undefined {
    return this.#budgets?.remaining({ key: caller.name, tags: caller.tags });
  }

  /** Soft budget actions for a caller and model (undefined without budgets). */
  advise(caller: Caller, target: AccountedTarget): BudgetAdvice | undefined {
    if (this.#budgets === undefined) return undefined;
    return this.#budgets.advise(subjectOf(caller, target));
  }

  /**
   * Takes the request's place in its rate limits (requests, estimated tokens, concurrency),
   * or throws a 429 `rate_limit_exceeded` `HttpError` with `retry-after` and `ratelimit-*`.
   * The ticket is settled with the actual tokens and released when the request completes.
   * Returns undefined, not a promise, when there is nothing to wait for (no limits, or the
   * request already holds its ticket): the common case costs no microtask.
   */
  limit(request: AccountedRequest): Promise<void> | undefined {
    if (this.#rateLimiter === undefined || request.exchange.rateLimit !== undefined) {
      return undefined;
    }
    return this.#limit(request, this.#rateLimiter);
  }

  async #limit(request: AccountedRequest, limiter: RateLimiter): Promise<void> {
    const exchange = request.exchange;
    const target = request.nominal ?? request.target;
    const model = target.model;
    const estimate = this.#tracker.estimate(model, request.body, target.price);
    try {
      exchange.rateLimit = await limiter.acquire(
        { key: request.caller.name, model, tags: request.caller.tags },
        { estimatedTokens: estimate.promptTokens + estimate.maxOutputTokens * estimate.choices },
      );
    } catch (error) {
      if (error instanceof RateLimitError) {
        throw new HttpError(429, 'rate_limit_exceeded', 'rate_limit_exceeded', error.message, {
          headers: { ...error.headers },
          retryAfterMs: error.retryAfterMs,
          details: { scope: error.scope, limit: error.limit, quota: error.quota },
        });
      }
      throw error;
    }
    Object.assign(exchange.headers, exchange.rateLimit.headers);
  }

  /**
   * Reserves the request's estimated maximum cost in its budgets, or throws a 429
   * `budget_exceeded` / `budget_deferred` `HttpError`. Called right before the upstream call,
   * so cache hits never touch a budget. Returns undefined when there is nothing to wait for
   * (no budgets, or the request already holds its reservation).
   */
  admit(request: AccountedRequest): Promise<void> | undefined {
    if (this.#budgets === undefined || request.exchange.reservation !== undefined) {
      return undefined;
    }
    return this.#admit(request, this.#budgets);
  }

  async #admit(request: AccountedRequest, budgets: Budgets): Promise<void> {
    const exchange = request.exchange;
    let maxCostNanos = 0;
    const seen = new Set<string | ModelPrice>();
    for (const target of request.chain ?? [request.target]) {
      const price = target.price ?? target.model;
      if (seen.has(price)) continue;
      seen.add(price);
      maxCostNanos = Math.max(
        maxCostNanos,
        this.#tracker.estimate(target.model, request.body, target.price).maxCostNanos,
      );
    }
    try {
      exchange.reservation = await budgets.reserve(
        exchange.requestId,
        subjectOf(request.caller, request.target),
        maxCostNanos,
        request.priority,
      );
    } catch (error) {
      if (error instanceof BudgetExceededError) throw budgetError(error);
      throw error;
    }
  }

  /**
   * Records the answered (or failed) request once: a ledger row, the `onRecord` hook, and
   * the settlement of its reservation. Returns the cost in nano-dollars (0 for a hit).
   */
  complete(request: AccountedRequest, status: number, usage: Usage | undefined): number {
    const exchange = request.exchange;
    if (exchange.recorded) return exchange.costNanos;
    exchange.recorded = true;
    const answered = exchange.answeredBy ?? request.planned ?? request.nominal ?? request.target;
    const model = answered.model;
    const hit = exchange.cache === 'hit' || exchange.cache === 'semantic-hit';
    let priced: RequestCost | undefined;
    try {
      priced = usage === undefined ? undefined : this.#price(answered, usage, hit);
    } catch (error) {
      this.#log('warn', 'the upstream reported a malformed usage; recorded at 0 USD', {
        requestId: exchange.requestId,
        model,
        error: (error as Error).message,
      });
    }
    if (
      priced !== undefined &&
      !priced.known &&
      !this.#unknownModels.has(model) &&
      this.#unknownModels.size < 1_000
    ) {
      this.#unknownModels.add(model);
      this.#log('warn', `no price for model '${model}': its calls are recorded at 0 USD`, {
        model,
      });
    }
    const success = status >= 200 && status < 300;
    const costNanos = hit || !success || priced === undefined ? 0 : priced.nanos.total;
    const avoidedNanos = hit && priced !== undefined ? priced.nanos.total : 0;
    exchange.costNanos = costNanos;
    const tokens = priced?.tokens;
    try {
      this.#ledger?.append({
        requestId: exchange.requestId,
        time: Date.now(),
        key: request.caller.name,
        namespace: request.namespace,
        tags: request.caller.tags,
        route: request.route,
        model,
        provider: answered.provider.name,
        status,
        cache: exchange.cache,
        inputTokens: tokens?.inputTokens ?? 0,
        cachedInputTokens: tokens?.cachedInputTokens ?? 0,
        cacheWriteTokens: tokens?.cacheWriteTokens ?? 0,
        outputTokens: tokens?.outputTokens ?? 0,
        reasoningTokens: tokens?.reasoningTokens ?? 0,
        costNanos,
        avoidedNanos,
        durationMs: performance.now() - exchange.startedAt,
      });
    } catch (error) {
      this.#log('error', 'the ledger write failed', {
        requestId: exchange.requestId,
        error: (error as Error).message,
      });
    }
    const reservation = exchange.reservation;
    if (reservation !== undefined) this.#settle(reservation, hit ? 0 : costNanos);
    const ticket = exchange.rateLimit;
    if (ticket !== undefined) {
      const used =
        hit || priced === undefined
          ? 0
          : priced.tokens.inputTokens +
            priced.tokens.cachedInputTokens +
            priced.tokens.cacheWriteTokens +
            priced.tokens.outputTokens +
            priced.tokens.reasoningTokens;
      void ticket.settle(used).finally(() => ticket.release());
    }
    this.#onRecord?.({
      requestId: exchange.requestId,
      route: request.route,
      caller: request.caller.name,
      namespace: request.namespace,
      model,
      provider: answered.provider.name,
      status,
      cache: exchange.cache,
      usage,
      costNanos,
      avoidedNanos,
      durationMs: performance.now() - exchange.startedAt,
    });
    return costNanos;
  }

  #settle(reservation: Reservation, actualNanos: number): void {
    this.#budgets?.settle(reservation, actualNanos).catch((error: unknown) => {
      this.#log('error', 'settling a budget reservation failed', {
        requestId: reservation.requestId,
        error: (error as Error).message,
      });
    });
  }

  async close(): Promise<void> {
    await this.#rateLimiter?.close();
    await this.#budgets?.close();
    this.#ledger?.close();
  }
}

function subjectOf(caller: Caller, target: AccountedTarget): BudgetSubject {
  return {
    key: caller.name,
    model: target.model,
    provider: target.provider.name,
    tags: caller.tags,
  };
}

function budgetError(error: BudgetExceededError): HttpError {
  const retryAfterSeconds = Math.max(1, Math.ceil((error.resetAt - Date.now()) / 1_000));
  return new HttpError(429, 'budget_exceeded', error.code, error.message, {
    headers: { 'retry-after': String(retryAfterSeconds) },
    details: {
      scope: error.scope,
      window: error.window,
      limit_usd: error.limitNanos / 1e9,
      spent_usd: error.spentNanos / 1e9,
      reset_at: new Date(error.resetAt).toISOString(),
    },
  });
}
