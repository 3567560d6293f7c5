import { ConfigError } from '../shared/errors.js';
import { type EvictionPolicy, type PolicyFactory, resolvePolicy } from './policy.js';
import { widen } from './slot-list.js';

/** A copy of one entry's fields (for inspection; the hot paths read slots directly). */
export interface TierEntry<Value> {
  key: string;
  value: Value;
  /** Weight in bytes (serialized size), or 0 when the tier is bounded by count only. */
  size: number;
  createdAt: number;
  expiresAt: number;
  staleUntil: number;
  tags: readonly string[] | undefined;
}

export type EvictionReason = 'capacity' | 'expired';

export interface MemoryTierOptions<Value> {
  /**
   * Most entries held. At least one of `maxEntries` and `maxBytes` is required.
   * @default Infinity
   */
  maxEntries?: number;
  /**
   * Most bytes held, counting each entry at its serialized size.
   * @default Infinity
   */
  maxBytes?: number;
  /**
   * Largest single entry admitted, in bytes; a larger one is not held in this tier.
   * @default maxBytes
   */
  maxEntryBytes?: number;
  /**
   * Eviction policy: a registered name (`'tinylfu'`: adaptive W-TinyLFU, frequency-aware and
   * scan-resistant; `'lru'`: least recently used) or a factory.
   * @default 'tinylfu'
   */
  policy?: string | PolicyFactory;
  /** Called for every entry that leaves because of a bound or its expiry. */
  onEvict?: (key: string, value: Value, reason: EvictionReason) => void;
}

export const NOT_FOUND = -1;

function checkBound(value: number | undefined, name: string): number {
  if (value === undefined) return Number.POSITIVE_INFINITY;
  if (!(value > 0) || (Number.isFinite(value) && !Number.isInteger(value))) {
    throw new ConfigError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/**
 * The in-process (L1) tier: a bounded map whose eviction order is delegated to a policy.
 * It never grows past `maxEntries` or `maxBytes`. Values are held live (not serialized).
 *
 * Entries live in slots: the map holds key → slot, and every field lives in an array
 * indexed by slot (numbers in typed arrays). A hit reads a few array cells and never
 * dereferences a per-entry object — the layout that makes lru-cache fast.
 */
export class MemoryTier<Value> {
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly maxEntryBytes: number;
  private readonly map = new Map<string, number>();
  private readonly byTag = new Map<string, Set<number>>();
  private readonly policy: EvictionPolicy;
  private readonly onEvict:
    | ((key: string, value: Value, reason: EvictionReason) => void)
    | undefined;
  private keyAt: Array<string | undefined> = [];
  private valueAt: Array<Value | undefined> = [];
  private tagsAt: Array<readonly string[] | undefined> = [];
  private sizeAt = new Float64Array(0);
  private createdAtAt = new Float64Array(0);
  private expiresAtAt = new Float64Array(0);
  private staleUntilAt = new Float64Array(0);
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  private totalBytes = 0;

  constructor(options: MemoryTierOptions<Value>) {
    this.maxEntries = checkBound(options.maxEntries, 'maxEntries');
    this.maxBytes = checkBound(options.maxBytes, 'maxBytes');
    if (
      this.maxEntries === Number.POSITIVE_INFINITY &&
      this.maxBytes === Number.POSITIVE_INFINITY
    ) {
      throw new ConfigError(
        'the in-process tier needs a bound: set maxEntries, maxBytes or both (an unbounded cache is a memory leak)',
      );
    }
    this.maxEntryBytes = Math.min(
      checkBound(options.maxEntryBytes, 'maxEntryBytes'),
      this.maxBytes,
    );
    this.policy = resolvePolicy(options.policy)({
      maxEntries: this.maxEntries,
      maxBytes: this.maxBytes,
    });
    this.onEvict = options.onEvict;
  }

  /** Entries held. */
  get size(): number {
    return this.map.size;
  }

  /** Bytes held (sum of entry sizes). */
  get bytes(): number {
    return this.totalBytes;
  }

  get policyName(): string {
    return this.policy.name;
  }

  /**
   * The slot of `key`, counting the access for the policy, or `NOT_FOUND`. An entry past
   * its `staleUntil` is removed and not found. An entry past `expiresAt` but within grace
   * is found; the caller decides whether stale is acceptable (`expiresAt(slot)`).
   */
  find(key: string, now: number): number {
    const slot = this.map.get(key);
    if (slot === undefined) {
      this.policy.miss(key);
      return NOT_FOUND;
    }
    if ((this.staleUntilAt[slot] as number) <= now) {
      const value = this.valueAt[slot] as Value;
      this.unlink(slot);
      this.onEvict?.(key, value, 'expired');
      this.policy.miss(key);
      return NOT_FOUND;
    }
    this.policy.touch(slot);
    return slot;
  }

  /** The value of `key` if held and not past `staleUntil`, counting the access. */
  get(key: string, now: number): Value | undefined {
    const slot = this.find(key, now);
    return slot === NOT_FOUND ? undefined : this.valueAt[slot];
  }

  /** The slot of `key` without counting an access, or `NOT_FOUND`. */
  findQuietly(key: string, now: number): number {
    const slot = this.map.get(key);
    return slot !== undefined && (this.staleUntilAt[slot] as number) > now ? slot : NOT_FOUND;
  }

  /** A copy of the entry under `key`, without counting an access. */
  peek(key: string, now: number): TierEntry<Value> | undefined {
    const slot = this.findQuietly(key, now);
    if (slot === NOT_FOUND) return undefined;
    return {
      key,
      value: this.valueAt[slot] as Value,
      size: this.sizeAt[slot] as number,
      createdAt: this.createdAtAt[slot] as number,
      expiresAt: this.expiresAtAt[slot] as number,
      staleUntil: this.staleUntilAt[slot] as number,
      tags: this.tagsAt[slot],
    };
  }

  has(key: string, now: number): boolean {
    return this.findQuietly(key, now) !== NOT_FOUND;
  }

  value(slot: number): Value {
    return this.valueAt[slot] as Value;
  }

  expiresAt(slot: number): number {
    return this.expiresAtAt[slot] as number;
  }

  /**
   * Stores a value; `cost` is what recomputing it would cost (USD, ms; 0 if unknown), for
   * cost-aware policies. Returns false when the entry is not held: larger than `maxEntryBytes`
   * (any older entry under the key is removed, so a stale value is never left behind), or
   * refused by the policy's admission.
   */
  set(
    key: string,
    value: Value,
    size: number,
    createdAt: number,
    expiresAt: number,
    staleUntil: number,
    tags: readonly string[] | undefined,
    cost = 0,
  ): boolean {
    const existing = this.map.get(key);
    if (size > this.maxEntryBytes) {
      if (existing !== undefined) this.unlink(existing);
      return false;
    }
    let slot: number;
    if (existing !== undefined) {
      slot = existing;
      this.totalBytes += size - (this.sizeAt[slot] as number);
      if (this.tagsAt[slot] !== tags) {
        this.unindex(slot);
        this.tagsAt[slot] = tags;
        this.index(slot);
      }
      this.valueAt[slot] = value;
      this.sizeAt[slot] = size;
      this.createdAtAt[slot] = createdAt;
      this.expiresAtAt[slot] = expiresAt;
      this.staleUntilAt[slot] = staleUntil;
      this.policy.update(slot, size, cost);
    } else {
      slot = this.allocateSlot();
      this.keyAt[slot] = key;
      this.valueAt[slot] = value;
      this.tagsAt[slot] = tags;
      this.sizeAt[slot] = size;
      this.createdAtAt[slot] = createdAt;
      this.expiresAtAt[slot] = expiresAt;
      this.staleUntilAt[slot] = staleUntil;
      this.map.set(key, slot);
      this.totalBytes += size;
      this.index(slot);
      this.policy.add(slot, key, size, cost);
    }
    this.enforceBounds();
    return this.keyAt[slot] === key;
  }

  /** Removes `key`; with `olderThan`, only an entry created at or before that time. */
  delete(key: string, olderThan = Number.POSITIVE_INFINITY): boolean {
    const slot = this.map.get(key);
    if (slot === undefined || (this.createdAtAt[slot] as number) > olderThan) return false;
    this.unlink(slot);
    return true;
  }

  /** Removes every entry carrying `tag` created at or before `olderThan`; returns how many. */
  deleteTag(tag: string, olderThan = Number.POSITIVE_INFINITY): number {
    const slots = this.byTag.get(tag);
    if (slots === undefined) return 0;
    let removed = 0;
    for (const slot of [...slots]) {
      if ((this.createdAtAt[slot] as number) <= olderThan) {
        this.unlink(slot);
        removed++;
      }
    }
    return removed;
  }

  clear(): void {
    this.map.clear();
    this.byTag.clear();
    this.policy.clear();
    this.keyAt = [];
    this.valueAt = [];
    this.tagsAt = [];
    this.freeSlots.length = 0;
    this.nextSlot = 0;
    this.totalBytes = 0;
  }

  keys(): IterableIterator<string> {
    return this.map.keys();
  }

  private unlink(slot: number): void {
    this.map.delete(this.keyAt[slot] as string);
    this.totalBytes -= this.sizeAt[slot] as number;
    this.unindex(slot);
    this.policy.remove(slot);
    this.keyAt[slot] = undefined;
    this.valueAt[slot] = undefined;
    this.tagsAt[slot] = undefined;
    this.freeSlots.push(slot);
  }

  private allocateSlot(): number {
    const free = this.freeSlots.pop();
    if (free !== undefined) return free;
    const slot = this.nextSlot++;
    if (slot >= this.sizeAt.length) this.grow();
    return slot;
  }

  private grow(): void {
    // One slot beyond maxEntries: an insert happens before the eviction it causes.
    const limit = Number.isFinite(this.maxEntries) ? this.maxEntries + 1 : Number.POSITIVE_INFINITY;
    const capacity = Math.min(limit, Math.max(64, this.sizeAt.length * 2));
    this.sizeAt = widen(this.sizeAt, capacity);
    this.createdAtAt = widen(this.createdAtAt, capacity);
    this.expiresAtAt = widen(this.expiresAtAt, capacity);
    this.staleUntilAt = widen(this.staleUntilAt, capacity);
    this.policy.grow(capacity);
  }

  private enforceBounds(): void {
    while (this.map.size > this.maxEntries || this.totalBytes > this.maxBytes) {
      const victim = this.policy.victim();
      const key = this.keyAt[victim];
      if (victim < 0 || key === undefined) return;
      const value = this.valueAt[victim] as Value;
      this.unlink(victim);
      this.onEvict?.(key, value, 'capacity');
    }
  }

  private index(slot: number): void {
    const tags = this.tagsAt[slot];
    if (tags === undefined) return;
    for (const tag of tags) {
      let slots = this.byTag.get(tag);
      if (slots === undefined) {
        slots = new Set();
        this.byTag.set(tag, slots);
      }
      slots.add(slot);
    }
  }

  private unindex(slot: number): void {
    const tags = this.tagsAt[slot];
    if (tags === undefined) return;
    for (const tag of tags) {
      const slots = this.byTag.get(tag);
      if (slots === undefined) continue;
      slots.delete(slot);
      if (slots.size === 0) this.byTag.delete(tag);
    }
  }
}
