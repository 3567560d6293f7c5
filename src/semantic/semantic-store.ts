import type { InvalidationBus } from '../cache/store.js';

/** A semantic cache entry as stores persist it. Times are ms since the epoch. */
export interface PersistedEntry {
  id: string;
  /** Hash of namespace, model, system prompt, tools and parameters: entries answer only their own scope. */
  scopeKey: string;
  namespace: string;
  /** The request text compared by meaning (the last user message). */
  text: string;
  /** The text's unit embedding. */
  vector: Float32Array;
  /** Content hash of the normalised response; identical responses are stored once. */
  responseHash: string;
  createdAt: number;
  /** `Infinity` for never. */
  expiresAt: number;
}

export interface LoadedEntry extends PersistedEntry {
  /** The serialized response. */
  response: Uint8Array;
}

/**
 * Where semantic entries persist and how processes share them. Unlike a `CacheStore` (a
 * key-value tier), it can list its entries — each process rebuilds its vector index from
 * them at start — and reference-counts responses, so one body serves every entry whose
 * answer is the same. Drivers: `sqliteSemanticStore` (a file, one machine), `redisSemanticStore`
 * (shared; carries new entries to every process through its invalidation bus).
 */
export interface SemanticStore {
  readonly kind: string;
  /** Saves `entry`; stores `response` under `entry.responseHash` unless present, and counts one more reference to it. */
  put(entry: PersistedEntry, response: Uint8Array): Promise<void>;
  /** The entries that exist among `ids`, with their responses. */
  get(ids: readonly string[]): Promise<LoadedEntry[]>;
  /** The newest `limit` entries not expired at `now`, oldest first; expired entries are removed. */
  loadAll(now: number, limit: number): Promise<LoadedEntry[]>;
  /** Removes entries, and responses no entry refers to any more. */
  delete(ids: readonly string[]): Promise<void>;
  clear(): Promise<void>;
  /** Resolves true once the store can serve (connected), false if not within `timeoutMs`. */
  ready?(timeoutMs: number): Promise<boolean>;
  /** Stores shared between processes provide the bus that tells the others about new and removed entries. */
  createBus?(): InvalidationBus;
  close(): Promise<void>;
}

export function vectorToBytes(vector: Float32Array): Buffer {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
}

export function bytesToVector(bytes: Uint8Array): Float32Array {
  const copy = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(copy.buffer).set(bytes.subarray(0, copy.byteLength));
  return copy;
}

/** SQLite and Redis cannot hold Infinity in every column type; far future stands for never. */
export const NEVER = Number.MAX_SAFE_INTEGER;
export const toStoredTime = (time: number): number =>
  time === Number.POSITIVE_INFINITY ? NEVER : time;
export const fromStoredTime = (time: number): number =>
  time >= NEVER ? Number.POSITIVE_INFINITY : time;
