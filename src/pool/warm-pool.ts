import { type Clock, systemClock } from '../shared/clock.js';
import { type Duration, parseDuration } from '../shared/duration.js';
import { Emitter } from '../shared/emitter.js';
import { ConfigError, SluiceError } from '../shared/errors.js';
import { type AcquireOptions, isPoolLease, KindPool, type Lease } from './kind-pool.js';
import type { PoolKindOptions } from './options.js';
import type { PoolEvents, PoolKindStats, PoolPlan, WarmPoolStats } from './stats.js';

export interface WarmPoolOptions<Resources extends Record<string, unknown>> {
  /** One entry per kind of resource; the key is the kind's name. */
  kinds: { [Kind in keyof Resources]: PoolKindOptions<Resources[Kind]> };
  /** Where time is read (idle ages, utilization, cooldowns, start times). @default the system clock */
  clock?: Clock;
  /**
   * How often idle eviction, autoscaling and replenishing run; `false` for never (call
   * `maintain()` yourself, e.g. in tests with a `ManualClock`).
   * @default '10s'
   */
  maintenanceInterval?: Duration | false;
}

export interface UseOptions extends AcquireOptions {
  /** Destroy the resource when `work` throws. @default the kind's `destroyOnError` (true) */
  destroyOnError?: boolean;
}

export interface PlanOptions {
  /** Acquires per second the kind is expected to see. */
  expectedRatePerSecond: number;
  /** Extra capacity above the computed need, as a fraction. @default 0.2 */
  headroom?: number;
}

type KindName<Resources> = Extract<keyof Resources, string>;

/**
 * Pools of expensive resources by kind, kept warm: each kind pre-warms to `min` at start,
 * lends a resource already created when it can (a warm start) and creates one when it must
 * (a cold start, counted and timed), validates on borrow, evicts idle resources above its
 * warm target, and autoscales that target between `min` and `max` on utilization with a
 * cooldown.
 */
export class WarmPool<Resources extends Record<string, unknown>> {
  readonly #kinds = new Map<string, KindPool<unknown>>();
  readonly #events = new Emitter<PoolEvents>();
  readonly #initial: Promise<unknown>[] = [];
  #timer: NodeJS.Timeout | undefined;
  #drain: Promise<void> | undefined;

  constructor(options: WarmPoolOptions<Resources>) {
    const kinds = options?.kinds;
    if (kinds === undefined || Object.keys(kinds).length === 0) {
      throw new ConfigError('createWarmPool needs at least one kind in `kinds`');
    }
    const clock = options.clock ?? systemClock;
    for (const [kind, kindOptions] of Object.entries(kinds) as Array<
      [string, PoolKindOptions<unknown>]
    >) {
      this.#kinds.set(kind, new KindPool(kind, kindOptions, clock, this.#events));
    }
    for (const pool of this.#kinds.values()) this.#initial.push(...pool.replenish('prewarm'));
    const interval =
      options.maintenanceInterval === false
        ? undefined
        : parseDuration(options.maintenanceInterval ?? '10s', 'maintenanceInterval');
    if (interval !== undefined) {
      if (interval < 10) throw new ConfigError('maintenanceInterval must be at least 10 ms');
      this.#timer = setInterval(() => this.maintain(), interval);
      this.#timer.unref();
    }
  }

  /** Resolves once the start-up pre-warm settled: `true` if every kind reached its `min`. */
  async ready(): Promise<boolean> {
    await Promise.allSettled(this.#initial);
    return [...this.#kinds.values()].every((pool) => pool.stats().created >= pool.min);
  }

  /**
   * Borrows a resource of `kind`: an idle one (validated first), else a new one while the kind
   * is under `max`, else the first one freed (waiting up to `acquireTimeout`). Rejects with
   * `E_POOL_ACQUIRE_TIMEOUT`, `E_POOL_QUEUE_FULL`, `E_POOL_CREATE`, `E_POOL_CREATE_TIMEOUT`
   * or `E_POOL_DRAINING` (all `SluiceError`s).
   */
  acquire<Kind extends KindName<Resources>>(
    kind: Kind,
    options?: AcquireOptions,
  ): Promise<Lease<Resources[Kind]>> {
    try {
      return this.#pool(kind).acquire(options) as Promise<Lease<Resources[Kind]>>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Returns a lease's resource to its pool (`destroy: true` destroys it instead). */
  release(lease: Lease<unknown>, { destroy = false }: { destroy?: boolean } = {}): void {
    if (!isPoolLease(lease) || this.#kinds.get(lease.kind) !== lease.owner) {
      throw new SluiceError('E_POOL_FOREIGN_LEASE', 'this lease does not come from this pool');
    }
    if (destroy) lease.destroy();
    else lease.release();
  }

  /**
   * Borrows a resource for the duration of `work` and returns it afterwards; if `work` throws,
   * the resource is destroyed (unless `destroyOnError: false`) and the error rethrown.
   */
  async use<Kind extends KindName<Resources>, Value>(
    kind: Kind,
    work: (resource: Resources[Kind], lease: Lease<Resources[Kind]>) => Value | PromiseLike<Value>,
    options: UseOptions = {},
  ): Promise<Value> {
    const pool = this.#pool(kind);
    const lease = (await pool.acquire(options)) as Lease<Resources[Kind]>;
    // `work` may have released or destroyed the lease itself.
    const open = (): boolean => isPoolLease(lease) && !lease.returned;
    let value: Value;
    try {
      value = await work(lease.resource, lease);
    } catch (error) {
      if (open()) {
        if (options.destroyOnError ?? pool.destroyOnError) lease.destroy();
        else lease.release();
      }
      throw error;
    }
    if (open()) lease.release();
    return value;
  }

  /**
   * Sets a kind's warm target (clamped to min..max) now, creating or shedding idle resources;
   * the autoscaler then waits one cooldown before changing it.
   */
  resize(kind: KindName<Resources>, target: number): Promise<void> {
    const pool = this.#pool(kind);
    pool.noteManualScale();
    return Promise.allSettled(pool.resize(target)).then(() => undefined);
  }

  /**
   * A sizing recommendation for expected traffic: resources needed = rate × mean hold time
   * × (1 + headroom) (Little's law), clamped to min..max. Apply it with `resize`.
   */
  plan(kind: KindName<Resources>, options: PlanOptions): PoolPlan {
    return this.#pool(kind).plan(options.expectedRatePerSecond, options.headroom ?? 0.2);
  }

  /** Runs idle eviction, autoscaling and replenishing once, for every kind. */
  maintain(): void {
    for (const pool of this.#kinds.values()) pool.maintain();
  }

  stats(): WarmPoolStats {
    const kinds: Record<string, PoolKindStats> = {};
    let warmStarts = 0;
    let coldStarts = 0;
    for (const [kind, pool] of this.#kinds) {
      const stats = pool.stats();
      kinds[kind] = stats;
      warmStarts += stats.warmStarts;
      coldStarts += stats.coldStarts;
    }
    const starts = warmStarts + coldStarts;
    return { kinds, warmStarts, coldStarts, warmStartRate: starts === 0 ? 0 : warmStarts / starts };
  }

  /** Subscribe to an event; returns the unsubscribe function. */
  on<Name extends keyof PoolEvents>(
    name: Name,
    listener: (payload: PoolEvents[Name]) => void,
  ): () => void {
    return this.#events.on(name, listener);
  }

  /**
   * Shuts the pools down: stops maintenance, refuses waiting and new acquires
   * (`E_POOL_DRAINING`), destroys idle resources, waits up to `timeout` for borrowed ones
   * (destroyed as they come back) and for every destroy to finish.
   */
  drain({ timeout = '30s' }: { timeout?: Duration } = {}): Promise<void> {
    if (this.#drain !== undefined) return this.#drain;
    const timeoutMs = parseDuration(timeout, 'timeout', { allowInfinite: true });
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#drain = Promise.all([...this.#kinds.values()].map((pool) => pool.drain(timeoutMs))).then(
      () => undefined,
    );
    return this.#drain;
  }

  #pool(kind: string): KindPool<unknown> {
    const pool = this.#kinds.get(kind);
    if (pool === undefined) {
      throw new SluiceError(
        'E_POOL_UNKNOWN_KIND',
        `no pool of kind '${kind}'; kinds: ${[...this.#kinds.keys()].join(', ')}`,
      );
    }
    return pool;
  }
}

export function createWarmPool<Resources extends Record<string, unknown>>(
  options: WarmPoolOptions<Resources>,
): WarmPool<Resources> {
  return new WarmPool(options);
}
