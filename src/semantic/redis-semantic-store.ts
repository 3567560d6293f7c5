import { Cluster } from 'ioredis';
import type { InvalidationBus } from '../cache/store.js';
import { type RedisClient, RedisStore } from '../cache/stores/redis-store.js';
import { type Duration, parseDuration } from '../shared/duration.js';
import { ConfigError, SluiceError } from '../shared/errors.js';
import {
  bytesToVector,
  fromStoredTime,
  type LoadedEntry,
  type PersistedEntry,
  type SemanticStore,
  toStoredTime,
  vectorToBytes,
} from './semantic-store.js';

export interface RedisSemanticStoreOptions {
  /** `redis://host:port/db`. Either `url` or `client` is required. */
  url?: string;
  /** An existing ioredis client; never closed by the store. */
  client?: RedisClient;
  /**
   * Namespace of the keys and of the bus channel (`<prefix>:bus`). Use a prefix of its own,
   * not the tiered cache's: the two buses carry different messages.
   * @default 'sluice-semantic'
   */
  prefix?: string;
  /** Longest one Redis operation may take before it fails. @default 250 (ms) */
  timeout?: Duration;
}

/** Saves an entry unless present; adds a reference to its response (storing the body for the first). */
const PUT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 's', ARGV[2], 'n', ARGV[3], 't', ARGV[4], 'v', ARGV[5], 'h', ARGV[6], 'c', ARGV[7], 'x', ARGV[8])
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
if redis.call('HINCRBY', KEYS[3], 'refs', 1) == 1 then redis.call('HSET', KEYS[3], 'body', ARGV[9]) end
return 1`;

/** Removes an entry and drops its reference; the response goes with its last reference. */
const DELETE = `
redis.call('ZREM', KEYS[2], ARGV[1])
local hash = redis.call('HGET', KEYS[1], 'h')
if not hash then return 0 end
redis.call('DEL', KEYS[1])
local responseKey = ARGV[2] .. hash
if redis.call('HINCRBY', responseKey, 'refs', -1) <= 0 then redis.call('DEL', responseKey) end
return 1`;

interface SemanticCommands {
  sluiceSemanticPut(...args: Array<string | Buffer | number>): Promise<number>;
  sluiceSemanticDelete(...args: Array<string | number>): Promise<number>;
}

/**
 * Semantic entries on Redis: one hash per entry, a sorted set of ids by creation time,
 * one reference-counted hash per distinct response. All keys share the hash tag `{prefix}`,
 * so the Lua scripts stay on one slot under Redis Cluster. New and removed entries reach
 * other processes through the invalidation bus of the cache module's `RedisStore`.
 */
export class RedisSemanticStore implements SemanticStore {
  readonly kind = 'redis';
  readonly prefix: string;
  private readonly redis: RedisStore;
  private readonly client: RedisClient;
  private readonly commands: SemanticCommands;
  private readonly timeoutMs: number;
  private readonly base: string;

  constructor(options: RedisSemanticStoreOptions) {
    if (options.client === undefined && options.url === undefined) {
      throw new ConfigError('redisSemanticStore needs a url or a client');
    }
    this.prefix = options.prefix ?? 'sluice-semantic';
    this.timeoutMs = parseDuration(options.timeout ?? 250, 'timeout');
    // The cache module's store owns the connection rules and the bus.
    this.redis = new RedisStore({ url: options.url, client: options.client, prefix: this.prefix });
    this.client = this.redis.client;
    this.client.defineCommand('sluiceSemanticPut', { numberOfKeys: 3, lua: PUT });
    this.client.defineCommand('sluiceSemanticDelete', { numberOfKeys: 2, lua: DELETE });
    this.commands = this.client as unknown as SemanticCommands;
    this.base = `{${this.prefix}}:sem`;
  }

  /** Resolves true once connected, false if not within `timeoutMs`. */
  ready(timeoutMs = 2_000): Promise<boolean> {
    return this.redis.ready(timeoutMs);
  }

  async put(entry: PersistedEntry, response: Uint8Array): Promise<void> {
    await this.run('put', () =>
      this.commands.sluiceSemanticPut(
        this.entryKey(entry.id),
        this.idsKey(),
        this.responseKey(entry.responseHash),
        entry.id,
        entry.scopeKey,
        entry.namespace,
        entry.text,
        vectorToBytes(entry.vector),
        entry.responseHash,
        entry.createdAt,
        toStoredTime(entry.expiresAt),
        Buffer.from(response),
      ),
    );
  }

  async get(ids: readonly string[]): Promise<LoadedEntry[]> {
    if (ids.length === 0) return [];
    const rows = await this.run('get', async () => {
      const pipeline = this.client.pipeline();
      for (const id of ids) pipeline.hgetallBuffer(this.entryKey(id));
      const results = (await pipeline.exec()) ?? [];
      return results.map(([error, value]) => {
        if (error) throw error;
        return value as Record<string, Buffer>;
      });
    });
    const partial: Array<PersistedEntry> = [];
    ids.forEach((id, index) => {
      const row = rows[index];
      if (row === undefined || row.h === undefined) return;
      partial.push({
        id,
        scopeKey: String(row.s),
        namespace: String(row.n),
        text: String(row.t),
        vector: bytesToVector(row.v ?? Buffer.alloc(0)),
        responseHash: String(row.h),
        createdAt: Number(String(row.c)),
        expiresAt: fromStoredTime(Number(String(row.x))),
      });
    });
    if (partial.length === 0) return [];
    const bodies = await this.run('get-responses', async () => {
      const pipeline = this.client.pipeline();
      for (const entry of partial)
        pipeline.hgetBuffer(this.responseKey(entry.responseHash), 'body');
      return ((await pipeline.exec()) ?? []).map(([, value]) => value as Buffer | null);
    });
    const loaded: LoadedEntry[] = [];
    partial.forEach((entry, index) => {
      const body = bodies[index];
      if (body !== null && body !== undefined) loaded.push({ ...entry, response: body });
    });
    return loaded;
  }

  async loadAll(now: number, limit: number): Promise<LoadedEntry[]> {
    const ids = await this.run('list', () => this.client.zrange(this.idsKey(), -limit, -1));
    const loaded: LoadedEntry[] = [];
    const expired: string[] = [];
    for (let start = 0; start < ids.length; start += 500) {
      for (const entry of await this.get(ids.slice(start, start + 500))) {
        if (entry.expiresAt <= now) expired.push(entry.id);
        else loaded.push(entry);
      }
    }
    await this.delete(expired);
    return loaded;
  }

  async delete(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.run('delete', async () => {
      const pipeline = this.client.pipeline();
      for (const id of ids) {
        (pipeline as unknown as SemanticCommands).sluiceSemanticDelete(
          this.entryKey(id),
          this.idsKey(),
          id,
          `${this.base}:r:`,
        );
      }
      await pipeline.exec();
    });
  }

  async clear(): Promise<void> {
    await this.run('clear', async () => {
      const nodes = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
      for (const node of nodes) {
        const keys: string[] = [];
        const stream = node.scanStream({ match: `${this.base}:*`, count: 1_000 });
        for await (const batch of stream) keys.push(...(batch as string[]));
        for (let start = 0; start < keys.length; start += 500) {
          await node.unlink(...keys.slice(start, start + 500));
        }
      }
    });
  }

  createBus(): InvalidationBus {
    return this.redis.createBus();
  }

  async close(): Promise<void> {
    await this.redis.close();
  }

  private entryKey(id: string): string {
    return `${this.base}:e:${id}`;
  }

  private idsKey(): string {
    return `${this.base}:ids`;
  }

  private responseKey(hash: string): string {
    return `${this.base}:r:${hash}`;
  }

  private run<Result>(operation: string, task: () => Promise<Result>): Promise<Result> {
    if (this.client.status !== 'ready') {
      return Promise.reject(
        new SluiceError('E_SEMANTIC_STORE_UNAVAILABLE', `Redis is ${this.client.status}`, {
          isRetryable: true,
        }),
      );
    }
    return new Promise<Result>((resolveRun, rejectRun) => {
      const timer = setTimeout(() => {
        rejectRun(
          new SluiceError(
            'E_SEMANTIC_STORE_TIMEOUT',
            `Redis semantic ${operation} took longer than ${this.timeoutMs} ms`,
            { isRetryable: true },
          ),
        );
      }, this.timeoutMs);
      task().then(
        (result) => {
          clearTimeout(timer);
          resolveRun(result);
        },
        (error: unknown) => {
          clearTimeout(timer);
          rejectRun(
            new SluiceError('E_SEMANTIC_STORE', `Redis semantic ${operation} failed`, {
              cause: error,
              isRetryable: true,
            }),
          );
        },
      );
    });
  }
}

export function redisSemanticStore(options: RedisSemanticStoreOptions): RedisSemanticStore {
  return new RedisSemanticStore(options);
}
