export { type Clock, ManualClock, systemClock } from '../shared/clock.js';
export type { Duration } from '../shared/duration.js';
export { ConfigError, SluiceError } from '../shared/errors.js';
export type { StoredEntry } from './entry.js';
export { decodeEntry, encodeEntry } from './entry.js';
export {
  type EvictionReason,
  MemoryTier,
  type MemoryTierOptions,
  NOT_FOUND,
  type TierEntry,
} from './memory-tier.js';
export {
  type EvictionPolicy,
  LruPolicy,
  lruPolicy,
  type PolicyBounds,
  type PolicyFactory,
} from './policy.js';
export { jsonSerializer, type Serializer } from './serializer.js';
export { NONE, SlotLinks, SlotList } from './slot-list.js';
export type { CacheEvents, CacheStats, TierName, TierStats } from './stats.js';
export type {
  BusHandlers,
  BusMessage,
  BusProvider,
  CacheStore,
  InvalidationBus,
  LeaseProvider,
  StoreContext,
  StoreUsage,
} from './store.js';
export { MemoryStore, type MemoryStoreOptions, memoryStore } from './stores/memory-store.js';
export {
  pingRedis,
  type RedisClient,
  RedisStore,
  type RedisStoreOptions,
  RedisTimeoutError,
  RedisUnavailableError,
  redisStore,
} from './stores/redis-store.js';
export { SqliteStore, type SqliteStoreOptions, sqliteStore } from './stores/sqlite-store.js';
export {
  Cache,
  type CacheOptions,
  createCache,
  type Factory,
  type FactoryContext,
  type GetOptions,
  type GetOrSetOptions,
  type SetOptions,
} from './tiered-cache.js';
export {
  FrequencySketch,
  hashKey,
  type TinyLfuOptions,
  tinyLfuPolicy,
  WTinyLfuPolicy,
} from './tinylfu.js';
