import { type Clock, systemClock } from '../../shared/clock.js';
import type { StoredEntry } from '../entry.js';
import { MemoryTier } from '../memory-tier.js';
import type { CacheStore, StoreContext, StoreUsage } from '../store.js';

export interface MemoryStoreOptions {
  /** @default 10_000 */
  maxEntries?: number;
  /** Bytes of serialized values held. @default Infinity */
  maxBytes?: number;
}

const DEFAULT_TAG_RETENTION_MS = 7 * 86_400_000;

/**
 * A store that keeps serialized entries in this process. Useful as a second tier that
 * hands out copies (never shared object references), and as the reference store of the
 * conformance suite.
 */
export class MemoryStore implements CacheStore {
  readonly kind = 'memory';
  private readonly tier: MemoryTier<StoredEntry>;
  private readonly tags = new Map<string, number>();
  private clock: Clock = systemClock;
  private tagRetentionMs = DEFAULT_TAG_RETENTION_MS;
  private evictions = 0;

  constructor(options: MemoryStoreOptions = {}) {
    this.tier = new MemoryTier<StoredEntry>({
      maxEntries: options.maxEntries ?? (options.maxBytes === undefined ? 10_000 : undefined),
      maxBytes: options.maxBytes,
      onEvict: (_key, _value, reason) => {
        if (reason === 'capacity') this.evictions++;
      },
    });
  }

  attach(context: StoreContext): void {
    this.clock = context.clock;
    this.tagRetentionMs = context.tagRetentionMs;
  }

  async get(key: string): Promise<StoredEntry | undefined> {
    return this.tier.get(key, this.clock.now());
  }

  async set(key: string, entry: StoredEntry): Promise<void> {
    const copy: StoredEntry = { ...entry, value: Buffer.from(entry.value), tags: [...entry.tags] };
    this.tier.set(
      key,
      copy,
      copy.value.byteLength,
      entry.createdAt,
      entry.expiresAt,
      entry.staleUntil,
      undefined,
    );
  }

  async delete(key: string, olderThan?: number): Promise<boolean> {
    return this.tier.delete(key, olderThan);
  }

  async clear(): Promise<void> {
    this.tier.clear();
    this.tags.clear();
  }

  async tagTimes(tags: readonly string[]): Promise<Array<number | undefined>> {
    const horizon = this.clock.now() - this.tagRetentionMs;
    return tags.map((tag) => {
      const time = this.tags.get(tag);
      return time !== undefined && time > horizon ? time : undefined;
    });
  }

  async invalidateTags(tags: readonly string[], time: number): Promise<void> {
    for (const tag of tags) {
      const previous = this.tags.get(tag);
      if (previous !== undefined && previous >= time) continue;
      this.tags.delete(tag); // re-insert so the map stays ordered by invalidation time
      this.tags.set(tag, time);
    }
    this.forgetOldTags();
  }

  usage(): StoreUsage {
    return { entries: this.tier.size, bytes: this.tier.bytes, evictions: this.evictions };
  }

  async close(): Promise<void> {
    this.tier.clear();
    this.tags.clear();
  }

  private forgetOldTags(): void {
    const horizon = this.clock.now() - this.tagRetentionMs;
    for (const [tag, time] of this.tags) {
      if (time > horizon) break;
      this.tags.delete(tag);
    }
  }
}

export function memoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  return new MemoryStore(options);
}
