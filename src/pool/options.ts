import type { Duration } from '../shared/duration.js';

/** What `create` and `validate` are told. */
export interface ResourceContext {
  readonly kind: string;
  /** Aborted when the call runs past its timeout (`createTimeout`, `validateTimeout`). */
  readonly signal: AbortSignal;
}

/**
 * Autoscaling of a kind's warm target between `min` and `max`, on the average utilization
 * (resources in use plus callers waiting, divided by the target) over each maintenance interval.
 */
export interface AutoscaleOptions {
  /** Utilization at or above which the target grows. @default 0.8 */
  scaleUpAt?: number;
  /** Utilization at or below which the target shrinks. @default 0.3 */
  scaleDownAt?: number;
  /** Resources added per scale-up. @default 2 */
  scaleUpStep?: number;
  /** Resources removed per scale-down. @default 1 */
  scaleDownStep?: number;
  /** Least time between two scaling decisions (no oscillation). @default '5m' */
  cooldown?: Duration;
}

/** One kind of pooled resource (agent workers, sandboxes, clients, ...). */
export interface PoolKindOptions<Resource> {
  /** Makes a resource (the slow part the pool hides). */
  create(context: ResourceContext): Resource | PromiseLike<Resource>;
  /** Releases what a resource holds. @default nothing */
  destroy?(resource: Resource, context: { readonly kind: string }): void | PromiseLike<void>;
  /** Says whether a resource is still usable (checked on borrow). @default always usable */
  validate?(resource: Resource, context: ResourceContext): boolean | PromiseLike<boolean>;
  /** Resources kept warm at least; created at start. @default 0 */
  min?: number;
  /** Resources alive at most (idle + in use + being created). Required: pools are bounded. */
  max: number;
  /** How long `acquire` waits for a resource when `max` are in use. @default '30s' */
  acquireTimeout?: Duration;
  /** How long `create` may take; its result is destroyed if it arrives later. @default '60s' */
  createTimeout?: Duration;
  /** How long `destroy` may take before the pool stops waiting for it. @default '10s' */
  destroyTimeout?: Duration;
  /** How long `validate` may take; a late answer counts as invalid. @default '5s' */
  validateTimeout?: Duration;
  /** Validate a resource before lending it. @default true when `validate` is given */
  validateOnBorrow?: boolean;
  /**
   * An idle resource above the warm target is destroyed after this long unused; `false` keeps
   * idle resources until scale-down or drain.
   * @default '30m'
   */
  idleTimeout?: Duration | false;
  /** Callers waiting at most; more are refused with `E_POOL_QUEUE_FULL`. @default 1000 */
  maxWaiting?: number;
  /** `use()` destroys the resource when its function throws (its state is unknown). @default true */
  destroyOnError?: boolean;
  /** Autoscaling of the warm target; `false` keeps the target at `min` (or as `resize` sets it). @default {} (on) */
  autoscale?: AutoscaleOptions | false;
  /** What one resource costs per hour (any currency), for `plan()` estimates. @default none */
  costPerHour?: number;
}
