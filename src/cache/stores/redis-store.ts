import { randomUUID } from 'node:crypto';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { type Clock, systemClock } from '../../shared/clock.js';
import { type Duration, parseDuration } from '../../shared/duration.js';
import { ConfigError, SluiceError } from '../../shared/errors.js';
import { unrefWhenIdle } from '../../shared/redis-handles.js';
import { CREATED_AT_OFFSET, decodeEntry, encodeEntry, type StoredEntry } from '../entry.js';
import type {
  BusHandlers,
  BusMessage,
  BusProvider,
  CacheStore,
  InvalidationBus,
  LeaseProvider,
  StoreContext,
  StoreUsage,
} from '../store.js';

export type RedisClient = Redis | Cluster;

export interface RedisStoreOptions {
  /** `redis://host:port/db`. Either `url` or `client` is required. */
  url?: string;
  /** An existing ioredis client or cluster; the store never closes a client it did not create. */
  client?: RedisClient;
  /**
   * Namespace of every key and the bus channel; caches with different prefixes never see
   * each other's entries.
   * @default 'sluice'
   */
  prefix?: string;
  /**
   * Longest an operation may wait for Redis before the cache carries on without it. Until the
   * client has been ready once, an operation issued while it is connecting waits for the
   * connection within this bound (so a write made right after `createCache` reaches Redis).
   * @default 50 (ms)
   */
  timeout?: Duration;
  /**
   * After this many consecutive failures, Redis is skipped for `breakerCooldown`, so a
   * slow Redis costs one timeout per cooldown rather than one per operation.
   * @default 5
   */
  breakerFailures?: number;
  /** @default '1s' */
  breakerCooldown?: Duration;
}

const DEFAULT_TAG_RETENTION_MS = 7 * 86_400_000;

/** Deletes the entry only if it was created at or before ARGV[1] (createdAt is a big-endian double in the header). */
const DELETE_IF_OLDER = `
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
local created = struct.unpack('>d', string.sub(value, ${CREATED_AT_OFFSET + 1}, ${CREATED_AT_OFFSET + 8}))
if created <= tonumber(ARGV[1]) then
  redis.call('UNLINK', KEYS[1])
  return 1
end
return 0`;

/** Records a tag invalidation time, keeping the later of the stored and the new time. */
const INVALIDATE_TAG = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1`;

const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

interface SluiceRedisCommands {
  sluiceDeleteIfOlder(key: string, olderThan: number): Promise<number>;
  sluiceInvalidateTag(key: string, time: number, retentionMs: number): Promise<number>;
  sluiceReleaseLease(key: string, token: string): Promise<number>;
}

/** Thrown (and counted) when the cache skips Redis instead of waiting on it. */
export class RedisUnavailableError extends SluiceError {
  constructor(reason: string) {
    super('E_L2_UNAVAILABLE', `Redis is unavailable: ${reason}`, { isRetryable: true });
  }
}

export class RedisTimeoutError extends SluiceError {
  constructor(operation: string, timeoutMs: number) {
    super('E_L2_TIMEOUT', `Redis ${operation} took longer than ${timeoutMs} ms`, {
      isRetryable: true,
    });
  }
}

/**
 * The L2 tier on Redis (standalone or Cluster). Every key is a single-slot key, so the
 * store works on Redis Cluster unchanged. Operations never wait longer than `timeout`;
 * while Redis is down they fail at once and the cache degrades to its other tiers.
 */
export class RedisStore implements CacheStore, LeaseProvider, BusProvider {
  readonly kind = 'redis';
  readonly client: RedisClient;
  readonly prefix: string;
  private readonly ownsClient: boolean;
  private readonly timeoutMs: number;
  private readonly breakerFailures: number;
  private readonly breakerCooldownMs: number;
  private readonly commands: SluiceRedisCommands;
  private consecutiveFailures = 0;
  /** Redis is skipped until this time (after failures); 0 when not paused. */
  private pausedUntil = 0;
  private clock: Clock = systemClock;
  private tagRetentionMs = DEFAULT_TAG_RETENTION_MS;
  /** Whether the client has been ready once; before that, operations wait for a connection attempt. */
  private hasBeenReady: boolean;
  /** The connection attempt operations wait for: true once ready, false if it closes first. */
  private connecting: Promise<boolean> | undefined;

  constructor(options: RedisStoreOptions) {
    if (options.client === undefined && options.url === undefined) {
      throw new ConfigError('redisStore needs a url or a client');
    }
    this.prefix = options.prefix ?? 'sluice';
    if (!/^[^:{}*?[\]\\\s]+$/.test(this.prefix)) {
      // ':' would let one prefix's keys fall under another's (`app` vs `app:e`) and break clear().
      throw new ConfigError(
        `redisStore prefix '${this.prefix}' must be non-empty without ':', braces, glob characters or spaces`,
      );
    }
    this.timeoutMs = parseDuration(options.timeout ?? 50, 'timeout');
    this.breakerFailures = options.breakerFailures ?? 5;
    this.breakerCooldownMs = parseDuration(options.breakerCooldown ?? '1s', 'breakerCooldown');
    this.ownsClient = options.client === undefined;
    this.client = options.client ?? new Redis(options.url as string, defaultClientOptions());
    if (this.ownsClient) {
      // Errors surface through operations and statistics; an unhandled 'error' event would crash.
      this.client.on('error', () => {});
      // An idle connection does not keep the process alive (a script need not call close()).
      if (this.client instanceof Redis) unrefWhenIdle(this.client);
    }
    this.client.defineCommand('sluiceDeleteIfOlder', { numberOfKeys: 1, lua: DELETE_IF_OLDER });
    this.client.defineCommand('sluiceInvalidateTag', { numberOfKeys: 1, lua: INVALIDATE_TAG });
    this.client.defineCommand('sluiceReleaseLease', { numberOfKeys: 1, lua: RELEASE_LEASE });
    this.commands = this.client as unknown as SluiceRedisCommands;
    this.hasBeenReady = this.client.status === 'ready';
    if (!this.hasBeenReady) {
      this.client.once('ready', () => {
        this.hasBeenReady = true;
      });
    }
  }

  attach(context: StoreContext): void {
    this.clock = context.clock;
    this.tagRetentionMs = context.tagRetentionMs;
  }

  /** Resolves true once the connection is ready, false if not within `timeoutMs`. */
  ready(timeoutMs = 2_000): Promise<boolean> {
    return waitReady(this.client, timeoutMs);
  }

  get entryKeyPrefix(): string {
    return `${this.prefix}:e:`;
  }

  async get(key: string): Promise<StoredEntry | undefined> {
    const raw = await this.run('get', () => this.client.getBuffer(this.entryKey(key)));
    if (raw === null) return undefined;
    const entry = decodeEntry(raw);
    return entry.staleUntil > this.clock.now() ? entry : undefined;
  }

  async set(key: string, entry: StoredEntry): Promise<void> {
    const payload = encodeEntry(entry);
    const ttl = entry.staleUntil - this.clock.now();
    if (ttl <= 0) {
      await this.run('unlink', () => this.client.unlink(this.entryKey(key)));
      return;
    }
    await this.run('set', () =>
      Number.isFinite(ttl)
        ? this.client.set(this.entryKey(key), payload, 'PX', Math.ceil(ttl))
        : this.client.set(this.entryKey(key), payload),
    );
  }

  async delete(key: string, olderThan = Number.POSITIVE_INFINITY): Promise<boolean> {
    const removed = await this.run('delete', () =>
      Number.isFinite(olderThan)
        ? this.commands.sluiceDeleteIfOlder(this.entryKey(key), olderThan)
        : this.client.unlink(this.entryKey(key)),
    );
    return removed > 0;
  }

  async clear(): Promise<void> {
    const nodes = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
    const pattern = `${this.prefix}:*`;
    await Promise.all(
      nodes.map(
        (node) =>
          new Promise<void>((resolveScan, rejectScan) => {
            const stream = node.scanStream({ match: pattern, count: 1_000 });
            const pending: Array<Promise<unknown>> = [];
            stream.on('data', (keys: string[]) => {
              // One pipeline per batch; single-key UNLINKs stay valid on Redis Cluster.
              if (keys.length > 0)
                pending.push(node.pipeline(keys.map((key) => ['unlink', key])).exec());
            });
            stream.on('error', rejectScan);
            stream.on('end', () => {
              Promise.all(pending).then(() => resolveScan(), rejectScan);
            });
          }),
      ),
    );
  }

  async tagTimes(tags: readonly string[]): Promise<Array<number | undefined>> {
    if (tags.length === 0) return [];
    const keys = tags.map((tag) => this.tagKey(tag));
    const values = await this.run('tag-times', () =>
      this.client instanceof Cluster
        ? Promise.all(keys.map((key) => this.client.get(key)))
        : this.client.mget(keys),
    );
    const horizon = this.clock.now() - this.tagRetentionMs;
    return values.map((value) => {
      const time = value === null ? undefined : Number(value);
      return time !== undefined && time > horizon ? time : undefined;
    });
  }

  async invalidateTags(tags: readonly string[], time: number): Promise<void> {
    await this.run('invalidate-tags', () =>
      Promise.all(
        tags.map((tag) =>
          this.commands.sluiceInvalidateTag(this.tagKey(tag), time, this.tagRetentionMs),
        ),
      ),
    );
  }

  async acquireLease(key: string, ttlMs: number): Promise<string | undefined> {
    const token = randomUUID();
    const granted = await this.run('acquire-lease', () =>
      this.client.set(this.leaseKey(key), token, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'),
    );
    return granted === 'OK' ? token : undefined;
  }

  async releaseLease(key: string, token: string): Promise<void> {
    await this.run('release-lease', () =>
      this.commands.sluiceReleaseLease(this.leaseKey(key), token),
    );
  }

  usage(): StoreUsage {
    return {};
  }

  createBus(): InvalidationBus {
    return new RedisBus(this.client, `${this.prefix}:bus`, (operation, task) =>
      this.run(operation, task),
    );
  }

  async close(): Promise<void> {
    if (this.ownsClient) await quit(this.client);
  }

  private entryKey(key: string): string {
    return `${this.prefix}:e:${key}`;
  }

  private tagKey(tag: string): string {
    return `${this.prefix}:t:${tag}`;
  }

  private leaseKey(key: string): string {
    return `${this.prefix}:l:${key}`;
  }

  /**
   * Runs one Redis operation under the store's rules: skipped at once while the client is
   * not connected or Redis is paused; rejected after `timeout`. A failure pauses Redis for
   * one `timeout` (so one cache operation waits for Redis at most once, not once per step),
   * and `breakerFailures` failures in a row pause it for `breakerCooldown`; the first
   * operation after a pause probes. Until the client has been ready once, an operation
   * issued while a connection attempt is under way waits for it, within the same `timeout`:
   * otherwise every write made right after start-up would skip Redis, unseen by others.
   */
  private run<Result>(operation: string, task: () => Promise<Result>): Promise<Result> {
    const status = this.client.status;
    if (status !== 'ready' && !this.awaitingFirstConnection(status)) {
      return Promise.reject(new RedisUnavailableError(`connection is ${status}`));
    }
    if (this.pausedUntil !== 0) {
      if (Date.now() < this.pausedUntil) {
        return Promise.reject(new RedisUnavailableError('recent failures; retrying shortly'));
      }
      this.pausedUntil = 0;
    }
    return new Promise<Result>((resolveRun, rejectRun) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        this.recordFailure();
        rejectRun(new RedisTimeoutError(operation, this.timeoutMs));
      }, this.timeoutMs);
      const start = () =>
        task().then(
          (result) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            this.consecutiveFailures = 0;
            resolveRun(result);
          },
          (error: unknown) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            this.recordFailure();
            rejectRun(
              new SluiceError('E_L2', `Redis ${operation} failed: ${(error as Error).message}`, {
                cause: error,
                isRetryable: true,
              }),
            );
          },
        );
      if (status === 'ready') {
        start();
        return;
      }
      this.connectionAttempt().then((connected) => {
        if (settled) return;
        if (connected) {
          start();
          return;
        }
        settled = true;
        clearTimeout(timer);
        rejectRun(new RedisUnavailableError(`connection is ${this.client.status}`));
      });
    });
  }

  /** Whether the client has never been ready and is connecting now (not between retries). */
  private awaitingFirstConnection(status: string): boolean {
    return !this.hasBeenReady && (status === 'connecting' || status === 'connect');
  }

  /** One promise per connection attempt, however many operations wait for it. */
  private connectionAttempt(): Promise<boolean> {
    this.connecting ??= new Promise<boolean>((resolveAttempt) => {
      const settle = (connected: boolean) => {
        this.client.off('ready', onReady);
        this.client.off('close', onClose);
        this.connecting = undefined;
        resolveAttempt(connected);
      };
      const onReady = () => settle(true);
      const onClose = () => settle(false);
      this.client.once('ready', onReady);
      this.client.once('close', onClose);
    });
    return this.connecting;
  }

  private recordFailure(): void {
    this.consecutiveFailures++;
    if (this.consecutiveFailures >= this.breakerFailures) {
      this.pausedUntil = Date.now() + this.breakerCooldownMs;
      this.consecutiveFailures = 0;
    } else {
      this.pausedUntil = Math.max(this.pausedUntil, Date.now() + this.timeoutMs);
    }
  }
}

function defaultClientOptions(): RedisOptions {
  return {
    // Fail fast while disconnected instead of queueing without bound; the cache degrades.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2_000),
  };
}

function waitReady(client: RedisClient, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolveReady) => {
    const onReady = () => {
      clearTimeout(timer);
      resolveReady(true);
    };
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      resolveReady(false);
    }, timeoutMs);
    client.once('ready', onReady);
  });
}

async function quit(client: RedisClient): Promise<void> {
  if (client.status === 'end') return;
  try {
    await Promise.race([client.quit(), new Promise((done) => setTimeout(done, 500).unref())]);
  } catch {
    // Already closing or never connected.
  }
  client.disconnect();
}

interface WireMessage {
  origin: string;
  message: BusMessage;
}

/**
 * Invalidation bus on Redis pub/sub. A dedicated subscriber connection (pub/sub needs
 * one); messages from this process are ignored. When the subscriber reconnects after a
 * drop, handlers are told to resync, because messages sent meanwhile were lost.
 */
class RedisBus implements InvalidationBus {
  private readonly origin = randomUUID();
  private readonly subscriber: RedisClient;
  private subscribed = false;
  private wasConnected = false;
  private closed = false;

  constructor(
    private readonly client: RedisClient,
    private readonly channel: string,
    private readonly run: <Result>(
      operation: string,
      task: () => Promise<Result>,
    ) => Promise<Result>,
  ) {
    // The subscriber queues its SUBSCRIBE until connected and resubscribes after reconnects.
    this.subscriber =
      client instanceof Cluster
        ? client.duplicate()
        : client.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
    this.subscriber.on('error', () => {});
    // Listening for other processes' invalidations is no reason to keep this one alive.
    if (this.subscriber instanceof Redis) unrefWhenIdle(this.subscriber);
  }

  start(handlers: BusHandlers): void {
    this.subscriber.on('ready', () => {
      if (this.wasConnected && !this.closed) {
        // ioredis re-issues SUBSCRIBE on reconnect (autoResubscribe) before emitting 'ready'.
        this.subscribed = true;
        handlers.resync();
      }
      this.wasConnected = true;
    });
    this.subscriber.on('close', () => {
      this.subscribed = false;
    });
    this.subscriber.on('message', (channel: string, payload: string) => {
      if (channel !== this.channel) return;
      let wire: WireMessage;
      try {
        wire = JSON.parse(payload) as WireMessage;
      } catch {
        return; // not ours
      }
      if (wire.origin === this.origin || typeof wire.message?.kind !== 'string') return;
      handlers.message(wire.message);
    });
    this.subscriber.subscribe(this.channel).then(
      () => {
        this.subscribed = true;
      },
      () => {},
    );
  }

  async publish(message: BusMessage): Promise<void> {
    const payload = JSON.stringify({ origin: this.origin, message } satisfies WireMessage);
    await this.run('publish', () => this.client.publish(this.channel, payload));
  }

  async ready(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.subscribed || this.subscriber.status !== 'ready') {
      if (Date.now() >= deadline) return false;
      await new Promise((done) => setTimeout(done, 10));
    }
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    await quit(this.subscriber);
  }
}

/** Whether a Redis server answers PING at `url` within `timeoutMs`. Never throws. */
export async function pingRedis(url: string, timeoutMs = 1_000): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return true;
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export function redisStore(options: RedisStoreOptions): RedisStore {
  return new RedisStore(options);
}
