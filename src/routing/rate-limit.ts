/**
 * Rate limits per API key, model and tag: requests per window (RPM), tokens per window (TPM)
 * and requests in flight, in this process or shared by every process through Redis.
 *
 * A request is checked against every rule that matches it, all at once, and admitted only if
 * every rule admits it; when one refuses, whatever the others (and the refusing one) counted
 * is given back, so a refused request never burns quota. Tokens are reserved from an
 * estimate before the call and reconciled with the actual usage after it (`settle`).
 * Counting is optimistic (increment, then give back on refusal), so admissions never exceed a
 * limit, in one process or across many; the price is that a request racing a refused one may
 * see its points for the instant before they are given back, and be refused too.
 *
 * With Redis, a Redis failure never fails a request by itself: the operation falls back to
 * this process's own counters (limits then hold per process) and Redis is retried after a
 * second. The fallback is explicit rather than rate-limiter-flexible's `insuranceLimiter`, so
 * that giving back and settling always reach the store that counted. Concurrency slots in Redis are leases that live holders renew, so the slots of a
 * process that died expire after `concurrencyLeaseTtl` (see `RedisRateLimitStore`).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { type Duration, parseDuration } from '../shared/duration.js';
import { Emitter } from '../shared/emitter.js';
import { ConfigError, SluiceError } from '../shared/errors.js';
import { type HealthReporter, unreported } from '../shared/health.js';
import { positiveInteger } from '../shared/integers.js';
import { unrefWhenIdle } from '../shared/redis-handles.js';
import {
  MemoryRateLimitStore,
  type RateLimitRedisClient,
  type RateLimitStore,
  RedisRateLimitStore,
  type SlotRef,
  type WindowQuota,
} from './rate-limit-store.js';

export type { RateLimitRedisClient } from './rate-limit-store.js';

/** Which limit of a rule refused a request. */
export type RateLimitKind = 'requestsPerMinute' | 'tokensPerMinute' | 'maxConcurrent';

export interface RateLimitRule {
  /**
   * What the rule limits: `key:NAME`, `model:NAME`, `tag:NAME` or `global`; `key:*`,
   * `model:*` and `tag:*` give every key, model or tag its own separate limit.
   */
  scope: string;
  /** Requests admitted per window (one minute by default). */
  requestsPerMinute?: number;
  /** Tokens (estimated, then actual) per window (one minute by default). */
  tokensPerMinute?: number;
  /** Requests in flight at once. */
  maxConcurrent?: number;
}

export interface RateLimiterOptions {
  /** At least one limit per rule; at most one rule per scope. */
  rules: readonly RateLimitRule[];
  /**
   * Redis URL or ioredis client: counters shared by every process. Without it, limits hold
   * per process. A client passed in is never closed by the limiter.
   */
  redis?: string | RateLimitRedisClient;
  /** Told when Redis fails (limits then hold per process) and when it answers again. */
  health?: HealthReporter;
  /**
   * Start of every Redis key (`<prefix>:rl:{<scope>}:rpm|tpm|slots`).
   * @default 'sluice'
   */
  prefix?: string;
  /**
   * Length of the fixed window RPM and TPM count in; the limits are per window, so they are
   * per minute only at the default. Whole seconds.
   * @default '1m'
   */
  window?: Duration;
  /**
   * Longest a Redis operation may take before the limiter decides on this process's own
   * counters instead.
   * @default 100 (ms)
   */
  timeout?: Duration;
  /**
   * Lease of a concurrency slot in Redis: holders renew it every third of this, so a slot
   * whose process died (or stalled this long) frees itself after at most this long.
   * @default '30s'
   */
  concurrencyLeaseTtl?: Duration;
  /**
   * A ticket still holding concurrency slots this long after `acquire` is released
   * automatically (its holder is taken to have lost it), so forgotten releases cannot leak
   * slots.
   * @default '10m'
   */
  maxHold?: Duration;
  /**
   * `retry-after` suggested when a concurrency limit refuses (no window to wait for).
   * @default '1s'
   */
  concurrencyRetryAfter?: Duration;
}

/** The request a rate-limit decision is about. */
export interface RateLimitSubject {
  readonly key: string;
  readonly model: string;
  readonly tags?: readonly string[];
}

export interface AcquireOptions {
  /**
   * Tokens the call may use (prompt plus maximum output), reserved against TPM limits until
   * `settle`. At least 1 is reserved; at most a rule's whole `tokensPerMinute`, so a request
   * larger than the limit still runs, alone in an otherwise empty window.
   * @default 0
   */
  estimatedTokens?: number;
  /** When it aborts, the ticket is released (concurrency slots freed). */
  signal?: AbortSignal;
}

/**
 * `ratelimit-limit`, `ratelimit-remaining` and `ratelimit-reset` (seconds) of the most
 * constraining RPM/TPM rule (IETF RateLimit header fields), and `retry-after` (seconds) on a
 * refusal. Names are lower-case, as Node sends them.
 */
export type RateLimitHeaders = Readonly<Record<string, string>>;

/** An admitted request's hold on its limits, from `acquire` to `settle` and `release`. */
export interface RateLimitTicket {
  /** Headers for the response; empty when no RPM or TPM rule applies. */
  readonly headers: RateLimitHeaders;
  /**
   * Reconciles reserved tokens with the actual usage: gives back the difference when lower,
   * charges the extra when higher (never failing the finished request). Only the first call
   * counts; never rejects.
   */
  settle(actualTokens: number): Promise<void>;
  /** Frees the concurrency slots. Idempotent; never rejects. Call it in a `finally`. */
  release(): Promise<void>;
}

/** Refused by a rate limit; the gateway answers 429 `rate_limit_exceeded` with `headers`. */
export class RateLimitError extends SluiceError {
  /** The limited scope, concrete: `key:team-a` also when the rule is `key:*`. */
  readonly scope: string;
  /** The scope of the rule as configured (`key:*`). */
  readonly rule: string;
  readonly limit: RateLimitKind;
  /** The limit's value: requests or tokens per window, or requests in flight. */
  readonly quota: number;
  readonly retryAfterMs: number;
  /** `retry-after` (whole seconds, rounded up) and the `ratelimit-*` headers. */
  readonly headers: RateLimitHeaders;

  constructor(details: {
    scope: string;
    rule: string;
    limit: RateLimitKind;
    quota: number;
    retryAfterMs: number;
    headers: RateLimitHeaders;
  }) {
    super(
      'rate_limit_exceeded',
      `rate limit exceeded for ${details.scope} (${details.limit}: ${details.quota}); retry after ${details.headers['retry-after']} s`,
      { isRetryable: true },
    );
    this.name = 'RateLimitError';
    this.scope = details.scope;
    this.rule = details.rule;
    this.limit = details.limit;
    this.quota = details.quota;
    this.retryAfterMs = details.retryAfterMs;
    this.headers = details.headers;
  }
}

export interface RateLimiterEvents {
  'rate-limit-exceeded': {
    scope: string;
    rule: string;
    limit: RateLimitKind;
    quota: number;
    retryAfterMs: number;
  };
  /** Redis failed or was too slow; the operation used this process's counters instead. */
  'rate-limit-store-failed': { operation: string; error: unknown };
  /** A ticket outlived `maxHold` and was released by the limiter. */
  'rate-limit-ticket-expired': { scopes: readonly string[]; heldMs: number };
}

/** After a Redis failure, decisions use local counters for this long before Redis is retried. */
const REDIS_RETRY_MS = 1_000;
const SCOPE = /^(global|(key|model|tag):(\*|[^\s*]{1,128}))$/;

interface Rule {
  readonly scope: string;
  readonly dimension: 'global' | 'key' | 'model' | 'tag';
  /** The one name the rule applies to; undefined for `global` and wildcards. */
  readonly name: string | undefined;
  readonly wildcard: boolean;
  readonly requests: WindowQuota | undefined;
  readonly tokens: WindowQuota | undefined;
  readonly maxConcurrent: number | undefined;
}

/** One rule applied to one request: `key:*` for key `a` is the bucket `key:a`. */
interface Bucket {
  readonly rule: Rule;
  /** Concrete scope, `key:a`. */
  readonly scope: string;
  /** Start of the bucket's store keys. */
  readonly keyBase: string;
}

type Check =
  | {
      readonly type: 'window';
      readonly bucket: Bucket;
      readonly limit: 'requestsPerMinute' | 'tokensPerMinute';
      readonly quota: WindowQuota;
      readonly key: string;
      readonly points: number;
    }
  | { readonly type: 'slot'; readonly bucket: Bucket; readonly key: string; readonly max: number };

/** What one check took, to give back or reconcile later. */
interface WindowHold {
  readonly store: RateLimitStore;
  readonly quota: WindowQuota;
  readonly key: string;
  readonly points: number;
  /** Local time the window resets; points are given back only within the same window. */
  readonly resetAt: number;
}

interface SlotHold extends SlotRef {
  readonly store: RateLimitStore;
}

interface Verdict {
  readonly check: Check;
  readonly admitted: boolean;
  /** Quota left: after this request when admitted, before it when refused. */
  readonly remaining: number;
  readonly quota: number;
  readonly resetMs: number;
  readonly window: WindowHold | undefined;
  readonly slot: SlotHold | undefined;
}

function compileRule(config: RateLimitRule, index: number, windowSeconds: number): Rule {
  const at = `rules.${index}`;
  if (typeof config.scope !== 'string' || !SCOPE.test(config.scope)) {
    throw new ConfigError(
      `${at}.scope: expected global, key:NAME, model:NAME, tag:NAME or key:*, model:*, tag:*; got '${String(config.scope)}'`,
    );
  }
  const optional = (value: unknown, name: string): number | undefined =>
    value === undefined ? undefined : positiveInteger(value, `${at}.${name}`);
  const requests = optional(config.requestsPerMinute, 'requestsPerMinute');
  const tokens = optional(config.tokensPerMinute, 'tokensPerMinute');
  const maxConcurrent = optional(config.maxConcurrent, 'maxConcurrent');
  if (requests === undefined && tokens === undefined && maxConcurrent === undefined) {
    throw new ConfigError(
      `${at} (${config.scope}) needs requestsPerMinute, tokensPerMinute or maxConcurrent`,
    );
  }
  const separator = config.scope.indexOf(':');
  const dimension = (
    separator < 0 ? 'global' : config.scope.slice(0, separator)
  ) as Rule['dimension'];
  const name = separator < 0 ? undefined : config.scope.slice(separator + 1);
  const wildcard = name === '*';
  return {
    scope: config.scope,
    dimension,
    name: wildcard ? undefined : name,
    wildcard,
    requests:
      requests === undefined
        ? undefined
        : { id: `${config.scope}:rpm`, points: requests, windowSeconds },
    tokens:
      tokens === undefined
        ? undefined
        : { id: `${config.scope}:tpm`, points: tokens, windowSeconds },
    maxConcurrent,
  };
}

function headersOf(quota: number, remaining: number, resetMs: number): Record<string, string> {
  return {
    'ratelimit-limit': String(quota),
    'ratelimit-remaining': String(Math.max(0, remaining)),
    'ratelimit-reset': String(Math.max(0, Math.ceil(resetMs / 1_000))),
  };
}

/**
 * The verdict closest to exhaustion: least quota left as a share, then the later reset (in
 * whole seconds, as sent), then the first configured.
 */
function mostConstraining(verdicts: readonly Verdict[]): Verdict | undefined {
  let best: Verdict | undefined;
  for (const verdict of verdicts) {
    if (best === undefined) {
      best = verdict;
      continue;
    }
    const share = verdict.remaining / verdict.quota;
    const bestShare = best.remaining / best.quota;
    const later = Math.ceil(verdict.resetMs / 1_000) > Math.ceil(best.resetMs / 1_000);
    if (share < bestShare || (share === bestShare && later)) best = verdict;
  }
  return best;
}

/** What a ticket asks of the limiter that issued it. */
interface TicketOwner {
  reconcile(holds: readonly WindowHold[], actual: number): Promise<void>;
  releaseSlots(ticket: Ticket, slots: readonly SlotHold[]): Promise<void>;
}

class Ticket implements RateLimitTicket {
  readonly headers: RateLimitHeaders;
  readonly acquiredAt = Date.now();
  readonly scopes: readonly string[];
  readonly #owner: TicketOwner;
  readonly #tokens: readonly WindowHold[];
  readonly #slots: readonly SlotHold[];
  #settled = false;
  #released: Promise<void> | undefined;
  #onAbort: (() => void) | undefined;
  #signal: AbortSignal | undefined;

  constructor(
    owner: TicketOwner,
    headers: RateLimitHeaders,
    scopes: readonly string[],
    tokens: readonly WindowHold[],
    slots: readonly SlotHold[],
  ) {
    this.#owner = owner;
    this.headers = headers;
    this.scopes = scopes;
    this.#tokens = tokens;
    this.#slots = slots;
    if (slots.length === 0) this.#released = Promise.resolve();
  }

  get slots(): readonly SlotHold[] {
    return this.#released === undefined ? this.#slots : [];
  }

  releaseOnAbort(signal: AbortSignal): void {
    if (this.#released !== undefined) return;
    this.#signal = signal;
    this.#onAbort = () => void this.release();
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  settle(actualTokens: number): Promise<void> {
    if (this.#settled) return Promise.resolve();
    this.#settled = true;
    const actual = Math.max(0, Math.ceil(Number.isFinite(actualTokens) ? actualTokens : 0));
    return this.#owner.reconcile(this.#tokens, actual);
  }

  release(): Promise<void> {
    if (this.#released === undefined) {
      if (this.#onAbort !== undefined) this.#signal?.removeEventListener('abort', this.#onAbort);
      this.#released = this.#owner.releaseSlots(this, this.#slots);
    }
    return this.#released;
  }
}

/**
 * Requests, tokens and concurrency limits per key, model and tag. See the module comment for
 * the guarantees; `createRateLimiter` builds one.
 */
export class RateLimiter {
  readonly events = new Emitter<RateLimiterEvents>();
  readonly #rules: readonly Rule[];
  readonly #prefix: string;
  readonly #store: RateLimitStore;
  readonly #fallback: MemoryRateLimitStore;
  readonly #maxHoldMs: number;
  readonly #sweepMs: number;
  readonly #concurrencyRetryAfterMs: number;
  /** Tickets holding concurrency slots: renewed (Redis leases) and expired by `#sweep`. */
  readonly #holding = new Set<Ticket>();
  #sweeper: NodeJS.Timeout | undefined;
  readonly #owner: TicketOwner = {
    reconcile: (holds, actual) => this.#reconcile(holds, actual),
    releaseSlots: (ticket, slots) => this.#releaseSlots(ticket, slots),
  };
  #redisRetryAt = 0;
  readonly #health: HealthReporter;
  #closed = false;

  constructor(options: RateLimiterOptions) {
    this.#health = options.health ?? unreported;
    if (!Array.isArray(options.rules)) {
      throw new ConfigError('createRateLimiter needs rules: an array of { scope, limits }');
    }
    const windowMs = parseDuration(options.window ?? '1m', 'window');
    if (windowMs < 1_000 || windowMs % 1_000 !== 0) {
      throw new ConfigError(`window must be whole seconds, at least 1s; got ${windowMs} ms`);
    }
    const rules = options.rules.map((rule, index) => compileRule(rule, index, windowMs / 1_000));
    const scopes = new Set<string>();
    for (const rule of rules) {
      if (scopes.has(rule.scope)) throw new ConfigError(`rules: two rules for ${rule.scope}`);
      scopes.add(rule.scope);
    }
    this.#rules = rules;
    this.#prefix = options.prefix ?? 'sluice';
    if (!/^[^:{}*?[\]\\\s]+$/.test(this.#prefix)) {
      throw new ConfigError(
        `prefix '${this.#prefix}' must be non-empty without ':', braces, glob characters or spaces`,
      );
    }
    const timeoutMs = parseDuration(options.timeout ?? 100, 'timeout');
    const leaseMs = parseDuration(options.concurrencyLeaseTtl ?? '30s', 'concurrencyLeaseTtl');
    if (leaseMs < 100) throw new ConfigError('concurrencyLeaseTtl must be at least 100ms');
    this.#maxHoldMs = parseDuration(options.maxHold ?? '10m', 'maxHold');
    this.#sweepMs = Math.max(1, Math.floor(Math.min(leaseMs / 3, this.#maxHoldMs)));
    this.#concurrencyRetryAfterMs = Math.max(
      1,
      parseDuration(options.concurrencyRetryAfter ?? '1s', 'concurrencyRetryAfter'),
    );
    this.#fallback = new MemoryRateLimitStore();
    if (options.redis === undefined) {
      this.#store = this.#fallback;
    } else if (typeof options.redis === 'string') {
      const client = new Redis(options.redis, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
      });
      // Failures surface through operations and events; an unhandled 'error' would crash.
      client.on('error', () => {});
      // An idle connection does not keep the process alive (a script need not call close()).
      unrefWhenIdle(client);
      this.#store = new RedisRateLimitStore({ client, ownsClient: true, timeoutMs, leaseMs });
    } else {
      this.#store = new RedisRateLimitStore({
        client: options.redis,
        ownsClient: false,
        timeoutMs,
        leaseMs,
      });
    }
  }

  /** Where the counters live (memory is also the fallback while Redis fails). */
  get storeKind(): 'memory' | 'redis' {
    return this.#store.kind;
  }

  /** Resolves true once Redis is connected (at once without Redis), false after `timeoutMs`. */
  ready(timeoutMs = 2_000): Promise<boolean> {
    return this.#store instanceof RedisRateLimitStore
      ? this.#store.ready(timeoutMs)
      : Promise.resolve(true);
  }

  on<Name extends keyof RateLimiterEvents>(
    name: Name,
    listener: (payload: RateLimiterEvents[Name]) => void,
  ): () => void {
    return this.events.on(name, listener);
  }

  /**
   * Admits the request under every matching rule, or rejects with `RateLimitError` having
   * counted nothing. Release the ticket when the request ends, however it ends.
   */
  async acquire(subject: RateLimitSubject, options: AcquireOptions = {}): Promise<RateLimitTicket> {
    if (this.#closed) throw new SluiceError('E_CLOSED', 'the rate limiter is closed');
    options.signal?.throwIfAborted();
    const checks = this.#checks(subject, options.estimatedTokens ?? 0);
    const verdicts = await Promise.all(checks.map((check) => this.#check(check)));
    const refused = verdicts.filter((verdict) => !verdict.admitted);
    if (refused.length > 0) {
      await this.#giveBack(verdicts);
      throw this.#refusal(refused);
    }
    const windows = verdicts.filter((verdict) => verdict.window !== undefined);
    const constraining = mostConstraining(windows);
    const headers =
      constraining === undefined
        ? {}
        : headersOf(constraining.quota, constraining.remaining, constraining.resetMs);
    const tokens: WindowHold[] = [];
    const slots: SlotHold[] = [];
    for (const verdict of verdicts) {
      if (verdict.slot !== undefined) slots.push(verdict.slot);
      else if (verdict.window !== undefined && verdict.check.type === 'window') {
        if (verdict.check.limit === 'tokensPerMinute') tokens.push(verdict.window);
      }
    }
    const scopes = [...new Set(checks.map((check) => check.bucket.scope))];
    const ticket = new Ticket(this.#owner, headers, scopes, tokens, slots);
    if (slots.length > 0) this.#hold(ticket);
    const signal = options.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        await ticket.release();
        signal.throwIfAborted();
      }
      ticket.releaseOnAbort(signal);
    }
    return ticket;
  }

  /** Stops renewing leases, frees every slot still held and disconnects a Redis it created. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#holding].map((ticket) => ticket.release()));
    this.#stopSweeper();
    await this.#store.close();
    await this.#fallback.close();
    this.events.removeAll();
  }

  /** Reconciles a ticket's token reservations with `actual` tokens. */
  async #reconcile(holds: readonly WindowHold[], actual: number): Promise<void> {
    await Promise.all(
      holds.map((hold) => {
        const delta = actual - hold.points;
        // Points reserved in a window that has since reset were freed with it.
        if (delta < 0 && Date.now() >= hold.resetAt) return undefined;
        return this.#quietly('adjust', hold.store.adjust(hold.quota, hold.key, delta));
      }),
    );
  }

  /** Frees a ticket's slots (called once per ticket). */
  async #releaseSlots(ticket: Ticket, slots: readonly SlotHold[]): Promise<void> {
    this.#holding.delete(ticket);
    if (this.#holding.size === 0) this.#stopSweeper();
    await Promise.all(
      slots.map((slot) =>
        this.#quietly('release slot', slot.store.releaseSlot(slot.key, slot.slot)),
      ),
    );
  }

  #checks(subject: RateLimitSubject, estimatedTokens: number): Check[] {
    const tokens = Math.max(1, Math.ceil(Number.isFinite(estimatedTokens) ? estimatedTokens : 0));
    const checks: Check[] = [];
    for (const bucket of this.#buckets(subject)) {
      const { rule, keyBase } = bucket;
      if (rule.requests !== undefined) {
        checks.push({
          type: 'window',
          bucket,
          limit: 'requestsPerMinute',
          quota: rule.requests,
          key: `${keyBase}:rpm`,
          points: 1,
        });
      }
      if (rule.tokens !== undefined) {
        checks.push({
          type: 'window',
          bucket,
          limit: 'tokensPerMinute',
          quota: rule.tokens,
          key: `${keyBase}:tpm`,
          points: Math.min(tokens, rule.tokens.points),
        });
      }
      if (rule.maxConcurrent !== undefined) {
        checks.push({ type: 'slot', bucket, key: `${keyBase}:slots`, max: rule.maxConcurrent });
      }
    }
    return checks;
  }

  #buckets(subject: RateLimitSubject): Bucket[] {
    const buckets: Bucket[] = [];
    const add = (rule: Rule, value: string | undefined) => {
      const scope = value === undefined ? rule.scope : `${rule.dimension}:${value}`;
      const id = rule.wildcard ? `${rule.scope}:${value}` : rule.scope;
      buckets.push({ rule, scope, keyBase: `${this.#prefix}:rl:{${id}}` });
    };
    const tags = new Set(subject.tags ?? []);
    for (const rule of this.#rules) {
      switch (rule.dimension) {
        case 'global':
          add(rule, undefined);
          break;
        case 'key':
        case 'model': {
          const value = rule.dimension === 'key' ? subject.key : subject.model;
          if (rule.wildcard) add(rule, value);
          else if (rule.name === value) add(rule, undefined);
          break;
        }
        case 'tag':
          if (rule.wildcard) for (const tag of tags) add(rule, tag);
          else if (rule.name !== undefined && tags.has(rule.name)) add(rule, undefined);
          break;
      }
    }
    return buckets;
  }

  async #check(check: Check): Promise<Verdict> {
    if (check.type === 'slot') {
      const slot = randomUUID();
      const { store, value } = await this.#decide('acquire slot', (target) =>
        target.acquireSlot(check.key, check.max, slot),
      );
      return {
        check,
        admitted: value.admitted,
        remaining: check.max - value.held,
        quota: check.max,
        resetMs: this.#concurrencyRetryAfterMs,
        window: undefined,
        slot: value.admitted ? { store, key: check.key, slot } : undefined,
      };
    }
    const { store, value } = await this.#decide('consume', (target) =>
      target.consume(check.quota, check.key, check.points),
    );
    const counted = value.admitted ? value.consumed : value.consumed - check.points;
    return {
      check,
      admitted: value.admitted,
      remaining: check.quota.points - counted,
      quota: check.quota.points,
      resetMs: value.msBeforeReset,
      // A refused consume is counted too: it is given back like the admitted ones.
      window: {
        store,
        quota: check.quota,
        key: check.key,
        points: check.points,
        resetAt: Date.now() + value.msBeforeReset,
      },
      slot: undefined,
    };
  }

  /** Runs an admission step on Redis, or on local counters while Redis fails. */
  async #decide<T>(
    operation: string,
    run: (store: RateLimitStore) => Promise<T>,
  ): Promise<{ store: RateLimitStore; value: T }> {
    const store = this.#store;
    if (store !== this.#fallback && Date.now() >= this.#redisRetryAt) {
      try {
        const value = await run(store);
        this.#health.ok();
        return { store, value };
      } catch (error) {
        this.#redisRetryAt = Date.now() + REDIS_RETRY_MS;
        this.#health.degraded(
          'the rate-limit store is unreachable; limits hold per process',
          error,
        );
        this.events.emit('rate-limit-store-failed', { operation, error });
      }
    }
    return { store: this.#fallback, value: await run(this.#fallback) };
  }

  /** Runs a follow-up (give back, reconcile, renew, release) that must never fail a request. */
  async #quietly(operation: string, work: Promise<unknown>): Promise<void> {
    try {
      await work;
    } catch (error) {
      this.events.emit('rate-limit-store-failed', { operation, error });
    }
  }

  /** Undoes everything a refused request counted, in the store that counted it. */
  async #giveBack(verdicts: readonly Verdict[]): Promise<void> {
    const now = Date.now();
    await Promise.all(
      verdicts.map((verdict) => {
        const { window, slot } = verdict;
        if (slot !== undefined) {
          return this.#quietly('release slot', slot.store.releaseSlot(slot.key, slot.slot));
        }
        if (window !== undefined && now < window.resetAt) {
          return this.#quietly(
            'adjust',
            window.store.adjust(window.quota, window.key, -window.points),
          );
        }
        return undefined;
      }),
    );
  }

  #refusal(refused: readonly Verdict[]): RateLimitError {
    // The request can run only once every refusing limit has room: wait for the last.
    let worst = refused[0] as Verdict;
    for (const verdict of refused) if (verdict.resetMs > worst.resetMs) worst = verdict;
    const retryAfterMs = Math.max(1, worst.resetMs);
    const { check } = worst;
    const limit = check.type === 'slot' ? 'maxConcurrent' : check.limit;
    const details = {
      scope: check.bucket.scope,
      rule: check.bucket.rule.scope,
      limit,
      quota: worst.quota,
      retryAfterMs,
    } as const;
    this.events.emit('rate-limit-exceeded', details);
    return new RateLimitError({
      ...details,
      headers: {
        'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1_000))),
        ...headersOf(worst.quota, worst.remaining, retryAfterMs),
      },
    });
  }

  #hold(ticket: Ticket): void {
    this.#holding.add(ticket);
    if (this.#sweeper === undefined) {
      this.#sweeper = setInterval(() => this.#sweep(), this.#sweepMs);
      this.#sweeper.unref();
    }
  }

  #stopSweeper(): void {
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  /** Renews the Redis leases of live tickets and releases tickets held past `maxHold`. */
  #sweep(): void {
    const now = Date.now();
    const leases: SlotRef[] = [];
    let leaseStore: RateLimitStore | undefined;
    for (const ticket of this.#holding) {
      const heldMs = now - ticket.acquiredAt;
      if (heldMs >= this.#maxHoldMs) {
        this.events.emit('rate-limit-ticket-expired', { scopes: ticket.scopes, heldMs });
        void ticket.release();
        continue;
      }
      for (const slot of ticket.slots) {
        if (slot.store !== this.#fallback) {
          leases.push(slot);
          leaseStore = slot.store;
        }
      }
    }
    if (leaseStore !== undefined) void this.#quietly('renew slots', leaseStore.renewSlots(leases));
  }
}

/** Builds a rate limiter; see `RateLimiterOptions` and `RateLimiter`. */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  return new RateLimiter(options);
}
