import { createHash, randomBytes } from 'node:crypto';
import { jsonSerializer, type Serializer } from '../cache/serializer.js';
import type { BusMessage, InvalidationBus } from '../cache/store.js';
import { type Clock, systemClock } from '../shared/clock.js';
import { type Duration, parseDuration } from '../shared/duration.js';
import { Emitter } from '../shared/emitter.js';
import { ConfigError, SluiceError } from '../shared/errors.js';
import { type HealthReporter, unreported } from '../shared/health.js';
import type { Embedder } from './embedder.js';
import { analyzeText, type GuardName, type TextAnalysis } from './features.js';
import {
  canonicalJson,
  normalizeText,
  parseRequest,
  type SemanticRequest,
  type SemanticScope,
  type Uncacheable,
} from './request.js';
import type { LoadedEntry, PersistedEntry, SemanticStore } from './semantic-store.js';
import { AdaptiveIndex, type HnswOptions } from './vector-index.js';
import { Verifier, type VerifierParams } from './verifier.js';

/**
 * Entries per scope below which the exact (brute-force) index is used. Measured with
 * 512-dimension unit vectors (bench/semantic.ts, "index crossover"): brute force and HNSW
 * cost the same near 256 vectors (≈0.08 ms); at 1,024 HNSW is 3× faster.
 */
export const DEFAULT_HNSW_THRESHOLD = 256;

/** The default share of look-alike pairs the verifier may accept (on its calibration split). */
export const DEFAULT_TARGET_FALSE_HIT_RATE = 0.001;

export interface SemanticCacheOptions {
  /** Turns request texts into vectors: `localEmbedder()` or `openAIEmbedder(...)`. */
  embedder: Embedder;
  /** Told when the store fails and when a write works again (the gateway's health registry). */
  health?: HealthReporter;
  /**
   * Persists entries and shares them between processes: `sqliteSemanticStore({ path })`,
   * `redisSemanticStore({ url })`. Without one, entries live in this process only.
   */
  store?: SemanticStore;
  /**
   * Carries new and removed entries to other processes. Defaults to the store's bus when it
   * has one (Redis pub/sub); `false` turns it off.
   */
  bus?: InvalidationBus | false;
  /** Most entries held (all scopes together); the least recently used go first. @default 10_000 */
  maxEntries?: number;
  /** How long an entry answers; `Infinity` for never. @default '1h' */
  ttl?: Duration;
  /**
   * Share of look-alike (non-paraphrase) pairs the verifier may accept, as measured on the
   * calibration split of its fit; sets the default score threshold. The default favours
   * precision (QQP dev: precision ≈ 0.96 at recall ≈ 0.02); raise it per namespace where
   * requests are well-formed and recall matters (see docs/semantic.md).
   * @default 0.001
   */
  targetFalseHitRate?: number;
  /** A score threshold in [0, 1] that overrides `targetFalseHitRate`. */
  threshold?: number;
  /** Per-namespace overrides of `threshold` / `targetFalseHitRate`. */
  namespaces?: Record<string, { threshold?: number; targetFalseHitRate?: number }>;
  /** Fitted verifier parameters; the shipped ones are fitted for `localEmbedder()`. */
  verifier?: VerifierParams;
  /** Guards whose mismatch refuses a hit on its own. @default all six */
  vetoGuards?: readonly GuardName[];
  /**
   * Use the shipped verifier with an embedder it was not fitted for. Its thresholds then mean
   * little: fit parameters for your embedder instead (bench/semantic-fit.ts).
   * @default false
   */
  allowUncalibrated?: boolean;
  /** Nearest entries the verifier examines per lookup. @default 4 */
  candidates?: number;
  /**
   * Neighbourhood margin: refuse (reason `ambiguous`) unless the winning candidate is more
   * similar than every other live candidate with a different response by at least this margin.
   * Two near-equal matches with different answers mean the cache cannot tell which one the
   * request asks for; a closer candidate that was vetoed or scored lower means the request sits
   * among look-alikes, and the cache does not fall back to a farther entry. 0 turns it off.
   * @default 0.01
   */
  ambiguityMargin?: number;
  /**
   * Cache requests with earlier turns (a digest of them joins the scope). Off by default:
   * the meaning of "and in Celsius?" depends on the conversation.
   * @default false
   */
  multiTurn?: boolean;
  /** Entries per scope from which the index is HNSW instead of brute force. @default 256 */
  hnswThreshold?: number;
  hnsw?: HnswOptions;
  /** @default jsonSerializer */
  serializer?: Serializer;
  /**
   * What identifies a response for deduplication. Default: the response with `id`,
   * `created`, `system_fingerprint` and `usage` removed at the top level and string
   * whitespace collapsed, so two completions with the same answer share one stored body.
   */
  normalizeResponse?: (response: unknown) => unknown;
  clock?: Clock;
}

export type MissReason =
  | Uncacheable
  | 'no-candidate'
  | 'low-similarity'
  | 'below-threshold'
  | 'ambiguous'
  | `guard:${GuardName}`;

export type SemanticLookup =
  | {
      hit: true;
      response: unknown;
      /** Cosine similarity of the two request texts. */
      similarity: number;
      /** The verifier's score (1 for an exact text match). */
      score: number;
      entryId: string;
      /** The cached request text that answered. */
      matchedText: string;
      /** True when the texts were identical (no embedding was needed). */
      exact: boolean;
    }
  | { hit: false; reason: MissReason; bestSimilarity?: number };

export type StoreResult =
  | { stored: true; entryId: string; deduplicated: boolean }
  | { stored: false; reason: Uncacheable | 'exists' };

export interface SemanticCacheStats {
  lookups: number;
  hits: number;
  /** Hits on identical text (no embedding computed). */
  exactHits: number;
  misses: number;
  missesByReason: Partial<Record<MissReason, number>>;
  hitRatio: number;
  stores: number;
  storesSkipped: number;
  entries: number;
  scopes: number;
  hnswScopes: number;
  evictions: number;
  expired: number;
  responses: {
    /** Distinct response bodies held. */
    unique: number;
    /** Entries stored whose response body was already held. */
    deduplicated: number;
    /** Bytes not held thanks to deduplication (sum over current entries). */
    savedBytes: number;
    bytes: number;
  };
  /** `errors`: embedder calls that failed (each a lookup or store that could not be served). */
  embed: { calls: number; texts: number; reused: number; totalMs: number; errors: number };
  index: { searches: number; totalMs: number; verifyMs: number };
  bus: { published: number; received: number; loaded: number; errors: number };
  storeErrors: number;
  /** Default score threshold, and whether the verifier was fitted for this embedder. */
  threshold: number;
  calibrated: boolean;
}

export interface SemanticCacheEvents {
  'semantic-hit': { namespace: string; similarity: number; score: number; exact: boolean };
  'semantic-miss': { namespace: string; reason: MissReason; bestSimilarity?: number };
  'semantic-store': { namespace: string; entryId: string; deduplicated: boolean };
  'semantic-error': { operation: string; error: unknown };
}

interface MemoryEntry {
  readonly id: string;
  readonly label: number;
  readonly scopeKey: string;
  readonly namespace: string;
  readonly text: string;
  readonly normalized: string;
  readonly vector: Float32Array;
  readonly responseHash: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  analysis: TextAnalysis | undefined;
}

interface ScopeState {
  index: AdaptiveIndex;
  /** Normalised text → entry id: the exact-match fast path. */
  texts: Map<string, string>;
}

interface HeldResponse {
  bytes: Uint8Array;
  references: number;
}

const BUS_KEY_PREFIX = 'sem:';
const CLEAR_KEY = 'sem:*';
const RECENT_VECTORS = 256;
const TOMBSTONES = 10_000;
const VOLATILE_FIELDS = new Set(['id', 'created', 'system_fingerprint', 'usage']);

/**
 * A semantic cache: answers a request with the response to an earlier request of the same
 * scope that means the same, and refuses look-alikes that differ in a number, a negation, a
 * name, a direction, a quoted string or a code identifier.
 */
export class SemanticCache {
  readonly events = new Emitter<SemanticCacheEvents>();
  readonly verifier: Verifier;
  private readonly embedder: Embedder;
  private readonly persistence: SemanticStore | undefined;
  private readonly health: HealthReporter;
  private readonly bus: InvalidationBus | undefined;
  private readonly clock: Clock;
  private readonly serializer: Serializer;
  private readonly normalizeResponse: (response: unknown) => unknown;
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly candidates: number;
  private readonly ambiguityMargin: number;
  private readonly multiTurn: boolean;
  private readonly hnswThreshold: number;
  private readonly hnswOptions: HnswOptions;
  private readonly defaultThreshold: number;
  private readonly namespaceThresholds = new Map<string, number>();
  private readonly calibrated: boolean;
  /** In least-recently-used order (a hit moves an entry to the end). */
  private readonly entries = new Map<string, MemoryEntry>();
  private readonly byLabel = new Map<number, MemoryEntry>();
  private readonly scopes = new Map<string, ScopeState>();
  private readonly responses = new Map<string, HeldResponse>();
  /** The last texts looked up and their vectors, so `store` after a miss does not embed again. */
  private readonly recentVectors = new Map<string, Float32Array>();
  /** Ids removed recently, so a late bus load does not resurrect them. */
  private readonly tombstones = new Set<string>();
  private nextLabel = 0;
  private loading: Promise<void> | undefined;
  private closed = false;
  private readonly counters = {
    lookups: 0,
    hits: 0,
    exactHits: 0,
    misses: 0,
    missesByReason: {} as Partial<Record<MissReason, number>>,
    stores: 0,
    storesSkipped: 0,
    evictions: 0,
    expired: 0,
    deduplicated: 0,
    embedCalls: 0,
    embedTexts: 0,
    embedReused: 0,
    embedMs: 0,
    embedErrors: 0,
    searches: 0,
    searchMs: 0,
    verifyMs: 0,
    published: 0,
    received: 0,
    loaded: 0,
    busErrors: 0,
    storeErrors: 0,
  };

  constructor(options: SemanticCacheOptions) {
    if (options.embedder === undefined)
      throw new ConfigError('createSemanticCache needs an embedder');
    this.embedder = options.embedder;
    this.persistence = options.store;
    this.health = options.health ?? unreported;
    this.clock = options.clock ?? systemClock;
    this.serializer = options.serializer ?? jsonSerializer;
    this.normalizeResponse = options.normalizeResponse ?? defaultNormalizeResponse;
    this.maxEntries = options.maxEntries ?? 10_000;
    if (!(Number.isInteger(this.maxEntries) && this.maxEntries > 0)) {
      throw new ConfigError(`maxEntries must be a positive integer, got ${options.maxEntries}`);
    }
    this.ttlMs = parseDuration(options.ttl ?? '1h', 'ttl', { allowInfinite: true });
    this.candidates = options.candidates ?? 4;
    if (!(Number.isInteger(this.candidates) && this.candidates >= 1 && this.candidates <= 100)) {
      throw new ConfigError(
        `candidates must be an integer from 1 to 100, got ${options.candidates}`,
      );
    }
    this.ambiguityMargin = options.ambiguityMargin ?? 0.01;
    this.multiTurn = options.multiTurn ?? false;
    this.hnswThreshold = options.hnswThreshold ?? DEFAULT_HNSW_THRESHOLD;
    this.hnswOptions = options.hnsw ?? {};
    this.verifier = new Verifier(options.verifier, options.vetoGuards);
    this.calibrated = this.verifier.params.embedder === this.embedder.id;
    if (!this.calibrated && options.verifier === undefined && options.allowUncalibrated !== true) {
      throw new ConfigError(
        `the shipped verifier is fitted for embedder '${this.verifier.params.embedder}', not '${this.embedder.id}': pass verifier parameters fitted for it (bench/semantic-fit.ts), or allowUncalibrated: true`,
      );
    }
    this.defaultThreshold = this.resolveThreshold(
      options.threshold,
      options.targetFalseHitRate,
      'default',
    );
    for (const [namespace, override] of Object.entries(options.namespaces ?? {})) {
      this.namespaceThresholds.set(
        namespace,
        this.resolveThreshold(
          override.threshold,
          override.targetFalseHitRate ??
            (override.threshold === undefined ? options.targetFalseHitRate : undefined),
          `namespaces.${namespace}`,
        ),
      );
    }
    if (options.bus !== false) {
      this.bus = options.bus ?? this.persistence?.createBus?.();
    }
  }

  /** Loads persisted entries and joins the bus; `lookup` and `store` wait for it implicitly. */
  ready(): Promise<void> {
    this.loading ??= this.load();
    return this.loading;
  }

  /**
   * Loads the embedding model now rather than on the first lookup (for the local model, a
   * third of a second that the first requests would otherwise wait). Rejects with the
   * embedder's error when it cannot load; lookups then miss (and count `embed.errors`).
   */
  async warmUp(): Promise<void> {
    this.assertOpen();
    await this.embedder.warmUp?.();
  }

  /** The score threshold used for `namespace`. */
  thresholdFor(namespace: string): number {
    return this.namespaceThresholds.get(namespace) ?? this.defaultThreshold;
  }

  async lookup(
    request: SemanticRequest,
    options: { scope: SemanticScope },
  ): Promise<SemanticLookup> {
    await this.ready();
    this.assertOpen();
    this.counters.lookups++;
    const namespace = options.scope.namespace;
    const parsed = parseRequest(request, options.scope, this.multiTurn);
    if (typeof parsed === 'string') return this.miss(namespace, parsed);
    const scope = this.scopes.get(parsed.scopeKey);
    if (scope === undefined || scope.index.size === 0) return this.miss(namespace, 'no-candidate');

    const now = this.clock.now();
    const normalized = normalizeText(parsed.text);
    const exactId = scope.texts.get(normalized);
    const exact = exactId === undefined ? undefined : this.entries.get(exactId);
    if (exact !== undefined) {
      if (exact.expiresAt > now) return this.hit(exact, namespace, 1, 1, true);
      this.expire(exact);
    }

    const vector = await this.embedOne(parsed.text);
    this.rememberVector(normalized, vector);
    let started = performance.now();
    const neighbours = scope.index.search(vector, this.candidates);
    this.counters.searches++;
    this.counters.searchMs += performance.now() - started;
    if (neighbours.labels.length === 0) return this.miss(namespace, 'no-candidate');

    started = performance.now();
    const query = analyzeText(parsed.text);
    const threshold = this.thresholdFor(namespace);
    const minSimilarity = this.verifier.params.minSimilarity;
    let best: { entry: MemoryEntry; similarity: number; score: number } | undefined;
    let firstFailure: MissReason | undefined;
    const bestSimilarity = neighbours.similarities[0];
    for (let index = 0; index < neighbours.labels.length; index++) {
      const entry = this.byLabel.get(neighbours.labels[index] as number);
      const similarity = neighbours.similarities[index] as number;
      if (entry === undefined) continue;
      if (entry.expiresAt <= now) {
        this.expire(entry);
        continue;
      }
      if (similarity < minSimilarity) {
        firstFailure ??= 'low-similarity';
        continue;
      }
      entry.analysis ??= analyzeText(entry.text);
      const verdict = this.verifier.verify(query, entry.analysis, similarity);
      if (verdict.vetoedBy !== undefined) {
        firstFailure ??= `guard:${verdict.vetoedBy}`;
      } else if (verdict.score < threshold) {
        firstFailure ??= 'below-threshold';
      } else if (best === undefined || verdict.score > best.score) {
        best = { entry, similarity, score: verdict.score };
      }
    }
    this.counters.verifyMs += performance.now() - started;
    if (best !== undefined && this.ambiguityMargin > 0) {
      // Neighbourhood margin: the winner must be the nearest live candidate with its answer by
      // at least `ambiguityMargin`. Another answer nearly as similar, or *more* similar (a
      // closer neighbour that was vetoed or scored lower), means the query sits in a crowd of
      // look-alikes; falling back to a farther entry there is how wrong answers happen.
      for (let index = 0; index < neighbours.labels.length; index++) {
        const other = this.byLabel.get(neighbours.labels[index] as number);
        const similarity = neighbours.similarities[index] as number;
        if (other === undefined || other === best.entry || other.expiresAt <= now) continue;
        if (other.responseHash === best.entry.responseHash) continue;
        if (best.similarity - similarity < this.ambiguityMargin && similarity >= minSimilarity) {
          return this.miss(namespace, 'ambiguous', bestSimilarity);
        }
      }
    }
    if (best !== undefined)
      return this.hit(best.entry, namespace, best.similarity, best.score, false);
    return this.miss(namespace, firstFailure ?? 'no-candidate', bestSimilarity);
  }

  async store(
    request: SemanticRequest,
    response: unknown,
    options: { scope: SemanticScope; ttl?: Duration },
  ): Promise<StoreResult> {
    await this.ready();
    this.assertOpen();
    const parsed = parseRequest(request, options.scope, this.multiTurn);
    if (typeof parsed === 'string') {
      this.counters.storesSkipped++;
      return { stored: false, reason: parsed };
    }
    const now = this.clock.now();
    const normalized = normalizeText(parsed.text);
    const existingId = this.scopes.get(parsed.scopeKey)?.texts.get(normalized);
    const existing = existingId === undefined ? undefined : this.entries.get(existingId);
    if (existing !== undefined && existing.expiresAt > now) {
      this.counters.storesSkipped++;
      return { stored: false, reason: 'exists' };
    }
    if (existing !== undefined) this.expire(existing);

    const vector = this.recentVectors.get(normalized) ?? (await this.embedOne(parsed.text));
    if (this.recentVectors.has(normalized)) this.counters.embedReused++;
    const bytes = this.serializer.serialize(response);
    const responseHash = createHash('sha256')
      .update(canonicalJson(this.normalizeResponse(response)))
      .digest('base64url');
    const ttlMs =
      options.ttl === undefined
        ? this.ttlMs
        : parseDuration(options.ttl, 'ttl', { allowInfinite: true });
    const persisted: PersistedEntry = {
      id: randomBytes(12).toString('base64url'),
      scopeKey: parsed.scopeKey,
      namespace: options.scope.namespace,
      text: parsed.text,
      vector,
      responseHash,
      createdAt: now,
      expiresAt: now + ttlMs,
    };
    const deduplicated = this.responses.has(responseHash);
    this.insert(persisted, bytes);
    this.counters.stores++;
    this.events.emit('semantic-store', {
      namespace: options.scope.namespace,
      entryId: persisted.id,
      deduplicated,
    });
    if (this.persistence !== undefined) {
      try {
        await this.persistence.put(persisted, bytes);
        this.health.ok();
        await this.publish({ kind: 'set', keys: [BUS_KEY_PREFIX + persisted.id], time: now });
      } catch (error) {
        this.storeError('store', error);
      }
    }
    this.evictToBound();
    return { stored: true, entryId: persisted.id, deduplicated };
  }

  /**
   * Semantic invalidation: removes the entries of the request's scope whose text is at least
   * `minSimilarity` similar to the request's (e.g. after the facts behind an answer changed).
   * Returns how many were removed.
   */
  async invalidate(
    request: SemanticRequest,
    options: { scope: SemanticScope; minSimilarity?: number },
  ): Promise<number> {
    await this.ready();
    const parsed = parseRequest(request, options.scope, this.multiTurn);
    if (typeof parsed === 'string') return 0;
    const scope = this.scopes.get(parsed.scopeKey);
    if (scope === undefined) return 0;
    const vector = await this.embedOne(parsed.text);
    const neighbours = scope.index.search(vector, 64);
    const minimum = options.minSimilarity ?? 0.9;
    const victims: MemoryEntry[] = [];
    neighbours.labels.forEach((label, index) => {
      const entry = this.byLabel.get(label);
      if (entry !== undefined && (neighbours.similarities[index] as number) >= minimum)
        victims.push(entry);
    });
    await this.removeEverywhere(victims);
    return victims.length;
  }

  /** Removes every entry of `namespace`, or every entry when none is given. */
  async clear(namespace?: string): Promise<void> {
    await this.ready();
    if (namespace === undefined) {
      for (const entry of [...this.entries.values()]) this.remove(entry);
      if (this.persistence !== undefined) {
        try {
          await this.persistence.clear();
          await this.publish({ kind: 'delete', keys: [CLEAR_KEY], time: this.clock.now() });
        } catch (error) {
          this.storeError('clear', error);
        }
      }
      return;
    }
    await this.removeEverywhere(
      [...this.entries.values()].filter((entry) => entry.namespace === namespace),
    );
  }

  stats(): SemanticCacheStats {
    const counters = this.counters;
    let savedBytes = 0;
    let bytes = 0;
    for (const held of this.responses.values()) {
      bytes += held.bytes.byteLength;
      savedBytes += (held.references - 1) * held.bytes.byteLength;
    }
    let hnswScopes = 0;
    for (const scope of this.scopes.values()) if (scope.index.kind === 'hnsw') hnswScopes++;
    const answered = counters.hits + counters.misses;
    return {
      lookups: counters.lookups,
      hits: counters.hits,
      exactHits: counters.exactHits,
      misses: counters.misses,
      missesByReason: { ...counters.missesByReason },
      hitRatio: answered === 0 ? 0 : counters.hits / answered,
      stores: counters.stores,
      storesSkipped: counters.storesSkipped,
      entries: this.entries.size,
      scopes: this.scopes.size,
      hnswScopes,
      evictions: counters.evictions,
      expired: counters.expired,
      responses: {
        unique: this.responses.size,
        deduplicated: counters.deduplicated,
        savedBytes,
        bytes,
      },
      embed: {
        calls: counters.embedCalls,
        texts: counters.embedTexts,
        reused: counters.embedReused,
        totalMs: counters.embedMs,
        errors: counters.embedErrors,
      },
      index: {
        searches: counters.searches,
        totalMs: counters.searchMs,
        verifyMs: counters.verifyMs,
      },
      bus: {
        published: counters.published,
        received: counters.received,
        loaded: counters.loaded,
        errors: counters.busErrors,
      },
      storeErrors: counters.storeErrors,
      threshold: this.defaultThreshold,
      calibrated: this.calibrated,
    };
  }

  /** Index kind (`'exact'` or `'hnsw'`) and size of the scope `request` falls in; for tests and diagnostics. */
  scopeIndex(
    request: SemanticRequest,
    scope: SemanticScope,
  ): { kind: 'exact' | 'hnsw'; size: number } | undefined {
    const parsed = parseRequest(request, scope, this.multiTurn);
    if (typeof parsed === 'string') return undefined;
    const state = this.scopes.get(parsed.scopeKey);
    return state === undefined ? undefined : { kind: state.index.kind, size: state.index.size };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.loading?.catch(() => {});
    await this.bus?.close();
    await this.persistence?.close();
    await this.embedder.close?.();
    this.events.removeAll();
  }

  // ---------------------------------------------------------------- internals

  private resolveThreshold(
    threshold: number | undefined,
    target: number | undefined,
    name: string,
  ): number {
    if (threshold !== undefined) {
      if (!(threshold >= 0 && threshold <= 1)) {
        throw new ConfigError(`${name} threshold must be in [0, 1], got ${threshold}`);
      }
      return threshold;
    }
    return this.verifier.thresholdFor(target ?? DEFAULT_TARGET_FALSE_HIT_RATE);
  }

  private async load(): Promise<void> {
    if (this.bus !== undefined) {
      this.bus.start({
        message: (message) => {
          this.onBusMessage(message);
        },
        resync: () => {
          void this.resync();
        },
      });
    }
    if (this.persistence !== undefined) {
      try {
        await this.persistence.ready?.(2_000);
        for (const entry of await this.persistence.loadAll(this.clock.now(), this.maxEntries)) {
          this.insertLoaded(entry);
        }
      } catch (error) {
        this.storeError('load', error);
      }
    }
    if (this.bus !== undefined && !(await this.bus.ready(2_000))) {
      this.counters.busErrors++;
    }
  }

  private async resync(): Promise<void> {
    if (this.persistence === undefined || this.closed) return;
    try {
      const loaded = await this.persistence.loadAll(this.clock.now(), this.maxEntries);
      const live = new Set(loaded.map((entry) => entry.id));
      for (const entry of [...this.entries.values()]) if (!live.has(entry.id)) this.remove(entry);
      for (const entry of loaded) this.insertLoaded(entry);
    } catch (error) {
      this.storeError('resync', error);
    }
  }

  private onBusMessage(message: BusMessage): void {
    if (this.closed || message.kind === 'tags') return;
    this.counters.received++;
    if (message.kind === 'clear') return; // the tiered cache's clear is not ours
    const ids = message.keys
      .filter((key) => key.startsWith(BUS_KEY_PREFIX))
      .map((key) => key.slice(BUS_KEY_PREFIX.length));
    if (message.kind === 'delete') {
      if (message.keys.includes(CLEAR_KEY)) {
        for (const entry of [...this.entries.values()]) this.remove(entry);
        return;
      }
      for (const id of ids) {
        const entry = this.entries.get(id);
        this.tombstone(id);
        if (entry !== undefined) this.remove(entry);
      }
      return;
    }
    const missing = ids.filter((id) => !this.entries.has(id) && !this.tombstones.has(id));
    if (missing.length === 0 || this.persistence === undefined) return;
    this.persistence.get(missing).then(
      (loaded) => {
        if (this.closed) return;
        for (const entry of loaded) {
          if (this.tombstones.has(entry.id)) continue;
          this.insertLoaded(entry);
          this.counters.loaded++;
        }
        this.evictToBound();
      },
      (error: unknown) => {
        this.counters.busErrors++;
        this.storeError('bus-load', error);
      },
    );
  }

  private insertLoaded(entry: LoadedEntry): void {
    if (this.entries.has(entry.id) || entry.expiresAt <= this.clock.now()) return;
    if (entry.vector.length !== this.embedder.dimensions) return; // another embedder's entry
    this.insert(entry, entry.response);
  }

  private insert(persisted: PersistedEntry, bytes: Uint8Array): void {
    const normalized = normalizeText(persisted.text);
    let scope = this.scopes.get(persisted.scopeKey);
    if (scope === undefined) {
      scope = {
        index: new AdaptiveIndex(this.embedder.dimensions, this.hnswThreshold, this.hnswOptions),
        texts: new Map(),
      };
      this.scopes.set(persisted.scopeKey, scope);
    }
    const previousId = scope.texts.get(normalized);
    const previous = previousId === undefined ? undefined : this.entries.get(previousId);
    if (previous !== undefined) this.remove(previous);

    const held = this.responses.get(persisted.responseHash);
    if (held === undefined) {
      this.responses.set(persisted.responseHash, { bytes, references: 1 });
    } else {
      held.references++;
      this.counters.deduplicated++;
    }
    const entry: MemoryEntry = {
      id: persisted.id,
      label: this.nextLabel++,
      scopeKey: persisted.scopeKey,
      namespace: persisted.namespace,
      text: persisted.text,
      normalized,
      vector: persisted.vector,
      responseHash: persisted.responseHash,
      createdAt: persisted.createdAt,
      expiresAt: persisted.expiresAt,
      analysis: undefined,
    };
    const started = performance.now();
    scope.index.add(entry.label, entry.vector);
    this.counters.searchMs += performance.now() - started;
    scope.texts.set(normalized, entry.id);
    this.entries.set(entry.id, entry);
    this.byLabel.set(entry.label, entry);
  }

  /** Drops an entry from this process only. */
  private remove(entry: MemoryEntry): void {
    if (!this.entries.delete(entry.id)) return;
    this.byLabel.delete(entry.label);
    const scope = this.scopes.get(entry.scopeKey);
    if (scope !== undefined) {
      scope.index.remove(entry.label);
      if (scope.texts.get(entry.normalized) === entry.id) scope.texts.delete(entry.normalized);
      if (scope.index.size === 0) this.scopes.delete(entry.scopeKey);
    }
    const held = this.responses.get(entry.responseHash);
    if (held !== undefined && --held.references <= 0) this.responses.delete(entry.responseHash);
  }

  /** Drops entries here, from the store, and (through the bus) from every other process. */
  private async removeEverywhere(victims: readonly MemoryEntry[]): Promise<void> {
    if (victims.length === 0) return;
    for (const entry of victims) {
      this.tombstone(entry.id);
      this.remove(entry);
    }
    if (this.persistence === undefined) return;
    const ids = victims.map((entry) => entry.id);
    try {
      await this.persistence.delete(ids);
      await this.publish({
        kind: 'delete',
        keys: ids.map((id) => BUS_KEY_PREFIX + id),
        time: this.clock.now(),
      });
    } catch (error) {
      this.storeError('delete', error);
    }
  }

  private expire(entry: MemoryEntry): void {
    this.counters.expired++;
    void this.removeEverywhere([entry]);
  }

  private evictToBound(): void {
    const victims: MemoryEntry[] = [];
    let over = this.entries.size - this.maxEntries;
    for (const entry of this.entries.values()) {
      if (over-- <= 0) break;
      victims.push(entry);
    }
    if (victims.length === 0) return;
    this.counters.evictions += victims.length;
    void this.removeEverywhere(victims);
  }

  private hit(
    entry: MemoryEntry,
    namespace: string,
    similarity: number,
    score: number,
    exact: boolean,
  ): SemanticLookup {
    const held = this.responses.get(entry.responseHash);
    if (held === undefined) return this.miss(namespace, 'no-candidate');
    // Least recently used order: move to the end.
    this.entries.delete(entry.id);
    this.entries.set(entry.id, entry);
    this.counters.hits++;
    if (exact) this.counters.exactHits++;
    if (this.events.has('semantic-hit'))
      this.events.emit('semantic-hit', { namespace, similarity, score, exact });
    return {
      hit: true,
      response: this.serializer.deserialize(held.bytes),
      similarity,
      score,
      entryId: entry.id,
      matchedText: entry.text,
      exact,
    };
  }

  private miss(namespace: string, reason: MissReason, bestSimilarity?: number): SemanticLookup {
    this.counters.misses++;
    this.counters.missesByReason[reason] = (this.counters.missesByReason[reason] ?? 0) + 1;
    if (this.events.has('semantic-miss'))
      this.events.emit('semantic-miss', { namespace, reason, bestSimilarity });
    return bestSimilarity === undefined
      ? { hit: false, reason }
      : { hit: false, reason, bestSimilarity };
  }

  private async embedOne(text: string): Promise<Float32Array> {
    const started = performance.now();
    let vectors: Float32Array[];
    try {
      vectors = await this.embedder.embed([text]);
    } catch (error) {
      this.counters.embedErrors++;
      throw error;
    } finally {
      this.counters.embedCalls++;
      this.counters.embedTexts++;
      this.counters.embedMs += performance.now() - started;
    }
    const vector = vectors[0];
    if (vector === undefined || vector.length !== this.embedder.dimensions) {
      throw new SluiceError(
        'E_EMBEDDER_RESPONSE',
        `the embedder returned no ${this.embedder.dimensions}-float vector`,
      );
    }
    return vector;
  }

  private rememberVector(normalized: string, vector: Float32Array): void {
    this.recentVectors.delete(normalized);
    this.recentVectors.set(normalized, vector);
    if (this.recentVectors.size > RECENT_VECTORS) {
      const oldest = this.recentVectors.keys().next().value;
      if (oldest !== undefined) this.recentVectors.delete(oldest);
    }
  }

  private tombstone(id: string): void {
    this.tombstones.add(id);
    if (this.tombstones.size > TOMBSTONES) {
      const oldest = this.tombstones.values().next().value;
      if (oldest !== undefined) this.tombstones.delete(oldest);
    }
  }

  private async publish(message: BusMessage): Promise<void> {
    if (this.bus === undefined) return;
    try {
      await this.bus.publish(message);
      this.counters.published++;
    } catch {
      this.counters.busErrors++;
    }
  }

  private storeError(operation: string, error: unknown): void {
    this.counters.storeErrors++;
    this.health.degraded(`the semantic store failed (${operation})`, error);
    if (this.events.has('semantic-error')) this.events.emit('semantic-error', { operation, error });
  }

  private assertOpen(): void {
    if (this.closed) throw new SluiceError('E_SEMANTIC_CLOSED', 'the semantic cache is closed');
  }
}

function defaultNormalizeResponse(response: unknown): unknown {
  const collapse = (value: unknown): unknown => {
    if (typeof value === 'string') return value.replace(/\s+/g, ' ').trim();
    if (Array.isArray(value)) return value.map(collapse);
    if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
      const out: Record<string, unknown> = {};
      for (const [key, member] of Object.entries(value)) out[key] = collapse(member);
      return out;
    }
    return value;
  };
  if (response === null || typeof response !== 'object' || Array.isArray(response))
    return collapse(response);
  const trimmed: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(response)) {
    if (!VOLATILE_FIELDS.has(key)) trimmed[key] = member;
  }
  return collapse(trimmed);
}

export function createSemanticCache(options: SemanticCacheOptions): SemanticCache {
  return new SemanticCache(options);
}
