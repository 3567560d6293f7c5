import { type Clock, coarseClock } from '../shared/clock.js';
import { type Duration, parseDuration } from '../shared/duration.js';
import { Emitter } from '../shared/emitter.js';
import { ConfigError, SluiceError } from '../shared/errors.js';
import type { StoredEntry } from './entry.js';
import { MemoryTier, type MemoryTierOptions, NOT_FOUND } from './memory-tier.js';
import { jsonSerializer, type Serializer } from './serializer.js';
import {
  type CacheEvents,
  type CacheStats,
  emptyTierStats,
  type TierName,
  type TierStats,
} from './stats.js';
import {
  type BusMessage,
  type CacheStore,
  type InvalidationBus,
  isBusProvider,
  isLeaseProvider,
  type LeaseProvider,
} from './store.js';

export interface CacheOptions {
  /** The in-process tier. A bound (`maxEntries` and/or `maxBytes`) is required. */
  l1: Omit<MemoryTierOptions<unknown>, 'onEvict'>;
  /** A shared tier, usually `redisStore(...)`. */
  l2?: CacheStore;
  /** A persistent local tier, usually `sqliteStore(...)`. */
  l3?: CacheStore;
  /**
   * Carries invalidations to other processes. Defaults to the L2 store's bus when it has
   * one (Redis pub/sub); `false` turns it off.
   */
  bus?: InvalidationBus | false;
  /**
   * Time an entry stays fresh; `Infinity` for never.
   * @default '30m'
   */
  ttl?: Duration;
  /**
   * After expiry, how long the stale value may still be served by `getOrSet` while one
   * background refresh runs. `false` or 0 turns grace off.
   * @default false
   */
  grace?: Duration | false;
  /**
   * After a failed background refresh, how long to keep serving stale before trying again.
   * @default '10s'
   */
  graceBackoff?: Duration;
  /**
   * Cross-process single-flight through L2 leases: one process computes a missing value
   * while others wait up to `wait` for it, then compute themselves. `false` turns it off.
   * @default { ttl: '10s', wait: '5s' }
   */
  lease?: { ttl?: Duration; wait?: Duration } | false;
  /**
   * How long a tag invalidation is remembered. Tagged entries are stored for at most this
   * long, so an invalidation can never be forgotten while an entry it covers survives.
   * @default '7d'
   */
  tagRetention?: Duration;
  /** @default jsonSerializer (JSON plus Uint8Array/Buffer) */
  serializer?: Serializer;
  /** @default the system clock */
  clock?: Clock;
  /**
   * Most invalidations held for replay while a shared tier is unreachable; past it, the
   * shared tier is cleared when it comes back (correctness before warmth).
   * @default 10_000
   */
  maxPendingInvalidations?: number;
}

export interface SetOptions {
  /** Overrides the cache's `ttl` for this entry. */
  ttl?: Duration;
  /** Overrides the cache's `grace` for this entry. */
  grace?: Duration | false;
  /** Tags for `invalidateTags`. */
  tags?: readonly string[];
  /**
   * What recomputing this value would cost, in any unit used consistently (USD, ms). A
   * cost-aware L1 policy (`'tinylfu'`) keeps expensive entries longer. @default unknown
   */
  cost?: number;
}

export interface GetOptions {
  /** Return a value past its TTL but within grace. @default false */
  allowStale?: boolean;
}

export interface GetOrSetOptions extends SetOptions {
  /** The factory fails with `E_FACTORY_TIMEOUT` after this long. @default none */
  timeout?: Duration;
  /** Use the cross-process lease for this call. @default true */
  lease?: boolean;
}

/** What a factory can read and decide about the entry it produces. */
export interface FactoryContext<Value> {
  /** The key as the caller gave it (without namespace). */
  readonly key: string;
  /** The stale value being refreshed, if any. */
  readonly stale: Value | undefined;
  /** Store the result with this TTL instead. */
  setTtl(ttl: Duration): void;
  /** Store the result with these tags instead. */
  setTags(tags: readonly string[]): void;
  /** What producing the result cost (known only now, e.g. from an LLM's usage), for a cost-aware L1. */
  setCost(cost: number): void;
  /** Return the result but do not cache it (e.g. a partial or error answer). */
  skip(): void;
}

export type Factory<Value> = (context: FactoryContext<Value>) => Value | Promise<Value>;

interface Tier {
  readonly name: TierName;
  readonly store: CacheStore;
  readonly stats: TierStats;
  /** Shared with other processes (the bus travels through it). */
  readonly shared: boolean;
}

interface Found {
  value: unknown;
  entry: StoredEntry;
}

type PendingInvalidation =
  | { kind: 'delete'; key: string; olderThan: number }
  | { kind: 'tags'; tags: string[]; time: number }
  | { kind: 'clear' };

const NAMESPACE_SEPARATOR = '\x1f';
const NO_OPTIONS: GetOrSetOptions = Object.freeze({});
const MAX_KNOWN_TAGS = 10_000;
const MAX_REFRESH_BACKOFFS = 10_000;

function durationOrInfinity(value: Duration, name: string): number {
  return parseDuration(value, name, { allowInfinite: true });
}

function graceMs(value: Duration | false | undefined, name: string): number {
  return value === undefined || value === false ? 0 : parseDuration(value, name);
}

/**
 * The state one cache shares across its namespaces: tiers, in-flight loads, the bus and
 * statistics. `Cache` is the public face; `cache.namespace(name)` returns another face on
 * the same core.
 */
class CacheCore {
  readonly l1: MemoryTier<unknown>;
  readonly l1Stats: TierStats = emptyTierStats();
  readonly tiers: Tier[] = [];
  readonly events = new Emitter<CacheEvents>();
  readonly clock: Clock;
  readonly serializer: Serializer;
  readonly ttlMs: number;
  readonly graceMs: number;
  readonly graceBackoffMs: number;
  readonly tagRetentionMs: number;
  readonly leaseTtlMs: number;
  readonly leaseWaitMs: number;
  /** Serialize values even for the L1 (needed for byte bounds and for lower tiers). */
  readonly needsBytes: boolean;
  private readonly leaseTier: (Tier & { store: CacheStore & LeaseProvider }) | undefined;
  private readonly bus: InvalidationBus | undefined;
  private readonly maxPendingInvalidations: number;

  /** Last known invalidation time per tag; 0 when known never to have been invalidated. */
  private readonly tagTimes = new Map<string, number>();
  private readonly loads = new Map<string, Promise<unknown>>();
  private readonly refreshing = new Set<string>();
  private readonly refreshBackoff = new Map<string, number>();
  private readonly remoteWaiters = new Map<string, Set<() => void>>();
  private pendingInvalidations: PendingInvalidation[] = [];
  private pendingOverflowed = false;
  private replaying = false;
  private closed = false;

  readonly counters = {
    hits: 0,
    staleHits: 0,
    misses: 0,
    factoryCalls: 0,
    factoryErrors: 0,
    factoryTimeouts: 0,
    refreshStarted: 0,
    refreshFailed: 0,
    coalesced: 0,
    leaseWaits: 0,
    leaseWaitTimeouts: 0,
    busPublished: 0,
    busReceived: 0,
    busResyncs: 0,
    busErrors: 0,
  };

  constructor(options: CacheOptions) {
    if (options === undefined || options.l1 === undefined) {
      throw new ConfigError('createCache needs an l1 option with maxEntries and/or maxBytes');
    }
    this.clock = options.clock ?? coarseClock;
    this.serializer = options.serializer ?? jsonSerializer;
    this.ttlMs = durationOrInfinity(options.ttl ?? '30m', 'ttl');
    this.graceMs = graceMs(options.grace, 'grace');
    this.graceBackoffMs = parseDuration(options.graceBackoff ?? '10s', 'graceBackoff');
    this.tagRetentionMs = parseDuration(options.tagRetention ?? '7d', 'tagRetention');
    const lease = options.lease === false ? undefined : (options.lease ?? {});
    this.leaseTtlMs = parseDuration(lease?.ttl ?? '10s', 'lease.ttl');
    this.leaseWaitMs = parseDuration(lease?.wait ?? '5s', 'lease.wait');
    this.maxPendingInvalidations = options.maxPendingInvalidations ?? 10_000;

    this.l1 = new MemoryTier<unknown>({
      ...options.l1,
      onEvict: (key, _value, reason) => {
        this.l1Stats.evictions++;
        if (this.events.has('cache-evict')) {
          this.events.emit('cache-evict', { key, tier: 'l1', reason });
        }
      },
    });

    const busStore =
      options.bus === undefined && options.l2 !== undefined && isBusProvider(options.l2)
        ? options.l2
        : undefined;
    for (const [name, store] of [
      ['l2', options.l2],
      ['l3', options.l3],
    ] as const) {
      if (store === undefined) continue;
      store.attach({ clock: this.clock, tagRetentionMs: this.tagRetentionMs });
      this.tiers.push({ name, store, stats: emptyTierStats(), shared: name === 'l2' });
    }
    this.needsBytes = this.tiers.length > 0 || this.l1.maxBytes !== Number.POSITIVE_INFINITY;
    const leaseTier = this.tiers.find((tier) => isLeaseProvider(tier.store));
    this.leaseTier =
      lease !== undefined && leaseTier !== undefined
        ? (leaseTier as Tier & { store: CacheStore & LeaseProvider })
        : undefined;

    this.bus = options.bus === false ? undefined : (options.bus ?? busStore?.createBus());
    this.bus?.start({
      message: (message) => this.onBusMessage(message),
      resync: () => this.resync('the invalidation bus reconnected'),
    });
  }

  // ---------------------------------------------------------------- reads

  /** The L1 slot holding a fresh value for `key` (counted as a hit), or `NOT_FOUND`. */
  l1Fresh(key: string, now: number): number {
    const slot = this.l1.find(key, now);
    if (slot !== NOT_FOUND && this.l1.expiresAt(slot) > now) {
      this.l1Stats.hits++;
      this.counters.hits++;
      if (this.events.has('cache-hit'))
        this.events.emit('cache-hit', { key, tier: 'l1', stale: false });
      return slot;
    }
    this.l1Stats.misses++;
    return NOT_FOUND;
  }

  /** Like `l1Fresh`, but a miss is not counted (nor seen by the eviction policy). */
  l1FreshIfHeld(key: string, now: number): number {
    const slot = this.l1.findQuietly(key, now);
    if (slot === NOT_FOUND || this.l1.expiresAt(slot) <= now) return NOT_FOUND;
    return this.l1Fresh(key, now);
  }

  async getFromStores(key: string, allowStale: boolean): Promise<unknown> {
    const found = await this.readStores(key, this.tiers.length);
    if (found !== undefined) {
      const fresh = found.entry.expiresAt > this.clock.now();
      if (fresh || allowStale) {
        if (fresh) this.counters.hits++;
        else this.counters.staleHits++;
        return found.value;
      }
    }
    this.recordMiss(key);
    return undefined;
  }

  /** The L1 slot holding a value past expiry but within grace, or `NOT_FOUND`. */
  l1Stale(key: string, now: number): number {
    const slot = this.l1.findQuietly(key, now);
    return slot !== NOT_FOUND && this.l1.expiresAt(slot) <= now ? slot : NOT_FOUND;
  }

  recordStaleHit(key: string, tier: TierName): void {
    this.counters.staleHits++;
    if (this.events.has('cache-hit')) this.events.emit('cache-hit', { key, tier, stale: true });
  }

  recordMiss(key: string): void {
    this.counters.misses++;
    if (this.events.has('cache-miss')) this.events.emit('cache-miss', { key });
  }

  /**
   * Walks the store tiers in order (the first `limit` of them) and promotes a hit to every
   * faster tier with its remaining lifetime. Entries whose tags were invalidated after they
   * were created are removed where found and skipped.
   */
  private async readStores(key: string, limit: number): Promise<Found | undefined> {
    for (let index = 0; index < limit; index++) {
      const tier = this.tiers[index] as Tier;
      let entry: StoredEntry | undefined;
      try {
        entry = await tier.store.get(key);
      } catch (error) {
        this.tierError(tier, 'get', error);
        continue;
      }
      if (entry === undefined) {
        tier.stats.misses++;
        continue;
      }
      if (entry.tags.length > 0) {
        const verdict = await this.tagVerdict(entry);
        if (verdict !== 'valid') {
          tier.stats.misses++;
          // Remove only what is known to be invalidated; an unverifiable entry may be fine.
          if (verdict === 'invalidated') {
            tier.store
              .delete(key, entry.createdAt)
              .catch((error) => this.tierError(tier, 'delete', error));
          }
          continue;
        }
      }
      let value: unknown;
      try {
        value = this.serializer.deserialize(entry.value);
      } catch (error) {
        this.tierError(tier, 'deserialize', error);
        tier.store.delete(key, entry.createdAt).catch(() => {});
        continue;
      }
      tier.stats.hits++;
      if (this.events.has('cache-hit')) {
        this.events.emit('cache-hit', {
          key,
          tier: tier.name,
          stale: entry.expiresAt <= this.clock.now(),
        });
      }
      this.promote(key, value, entry, index);
      return { value, entry };
    }
    return undefined;
  }

  private promote(key: string, value: unknown, entry: StoredEntry, foundAt: number): void {
    const tags = entry.tags.length > 0 ? entry.tags : undefined;
    this.l1.set(
      key,
      value,
      entry.value.byteLength,
      entry.createdAt,
      entry.expiresAt,
      entry.staleUntil,
      tags,
    );
    for (let index = 0; index < foundAt; index++) {
      const tier = this.tiers[index] as Tier;
      tier.store.set(key, entry).then(
        () => {
          tier.stats.sets++;
        },
        (error) => this.tierError(tier, 'promote', error),
      );
    }
  }

  /**
   * Whether an entry read from a store survived its tags' invalidations. Tag times come from
   * memory where known, otherwise from every tier (then remembered). If a tier cannot answer,
   * the verdict is 'unknown' and the entry is not served.
   */
  private async tagVerdict(entry: StoredEntry): Promise<'valid' | 'invalidated' | 'unknown'> {
    const unknown = entry.tags.filter((tag) => !this.tagTimes.has(tag));
    let complete = true;
    if (unknown.length > 0) {
      const fetched = await Promise.all(
        this.tiers.map((tier) =>
          tier.store.tagTimes(unknown).catch((error) => {
            complete = false;
            this.tierError(tier, 'tag-times', error);
            return [] as Array<number | undefined>;
          }),
        ),
      );
      if (complete) {
        for (const [index, tag] of unknown.entries()) {
          this.rememberTagTime(tag, Math.max(0, ...fetched.map((times) => times[index] ?? 0)));
        }
      }
    }
    for (const tag of entry.tags) {
      const time = this.tagTimes.get(tag);
      if (time !== undefined && time >= entry.createdAt) return 'invalidated';
    }
    return complete ? 'valid' : 'unknown';
  }

  private rememberTagTime(tag: string, time: number): void {
    const previous = this.tagTimes.get(tag);
    if (previous !== undefined) {
      if (previous >= time) return;
      this.tagTimes.delete(tag);
    } else if (this.tagTimes.size >= MAX_KNOWN_TAGS) {
      const oldest = this.tagTimes.keys().next().value;
      if (oldest !== undefined) this.tagTimes.delete(oldest);
    }
    this.tagTimes.set(tag, time);
  }

  // ---------------------------------------------------------------- get-or-set

  getOrSet<Value>(
    key: string,
    userKey: string,
    factory: Factory<Value>,
    options: GetOrSetOptions,
    implicitTags: readonly string[],
  ): Promise<Value> {
    const now = this.clock.now();
    const slot = this.l1Fresh(key, now);
    if (slot !== NOT_FOUND) return Promise.resolve(this.l1.value(slot) as Value);
    const staleSlot = this.l1Stale(key, now);
    if (staleSlot !== NOT_FOUND) {
      const stale = this.l1.value(staleSlot) as Value;
      this.recordStaleHit(key, 'l1');
      this.refreshInBackground(key, userKey, factory, options, implicitTags, stale);
      return Promise.resolve(stale);
    }
    const running = this.loads.get(key);
    if (running !== undefined) {
      this.counters.coalesced++;
      return running as Promise<Value>;
    }
    const load = this.load(key, userKey, factory, options, implicitTags).finally(() => {
      this.loads.delete(key);
    });
    this.loads.set(key, load);
    return load;
  }

  private async load<Value>(
    key: string,
    userKey: string,
    factory: Factory<Value>,
    options: GetOrSetOptions,
    implicitTags: readonly string[],
  ): Promise<Value> {
    const found = await this.readStores(key, this.tiers.length);
    if (found !== undefined) {
      if (found.entry.expiresAt > this.clock.now()) {
        this.counters.hits++;
        return found.value as Value;
      }
      this.counters.staleHits++;
      this.refreshInBackground(key, userKey, factory, options, implicitTags, found.value as Value);
      return found.value as Value;
    }
    this.recordMiss(key);
    return this.compute(key, userKey, factory, options, implicitTags, undefined);
  }

  private refreshInBackground<Value>(
    key: string,
    userKey: string,
    factory: Factory<Value>,
    options: GetOrSetOptions,
    implicitTags: readonly string[],
    stale: Value,
  ): void {
    if (this.refreshing.has(key) || this.closed) return;
    const retryAt = this.refreshBackoff.get(key);
    if (retryAt !== undefined && retryAt > this.clock.now()) return;
    this.refreshing.add(key);
    this.counters.refreshStarted++;
    this.compute(key, userKey, factory, options, implicitTags, stale)
      .then(
        () => {
          this.refreshBackoff.delete(key);
        },
        (error: unknown) => {
          this.counters.refreshFailed++;
          if (this.refreshBackoff.size >= MAX_REFRESH_BACKOFFS) {
            const oldest = this.refreshBackoff.keys().next().value;
            if (oldest !== undefined) this.refreshBackoff.delete(oldest);
          }
          this.refreshBackoff.set(key, this.clock.now() + this.graceBackoffMs);
          if (this.events.has('cache-refresh-error')) {
            this.events.emit('cache-refresh-error', { key, error });
          }
        },
      )
      .finally(() => {
        this.refreshing.delete(key);
      });
  }

  /**
   * Produces a value: under the cross-process lease when there is one (waiting for the
   * holder's value instead of computing twice), otherwise directly.
   */
  private async compute<Value>(
    key: string,
    userKey: string,
    factory: Factory<Value>,
    options: GetOrSetOptions,
    implicitTags: readonly string[],
    stale: Value | undefined,
  ): Promise<Value> {
    const leaseTier = options.lease === false ? undefined : this.leaseTier;
    let token: string | undefined;
    if (leaseTier !== undefined) {
      let heldElsewhere = false;
      try {
        token = await leaseTier.store.acquireLease(key, this.leaseTtlMs);
        heldElsewhere = token === undefined;
      } catch (error) {
        // The lease tier is unreachable: compute here rather than wait for nobody.
        this.tierError(leaseTier, 'acquire-lease', error);
      }
      if (heldElsewhere) {
        this.counters.leaseWaits++;
        const found = await this.waitForRemote(key);
        if (found !== undefined) return found.value as Value;
        this.counters.leaseWaitTimeouts++;
      }
    }
    try {
      return await this.runFactory(key, userKey, factory, options, implicitTags, stale);
    } finally {
      if (token !== undefined && leaseTier !== undefined) {
        leaseTier.store
          .releaseLease(key, token)
          .catch((error) => this.tierError(leaseTier, 'release-lease', error));
      }
    }
  }

  private async waitForRemote(key: string): Promise<Found | undefined> {
    const leaseTier = this.leaseTier as Tier;
    const tierIndex = this.tiers.indexOf(leaseTier);
    const deadline = Date.now() + this.leaseWaitMs;
    let pause = 5;
    while (!this.closed) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) return undefined;
      await new Promise<void>((wake) => {
        let waiters = this.remoteWaiters.get(key);
        if (waiters === undefined) {
          waiters = new Set();
          this.remoteWaiters.set(key, waiters);
        }
        const done = () => {
          clearTimeout(timer);
          waiters.delete(done);
          if (waiters.size === 0) this.remoteWaiters.delete(key);
          wake();
        };
        const timer = setTimeout(done, Math.min(pause, remaining));
        waiters.add(done);
      });
      pause = Math.min(pause * 2, 100);
      const found = await this.readStores(key, tierIndex + 1);
      if (found !== undefined && found.entry.expiresAt > this.clock.now()) return found;
    }
    return undefined;
  }

  private async runFactory<Value>(
    key: string,
    userKey: string,
    factory: Factory<Value>,
    options: GetOrSetOptions,
    implicitTags: readonly string[],
    stale: Value | undefined,
  ): Promise<Value> {
    let ttl: Duration | undefined = options.ttl;
    let tags: readonly string[] | undefined = options.tags;
    let cost: number | undefined = options.cost;
    let skipped = false;
    const context: FactoryContext<Value> = {
      key: userKey,
      stale,
      setTtl: (value) => {
        ttl = value;
      },
      setTags: (value) => {
        tags = value;
      },
      setCost: (value) => {
        cost = value;
      },
      skip: () => {
        skipped = true;
      },
    };
    this.counters.factoryCalls++;
    let value: Value;
    try {
      const produced = factory(context);
      value =
        options.timeout === undefined
          ? await produced
          : await this.withFactoryTimeout(
              Promise.resolve(produced),
              parseDuration(options.timeout, 'timeout'),
              userKey,
            );
    } catch (error) {
      this.counters.factoryErrors++;
      throw error;
    }
    if (!skipped && value !== undefined) {
      await this.write(key, value, { ttl, grace: options.grace, tags, cost }, implicitTags);
    }
    return value;
  }

  private withFactoryTimeout<Value>(
    produced: Promise<Value>,
    timeoutMs: number,
    key: string,
  ): Promise<Value> {
    return new Promise<Value>((resolveValue, rejectValue) => {
      const timer = setTimeout(() => {
        this.counters.factoryTimeouts++;
        rejectValue(
          new SluiceError(
            'E_FACTORY_TIMEOUT',
            `the factory for '${key}' took longer than ${timeoutMs} ms`,
            {
              isRetryable: true,
            },
          ),
        );
      }, timeoutMs);
      produced.then(
        (value) => {
          clearTimeout(timer);
          resolveValue(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          rejectValue(error);
        },
      );
    });
  }

  // ---------------------------------------------------------------- writes

  async write(
    key: string,
    value: unknown,
    options: SetOptions,
    implicitTags: readonly string[],
  ): Promise<void> {
    if (value === undefined) {
      throw new SluiceError('E_INVALID_VALUE', `cannot cache undefined under '${key}'`);
    }
    const now = this.clock.now();
    const ttl = options.ttl === undefined ? this.ttlMs : durationOrInfinity(options.ttl, 'ttl');
    const grace = options.grace === undefined ? this.graceMs : graceMs(options.grace, 'grace');
    const tags =
      options.tags === undefined || options.tags.length === 0
        ? implicitTags
        : implicitTags.length === 0
          ? options.tags
          : [...implicitTags, ...options.tags];
    let expiresAt = now + ttl;
    let staleUntil = expiresAt + grace;
    if (tags.length > 0) {
      const horizon = now + this.tagRetentionMs;
      expiresAt = Math.min(expiresAt, horizon);
      staleUntil = Math.min(staleUntil, horizon);
    }
    const bytes = this.needsBytes ? this.serializer.serialize(value) : undefined;
    this.l1.set(
      key,
      value,
      bytes?.byteLength ?? 0,
      now,
      expiresAt,
      staleUntil,
      tags.length > 0 ? tags : undefined,
      options.cost,
    );
    this.l1Stats.sets++;
    if (bytes !== undefined && this.tiers.length > 0) {
      const entry: StoredEntry = { value: bytes, createdAt: now, expiresAt, staleUntil, tags };
      await Promise.all(
        this.tiers.map((tier) =>
          tier.store.set(key, entry).then(
            () => {
              tier.stats.sets++;
            },
            (error) => {
              this.tierError(tier, 'set', error);
              // The shared tier may still hold an older value: remove it once it is back.
              if (tier.shared) this.queueInvalidation({ kind: 'delete', key, olderThan: now - 1 });
            },
          ),
        ),
      );
    }
    if (this.events.has('cache-set')) this.events.emit('cache-set', { key });
    if (this.bus !== undefined) void this.publish({ kind: 'set', keys: [key], time: now });
  }

  async delete(key: string): Promise<boolean> {
    const now = this.clock.now();
    let removed = this.l1.delete(key);
    if (removed) this.l1Stats.deletes++;
    await Promise.all(
      this.tiers.map((tier) =>
        tier.store.delete(key).then(
          (gone) => {
            if (gone) {
              tier.stats.deletes++;
              removed = true;
            }
          },
          (error) => {
            this.tierError(tier, 'delete', error);
            if (tier.shared) this.queueInvalidation({ kind: 'delete', key, olderThan: now });
          },
        ),
      ),
    );
    if (this.events.has('cache-delete')) this.events.emit('cache-delete', { key });
    await this.publish({ kind: 'delete', keys: [key], time: now });
    return removed;
  }

  async invalidateTags(tags: readonly string[]): Promise<void> {
    if (tags.length === 0) return;
    const now = this.clock.now();
    const list = [...new Set(tags)];
    this.applyTagInvalidation(list, now);
    await Promise.all(
      this.tiers.map((tier) =>
        tier.store.invalidateTags(list, now).catch((error) => {
          this.tierError(tier, 'invalidate-tags', error);
          if (tier.shared) this.queueInvalidation({ kind: 'tags', tags: list, time: now });
        }),
      ),
    );
    if (this.events.has('cache-invalidate')) this.events.emit('cache-invalidate', { tags: list });
    await this.publish({ kind: 'tags', tags: list, time: now });
  }

  async clear(): Promise<void> {
    const now = this.clock.now();
    this.l1.clear();
    this.tagTimes.clear();
    await Promise.all(
      this.tiers.map((tier) =>
        tier.store.clear().catch((error) => {
          this.tierError(tier, 'clear', error);
          if (tier.shared) this.queueInvalidation({ kind: 'clear' });
        }),
      ),
    );
    if (this.events.has('cache-clear')) this.events.emit('cache-clear', { namespace: '' });
    await this.publish({ kind: 'clear', time: now });
  }

  private applyTagInvalidation(tags: readonly string[], time: number): void {
    for (const tag of tags) {
      this.rememberTagTime(tag, time);
      this.l1.deleteTag(tag, time);
    }
  }

  // ---------------------------------------------------------------- bus and faults

  private async publish(message: BusMessage): Promise<void> {
    if (this.bus === undefined) return;
    try {
      await this.bus.publish(message);
      this.counters.busPublished++;
    } catch (error) {
      this.counters.busErrors++;
      if (this.events.has('cache-error')) {
        this.events.emit('cache-error', { tier: 'bus', operation: 'publish', error });
      }
      if (message.kind === 'set' || message.kind === 'delete') {
        for (const key of message.keys) {
          this.queueInvalidation({
            kind: 'delete',
            key,
            olderThan: message.time - (message.kind === 'set' ? 1 : 0),
          });
        }
      } else if (message.kind === 'tags') {
        this.queueInvalidation({ kind: 'tags', tags: message.tags, time: message.time });
      } else {
        this.queueInvalidation({ kind: 'clear' });
      }
    }
  }

  private onBusMessage(message: BusMessage): void {
    this.counters.busReceived++;
    const local = this.tiers.filter((tier) => !tier.shared);
    switch (message.kind) {
      case 'set':
      case 'delete': {
        // Another process wrote or removed these keys: our copies are older.
        const olderThan = message.kind === 'set' ? message.time - 1 : message.time;
        for (const key of message.keys) {
          this.l1.delete(key);
          for (const tier of local) {
            tier.store
              .delete(key, olderThan)
              .catch((error) => this.tierError(tier, 'delete', error));
          }
          if (message.kind === 'set') this.wakeRemoteWaiters(key);
        }
        return;
      }
      case 'tags': {
        this.applyTagInvalidation(message.tags, message.time);
        for (const tier of local) {
          tier.store
            .invalidateTags(message.tags, message.time)
            .catch((error) => this.tierError(tier, 'invalidate-tags', error));
        }
        return;
      }
      case 'clear': {
        this.l1.clear();
        this.tagTimes.clear();
        for (const tier of local) {
          tier.store.clear().catch((error) => this.tierError(tier, 'clear', error));
        }
        return;
      }
    }
  }

  private wakeRemoteWaiters(key: string): void {
    const waiters = this.remoteWaiters.get(key);
    if (waiters === undefined) return;
    for (const wake of [...waiters]) wake();
  }

  /** Messages may have been lost: drop what only the bus kept coherent. */
  private resync(reason: string): void {
    this.counters.busResyncs++;
    this.l1.clear();
    this.tagTimes.clear();
    for (const waiters of this.remoteWaiters.values()) for (const wake of [...waiters]) wake();
    if (this.events.has('cache-bus-resync')) this.events.emit('cache-bus-resync', { reason });
    this.replayInvalidations();
  }

  private tierError(tier: Tier, operation: string, error: unknown): void {
    tier.stats.errors++;
    if (this.events.has('cache-error')) {
      this.events.emit('cache-error', { tier: tier.name, operation, error });
    }
  }

  private queueInvalidation(invalidation: PendingInvalidation): void {
    if (this.pendingInvalidations.length >= this.maxPendingInvalidations) {
      this.pendingOverflowed = true;
      this.pendingInvalidations = [];
    }
    if (!this.pendingOverflowed) this.pendingInvalidations.push(invalidation);
    this.scheduleReplay();
  }

  private replayTimer: NodeJS.Timeout | undefined;

  private scheduleReplay(delayMs = 1_000): void {
    if (this.replayTimer !== undefined || this.closed) return;
    this.replayTimer = setTimeout(() => {
      this.replayTimer = undefined;
      this.replayInvalidations();
    }, delayMs);
    this.replayTimer.unref();
  }

  /**
   * Re-applies invalidations that could not reach the shared tier (and other processes)
   * while it was unreachable. Runs on a timer and after the bus reconnects.
   */
  replayInvalidations(): void {
    if (this.replaying || this.closed) return;
    if (this.pendingInvalidations.length === 0 && !this.pendingOverflowed) return;
    const shared = this.tiers.find((tier) => tier.shared);
    this.replaying = true;
    const overflowed = this.pendingOverflowed;
    const batch = this.pendingInvalidations;
    this.pendingOverflowed = false;
    this.pendingInvalidations = [];
    const apply = async (): Promise<void> => {
      if (overflowed) {
        await shared?.store.clear();
        await this.bus?.publish({ kind: 'clear', time: this.clock.now() });
        return;
      }
      for (const item of batch) {
        if (item.kind === 'delete') {
          await shared?.store.delete(item.key, item.olderThan);
          await this.bus?.publish({ kind: 'delete', keys: [item.key], time: item.olderThan });
        } else if (item.kind === 'tags') {
          await shared?.store.invalidateTags(item.tags, item.time);
          await this.bus?.publish({ kind: 'tags', tags: item.tags, time: item.time });
        } else {
          await shared?.store.clear();
          await this.bus?.publish({ kind: 'clear', time: this.clock.now() });
        }
      }
    };
    apply()
      .catch(() => {
        // Still unreachable: keep everything for the next attempt.
        if (overflowed) this.pendingOverflowed = true;
        else this.pendingInvalidations = [...batch, ...this.pendingInvalidations];
        this.scheduleReplay(2_000);
      })
      .finally(() => {
        this.replaying = false;
      });
  }

  // ---------------------------------------------------------------- lifecycle

  async ready(timeoutMs: number): Promise<boolean> {
    const checks: Array<Promise<boolean>> = [];
    for (const tier of this.tiers) {
      const store = tier.store as CacheStore & { ready?: (timeoutMs: number) => Promise<boolean> };
      if (typeof store.ready === 'function') checks.push(store.ready(timeoutMs));
    }
    if (this.bus !== undefined) checks.push(this.bus.ready(timeoutMs));
    const results = await Promise.all(checks);
    return results.every(Boolean);
  }

  stats(): CacheStats {
    const c = this.counters;
    const lookups = c.hits + c.staleHits + c.misses;
    const tiers: CacheStats['tiers'] = {
      l1: {
        ...this.l1Stats,
        entries: this.l1.size,
        bytes: this.l1.bytes,
        policy: this.l1.policyName,
      },
    };
    for (const tier of this.tiers) {
      const usage = tier.store.usage();
      tiers[tier.name as 'l2' | 'l3'] = {
        ...tier.stats,
        evictions: usage.evictions ?? tier.stats.evictions,
        ...(usage.entries === undefined ? {} : { entries: usage.entries }),
        ...(usage.bytes === undefined ? {} : { bytes: usage.bytes }),
        kind: tier.store.kind,
      };
    }
    return {
      hits: c.hits,
      staleHits: c.staleHits,
      misses: c.misses,
      hitRatio: lookups === 0 ? 0 : (c.hits + c.staleHits) / lookups,
      tiers,
      factory: { calls: c.factoryCalls, errors: c.factoryErrors, timeouts: c.factoryTimeouts },
      refresh: { started: c.refreshStarted, failed: c.refreshFailed },
      singleFlight: {
        coalesced: c.coalesced,
        leaseWaits: c.leaseWaits,
        leaseWaitTimeouts: c.leaseWaitTimeouts,
      },
      bus: {
        published: c.busPublished,
        received: c.busReceived,
        resyncs: c.busResyncs,
        errors: c.busErrors,
      },
      pendingInvalidations: this.pendingInvalidations.length,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.replayTimer !== undefined) clearTimeout(this.replayTimer);
    for (const waiters of this.remoteWaiters.values()) for (const wake of [...waiters]) wake();
    await Promise.allSettled([...this.loads.values()]);
    await this.bus?.close();
    await Promise.all(this.tiers.map((tier) => tier.store.close().catch(() => {})));
    this.l1.clear();
    this.events.removeAll();
  }
}

/**
 * A tiered cache: L1 in this process, optional L2 (shared, e.g. Redis) and L3 (persistent,
 * e.g. SQLite). Reads walk L1 → L2 → L3 and promote hits; writes go through every tier.
 */
export class Cache {
  readonly #core: CacheCore;
  readonly #prefix: string;
  readonly #tags: readonly string[];
  /** The namespace path of this face ('' for the root). */
  readonly namespaceName: string;

  /** @internal use `createCache` */
  constructor(core: CacheCore, prefix: string, tags: readonly string[], name: string) {
    this.#core = core;
    this.#prefix = prefix;
    this.#tags = tags;
    this.namespaceName = name;
  }

  /** The fresh value, or undefined. With `allowStale`, a value within grace is returned too. */
  get<Value = unknown>(key: string, options?: GetOptions): Promise<Value | undefined> {
    const core = this.#core;
    const fullKey = this.#prefix + key;
    const now = core.clock.now();
    const slot = core.l1Fresh(fullKey, now);
    if (slot !== NOT_FOUND) return Promise.resolve(core.l1.value(slot) as Value);
    const allowStale = options?.allowStale === true;
    if (allowStale) {
      const staleSlot = core.l1Stale(fullKey, now);
      if (staleSlot !== NOT_FOUND) {
        core.recordStaleHit(fullKey, 'l1');
        return Promise.resolve(core.l1.value(staleSlot) as Value);
      }
    }
    if (core.tiers.length === 0) {
      core.recordMiss(fullKey);
      return Promise.resolve(undefined);
    }
    return core.getFromStores(fullKey, allowStale) as Promise<Value | undefined>;
  }

  /**
   * The fresh value if this process's memory tier holds it (counted as a hit), synchronously;
   * otherwise undefined, with nothing counted: then ask `get` or `getOrSet`, which count the
   * miss and read the other tiers. For hot paths that answer most requests from memory.
   */
  getLocal<Value = unknown>(key: string): Value | undefined {
    const core = this.#core;
    const slot = core.l1FreshIfHeld(this.#prefix + key, core.clock.now());
    return slot === NOT_FOUND ? undefined : (core.l1.value(slot) as Value);
  }

  /** Stores a value in every tier and tells other processes to drop their copies. */
  set(key: string, value: unknown, options: SetOptions = NO_OPTIONS): Promise<void> {
    return this.#core.write(this.#prefix + key, value, options, this.#tags);
  }

  /**
   * The cached value, or the factory's. Concurrent callers share one factory call; with a
   * lease-capable L2, so do callers in other processes. Within grace, the stale value is
   * returned at once while one background refresh runs.
   */
  getOrSet<Value>(
    key: string,
    factory: Factory<Value>,
    options: GetOrSetOptions = NO_OPTIONS,
  ): Promise<Value> {
    return this.#core.getOrSet(this.#prefix + key, key, factory, options, this.#tags);
  }

  /** Removes the key from every tier of every process. Resolves true if any tier held it. */
  delete(key: string): Promise<boolean> {
    return this.#core.delete(this.#prefix + key);
  }

  /** Makes every entry carrying any of `tags` unreachable, in all tiers of all processes. */
  invalidateTags(tags: readonly string[]): Promise<void> {
    return this.#core.invalidateTags(tags);
  }

  /** Removes every entry of this namespace (of the whole cache, at the root). */
  clear(): Promise<void> {
    const namespaceTag = this.#tags[this.#tags.length - 1];
    if (namespaceTag === undefined) return this.#core.clear();
    return this.#core.invalidateTags([namespaceTag]);
  }

  /**
   * A view whose keys live apart from every other namespace and whose `clear()` removes
   * only its own entries (in every tier and process). Namespaces nest.
   */
  namespace(name: string): Cache {
    if (name.length === 0 || name.includes(NAMESPACE_SEPARATOR)) {
      throw new ConfigError('a namespace name must be non-empty and must not contain \\x1f');
    }
    const path =
      this.namespaceName === '' ? name : `${this.namespaceName}${NAMESPACE_SEPARATOR}${name}`;
    return new Cache(
      this.#core,
      `${path}${NAMESPACE_SEPARATOR}`,
      [...this.#tags, `${NAMESPACE_SEPARATOR}ns${NAMESPACE_SEPARATOR}${path}`],
      path,
    );
  }

  /** Subscribe to an event; returns the unsubscribe function. */
  on<Name extends keyof CacheEvents>(
    name: Name,
    listener: (payload: CacheEvents[Name]) => void,
  ): () => void {
    return this.#core.events.on(name, listener);
  }

  /** Statistics of the whole cache (all namespaces share tiers). */
  stats(): CacheStats {
    return this.#core.stats();
  }

  /** Resolves true once the L2 connection and the bus are ready; false after `timeoutMs`. Never throws. */
  ready(timeoutMs = 2_000): Promise<boolean> {
    return this.#core.ready(timeoutMs);
  }

  /** Waits for in-flight loads, closes the bus and the stores (and clients they created). */
  close(): Promise<void> {
    return this.#core.close();
  }
}

export function createCache(options: CacheOptions): Cache {
  return new Cache(new CacheCore(options), '', [], '');
}
