import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { Redis as RedisClient } from 'ioredis';
import { type Clock, systemClock } from '../shared/clock.js';
import { type Duration, parseDuration } from '../shared/duration.js';
import { Emitter } from '../shared/emitter.js';
import { ConfigError, SluiceError } from '../shared/errors.js';
import { type HealthReporter, unreported } from '../shared/health.js';
import { Allowances } from './allowance.js';
import {
  type BudgetSlot,
  type BudgetStore,
  type BudgetTotals,
  MemoryBudgetStore,
  RedisBudgetStore,
} from './budget-store.js';
import type { Ledger } from './ledger.js';
import { BudgetWindow, ROLLING_SLICES, type WindowSpec } from './windows.js';

/** What a budget does once its spend (settled + reserved) reaches a fraction of its limit. */
export type BudgetActionConfig =
  /** Serve from the cache even when the request asks to bypass it. */
  | { at: number; action: 'prefer-cache' }
  /** Send requests for a model to a cheaper one: `{ 'gpt-4o': 'gpt-4o-mini' }`. */
  | { at: number; action: 'downgrade'; models: Record<string, string> }
  /** Refuse `x-sluice-priority: low` requests until the window resets (429 `budget_deferred`). */
  | { at: number; action: 'defer-low-priority' }
  /** Refuse new calls (429 `budget_exceeded`). Reservations make this exact across processes. */
  | { at: number; action: 'reject' };

export interface BudgetConfig {
  /** `global`, `key:NAME`, `model:NAME`, `provider:NAME` or `tag:NAME`. */
  scope: string;
  /** `daily`, `weekly`, `monthly` (calendar, in `timeZone`) or `{ rolling: '24h' }`. */
  window: WindowSpec;
  /** The limit in US dollars (converted to integer nano-dollars exactly). */
  limitUsd: number | string;
  /**
   * Fractions of the limit that raise a `budget-alert` once per window.
   * @default [0.5, 0.8, 0.9, 1]
   */
  thresholds?: number[];
  /**
   * Graduated actions. A `reject` at 1 is added unless a `reject` is configured.
   * @default [{ at: 1, action: 'reject' }]
   */
  actions?: BudgetActionConfig[];
}

export interface BudgetsOptions {
  budgets: BudgetConfig[];
  /** IANA time zone for calendar windows. @default 'UTC' */
  timeZone?: string;
  /**
   * Redis URL or client: counters shared by every process (atomic Lua reserve/settle).
   * Without it, counters live in this process and are restored from the ledger at start.
   */
  redis?: string | Redis;
  /** Key prefix in Redis. @default 'sluice' */
  prefix?: string;
  /**
   * A reservation never settled (its process died) frees its budget after this long.
   * @default '10m'
   */
  reservationTtl?: Duration;
  /** Restores spend in the current windows from the ledger at start (`ready()`). */
  ledger?: Ledger;
  /** Told when the shared store (Redis) fails and when it answers again. */
  health?: HealthReporter;
  /**
   * With Redis: admit calls against leased slices of each budget (no Redis round trip per
   * call; see `Allowances`), `sliceShare` of the limit at a time; `false` reserves per call.
   * @default { sliceShare: 0.01 }
   */
  leases?: { sliceShare?: number } | false;
  /** POSTs every alert as JSON, retried with backoff. */
  webhook?: { url: string; headers?: Record<string, string>; attempts?: number };
  /** @default the system clock */
  clock?: Clock;
  /** Log lines for alerts and store failures. @default console.warn */
  log?: (level: 'info' | 'warn', message: string, fields: Record<string, unknown>) => void;
}

/** The request a budget decision is about. */
export interface BudgetSubject {
  readonly key: string;
  readonly model: string;
  readonly provider: string;
  readonly tags: readonly string[];
}

export interface BudgetStatus {
  readonly scope: string;
  readonly window: string;
  readonly limitNanos: number;
  readonly spentNanos: number;
  readonly reservedNanos: number;
  /** (spent + reserved) / limit. */
  readonly ratio: number;
  readonly windowStart: number;
  readonly resetAt: number;
}

export interface BudgetAlert {
  readonly scope: string;
  readonly window: string;
  readonly threshold: number;
  readonly limitNanos: number;
  readonly spentNanos: number;
  readonly resetAt: number;
  readonly time: number;
}

/** Soft actions in force for a request, from the latest known spend. */
export interface BudgetAdvice {
  readonly preferCache: boolean;
  /** The model to use instead, when a `downgrade` applies to the requested one. */
  readonly downgradeTo: string | undefined;
  readonly deferLowPriority: boolean;
  /** Reset time of the budget deferring low-priority work. */
  readonly deferUntil: number | undefined;
}

export interface BudgetEvents {
  'budget-alert': BudgetAlert;
  'budget-exceeded': {
    scope: string;
    window: string;
    limitNanos: number;
    spentNanos: number;
    resetAt: number;
  };
}

/** A call's hold on its budgets, from reserve to settle. */
export interface Reservation {
  readonly requestId: string;
  readonly amountNanos: number;
  /** @internal */
  readonly budgets: readonly Budget[];
  /** @internal */
  readonly store: BudgetStore;
  /** @internal Drawn on this process's leased allowances (Redis) rather than reserved per call. */
  readonly leased?: boolean;
  settled: boolean;
}

/** Refused: a budget's spend reached its limit. The gateway answers 429 `budget_exceeded`. */
export class BudgetExceededError extends SluiceError {
  readonly scope: string;
  readonly window: string;
  readonly limitNanos: number;
  readonly spentNanos: number;
  readonly resetAt: number;
  readonly deferred: boolean;

  constructor(
    budget: {
      scope: string;
      window: string;
      limitNanos: number;
      spentNanos: number;
      resetAt: number;
    },
    deferred = false,
  ) {
    super(
      deferred ? 'budget_deferred' : 'budget_exceeded',
      deferred
        ? `budget for ${budget.scope} (${budget.window}) is past its low-priority threshold; retry after the reset`
        : `budget exceeded for ${budget.scope} (${budget.window})`,
      { isRetryable: false },
    );
    this.name = 'BudgetExceededError';
    this.scope = budget.scope;
    this.window = budget.window;
    this.limitNanos = budget.limitNanos;
    this.spentNanos = budget.spentNanos;
    this.resetAt = budget.resetAt;
    this.deferred = deferred;
  }
}

const DEFAULT_THRESHOLDS = [0.5, 0.8, 0.9, 1];
const SCOPE = /^(global|(key|model|provider|tag):[^\s,]{1,128})$/;
const RETAIN_EXTRA_MS = 86_400_000;

/** One configured budget. */
export class Budget {
  readonly id: string;
  readonly scope: string;
  readonly window: BudgetWindow;
  readonly limitNanos: number;
  readonly thresholds: readonly number[];
  readonly rejectAt: number | undefined;
  readonly preferCacheAt: number | undefined;
  readonly deferAt: number | undefined;
  readonly downgrades: readonly { at: number; models: Readonly<Record<string, string>> }[];
  /** The last totals this process saw, for soft actions. */
  latest: BudgetTotals = { spent: 0, reserved: 0 };

  constructor(config: BudgetConfig, index: number, timeZone: string) {
    const at = `budgets.${index}`;
    if (typeof config.scope !== 'string' || !SCOPE.test(config.scope)) {
      throw new ConfigError(
        `${at}.scope: expected global, key:NAME, model:NAME, provider:NAME or tag:NAME, got '${String(config.scope)}'`,
      );
    }
    this.scope = config.scope;
    this.window = new BudgetWindow(config.window, timeZone);
    this.limitNanos = parseUsd(config.limitUsd, `${at}.limitUsd`);
    if (this.limitNanos <= 0) throw new ConfigError(`${at}.limitUsd must be above 0`);
    const thresholds = [...(config.thresholds ?? DEFAULT_THRESHOLDS)].sort(
      (left, right) => left - right,
    );
    for (const threshold of thresholds) {
      if (!(threshold > 0 && threshold <= 10)) {
        throw new ConfigError(
          `${at}.thresholds: expected fractions of the limit above 0, got ${threshold}`,
        );
      }
    }
    this.thresholds = thresholds;
    const actions = config.actions ?? [];
    let rejectAt: number | undefined;
    let preferCacheAt: number | undefined;
    let deferAt: number | undefined;
    const downgrades: { at: number; models: Record<string, string> }[] = [];
    for (const [actionIndex, action] of actions.entries()) {
      if (!(typeof action.at === 'number' && action.at >= 0 && action.at <= 10)) {
        throw new ConfigError(`${at}.actions.${actionIndex}.at: expected a fraction of the limit`);
      }
      switch (action.action) {
        case 'reject':
          rejectAt = Math.min(rejectAt ?? action.at, action.at);
          break;
        case 'prefer-cache':
          preferCacheAt = Math.min(preferCacheAt ?? action.at, action.at);
          break;
        case 'defer-low-priority':
          deferAt = Math.min(deferAt ?? action.at, action.at);
          break;
        case 'downgrade':
          downgrades.push({ at: action.at, models: action.models });
          break;
        default:
          throw new ConfigError(
            `${at}.actions.${actionIndex}.action: expected prefer-cache, downgrade, defer-low-priority or reject`,
          );
      }
    }
    this.rejectAt = actions.some((action) => action.action === 'reject') ? rejectAt : 1;
    this.preferCacheAt = preferCacheAt;
    this.deferAt = deferAt;
    this.downgrades = downgrades.sort((left, right) => right.at - left.at);
    this.id = createHash('sha256')
      .update(`${this.scope}\u0000${this.window.name}\u0000${timeZone}`)
      .digest('base64url')
      .slice(0, 16);
  }

  applies(subject: BudgetSubject): boolean {
    if (this.scope === 'global') return true;
    const separator = this.scope.indexOf(':');
    const name = this.scope.slice(separator + 1);
    switch (this.scope.slice(0, separator)) {
      case 'key':
        return subject.key === name;
      case 'model':
        return subject.model === name;
      case 'provider':
        return subject.provider === name;
      case 'tag':
        return subject.tags.includes(name);
      default:
        return false;
    }
  }

  slot(now: number): BudgetSlot {
    const position = this.window.position(now);
    return {
      id: this.id,
      cutoff: this.rejectAt === undefined ? -1 : Math.ceil(this.rejectAt * this.limitNanos),
      limit: this.limitNanos,
      bucket: position.bucket,
      counted: position.counted,
      window: position.window,
      thresholds: this.thresholds,
      retainMs: Math.max(0, position.reset - now) + (now - position.start) + RETAIN_EXTRA_MS,
    };
  }

  get ratio(): number {
    return (this.latest.spent + this.latest.reserved) / this.limitNanos;
  }
}

/**
 * Budgets per scope and window. A call reserves its estimated maximum cost before it goes
 * upstream and settles to its actual cost after; a budget refuses new reservations once its
 * spend plus open reservations reaches the limit, so spend exceeds a limit by at most one
 * request's reservation, in one process or (with Redis) across many.
 */
export class Budgets {
  readonly budgets: readonly Budget[];
  readonly events = new Emitter<BudgetEvents>();
  readonly #store: BudgetStore;
  readonly #fallback: MemoryBudgetStore;
  readonly #allowances: Allowances | undefined;
  readonly #clock: Clock;
  readonly #reservationTtlMs: number;
  readonly #ledger: Ledger | undefined;
  readonly #webhook: BudgetsOptions['webhook'];
  readonly #log: NonNullable<BudgetsOptions['log']>;
  readonly #pendingWebhooks = new Set<Promise<void>>();
  readonly #health: HealthReporter;
  #ready: Promise<void> | undefined;
  #lastStoreWarning = 0;

  constructor(options: BudgetsOptions) {
    const timeZone = options.timeZone ?? 'UTC';
    this.budgets = options.budgets.map((config, index) => new Budget(config, index, timeZone));
    const ids = new Set<string>();
    for (const budget of this.budgets) {
      if (ids.has(budget.id)) {
        throw new ConfigError(
          `budgets: two budgets for ${budget.scope} with the window ${budget.window.name}`,
        );
      }
      ids.add(budget.id);
    }
    this.#fallback = new MemoryBudgetStore();
    if (options.redis === undefined) this.#store = this.#fallback;
    else if (typeof options.redis === 'string') {
      const client = new RedisClient(options.redis, {
        lazyConnect: false,
        maxRetriesPerRequest: 1,
        enableOfflineQueue: false,
      });
      client.on('error', () => {});
      this.#store = new RedisBudgetStore(client, options.prefix ?? 'sluice', true);
    } else this.#store = new RedisBudgetStore(options.redis, options.prefix ?? 'sluice', false);
    this.#clock = options.clock ?? systemClock;
    this.#reservationTtlMs = parseDuration(options.reservationTtl ?? '10m', 'reservationTtl');
    this.#allowances =
      this.#store instanceof RedisBudgetStore && options.leases !== false
        ? new Allowances(this.#store, this.#reservationTtlMs, options.leases?.sliceShare)
        : undefined;
    this.#ledger = options.ledger;
    this.#health = options.health ?? unreported;
    this.#webhook = options.webhook;
    this.#log =
      options.log ??
      ((level, message, fields) => {
        console.warn(`[sluice] ${level}: ${message} ${JSON.stringify(fields)}`);
      });
  }

  /** Where the counters live. */
  get storeKind(): 'memory' | 'redis' {
    return this.#store.kind;
  }

  /** Restores the current windows' spend from the ledger (once); safe to call repeatedly. */
  ready(): Promise<void> {
    this.#ready ??= this.#restore();
    return this.#ready;
  }

  async #restore(): Promise<void> {
    const store = this.#store;
    if (store instanceof RedisBudgetStore && !(await store.waitReady(5_000))) {
      this.#log(
        'warn',
        'Redis is not reachable: budgets use this process’s own accounting until it is',
        {},
      );
    }
    const ledger = this.#ledger;
    if (ledger === undefined) return;
    try {
      await this.#restoreFrom(ledger);
    } catch (error) {
      // The ledger cannot be opened (a full disk): start with the spend the store holds.
      this.#log('warn', 'budgets could not restore spend from the ledger', {
        error: (error as Error).message,
      });
    }
  }

  async #restoreFrom(ledger: Ledger): Promise<void> {
    const now = this.#clock.now();
    for (const budget of this.budgets) {
      const position = budget.window.position(now);
      const slot = budget.slot(now);
      const spend = new Map<string, number>();
      const sliceMs = budget.window.sliceMs;
      if (sliceMs !== undefined) {
        const firstSlice = Math.floor(now / sliceMs) - ROLLING_SLICES + 1;
        const bySlice = ledger.spendBySlice(budget.scope, firstSlice * sliceMs, sliceMs);
        for (const [slice, cost] of bySlice) spend.set(`r${slice}`, cost);
      } else {
        spend.set(
          position.bucket,
          ledger.summary(budget.scope, position.start, position.reset).costNanos,
        );
      }
      try {
        await this.#store.seed(slot, spend);
      } catch (error) {
        this.#warnStore(error);
      }
      await this.#fallback.seed(slot, spend);
    }
  }

  /** The budgets that apply to a request. */
  applicable(subject: BudgetSubject): Budget[] {
    const found: Budget[] = [];
    for (const budget of this.budgets) if (budget.applies(subject)) found.push(budget);
    return found;
  }

  /**
   * What the caller may still spend, in nano-dollars: the least headroom among the global,
   * key and tag budgets that apply to it (model and provider budgets depend on the route, so
   * they are left to the reservation). Undefined when none applies.
   */
  remaining(subject: { key: string; tags: readonly string[] }): number | undefined {
    let least: number | undefined;
    for (const budget of this.budgets) {
      const kind = budget.scope.slice(0, budget.scope.indexOf(':'));
      if (kind === 'model' || kind === 'provider') continue;
      if (!budget.applies({ key: subject.key, tags: subject.tags, model: '', provider: '' }))
        continue;
      const cutoff = (budget.rejectAt ?? Number.POSITIVE_INFINITY) * budget.limitNanos;
      const headroom = Math.max(0, cutoff - budget.latest.spent - budget.latest.reserved);
      least = least === undefined ? headroom : Math.min(least, headroom);
    }
    return least === undefined || !Number.isFinite(least) ? undefined : least;
  }

  /** Soft actions in force for a request, from the latest spend this process knows. */
  advise(subject: BudgetSubject): BudgetAdvice {
    let preferCache = false;
    let downgradeTo: string | undefined;
    let deferUntil: number | undefined;
    const now = this.#clock.now();
    for (const budget of this.applicable(subject)) {
      const ratio = budget.ratio;
      if (budget.preferCacheAt !== undefined && ratio >= budget.preferCacheAt) preferCache = true;
      if (budget.deferAt !== undefined && ratio >= budget.deferAt) {
        const reset = budget.window.position(now).reset;
        deferUntil = Math.max(deferUntil ?? 0, reset);
      }
      if (downgradeTo === undefined) {
        for (const downgrade of budget.downgrades) {
          const target = downgrade.models[subject.model];
          if (ratio >= downgrade.at && target !== undefined) {
            downgradeTo = target;
            break;
          }
        }
      }
    }
    return { preferCache, downgradeTo, deferLowPriority: deferUntil !== undefined, deferUntil };
  }

  /**
   * Reserves `amountNanos` in every budget of the request, or throws `BudgetExceededError`.
   * `priority: 'low'` requests are refused once a `defer-low-priority` action is in force.
   */
  async reserve(
    requestId: string,
    subject: BudgetSubject,
    amountNanos: number,
    priority: 'low' | 'normal' | 'high' = 'normal',
  ): Promise<Reservation> {
    const budgets = this.applicable(subject);
    const now = this.#clock.now();
    if (priority === 'low') {
      for (const budget of budgets) {
        if (budget.deferAt !== undefined && budget.ratio >= budget.deferAt) {
          throw new BudgetExceededError(this.#describe(budget, now), true);
        }
      }
    }
    const amount = Math.max(0, Math.ceil(amountNanos));
    if (budgets.length === 0)
      return { requestId, amountNanos: amount, budgets, store: this.#store, settled: false };
    const slots = budgets.map((budget) => budget.slot(now));
    const expiresAt = now + this.#reservationTtlMs;
    let store = this.#store;
    let leased = false;
    let outcome: Awaited<ReturnType<BudgetStore['reserve']>>;
    try {
      if (this.#allowances !== undefined) {
        const taken = await this.#allowances.take(slots, amount, now);
        leased = taken.admitted;
        outcome = taken.admitted
          ? {
              admitted: true,
              totals: taken.totals.map(
                (totals, index) => totals ?? (budgets[index] as Budget).latest,
              ),
            }
          : taken;
      } else {
        outcome = await store.reserve(slots, requestId, amount, now, expiresAt);
      }
    } catch (error) {
      this.#warnStore(error);
      store = this.#fallback;
      leased = false;
      outcome = await store.reserve(slots, requestId, amount, now, expiresAt);
    }
    if (store !== this.#fallback) this.#health.ok();
    if (!outcome.admitted) {
      const budget = budgets[outcome.index] as Budget;
      budget.latest = outcome.totals;
      const description = this.#describe(budget, now);
      this.events.emit('budget-exceeded', description);
      throw new BudgetExceededError(description);
    }
    outcome.totals.forEach((totals, index) => {
      const budget = budgets[index] as Budget;
      const unused = leased ? (this.#allowances?.unused(budget.id) ?? 0) : 0;
      budget.latest = {
        spent: totals.spent,
        reserved: Math.max(0, totals.reserved - unused) + (leased ? 0 : amount),
      };
    });
    if (store !== this.#fallback) {
      // Keep local accounting in step, for when the shared store is unreachable.
      await this.#fallback.reserve(
        slots.map((slot) => ({ ...slot, cutoff: -1 })),
        requestId,
        amount,
        now,
        expiresAt,
      );
    }
    return { requestId, amountNanos: amount, budgets, store, leased, settled: false };
  }

  /** Replaces the reservation with the actual cost (0 for a call that cost nothing). */
  async settle(reservation: Reservation, actualNanos: number): Promise<void> {
    if (reservation.settled) return;
    reservation.settled = true;
    if (reservation.budgets.length === 0) return;
    const now = this.#clock.now();
    const slots = reservation.budgets.map((budget) => budget.slot(now));
    const actual = Math.max(0, Math.round(actualNanos));
    let outcome: Awaited<ReturnType<BudgetStore['settle']>>;
    try {
      outcome =
        reservation.leased === true && this.#allowances !== undefined
          ? await this.#allowances.give(slots, reservation.amountNanos, actual, now)
          : await reservation.store.settle(slots, reservation.requestId, actual, now);
    } catch (error) {
      this.#warnStore(error);
      outcome = await this.#fallback.settle(slots, reservation.requestId, actual, now);
    }
    if (reservation.store !== this.#fallback) {
      await this.#fallback.settle(slots, reservation.requestId, actual, now).catch(() => undefined);
    }
    outcome.totals.forEach((totals, index) => {
      const budget = reservation.budgets[index] as Budget;
      const unused = reservation.leased === true ? (this.#allowances?.unused(budget.id) ?? 0) : 0;
      budget.latest = { spent: totals.spent, reserved: Math.max(0, totals.reserved - unused) };
      for (const threshold of outcome.crossed[index] ?? [])
        this.#alert(budget, threshold, totals.spent, now);
    });
  }

  /** Every budget's current spend, reservations and reset time. */
  async status(): Promise<BudgetStatus[]> {
    const now = this.#clock.now();
    const slots = this.budgets.map((budget) => budget.slot(now));
    let totals: readonly BudgetTotals[];
    try {
      await this.#allowances?.flushAll(now, slots);
      totals = await this.#store.totals(slots, now);
    } catch (error) {
      this.#warnStore(error);
      totals = await this.#fallback.totals(slots, now);
    }
    return this.budgets.map((budget, index) => {
      const raw = totals[index] ?? { spent: 0, reserved: 0 };
      // This process's unused leased allowance is not a reservation by any call.
      const current = {
        spent: raw.spent,
        reserved: Math.max(0, raw.reserved - (this.#allowances?.unused(budget.id) ?? 0)),
      };
      budget.latest = current;
      const position = budget.window.position(now);
      return {
        scope: budget.scope,
        window: budget.window.name,
        limitNanos: budget.limitNanos,
        spentNanos: current.spent,
        reservedNanos: current.reserved,
        ratio: (current.spent + current.reserved) / budget.limitNanos,
        windowStart: position.start,
        resetAt: position.reset,
      };
    });
  }

  on<Name extends keyof BudgetEvents>(
    name: Name,
    listener: (payload: BudgetEvents[Name]) => void,
  ): () => void {
    return this.events.on(name, listener);
  }

  /** Waits for webhook deliveries under way, then closes the store. */
  async close(): Promise<void> {
    const now = this.#clock.now();
    await this.#allowances
      ?.release(
        now,
        this.budgets.map((budget) => budget.slot(now)),
      )
      .catch((error: unknown) => this.#warnStore(error));
    await Promise.allSettled([...this.#pendingWebhooks]);
    await this.#store.close();
  }

  #describe(budget: Budget, now: number) {
    return {
      scope: budget.scope,
      window: budget.window.name,
      limitNanos: budget.limitNanos,
      spentNanos: budget.latest.spent,
      resetAt: budget.window.position(now).reset,
    };
  }

  #alert(budget: Budget, threshold: number, spent: number, now: number): void {
    const alert: BudgetAlert = {
      scope: budget.scope,
      window: budget.window.name,
      threshold,
      limitNanos: budget.limitNanos,
      spentNanos: spent,
      resetAt: budget.window.position(now).reset,
      time: now,
    };
    this.events.emit('budget-alert', alert);
    this.#log(
      'warn',
      `budget ${budget.scope} (${budget.window.name}) crossed ${Math.round(threshold * 100)}%`,
      {
        scope: alert.scope,
        window: alert.window,
        threshold,
        spentUsd: alert.spentNanos / 1e9,
        limitUsd: alert.limitNanos / 1e9,
      },
    );
    if (this.#webhook !== undefined && this.#pendingWebhooks.size < 100) {
      const delivery = deliver(this.#webhook, alert, this.#log).finally(() => {
        this.#pendingWebhooks.delete(delivery);
      });
      this.#pendingWebhooks.add(delivery);
    }
  }

  #warnStore(error: unknown): void {
    this.#health.degraded(
      'the budget store is unreachable; this process’s own accounting is used',
      error,
    );
    const now = Date.now();
    if (now - this.#lastStoreWarning < 10_000) return;
    this.#lastStoreWarning = now;
    this.#log('warn', 'budget store unreachable; using this process’s own accounting', {
      error: (error as Error).message,
    });
  }
}

export function createBudgets(options: BudgetsOptions): Budgets {
  return new Budgets(options);
}

/** POSTs an alert, retrying with exponential backoff and jitter; never throws. */
async function deliver(
  webhook: NonNullable<BudgetsOptions['webhook']>,
  alert: BudgetAlert,
  log: NonNullable<BudgetsOptions['log']>,
): Promise<void> {
  const attempts = webhook.attempts ?? 4;
  const body = JSON.stringify({
    type: 'budget-alert',
    ...alert,
    limitUsd: alert.limitNanos / 1e9,
    spentUsd: alert.spentNanos / 1e9,
    resetAt: new Date(alert.resetAt).toISOString(),
    time: new Date(alert.time).toISOString(),
  });
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const response = await fetch(webhook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...webhook.headers },
        body,
        signal: AbortSignal.timeout(5_000),
      });
      await response.arrayBuffer();
      if (response.ok) return;
      if (response.status < 500 && response.status !== 429) {
        log('warn', `budget webhook refused the alert with ${response.status}`, {
          scope: alert.scope,
        });
        return;
      }
    } catch {
      // Retried below.
    }
    if (attempt < attempts) {
      const delay = Math.random() * 250 * 2 ** attempt;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
  log('warn', `budget webhook failed after ${attempts} attempts`, { scope: alert.scope });
}

/** Dollars (number or decimal string) to integer nano-dollars, exactly. */
export function parseUsd(value: number | string, name: string): number {
  const text = typeof value === 'number' ? String(value) : value.trim();
  const match = /^(\d+)(?:\.(\d{1,9}))?$/.exec(text);
  if (match === null) {
    throw new ConfigError(
      `${name} must be a non-negative amount in dollars with at most 9 decimals, got '${text}'`,
    );
  }
  const whole = Number(match[1]);
  const fraction = Number((match[2] ?? '').padEnd(9, '0'));
  const nanos = whole * 1e9 + fraction;
  if (!Number.isSafeInteger(nanos)) throw new ConfigError(`${name} is too large`);
  return nanos;
}
