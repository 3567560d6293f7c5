import { ConfigError } from '../shared/errors.js';
import { type EvictionPolicy, type PolicyFactory, resolvePolicy } from './policy.js';

/** One entry of the in-process tier. */
export interface TierNode<Value> {
  readonly key: string;
  /** The entry's integer slot, which the eviction policy orders. */
  readonly slot: number;
  /** Weight in bytes (serialized size), or 0 when the tier is bounded by count only. */
  size: number;
  value: Value;
  createdAt: number;
  expiresAt: number;
  staleUntil: number;
  tags: readonly string[] | undefined;
}

export type EvictionReason = 'capacity' | 'expired' | 'too-large';

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
   * Eviction policy: a registered name or a factory.
   * @default 'lru'
   */
  policy?: string | PolicyFactory;
  /** Called for every entry that leaves because of a bound or its expiry. */
  onEvict?: (node: TierNode<Value>, reason: EvictionReason) => void;
}

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
 */
export class MemoryTier<Value> {
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly maxEntryBytes: number;
  private readonly map = new Map<string, TierNode<Value>>();
  private readonly byTag = new Map<string, Set<TierNode<Value>>>();
  private readonly policy: EvictionPolicy;
  /** Entry by slot; freed slots are reused before new ones are taken. */
  private slots: Array<TierNode<Value> | undefined> = [];
  private readonly freeSlots: number[] = [];
  private slotCapacity = 0;
  private readonly onEvict: ((node: TierNode<Value>, reason: EvictionReason) => void) | undefined;
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
   * The live node for `key`, counting the access for the policy. A node past its
   * `staleUntil` is removed and not returned. A node past `expiresAt` but within grace is
   * returned; the caller decides whether stale is acceptable.
   */
  get(key: string, now: number): TierNode<Value> | undefined {
    const node = this.map.get(key);
    if (node === undefined) {
      this.policy.miss(key);
      return undefined;
    }
    if (node.staleUntil <= now) {
      this.unlink(node);
      this.onEvict?.(node, 'expired');
      this.policy.miss(key);
      return undefined;
    }
    this.policy.touch(node.slot);
    return node;
  }

  /** Like `get` but without counting an access. */
  peek(key: string, now: number): TierNode<Value> | undefined {
    const node = this.map.get(key);
    return node !== undefined && node.staleUntil > now ? node : undefined;
  }

  has(key: string, now: number): boolean {
    return this.peek(key, now) !== undefined;
  }

  /**
   * Stores a value. Returns false when the entry is larger than `maxEntryBytes` (any older
   * entry under the key is removed, so a stale value is never left behind).
   */
  set(
    key: string,
    value: Value,
    size: number,
    createdAt: number,
    expiresAt: number,
    staleUntil: number,
    tags: readonly string[] | undefined,
  ): boolean {
    const existing = this.map.get(key);
    if (size > this.maxEntryBytes) {
      if (existing !== undefined) this.unlink(existing);
      return false;
    }
    if (existing !== undefined) {
      this.totalBytes += size - existing.size;
      if (existing.tags !== tags) {
        this.unindex(existing);
        existing.tags = tags;
        this.index(existing);
      }
      existing.value = value;
      existing.size = size;
      existing.createdAt = createdAt;
      existing.expiresAt = expiresAt;
      existing.staleUntil = staleUntil;
      this.policy.update(existing.slot, size);
    } else {
      const slot = this.allocateSlot();
      const node: TierNode<Value> = {
        key,
        slot,
        value,
        size,
        createdAt,
        expiresAt,
        staleUntil,
        tags,
      };
      this.slots[slot] = node;
      this.map.set(key, node);
      this.totalBytes += size;
      this.index(node);
      this.policy.add(slot, key, size);
    }
    this.enforceBounds();
    return this.map.has(key);
  }

  /** Removes `key`; with `olderThan`, only an entry created at or before that time. */
  delete(key: string, olderThan = Number.POSITIVE_INFINITY): boolean {
    const node = this.map.get(key);
    if (node === undefined || node.createdAt > olderThan) return false;
    this.unlink(node);
    return true;
  }

  /** Removes every entry carrying `tag` created at or before `olderThan`; returns how many. */
  deleteTag(tag: string, olderThan = Number.POSITIVE_INFINITY): number {
    const nodes = this.byTag.get(tag);
    if (nodes === undefined) return 0;
    let removed = 0;
    for (const node of [...nodes]) {
      if (node.createdAt <= olderThan) {
        this.unlink(node);
        removed++;
      }
    }
    return removed;
  }

  clear(): void {
    this.map.clear();
    this.byTag.clear();
    this.policy.clear();
    this.slots = [];
    this.freeSlots.length = 0;
    this.totalBytes = 0;
  }

  keys(): IterableIterator<string> {
    return this.map.keys();
  }

  private unlink(node: TierNode<Value>): void {
    this.map.delete(node.key);
    this.totalBytes -= node.size;
    this.unindex(node);
    this.policy.remove(node.slot);
    this.slots[node.slot] = undefined;
    this.freeSlots.push(node.slot);
  }

  private allocateSlot(): number {
    const free = this.freeSlots.pop();
    if (free !== undefined) return free;
    const slot = this.slots.length;
    if (slot >= this.slotCapacity) {
      // One slot beyond maxEntries: an insert happens before the eviction it causes.
      const limit = Number.isFinite(this.maxEntries)
        ? this.maxEntries + 1
        : Number.POSITIVE_INFINITY;
      this.slotCapacity = Math.min(limit, Math.max(64, this.slotCapacity * 2));
      this.policy.grow(this.slotCapacity);
    }
    return slot;
  }

  private enforceBounds(): void {
    while (this.map.size > this.maxEntries || this.totalBytes > this.maxBytes) {
      const victim = this.slots[this.policy.victim()];
      if (victim === undefined) return;
      this.unlink(victim);
      this.onEvict?.(victim, 'capacity');
    }
  }

  private index(node: TierNode<Value>): void {
    if (node.tags === undefined) return;
    for (const tag of node.tags) {
      let nodes = this.byTag.get(tag);
      if (nodes === undefined) {
        nodes = new Set();
        this.byTag.set(tag, nodes);
      }
      nodes.add(node);
    }
  }

  private unindex(node: TierNode<Value>): void {
    if (node.tags === undefined) return;
    for (const tag of node.tags) {
      const nodes = this.byTag.get(tag);
      if (nodes === undefined) continue;
      nodes.delete(node);
      if (nodes.size === 0) this.byTag.delete(tag);
    }
  }
}
