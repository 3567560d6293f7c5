/**
 * `createMemoryStore`: an agent's memory, bounded by entries and bytes. Each entry has a kind
 * (fact, observation, plan, tool-result, ...), a stage (short-term, working, long-term, ... each
 * with a priority and an optional idle TTL), an importance and its access times.
 *
 * Which entries survive is decided by one retention value:
 *
 *   importanceWeight × importance + stageWeight × stagePriority
 *     + recencyWeight × (lastAccessedAt − store creation) / recencyWindow
 *
 * The recency term grows linearly with the access time, so the order of two entries never
 * changes while time passes (only when one of them is accessed or updated): entries sit in an
 * indexed heap and eviction is O(log n), with no scan. With the default weights, being accessed
 * one `recencyWindow` later is worth as much as +1 importance or a stage of priority 1.
 */
import { randomUUID } from 'node:crypto';
import { type Tokenizer, tokenizerForModel } from '../cost/tokens.js';
import { type ByteSize, parseBytes } from '../shared/bytes.js';
import { type Clock, systemClock } from '../shared/clock.js';
import { type Duration, parseDuration } from '../shared/duration.js';
import { Emitter } from '../shared/emitter.js';
import { ConfigError, SluiceError } from '../shared/errors.js';
import { nonNegativeInteger, positiveInteger } from '../shared/integers.js';
import { IndexedMinHeap } from './heap.js';
import { SearchIndex } from './memory-search.js';
import { ratioOption } from './validate.js';

/** What a memory is. Any string; these are the usual ones. */
export type MemoryKind = 'fact' | 'observation' | 'plan' | 'tool-result' | (string & {});
/** Where a memory is in its life. Must be one of the store's `stages`. */
export type MemoryStage = 'short-term' | 'working' | 'long-term' | (string & {});

export interface MemoryEntry {
  readonly id: string;
  readonly content: string;
  readonly kind: MemoryKind;
  readonly stage: MemoryStage;
  /** 0..1. */
  readonly importance: number;
  /** Milliseconds since the epoch (the store's clock). */
  readonly createdAt: number;
  /** Set on `add` and on every `get`. */
  readonly lastAccessedAt: number;
  /** `get` calls since the entry was added. */
  readonly accessCount: number;
  /** UTF-8 bytes of `content`; what `maxBytes` bounds. */
  readonly bytes: number;
  /** Tokens of `content` with the store's tokenizer. */
  readonly tokens: number;
  /** Bytes of data the memory describes (a data-processing agent's processed volume), or 0. */
  readonly volumeBytes: number;
}

export interface MemoryInput {
  content: string;
  /** Replaces the entry with this id when there is one. @default a random UUID */
  id?: string;
  /** @default the store's `defaultKind` */
  kind?: MemoryKind;
  /** @default the store's `defaultStage` */
  stage?: MemoryStage;
  /** 0..1. @default the store's `defaultImportance` */
  importance?: number;
  /** Bytes of data the memory describes, for statistics. @default 0 */
  volumeBytes?: number;
}

export interface StageSettings {
  /** Priority in retention, 0..1. */
  priority: number;
  /** Removed after this long without an access (ms or `'30m'`-style). @default never */
  ttl?: Duration;
}

export interface RetentionWeights {
  /** @default 1 */
  importance: number;
  /** @default 1 */
  stage: number;
  /** Per `recencyWindow` of access time. @default 1 */
  recency: number;
}

export const DEFAULT_STAGES: Readonly<Record<string, StageSettings>> = {
  'short-term': { priority: 0.2 },
  working: { priority: 0.5 },
  'long-term': { priority: 1 },
};

export interface MemoryStoreOptions {
  /** Most entries kept. At least one of `maxEntries` and `maxBytes` is required. */
  maxEntries?: number;
  /** Most bytes of content kept (number or `'4mb'`-style). */
  maxBytes?: ByteSize;
  /** Model whose tokenizer counts entry tokens and `compressedContext` budgets. @default 'gpt-4o' */
  model?: string;
  /** Weights of the retention value (non-negative). */
  weights?: Partial<RetentionWeights>;
  /** Access-time difference worth one unit of recency weight. @default '1d' */
  recencyWindow?: Duration;
  /**
   * The stages, each with its priority and optional idle TTL; they replace the defaults.
   * @default { 'short-term': { priority: 0.2 }, working: { priority: 0.5 }, 'long-term': { priority: 1 } }
   */
  stages?: Readonly<Record<string, StageSettings>>;
  /** @default 'working' (or the first of `stages`) */
  defaultStage?: MemoryStage;
  /** @default 'observation' */
  defaultKind?: MemoryKind;
  /** @default 0.5 */
  defaultImportance?: number;
  /** @default the system clock */
  clock?: Clock;
}

export interface MemorySearchOptions {
  /** Most results. @default 10 */
  limit?: number;
  /** Only these kinds. */
  kinds?: readonly MemoryKind[];
  /** Only these stages. */
  stages?: readonly MemoryStage[];
  /** Count the results as accesses (like `get`). @default false */
  touch?: boolean;
}

export interface MemorySearchResult {
  entry: MemoryEntry;
  /** BM25 relevance (higher is better; ties go to the entry with the higher retention). */
  score: number;
}

export interface CompressOptions {
  /**
   * Order of the included entries in the text: as they were added, or most valuable first.
   * @default 'chronological'
   */
  order?: 'chronological' | 'priority';
}

export interface CompressedContext {
  /** The block: one line per included entry, then the omission marker when any was left out. */
  text: string;
  /** Tokens of `text`; at most the requested budget. */
  tokens: number;
  /** Ids of the included entries, in text order. */
  included: string[];
  /** Entries left out. */
  omitted: number;
}

export interface MemoryStats {
  entries: number;
  bytes: number;
  tokens: number;
  volumeBytes: number;
  maxEntries: number | undefined;
  maxBytes: number | undefined;
  /** The fuller of entries / maxEntries and bytes / maxBytes, 0..1. */
  utilization: number;
  averageImportance: number;
  oldestCreatedAt: number | undefined;
  newestCreatedAt: number | undefined;
  /** newestCreatedAt − oldestCreatedAt, in ms. */
  ageSpanMs: number;
  /** now − oldestCreatedAt, in ms. */
  oldestAgeMs: number;
  byKind: Record<string, { entries: number; bytes: number }>;
  byStage: Record<string, { entries: number; bytes: number }>;
  /** Entries removed to respect a bound, expired, or removed by `remove`. */
  evictions: { capacity: number; expired: number; removed: number };
}

export interface MemoryEvents {
  'memory-evicted': { entry: MemoryEntry; reason: 'capacity' | 'expired' };
}

export interface CleanupOptions {
  /** Shrink to at most this many entries (below `maxEntries`). */
  maxEntries?: number;
  /** Shrink to at most this many bytes (below `maxBytes`). */
  maxBytes?: ByteSize;
}

export interface MemoryStore {
  /**
   * Adds (or replaces, by id) an entry, then evicts the lowest-retention entries while a bound
   * is exceeded; the entry just added is never the one evicted. Throws a `SluiceError`
   * `E_MEMORY_ENTRY_TOO_LARGE` for content larger than `maxBytes`.
   */
  add(input: MemoryInput): MemoryEntry;
  /** The entry, counted as an access (its recency and TTL restart). */
  get(id: string): MemoryEntry | undefined;
  /** The entry, without counting an access. */
  peek(id: string): MemoryEntry | undefined;
  has(id: string): boolean;
  /** Changes an entry's importance, stage or kind (not an access). */
  update(
    id: string,
    patch: { importance?: number; stage?: MemoryStage; kind?: MemoryKind },
  ): MemoryEntry | undefined;
  /** Entries matching the words of `text`, most relevant first. */
  search(text: string, options?: MemorySearchOptions): MemorySearchResult[];
  remove(id: string): boolean;
  /**
   * Removes expired entries, then evicts the lowest-retention entries down to the bounds (or
   * the tighter targets given). Returns how many entries were removed.
   */
  cleanup(options?: CleanupOptions): number;
  /**
   * The most valuable entries as a text block of at most `maxTokens` tokens, with a marker such
   * as `[12 lower-priority memories omitted]` when some did not fit.
   */
  compressedContext(maxTokens: number, options?: CompressOptions): string;
  /** `compressedContext` with what was included. */
  compress(maxTokens: number, options?: CompressOptions): CompressedContext;
  /** All live entries, highest retention first. */
  entries(): MemoryEntry[];
  stats(): MemoryStats;
  clear(): void;
  on<Name extends keyof MemoryEvents>(
    name: Name,
    listener: (payload: MemoryEvents[Name]) => void,
  ): () => void;
  readonly size: number;
}

/** The marker appended when entries were left out of a compressed context. */
export function omittedMarker(omitted: number, volumeBytes = 0): string {
  const noun = omitted === 1 ? 'memory' : 'memories';
  const volume = volumeBytes > 0 ? `, describing ${formatVolume(volumeBytes)} of data` : '';
  return `[${omitted} lower-priority ${noun} omitted${volume}]`;
}

function formatVolume(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

interface StoredMemory {
  id: string;
  content: string;
  kind: string;
  stage: string;
  importance: number;
  createdAt: number;
  lastAccessedAt: number;
  accessCount: number;
  bytes: number;
  tokens: number;
  volumeBytes: number;
  /** Insertion sequence: ties in retention go to the older entry being evicted first. */
  sequence: number;
  /** Tokens of the entry's line in a compressed context (+1 for the newline), once counted. */
  lineTokens: number | undefined;
}

const ENTRY_TOO_LARGE = 'E_MEMORY_ENTRY_TOO_LARGE';

export function createMemoryStore(options: MemoryStoreOptions): MemoryStore {
  const maxEntries =
    options.maxEntries === undefined
      ? undefined
      : positiveInteger(options.maxEntries, 'maxEntries');
  const maxBytes =
    options.maxBytes === undefined ? undefined : parseBytes(options.maxBytes, 'maxBytes');
  if (maxEntries === undefined && maxBytes === undefined) {
    throw new ConfigError('a memory store needs a bound: set maxEntries, maxBytes or both');
  }
  if (maxBytes !== undefined && maxBytes < 1) throw new ConfigError('maxBytes must be at least 1');
  const weights: RetentionWeights = { importance: 1, stage: 1, recency: 1, ...options.weights };
  for (const [name, value] of Object.entries(weights)) {
    if (!Number.isFinite(value) || value < 0) {
      throw new ConfigError(`weights.${name} must be a non-negative number, got ${value}`);
    }
  }
  const recencyWindow = parseDuration(options.recencyWindow ?? '1d', 'recencyWindow');
  if (recencyWindow <= 0) throw new ConfigError('recencyWindow must be positive');
  const stages = new Map<string, { priority: number; ttl: number }>();
  for (const [name, stage] of Object.entries(options.stages ?? DEFAULT_STAGES)) {
    stages.set(name, {
      priority: ratioOption(`stages.${name}.priority`, stage.priority),
      ttl:
        stage.ttl === undefined
          ? Number.POSITIVE_INFINITY
          : parseDuration(stage.ttl, `stages.${name}.ttl`, { allowInfinite: true }),
    });
  }
  if (stages.size === 0) throw new ConfigError('stages must name at least one stage');
  const defaultStage =
    options.defaultStage ??
    (stages.has('working') ? 'working' : (stages.keys().next().value as string));
  if (!stages.has(defaultStage)) {
    throw new ConfigError(`defaultStage '${defaultStage}' is not one of the stages`);
  }
  const defaultKind = options.defaultKind ?? 'observation';
  const defaultImportance = ratioOption('defaultImportance', options.defaultImportance ?? 0.5);
  const clock = options.clock ?? systemClock;
  const epoch = clock.now();
  let tokenizer: Tokenizer | undefined;
  const tokenizerOf = (): Tokenizer => {
    tokenizer ??= tokenizerForModel(options.model ?? 'gpt-4o');
    return tokenizer;
  };

  const records = new Map<string, StoredMemory>();
  const retention = new IndexedMinHeap<StoredMemory>();
  const expiry = new IndexedMinHeap<StoredMemory>();
  const index = new SearchIndex();
  const events = new Emitter<MemoryEvents>();
  const evictions = { capacity: 0, expired: 0, removed: 0 };
  let totalBytes = 0;
  let sequence = 0;

  const stageOf = (name: string) => {
    const stage = stages.get(name);
    if (stage === undefined) {
      throw new ConfigError(
        `unknown memory stage '${name}'; configured stages: ${[...stages.keys()].join(', ')}`,
      );
    }
    return stage;
  };
  const retentionOf = (record: StoredMemory): number =>
    weights.importance * record.importance +
    weights.stage * stageOf(record.stage).priority +
    (weights.recency * (record.lastAccessedAt - epoch)) / recencyWindow;
  const rekey = (record: StoredMemory): void => {
    retention.set(record, retentionOf(record), record.sequence);
    const ttl = stageOf(record.stage).ttl;
    if (Number.isFinite(ttl)) expiry.set(record, record.lastAccessedAt + ttl, record.sequence);
    else expiry.delete(record);
  };
  const snapshot = (record: StoredMemory): MemoryEntry => ({
    id: record.id,
    content: record.content,
    kind: record.kind,
    stage: record.stage,
    importance: record.importance,
    createdAt: record.createdAt,
    lastAccessedAt: record.lastAccessedAt,
    accessCount: record.accessCount,
    bytes: record.bytes,
    tokens: record.tokens,
    volumeBytes: record.volumeBytes,
  });

  const detach = (record: StoredMemory): void => {
    records.delete(record.id);
    retention.delete(record);
    expiry.delete(record);
    index.remove(record.id);
    totalBytes -= record.bytes;
  };
  const evict = (record: StoredMemory, reason: 'capacity' | 'expired'): void => {
    detach(record);
    evictions[reason] += 1;
    if (events.has('memory-evicted'))
      events.emit('memory-evicted', { entry: snapshot(record), reason });
  };
  const isExpired = (record: StoredMemory, now: number): boolean =>
    record.lastAccessedAt + stageOf(record.stage).ttl <= now;
  const purgeExpired = (now: number): number => {
    let removed = 0;
    for (
      let next = expiry.peek();
      next !== undefined && isExpired(next, now);
      next = expiry.peek()
    ) {
      evict(next, 'expired');
      removed += 1;
    }
    return removed;
  };
  const live = (id: string): StoredMemory | undefined => {
    const record = records.get(id);
    if (record === undefined) return undefined;
    if (isExpired(record, clock.now())) {
      evict(record, 'expired');
      return undefined;
    }
    return record;
  };
  /** Evicts lowest-retention entries until within the limits, sparing `spare`. */
  const shrink = (entryLimit: number, byteLimit: number, spare?: StoredMemory): number => {
    let removed = 0;
    if (spare !== undefined) retention.delete(spare);
    while (records.size > entryLimit || totalBytes > byteLimit) {
      const lowest = retention.peek();
      if (lowest === undefined) break;
      evict(lowest, 'capacity');
      removed += 1;
    }
    if (spare !== undefined && records.has(spare.id)) rekey(spare);
    return removed;
  };
  const checkImportance = (importance: number): number => ratioOption('importance', importance);

  const ordered = (): StoredMemory[] => {
    purgeExpired(clock.now());
    const values = new Map<StoredMemory, number>();
    for (const record of records.values()) values.set(record, retentionOf(record));
    return [...records.values()].sort(
      (a, b) => (values.get(b) as number) - (values.get(a) as number) || b.sequence - a.sequence,
    );
  };

  const store: MemoryStore = {
    add(input) {
      if (typeof input?.content !== 'string') throw new ConfigError('content must be a string');
      const stage = input.stage ?? defaultStage;
      stageOf(stage);
      const importance = checkImportance(input.importance ?? defaultImportance);
      const volumeBytes = input.volumeBytes ?? 0;
      if (!Number.isFinite(volumeBytes) || volumeBytes < 0) {
        throw new ConfigError(`volumeBytes must be a non-negative number, got ${volumeBytes}`);
      }
      const bytes = Buffer.byteLength(input.content, 'utf8');
      if (maxBytes !== undefined && bytes > maxBytes) {
        throw new SluiceError(
          ENTRY_TOO_LARGE,
          `memory content is ${bytes} bytes, more than maxBytes (${maxBytes})`,
        );
      }
      const now = clock.now();
      const id = input.id ?? randomUUID();
      const previous = records.get(id);
      if (previous !== undefined) detach(previous);
      const record: StoredMemory = {
        id,
        content: input.content,
        kind: input.kind ?? defaultKind,
        stage,
        importance,
        createdAt: previous?.createdAt ?? now,
        lastAccessedAt: now,
        accessCount: 0,
        bytes,
        tokens: tokenizerOf().count(input.content),
        volumeBytes,
        sequence: sequence++,
        lineTokens: undefined,
      };
      records.set(id, record);
      totalBytes += bytes;
      index.add(id, input.content);
      rekey(record);
      purgeExpired(now);
      shrink(maxEntries ?? Number.POSITIVE_INFINITY, maxBytes ?? Number.POSITIVE_INFINITY, record);
      return snapshot(record);
    },

    get(id) {
      const record = live(id);
      if (record === undefined) return undefined;
      record.lastAccessedAt = clock.now();
      record.accessCount += 1;
      rekey(record);
      return snapshot(record);
    },

    peek(id) {
      const record = live(id);
      return record === undefined ? undefined : snapshot(record);
    },

    has(id) {
      return live(id) !== undefined;
    },

    update(id, patch) {
      const record = live(id);
      if (record === undefined) return undefined;
      if (patch.stage !== undefined) stageOf(patch.stage);
      if (patch.importance !== undefined) record.importance = checkImportance(patch.importance);
      if (patch.stage !== undefined) record.stage = patch.stage;
      if (patch.kind !== undefined) {
        record.kind = patch.kind;
        record.lineTokens = undefined;
      }
      rekey(record);
      return snapshot(record);
    },

    search(text, searchOptions = {}) {
      const limit = positiveInteger(searchOptions.limit ?? 10, 'limit');
      const kinds = searchOptions.kinds === undefined ? undefined : new Set(searchOptions.kinds);
      const stageFilter =
        searchOptions.stages === undefined ? undefined : new Set(searchOptions.stages);
      purgeExpired(clock.now());
      const matches: { record: StoredMemory; score: number; value: number }[] = [];
      for (const [id, score] of index.score(text)) {
        const record = records.get(id);
        if (record === undefined) continue;
        if (kinds !== undefined && !kinds.has(record.kind)) continue;
        if (stageFilter !== undefined && !stageFilter.has(record.stage)) continue;
        matches.push({ record, score, value: retentionOf(record) });
      }
      matches.sort((a, b) => b.score - a.score || b.value - a.value);
      const top = matches.slice(0, limit);
      if (searchOptions.touch === true) {
        const now = clock.now();
        for (const { record } of top) {
          record.lastAccessedAt = now;
          record.accessCount += 1;
          rekey(record);
        }
      }
      return top.map(({ record, score }) => ({ entry: snapshot(record), score }));
    },

    remove(id) {
      const record = records.get(id);
      if (record === undefined) return false;
      detach(record);
      evictions.removed += 1;
      return true;
    },

    cleanup(cleanupOptions = {}) {
      const entryTarget = Math.min(
        maxEntries ?? Number.POSITIVE_INFINITY,
        cleanupOptions.maxEntries === undefined
          ? Number.POSITIVE_INFINITY
          : nonNegativeInteger(cleanupOptions.maxEntries, 'maxEntries'),
      );
      const byteTarget = Math.min(
        maxBytes ?? Number.POSITIVE_INFINITY,
        cleanupOptions.maxBytes === undefined
          ? Number.POSITIVE_INFINITY
          : parseBytes(cleanupOptions.maxBytes, 'maxBytes'),
      );
      return purgeExpired(clock.now()) + shrink(entryTarget, byteTarget);
    },

    compressedContext(maxTokens, compressOptions) {
      return store.compress(maxTokens, compressOptions).text;
    },

    compress(maxTokens, compressOptions = {}) {
      nonNegativeInteger(maxTokens, 'maxTokens');
      const order = compressOptions.order ?? 'chronological';
      const count = tokenizerOf().count;
      const candidates = ordered();
      const lines = candidates.map(lineOf);
      const lineTokens = candidates.map((record, position) => {
        record.lineTokens ??= count(lines[position] as string) + 1;
        return record.lineTokens;
      });
      const totalVolume = candidates.reduce((sum, record) => sum + record.volumeBytes, 0);
      const allTokens = lineTokens.reduce((sum, tokens) => sum + tokens, 0);
      // Room for the marker at its longest (every entry omitted, all their volume).
      const markerReserve =
        allTokens <= maxTokens ? 0 : count(omittedMarker(candidates.length, totalVolume)) + 1;
      const chosen: number[] = [];
      let used = markerReserve;
      lineTokens.forEach((tokens, position) => {
        if (used + tokens <= maxTokens) {
          chosen.push(position);
          used += tokens;
        }
      });
      // Token counts of joined lines can differ from the sum by a token at a boundary: check the
      // real text and give up the least valuable line until it fits.
      for (;;) {
        const text = render(chosen, candidates, lines, order);
        const tokens = count(text);
        if (tokens <= maxTokens || chosen.length === 0) {
          if (tokens > maxTokens)
            return { text: '', tokens: 0, included: [], omitted: candidates.length };
          const included = orderedPositions(chosen, candidates, order).map(
            (position) => (candidates[position] as StoredMemory).id,
          );
          return { text, tokens, included, omitted: candidates.length - chosen.length };
        }
        chosen.pop();
      }
    },

    entries() {
      return ordered().map(snapshot);
    },

    stats() {
      const now = clock.now();
      purgeExpired(now);
      const byKind: MemoryStats['byKind'] = {};
      const byStage: MemoryStats['byStage'] = {};
      let tokens = 0;
      let volumeBytes = 0;
      let importance = 0;
      let oldest: number | undefined;
      let newest: number | undefined;
      for (const record of records.values()) {
        tokens += record.tokens;
        volumeBytes += record.volumeBytes;
        importance += record.importance;
        oldest = oldest === undefined ? record.createdAt : Math.min(oldest, record.createdAt);
        newest = newest === undefined ? record.createdAt : Math.max(newest, record.createdAt);
        tally(byKind, record.kind, record.bytes);
        tally(byStage, record.stage, record.bytes);
      }
      const size = records.size;
      return {
        entries: size,
        bytes: totalBytes,
        tokens,
        volumeBytes,
        maxEntries,
        maxBytes,
        utilization: Math.max(
          maxEntries === undefined ? 0 : size / maxEntries,
          maxBytes === undefined ? 0 : totalBytes / maxBytes,
        ),
        averageImportance: size === 0 ? 0 : importance / size,
        oldestCreatedAt: oldest,
        newestCreatedAt: newest,
        ageSpanMs: oldest === undefined || newest === undefined ? 0 : newest - oldest,
        oldestAgeMs: oldest === undefined ? 0 : now - oldest,
        byKind,
        byStage,
        evictions: { ...evictions },
      };
    },

    clear() {
      records.clear();
      retention.clear();
      expiry.clear();
      index.clear();
      totalBytes = 0;
    },

    on(name, listener) {
      return events.on(name, listener);
    },

    get size() {
      return records.size;
    },
  };

  function render(
    chosen: readonly number[],
    candidates: readonly StoredMemory[],
    lines: readonly string[],
    order: 'chronological' | 'priority',
  ): string {
    const parts = orderedPositions(chosen, candidates, order).map(
      (position) => lines[position] as string,
    );
    const omitted = candidates.length - chosen.length;
    if (omitted > 0) {
      const chosenSet = new Set(chosen);
      const volume = candidates.reduce(
        (sum, record, position) => (chosenSet.has(position) ? sum : sum + record.volumeBytes),
        0,
      );
      parts.push(omittedMarker(omitted, volume));
    }
    return parts.join('\n');
  }

  return store;
}

/** Positions of the chosen entries in text order (they are chosen most valuable first). */
function orderedPositions(
  chosen: readonly number[],
  candidates: readonly StoredMemory[],
  order: 'chronological' | 'priority',
): number[] {
  if (order === 'priority') return [...chosen];
  return [...chosen].sort((a, b) => {
    const first = candidates[a] as StoredMemory;
    const second = candidates[b] as StoredMemory;
    return first.createdAt - second.createdAt || first.sequence - second.sequence;
  });
}

function tally(
  groups: Record<string, { entries: number; bytes: number }>,
  name: string,
  bytes: number,
): void {
  const group = groups[name] ?? { entries: 0, bytes: 0 };
  group.entries += 1;
  group.bytes += bytes;
  groups[name] = group;
}

function lineOf(record: StoredMemory): string {
  return `- (${record.kind}) ${record.content.replace(/\r?\n/g, '\n  ')}`;
}
