import type { LatencySummary } from '../telemetry/latency.js';

export type DurationSummary = Pick<
  LatencySummary,
  'count' | 'p50Ms' | 'p95Ms' | 'meanMs' | 'maxMs'
>;

/** One kind's state and counters. */
export interface PoolKindStats {
  /** Resources alive: idle + borrowed + being created or validated. */
  size: number;
  idle: number;
  borrowed: number;
  creating: number;
  /** Callers waiting for a resource. */
  waiting: number;
  min: number;
  max: number;
  /** Resources the pool keeps warm now (autoscaled between min and max). */
  target: number;
  /** (borrowed + waiting) / max(1, target), now. */
  utilization: number;
  /** Average utilization over the last autoscaling interval. */
  averageUtilization: number;
  /** Acquires served by a resource that already existed. */
  warmStarts: number;
  /** Acquires that had to wait for a resource to be created. */
  coldStarts: number;
  /** warmStarts / (warmStarts + coldStarts); 0 before the first acquire. */
  warmStartRate: number;
  created: number;
  destroyed: number;
  createErrors: number;
  destroyErrors: number;
  validationFailures: number;
  acquireTimeouts: number;
  /** Idle resources destroyed after `idleTimeout`. */
  evictions: number;
  scaleUps: number;
  scaleDowns: number;
  /** Time from `acquire` to holding the resource, for warm and cold starts. */
  startMs: { warm: DurationSummary; cold: DurationSummary };
  /** Time `create` took. */
  createMs: DurationSummary;
  /** Time a resource was held per borrow (for `plan`). */
  holdMs: DurationSummary;
}

export interface WarmPoolStats {
  kinds: Record<string, PoolKindStats>;
  warmStarts: number;
  coldStarts: number;
  warmStartRate: number;
}

/** A sizing recommendation from expected traffic (Little's law on observed hold times). */
export interface PoolPlan {
  kind: string;
  currentTarget: number;
  recommendedTarget: number;
  change: number;
  /** Mean time a resource is held per use, measured; undefined before any release. */
  meanHoldMs: number | undefined;
  /** `change × costPerHour`, when the kind has a `costPerHour`. */
  hourlyCostChange?: number;
}

export interface PoolEvents {
  'pool-warm-start': { kind: string; startMs: number };
  'pool-cold-start': { kind: string; startMs: number };
  'pool-resource-create': {
    kind: string;
    reason: 'acquire' | 'prewarm' | 'scale-up' | 'resize';
    durationMs: number;
  };
  'pool-resource-destroy': {
    kind: string;
    reason: 'idle' | 'invalid' | 'scale-down' | 'resize' | 'released' | 'drain' | 'late';
  };
  'pool-create-error': { kind: string; error: unknown };
  'pool-destroy-error': { kind: string; error: unknown };
  'pool-validation-failed': { kind: string };
  'pool-acquire-timeout': { kind: string; waitedMs: number };
  'pool-scale-up': { kind: string; from: number; to: number; utilization: number };
  'pool-scale-down': { kind: string; from: number; to: number; utilization: number };
}
