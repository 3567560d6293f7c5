import type { EvictionReason } from './memory-tier.js';

export type TierName = 'l1' | 'l2' | 'l3';

/** Counters of one tier. `entries` and `bytes` are present where the tier can tell cheaply. */
export interface TierStats {
  hits: number;
  misses: number;
  sets: number;
  deletes: number;
  evictions: number;
  errors: number;
  entries?: number;
  bytes?: number;
}

export interface CacheStats {
  /** Lookups answered with a fresh value, from any tier. */
  hits: number;
  /** Lookups answered with a stale value within grace (a refresh ran behind them). */
  staleHits: number;
  /** Lookups that found nothing usable. */
  misses: number;
  /** (hits + staleHits) / (hits + staleHits + misses); 0 before the first lookup. */
  hitRatio: number;
  tiers: { l1: TierStats & { policy: string } } & Partial<
    Record<'l2' | 'l3', TierStats & { kind: string }>
  >;
  factory: { calls: number; errors: number; timeouts: number };
  refresh: { started: number; failed: number };
  singleFlight: {
    /** Callers that shared another caller's in-process load. */
    coalesced: number;
    /** Loads that waited for another process holding the lease. */
    leaseWaits: number;
    /** Waits that ended without the other process's value (this process then computed). */
    leaseWaitTimeouts: number;
  };
  bus: { published: number; received: number; resyncs: number; errors: number };
  /** Invalidations that could not reach a shared tier and wait to be replayed. */
  pendingInvalidations: number;
}

export function emptyTierStats(): TierStats {
  return { hits: 0, misses: 0, sets: 0, deletes: 0, evictions: 0, errors: 0 };
}

export interface CacheEvents {
  'cache-hit': { key: string; tier: TierName; stale: boolean };
  'cache-miss': { key: string };
  'cache-set': { key: string };
  'cache-delete': { key: string };
  'cache-evict': { key: string; tier: 'l1'; reason: EvictionReason };
  'cache-invalidate': { tags: readonly string[] };
  'cache-clear': { namespace: string };
  'cache-error': { tier: TierName | 'bus'; operation: string; error: unknown };
  'cache-refresh-error': { key: string; error: unknown };
  'cache-bus-resync': { reason: string };
}
