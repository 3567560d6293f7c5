import type { Clock } from '../shared/clock.js';
import { parseDuration } from '../shared/duration.js';
import type { Emitter } from '../shared/emitter.js';
import { ConfigError, SluiceError } from '../shared/errors.js';
import { nonNegativeInteger, positiveInteger } from '../shared/integers.js';
import { LatencyHistogram, withTimeout } from '../telemetry/latency.js';
import type { PoolKindOptions, ResourceContext } from './options.js';
import type { DurationSummary, PoolEvents, PoolKindStats, PoolPlan } from './stats.js';

/** A borrowed resource. Give it back with `release()` (or `destroy()` if it is broken). */
export interface Lease<Resource> {
  readonly kind: string;
  readonly resource: Resource;
  /** The resource existed before this acquire (false: the acquire waited for a creation). */
  readonly warm: boolean;
  /** Milliseconds from `acquire` to holding the resource. */
  readonly startMs: number;
  /** Returns the resource to the pool. Throws `E_POOL_LEASE_RELEASED` the second time. */
  release(): void;
  /** Destroys the resource instead of returning it. */
  destroy(): void;
}

export interface AcquireOptions {
  /** Overrides the kind's `acquireTimeout`. */
  timeout?: number | string;
  /** Stops waiting (rejects with the signal's reason). */
  signal?: AbortSignal;
  /**
   * When callers wait, higher priorities are served first (first come first served within
   * a priority).
   * @default 0
   */
  priority?: number;
}

interface Slot<Resource> {
  readonly resource: Resource;
  /** Order in which resources finished being created (1, 2, ...): tells warm from cold. */
  readonly serial: number;
  idleSince: number;
  borrowedAt: number;
}

/** What a waiting acquire is handed: a resource, or room (already reserved) to create one. */
type Grant<Resource> = { type: 'resource'; slot: Slot<Resource> } | { type: 'capacity' };

interface Waiter<Resource> {
  readonly priority: number;
  grant(grant: Grant<Resource>): void;
  fail(error: unknown): void;
}

type DestroyReason = PoolEvents['pool-resource-destroy']['reason'];
type CreateReason = PoolEvents['pool-resource-create']['reason'];

/** setTimeout cannot wait longer than this. */
const MAX_TIMER_MS = 2_147_483_647;

function fraction(value: number, name: string): number {
  if (!(value >= 0 && value <= 10) || !Number.isFinite(value)) {
    throw new ConfigError(`${name} must be a utilization from 0 to 10, got ${value}`);
  }
  return value;
}

function durations(histogram: LatencyHistogram): DurationSummary {
  const summary = histogram.summary();
  return {
    count: summary.count,
    p50Ms: summary.p50Ms,
    p95Ms: summary.p95Ms,
    meanMs: summary.meanMs,
    maxMs: summary.maxMs,
  };
}

class PoolLease<Resource> implements Lease<Resource> {
  readonly kind: string;
  readonly resource: Resource;
  readonly warm: boolean;
  readonly startMs: number;
  /** @internal */
  readonly owner: KindPool<Resource>;
  /** @internal */
  readonly slot: Slot<Resource>;
  /** @internal */
  returned = false;

  constructor(owner: KindPool<Resource>, slot: Slot<Resource>, warm: boolean, startMs: number) {
    this.owner = owner;
    this.kind = owner.kind;
    this.slot = slot;
    this.resource = slot.resource;
    this.warm = warm;
    this.startMs = startMs;
  }

  release(): void {
    this.owner.release(this, false);
  }

  destroy(): void {
    this.owner.release(this, true);
  }
}

export function isPoolLease(value: unknown): value is PoolLease<unknown> {
  return value instanceof PoolLease;
}

/**
 * The pool of one kind. Invariant: `size = idle + borrowed + creating + inTransit ≤ max`;
 * capacity freed while callers wait goes to the first waiter (FIFO, no barging).
 */
export class KindPool<Resource> {
  readonly kind: string;
  readonly min: number;
  readonly max: number;
  target: number;

  readonly #options: PoolKindOptions<Resource>;
  readonly #clock: Clock;
  readonly #events: Emitter<PoolEvents>;
  readonly #acquireTimeoutMs: number;
  readonly #createTimeoutMs: number;
  readonly #destroyTimeoutMs: number;
  readonly #validateTimeoutMs: number;
  readonly #validateOnBorrow: boolean;
  readonly #idleTimeoutMs: number;
  readonly #maxWaiting: number;
  readonly destroyOnError: boolean;
  readonly #autoscale:
    | { up: number; down: number; upStep: number; downStep: number; cooldownMs: number }
    | undefined;

  /** Idle resources, oldest-idle first; borrowing takes the most recently used (LIFO). */
  readonly #idle: Slot<Resource>[] = [];
  readonly #borrowed = new Set<Slot<Resource>>();
  #creating = 0;
  /** Resources created so far; a slot's `serial`. */
  #serial = 0;
  /** Slots handed to a waiter or being validated: in neither `idle` nor `borrowed`. */
  #inTransit = 0;
  readonly #waiters: Waiter<Resource>[] = [];
  readonly #destroying = new Set<Promise<void>>();
  #draining = false;
  #drained: (() => void) | undefined;

  // Utilization: the integral of demand (borrowed + waiting) over time since the window start.
  #demandArea = 0;
  #demandAt: number;
  #windowStart: number;
  #averageUtilization = 0;
  #lastScaleAt = Number.NEGATIVE_INFINITY;

  readonly #counters = {
    warmStarts: 0,
    coldStarts: 0,
    created: 0,
    destroyed: 0,
    createErrors: 0,
    destroyErrors: 0,
    validationFailures: 0,
    acquireTimeouts: 0,
    evictions: 0,
    scaleUps: 0,
    scaleDowns: 0,
  };
  readonly #warmStartTimes = new LatencyHistogram();
  readonly #coldStartTimes = new LatencyHistogram();
  readonly #createTimes = new LatencyHistogram();
  readonly #holdTimes = new LatencyHistogram();

  constructor(
    kind: string,
    options: PoolKindOptions<Resource>,
    clock: Clock,
    events: Emitter<PoolEvents>,
  ) {
    const name = `kinds.${kind}`;
    if (typeof options?.create !== 'function') {
      throw new ConfigError(`${name} needs a create function`);
    }
    this.kind = kind;
    this.#options = options;
    this.#clock = clock;
    this.#events = events;
    if (options.max === undefined) {
      throw new ConfigError(`${name}.max is required: a pool must be bounded`);
    }
    this.max = positiveInteger(options.max, `${name}.max`);
    this.min = nonNegativeInteger(options.min ?? 0, `${name}.min`);
    if (this.min > this.max) throw new ConfigError(`${name}.min must not exceed ${name}.max`);
    this.target = this.min;
    this.#acquireTimeoutMs = parseDuration(
      options.acquireTimeout ?? '30s',
      `${name}.acquireTimeout`,
      {
        allowInfinite: true,
      },
    );
    this.#createTimeoutMs = parseDuration(options.createTimeout ?? '60s', `${name}.createTimeout`, {
      allowInfinite: true,
    });
    this.#destroyTimeoutMs = parseDuration(
      options.destroyTimeout ?? '10s',
      `${name}.destroyTimeout`,
      { allowInfinite: true },
    );
    this.#validateTimeoutMs = parseDuration(
      options.validateTimeout ?? '5s',
      `${name}.validateTimeout`,
      { allowInfinite: true },
    );
    this.#validateOnBorrow = options.validate !== undefined && options.validateOnBorrow !== false;
    this.#idleTimeoutMs =
      options.idleTimeout === false
        ? Number.POSITIVE_INFINITY
        : parseDuration(options.idleTimeout ?? '30m', `${name}.idleTimeout`, {
            allowInfinite: true,
          });
    this.#maxWaiting = nonNegativeInteger(options.maxWaiting ?? 1000, `${name}.maxWaiting`);
    this.destroyOnError = options.destroyOnError ?? true;
    if (options.autoscale !== false) {
      const autoscale = options.autoscale ?? {};
      const up = fraction(autoscale.scaleUpAt ?? 0.8, `${name}.autoscale.scaleUpAt`);
      const down = fraction(autoscale.scaleDownAt ?? 0.3, `${name}.autoscale.scaleDownAt`);
      if (down >= up) {
        throw new ConfigError(`${name}.autoscale.scaleDownAt must be below scaleUpAt`);
      }
      this.#autoscale = {
        up,
        down,
        upStep: positiveInteger(autoscale.scaleUpStep ?? 2, `${name}.autoscale.scaleUpStep`),
        downStep: positiveInteger(autoscale.scaleDownStep ?? 1, `${name}.autoscale.scaleDownStep`),
        cooldownMs: parseDuration(autoscale.cooldown ?? '5m', `${name}.autoscale.cooldown`),
      };
    }
    const now = clock.now();
    this.#demandAt = now;
    this.#windowStart = now;
  }

  get size(): number {
    return this.#idle.length + this.#borrowed.size + this.#creating + this.#inTransit;
  }

  // ------------------------------------------------------------------------ borrowing

  async acquire(options: AcquireOptions = {}): Promise<Lease<Resource>> {
    this.#refuseIfDraining();
    options.signal?.throwIfAborted();
    const timeoutMs =
      options.timeout === undefined
        ? this.#acquireTimeoutMs
        : parseDuration(options.timeout, 'timeout', { allowInfinite: true });
    const startedAt = this.#clock.now();
    const startSerial = this.#serial;
    const deadline = performance.now() + timeoutMs;
    let granted: Grant<Resource> | undefined;
    for (;;) {
      let slot: Slot<Resource>;
      let warm: boolean;
      if (granted?.type === 'capacity') {
        return this.#lend(await this.#create('acquire'), false, startedAt, true);
      }
      if (granted === undefined) this.#refuseIfDraining();
      if (granted?.type === 'resource') {
        slot = granted.slot;
        // Warm if it existed when we asked; cold if we waited for its creation.
        warm = slot.serial <= startSerial;
      } else if (this.#idle.length > 0) {
        slot = this.#idle.pop() as Slot<Resource>;
        this.#inTransit++;
        warm = true;
      } else if (this.size < this.max && this.#waiters.length === 0) {
        this.#creating++;
        return this.#lend(await this.#create('acquire'), false, startedAt, true);
      } else {
        granted = await this.#wait(
          deadline - performance.now(),
          options.signal,
          timeoutMs,
          options.priority ?? 0,
        );
        continue;
      }

      let valid = true;
      if (this.#validateOnBorrow) {
        try {
          valid = await this.#validate(slot);
        } catch {
          valid = false;
        }
      }
      this.#inTransit--;
      if (!valid) {
        this.#counters.validationFailures++;
        if (this.#events.has('pool-validation-failed')) {
          this.#events.emit('pool-validation-failed', { kind: this.kind });
        }
        if (granted !== undefined) {
          // Handed to us in turn: keep our place and replace the resource with the same room.
          this.#retire(slot, 'invalid', false);
          this.#creating++;
          granted = { type: 'capacity' };
        } else {
          this.#retire(slot, 'invalid', true);
          this.#checkDrained();
        }
        continue;
      }
      return this.#lend(slot, warm, startedAt, false);
    }
  }

  release(lease: PoolLease<Resource>, destroy: boolean): void {
    if (lease.returned) {
      throw new SluiceError(
        'E_POOL_LEASE_RELEASED',
        `this '${this.kind}' lease was already released`,
      );
    }
    lease.returned = true;
    const slot = lease.slot;
    this.#noteDemand();
    this.#borrowed.delete(slot);
    this.#holdTimes.record(this.#clock.now() - slot.borrowedAt);
    if (destroy) this.#retire(slot, 'released', true);
    else this.#giveBack(slot);
    this.#checkDrained();
  }

  /** Lends a slot; `created` says it was just made (the caller holds its `creating` reservation). */
  #lend(slot: Slot<Resource>, warm: boolean, startedAt: number, created: boolean): Lease<Resource> {
    if (created) this.#creating--;
    const now = this.#clock.now();
    this.#noteDemand();
    slot.borrowedAt = now;
    this.#borrowed.add(slot);
    const startMs = Math.max(0, now - startedAt);
    if (warm) {
      this.#counters.warmStarts++;
      this.#warmStartTimes.record(startMs);
      if (this.#events.has('pool-warm-start')) {
        this.#events.emit('pool-warm-start', { kind: this.kind, startMs });
      }
    } else {
      this.#counters.coldStarts++;
      this.#coldStartTimes.record(startMs);
      if (this.#events.has('pool-cold-start')) {
        this.#events.emit('pool-cold-start', { kind: this.kind, startMs });
      }
    }
    return new PoolLease(this, slot, warm, startMs);
  }

  /** A resource back from a borrower or a creation: to the first waiter, else idle. */
  #giveBack(slot: Slot<Resource>): void {
    if (this.#draining) {
      this.#retire(slot, 'drain', false);
      return;
    }
    const waiter = this.#nextWaiter();
    if (waiter !== undefined) {
      this.#inTransit++;
      waiter.grant({ type: 'resource', slot });
      return;
    }
    slot.idleSince = this.#clock.now();
    this.#idle.push(slot);
  }

  #nextWaiter(): Waiter<Resource> | undefined {
    if (this.#waiters.length === 0) return undefined;
    this.#noteDemand();
    return this.#waiters.shift();
  }

  #wait(
    remainingMs: number,
    signal: AbortSignal | undefined,
    timeoutMs: number,
    priority: number,
  ): Promise<Grant<Resource>> {
    if (!Number.isFinite(priority)) {
      return Promise.reject(new ConfigError(`priority must be a finite number, got ${priority}`));
    }
    if (this.#waiters.length >= this.#maxWaiting) {
      return Promise.reject(
        new SluiceError(
          'E_POOL_QUEUE_FULL',
          `${this.#waiters.length} callers already wait for a '${this.kind}' resource`,
          { isRetryable: true },
        ),
      );
    }
    return new Promise<Grant<Resource>>((resolve, reject) => {
      const waitStarted = performance.now();
      let timer: NodeJS.Timeout | undefined;
      const cleanup = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const leave = (): void => {
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) {
          this.#noteDemand();
          this.#waiters.splice(index, 1);
        }
        cleanup();
      };
      const onAbort = (): void => {
        leave();
        reject(signal?.reason);
      };
      const waiter: Waiter<Resource> = {
        priority,
        grant: (grant) => {
          cleanup();
          resolve(grant);
        },
        fail: (error) => {
          cleanup();
          reject(error);
        },
      };
      if (remainingMs <= MAX_TIMER_MS) {
        timer = setTimeout(
          () => {
            leave();
            this.#counters.acquireTimeouts++;
            const waitedMs = performance.now() - waitStarted;
            if (this.#events.has('pool-acquire-timeout')) {
              this.#events.emit('pool-acquire-timeout', { kind: this.kind, waitedMs });
            }
            reject(
              new SluiceError(
                'E_POOL_ACQUIRE_TIMEOUT',
                `no '${this.kind}' resource became free within ${timeoutMs} ms (max ${this.max} in use)`,
                { isRetryable: true },
              ),
            );
          },
          Math.max(0, remainingMs),
        );
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#noteDemand();
      // Behind every waiter of the same or a higher priority.
      const before = this.#waiters.findIndex((other) => other.priority < priority);
      if (before < 0) this.#waiters.push(waiter);
      else this.#waiters.splice(before, 0, waiter);
    });
  }

  // ------------------------------------------------------------------------ lifecycle of resources

  /**
   * Creates a resource. The caller has reserved the room (`creating` was incremented); on
   * success the reservation is still held (the caller places the slot), on failure it is freed.
   */
  async #create(reason: CreateReason): Promise<Slot<Resource>> {
    const started = this.#clock.now();
    let resource: Resource;
    try {
      resource = await this.#runCreate();
    } catch (error) {
      this.#creating--;
      this.#counters.createErrors++;
      if (this.#events.has('pool-create-error')) {
        this.#events.emit('pool-create-error', { kind: this.kind, error });
      }
      this.#dispatch();
      this.#checkDrained();
      if (error instanceof SluiceError && error.code === 'E_POOL_CREATE_TIMEOUT') throw error;
      throw new SluiceError(
        'E_POOL_CREATE',
        `could not create a '${this.kind}' resource: ${(error as Error)?.message ?? String(error)}`,
        { cause: error, isRetryable: true },
      );
    }
    const now = this.#clock.now();
    const durationMs = Math.max(0, now - started);
    this.#counters.created++;
    this.#createTimes.record(durationMs);
    if (this.#events.has('pool-resource-create')) {
      this.#events.emit('pool-resource-create', { kind: this.kind, reason, durationMs });
    }
    return { resource, serial: ++this.#serial, idleSince: now, borrowedAt: now };
  }

  #runCreate(): Promise<Resource> {
    const controller = new AbortController();
    const context: ResourceContext = { kind: this.kind, signal: controller.signal };
    const creating = Promise.resolve().then(() => this.#options.create(context));
    if (this.#createTimeoutMs > MAX_TIMER_MS) return creating;
    return new Promise<Resource>((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        const error = new SluiceError(
          'E_POOL_CREATE_TIMEOUT',
          `creating a '${this.kind}' resource took longer than ${this.#createTimeoutMs} ms`,
          { isRetryable: true },
        );
        controller.abort(error);
        reject(error);
      }, this.#createTimeoutMs);
      creating.then(
        (resource) => {
          if (late) {
            // Nobody waits for it any more: do not leak what it holds.
            this.#counters.destroyed++;
            this.#track(this.#runDestroy(resource), 'late');
            return;
          }
          clearTimeout(timer);
          resolve(resource);
        },
        (error: unknown) => {
          if (late) return;
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  async #validate(slot: Slot<Resource>): Promise<boolean> {
    const validate = this.#options.validate;
    if (validate === undefined) return true;
    try {
      const valid = await withTimeout(
        (signal) => validate.call(this.#options, slot.resource, { kind: this.kind, signal }),
        { timeoutMs: this.#validateTimeoutMs, fallback: false },
      );
      return valid === true;
    } catch {
      return false;
    }
  }

  /**
   * Destroys a resource that is no longer counted anywhere. With `freeCapacity`, the room it
   * held goes to a waiting caller.
   */
  #retire(slot: Slot<Resource>, reason: DestroyReason, freeCapacity: boolean): void {
    this.#counters.destroyed++;
    this.#track(this.#runDestroy(slot.resource), reason);
    if (freeCapacity) this.#dispatch();
  }

  #track(destroying: Promise<void>, reason: DestroyReason): void {
    if (this.#events.has('pool-resource-destroy')) {
      this.#events.emit('pool-resource-destroy', { kind: this.kind, reason });
    }
    const tracked = destroying.finally(() => this.#destroying.delete(tracked));
    this.#destroying.add(tracked);
  }

  async #runDestroy(resource: Resource): Promise<void> {
    const destroy = this.#options.destroy;
    if (destroy === undefined) return;
    try {
      await withTimeout(() => destroy.call(this.#options, resource, { kind: this.kind }), {
        timeoutMs: this.#destroyTimeoutMs,
      });
    } catch (error) {
      this.#counters.destroyErrors++;
      if (this.#events.has('pool-destroy-error')) {
        this.#events.emit('pool-destroy-error', { kind: this.kind, error });
      }
    }
  }

  /** Room freed while callers wait: reserve it for them, first come first served. */
  #dispatch(): void {
    while (!this.#draining && this.#waiters.length > 0 && this.size < this.max) {
      const waiter = this.#nextWaiter() as Waiter<Resource>;
      this.#creating++;
      waiter.grant({ type: 'capacity' });
    }
  }

  /** Creates resources in the background until the warm target is met. */
  replenish(reason: CreateReason): Promise<unknown>[] {
    const creations: Promise<unknown>[] = [];
    while (!this.#draining && this.size < this.target) {
      this.#creating++;
      const creation = this.#create(reason).then(
        (slot) => {
          this.#creating--;
          this.#giveBack(slot);
          this.#checkDrained();
        },
        () => {
          // Counted and reported in #create; the next maintenance pass tries again.
        },
      );
      creations.push(creation);
    }
    return creations;
  }

  /** Sets the warm target (clamped to min..max): creates or sheds idle resources to meet it. */
  resize(
    target: number,
    reason: 'resize' | 'scale-up' | 'scale-down' = 'resize',
  ): Promise<unknown>[] {
    if (!Number.isFinite(target)) {
      throw new ConfigError(`a pool target must be a number, got ${target}`);
    }
    this.target = Math.min(this.max, Math.max(this.min, Math.round(target)));
    this.#shed(reason === 'scale-down' ? 'scale-down' : 'resize');
    return this.replenish(reason === 'scale-up' ? 'scale-up' : 'resize');
  }

  /** Destroys idle resources above the target, oldest-idle first. */
  #shed(reason: DestroyReason): void {
    while (this.size > this.target && this.#idle.length > 0) {
      this.#retire(this.#idle.shift() as Slot<Resource>, reason, false);
    }
  }

  // ------------------------------------------------------------------------ maintenance

  /** Idle eviction, one autoscaling decision, then replenishing to the target. */
  maintain(): void {
    if (this.#draining) return;
    const now = this.#clock.now();
    while (this.#idle.length > 0 && this.size > this.target) {
      const oldest = this.#idle[0] as Slot<Resource>;
      if (now - oldest.idleSince < this.#idleTimeoutMs) break;
      this.#idle.shift();
      this.#counters.evictions++;
      this.#retire(oldest, 'idle', false);
    }
    this.#autoscaleAt(now);
    this.replenish('prewarm');
  }

  #autoscaleAt(now: number): void {
    this.#noteDemand();
    const elapsed = now - this.#windowStart;
    const demand = elapsed > 0 ? this.#demandArea / elapsed : this.#demand();
    this.#windowStart = now;
    this.#demandArea = 0;
    const utilization = demand / Math.max(1, this.target);
    this.#averageUtilization = utilization;
    const policy = this.#autoscale;
    if (policy === undefined || now - this.#lastScaleAt < policy.cooldownMs) return;
    const from = this.target;
    if (utilization >= policy.up && from < this.max) {
      this.#lastScaleAt = now;
      this.#counters.scaleUps++;
      this.resize(from + policy.upStep, 'scale-up');
      if (this.#events.has('pool-scale-up')) {
        this.#events.emit('pool-scale-up', { kind: this.kind, from, to: this.target, utilization });
      }
    } else if (utilization <= policy.down && from > this.min) {
      this.#lastScaleAt = now;
      this.#counters.scaleDowns++;
      this.resize(from - policy.downStep, 'scale-down');
      if (this.#events.has('pool-scale-down')) {
        this.#events.emit('pool-scale-down', {
          kind: this.kind,
          from,
          to: this.target,
          utilization,
        });
      }
    }
  }

  /** Marks a manual resize as a scaling decision (the autoscaler then waits a cooldown). */
  noteManualScale(): void {
    this.#lastScaleAt = this.#clock.now();
  }

  #demand(): number {
    return this.#borrowed.size + this.#waiters.length;
  }

  /** Adds demand × time since the last change to the window's integral (call before a change). */
  #noteDemand(): void {
    const now = this.#clock.now();
    if (now > this.#demandAt) this.#demandArea += this.#demand() * (now - this.#demandAt);
    this.#demandAt = now;
  }

  // ------------------------------------------------------------------------ drain

  #refuseIfDraining(): void {
    if (this.#draining) {
      throw new SluiceError('E_POOL_DRAINING', `the '${this.kind}' pool is draining or drained`);
    }
  }

  /**
   * Stops lending: waiters are refused, idle resources destroyed; borrowed ones are destroyed
   * when released. Resolves once nothing is borrowed or being created (or `timeoutMs` passed)
   * and every destroy finished.
   */
  async drain(timeoutMs: number): Promise<void> {
    if (!this.#draining) {
      this.#draining = true;
      const error = new SluiceError('E_POOL_DRAINING', `the '${this.kind}' pool is draining`);
      this.#noteDemand();
      for (const waiter of this.#waiters.splice(0)) waiter.fail(error);
      for (const slot of this.#idle.splice(0)) this.#retire(slot, 'drain', false);
    }
    if (this.#busy() > 0) {
      const settled = new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        if (timeoutMs <= MAX_TIMER_MS) timer = setTimeout(resolve, timeoutMs);
      });
      await Promise.race([settled, timeout]);
      if (timer !== undefined) clearTimeout(timer);
    }
    await Promise.allSettled([...this.#destroying]);
  }

  #busy(): number {
    return this.#borrowed.size + this.#creating + this.#inTransit;
  }

  #checkDrained(): void {
    if (this.#draining && this.#drained !== undefined && this.#busy() === 0) {
      const resolve = this.#drained;
      this.#drained = undefined;
      resolve();
    }
  }

  // ------------------------------------------------------------------------ reporting

  plan(expectedRatePerSecond: number, headroom: number): PoolPlan {
    if (!(expectedRatePerSecond >= 0) || !Number.isFinite(expectedRatePerSecond)) {
      throw new ConfigError(
        `expectedRatePerSecond must be a non-negative number, got ${expectedRatePerSecond}`,
      );
    }
    if (!(headroom >= 0) || !Number.isFinite(headroom)) {
      throw new ConfigError(`headroom must be a non-negative fraction, got ${headroom}`);
    }
    const meanHoldMs = this.#holdTimes.count === 0 ? undefined : this.#holdTimes.mean;
    // Little's law: resources busy on average = arrival rate × time each is held.
    const needed =
      meanHoldMs === undefined
        ? this.target
        : Math.ceil(expectedRatePerSecond * (meanHoldMs / 1000) * (1 + headroom));
    const recommendedTarget = Math.min(this.max, Math.max(this.min, needed));
    const plan: PoolPlan = {
      kind: this.kind,
      currentTarget: this.target,
      recommendedTarget,
      change: recommendedTarget - this.target,
      meanHoldMs,
    };
    if (this.#options.costPerHour !== undefined) {
      plan.hourlyCostChange = plan.change * this.#options.costPerHour;
    }
    return plan;
  }

  stats(): PoolKindStats {
    const c = this.#counters;
    const starts = c.warmStarts + c.coldStarts;
    return {
      size: this.size,
      idle: this.#idle.length,
      borrowed: this.#borrowed.size,
      creating: this.#creating,
      waiting: this.#waiters.length,
      min: this.min,
      max: this.max,
      target: this.target,
      utilization: this.#demand() / Math.max(1, this.target),
      averageUtilization: this.#averageUtilization,
      warmStarts: c.warmStarts,
      coldStarts: c.coldStarts,
      warmStartRate: starts === 0 ? 0 : c.warmStarts / starts,
      created: c.created,
      destroyed: c.destroyed,
      createErrors: c.createErrors,
      destroyErrors: c.destroyErrors,
      validationFailures: c.validationFailures,
      acquireTimeouts: c.acquireTimeouts,
      evictions: c.evictions,
      scaleUps: c.scaleUps,
      scaleDowns: c.scaleDowns,
      startMs: { warm: durations(this.#warmStartTimes), cold: durations(this.#coldStartTimes) },
      createMs: durations(this.#createTimes),
      holdMs: durations(this.#holdTimes),
    };
  }
}
