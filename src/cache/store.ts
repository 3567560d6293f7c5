import type { Clock } from '../shared/clock.js';
import type { StoredEntry } from './entry.js';

/** What the cache hands a store when it takes it into service. */
export interface StoreContext {
  clock: Clock;
  /** How long a tag invalidation is remembered, in ms; tagged entries never outlive it. */
  tagRetentionMs: number;
}

/** Entries and bytes a store holds, where it can tell cheaply. */
export interface StoreUsage {
  entries?: number;
  bytes?: number;
  /** Entries the store evicted to stay within its own bound. */
  evictions?: number;
}

/**
 * A shared or persistent tier (L2, L3). Every implementation passes the same conformance
 * suite (`test/cache/store-conformance.ts`). Keys arrive unprefixed; a store namespaces
 * them itself. A store may reject (throw) on failure; the cache counts the error and goes on.
 */
export interface CacheStore {
  /** `'memory'`, `'redis'`, `'sqlite'`, ... — used in statistics and events. */
  readonly kind: string;
  attach(context: StoreContext): void;
  /** The entry, or undefined when absent or past `staleUntil`. */
  get(key: string): Promise<StoredEntry | undefined>;
  set(key: string, entry: StoredEntry): Promise<void>;
  /** Removes `key`; with `olderThan`, only an entry whose `createdAt` is at or before it. */
  delete(key: string, olderThan?: number): Promise<boolean>;
  /** Removes every entry of this store's namespace. */
  clear(): Promise<void>;
  /** Last invalidation time of each tag, or undefined for a tag not invalidated within retention. */
  tagTimes(tags: readonly string[]): Promise<Array<number | undefined>>;
  /** Records that `tags` were invalidated at `time` (a later time wins). */
  invalidateTags(tags: readonly string[], time: number): Promise<void>;
  usage(): StoreUsage;
  close(): Promise<void>;
}

/** A store that can grant cross-process leases (single-flight across processes). */
export interface LeaseProvider {
  /** A token when the lease is granted, undefined when another holder has it. */
  acquireLease(key: string, ttlMs: number): Promise<string | undefined>;
  releaseLease(key: string, token: string): Promise<void>;
}

export type BusMessage =
  | { kind: 'set' | 'delete'; keys: string[]; time: number }
  | { kind: 'tags'; tags: string[]; time: number }
  | { kind: 'clear'; time: number };

export interface BusHandlers {
  /** A message from another process. */
  message(message: BusMessage): void;
  /** Messages may have been missed (the bus reconnected): drop whatever is not trusted. */
  resync(): void;
}

/** Carries invalidations between processes so each process's L1 stays coherent. */
export interface InvalidationBus {
  start(handlers: BusHandlers): void;
  publish(message: BusMessage): Promise<void>;
  /** Resolves true once subscribed, false if not within `timeoutMs`. */
  ready(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** A store that can also carry an invalidation bus (Redis pub/sub). */
export interface BusProvider {
  createBus(): InvalidationBus;
}

export function isLeaseProvider(store: CacheStore): store is CacheStore & LeaseProvider {
  return typeof (store as Partial<LeaseProvider>).acquireLease === 'function';
}

export function isBusProvider(store: CacheStore): store is CacheStore & BusProvider {
  return typeof (store as Partial<BusProvider>).createBus === 'function';
}
