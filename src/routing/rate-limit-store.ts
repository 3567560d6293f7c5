/**
 * Where rate-limit counters live: this process (`MemoryRateLimitStore`) or Redis
 * (`RedisRateLimitStore`), behind one small contract the limiter reconciles against.
 *
 * Windowed limits (requests and tokens per window) are rate-limiter-flexible fixed-window
 * counters: `RateLimiterMemory` here, `RateLimiterRedis` (an atomic Lua `INCRBY` with a TTL)
 * there. Concurrency slots are leases: in memory a set of slot ids per key; in Redis a sorted
 * set per key whose members are slot ids scored by their expiry on the Redis clock, so a slot
 * whose process died expires on its own after the lease TTL (live holders renew it).
 */
import type { Cluster, Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { SluiceError } from '../shared/errors.js';

/** An ioredis client or cluster the limiter may share with the rest of the application. */
export type RateLimitRedisClient = Redis | Cluster;

/** One fixed-window quota: `points` per `windowSeconds`, counted separately per key. */
export interface WindowQuota {
  /** Names the quota in a store (one rate-limiter-flexible limiter per quota). */
  readonly id: string;
  readonly points: number;
  readonly windowSeconds: number;
}

export interface WindowOutcome {
  readonly admitted: boolean;
  /** Points counted in the window after this consume, this one's included (even if refused). */
  readonly consumed: number;
  /** Milliseconds until the window resets. */
  readonly msBeforeReset: number;
}

export interface SlotOutcome {
  readonly admitted: boolean;
  /** Slots held on the key: after the acquire when admitted, before it when refused. */
  readonly held: number;
}

export interface SlotRef {
  readonly key: string;
  readonly slot: string;
}

/**
 * Counters for the rate limiter. Every method rejects only when the store itself fails
 * (Redis down or slow); refusals are outcomes, never errors.
 */
export interface RateLimitStore {
  readonly kind: 'memory' | 'redis';
  /** Adds `points` to the key's window; refused (but still counted) when it passes the quota. */
  consume(quota: WindowQuota, key: string, points: number): Promise<WindowOutcome>;
  /** Adds `delta` points, or gives `-delta` back; never refuses. */
  adjust(quota: WindowQuota, key: string, delta: number): Promise<void>;
  /** Takes one slot under `max` for the key, identified by `slot`. */
  acquireSlot(key: string, max: number, slot: string): Promise<SlotOutcome>;
  /** Extends the lease of held slots (no-op where slots do not expire). */
  renewSlots(slots: readonly SlotRef[]): Promise<void>;
  /** Frees a slot; freeing one that is not held does nothing. */
  releaseSlot(key: string, slot: string): Promise<void>;
  close(): Promise<void>;
}

type Limiter = RateLimiterMemory | RateLimiterRedis;

async function consumeWith(limiter: Limiter, key: string, points: number): Promise<WindowOutcome> {
  try {
    const result = await limiter.consume(key, points);
    return { admitted: true, consumed: result.consumedPoints, msBeforeReset: result.msBeforeNext };
  } catch (error) {
    // rate-limiter-flexible rejects with a RateLimiterRes on refusal, with an Error on failure.
    if (error instanceof RateLimiterRes) {
      return { admitted: false, consumed: error.consumedPoints, msBeforeReset: error.msBeforeNext };
    }
    throw error;
  }
}

async function adjustWith(limiter: Limiter, key: string, delta: number): Promise<void> {
  if (delta > 0) await limiter.penalty(key, delta);
  else if (delta < 0) await limiter.reward(key, -delta);
}

/** Counters of this process: exact and atomic (one thread), not shared, lost on restart. */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly kind = 'memory' as const;
  /** One limiter per configured quota: bounded by the rules. */
  readonly #limiters = new Map<string, RateLimiterMemory>();
  /** Held slot ids per key; a key leaves the map when its last slot is freed. */
  readonly #slots = new Map<string, Set<string>>();

  #limiter(quota: WindowQuota): RateLimiterMemory {
    let limiter = this.#limiters.get(quota.id);
    if (limiter === undefined) {
      // Each window record deletes itself (an unref'd timer) when it expires.
      limiter = new RateLimiterMemory({
        points: quota.points,
        duration: quota.windowSeconds,
        keyPrefix: '',
      });
      this.#limiters.set(quota.id, limiter);
    }
    return limiter;
  }

  consume(quota: WindowQuota, key: string, points: number): Promise<WindowOutcome> {
    return consumeWith(this.#limiter(quota), key, points);
  }

  adjust(quota: WindowQuota, key: string, delta: number): Promise<void> {
    return adjustWith(this.#limiter(quota), key, delta);
  }

  async acquireSlot(key: string, max: number, slot: string): Promise<SlotOutcome> {
    const held = this.#slots.get(key);
    const count = held?.size ?? 0;
    if (count >= max) return { admitted: false, held: count };
    if (held === undefined) this.#slots.set(key, new Set([slot]));
    else held.add(slot);
    return { admitted: true, held: count + 1 };
  }

  async renewSlots(): Promise<void> {}

  async releaseSlot(key: string, slot: string): Promise<void> {
    const held = this.#slots.get(key);
    if (held === undefined) return;
    held.delete(slot);
    if (held.size === 0) this.#slots.delete(key);
  }

  async close(): Promise<void> {
    this.#slots.clear();
  }
}

/*
 * Concurrency slots in Redis: KEYS[1] is a sorted set, member = slot id, score = the slot's
 * expiry in ms on the Redis clock (TIME, so processes with skewed clocks agree). Expired slots
 * are dropped before counting; the key itself expires once its newest lease has.
 */
const REDIS_NOW = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`;

const EXTEND_KEY = `
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
`;

/** ARGV: max slots, lease ms, slot id. Returns {admitted 0|1, held}. */
const ACQUIRE_SLOT = `${REDIS_NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZCARD', KEYS[1])
if held >= tonumber(ARGV[1]) then return {0, held} end
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
${EXTEND_KEY}
return {1, held + 1}`;

/**
 * ARGV: lease ms, slot id. Only a slot still held is renewed: a renewal that reaches Redis
 * after the release (ioredis resends a script as EVAL after NOSCRIPT) must not bring it back.
 */
const RENEW_SLOT = `${REDIS_NOW}
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 0 end
local ttl = tonumber(ARGV[1])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[2])
${EXTEND_KEY}
return 1`;

interface SlotCommands {
  sluiceRateLimitAcquireSlot(
    key: string,
    max: number,
    leaseMs: number,
    slot: string,
  ): Promise<[number, number]>;
  sluiceRateLimitRenewSlot(key: string, leaseMs: number, slot: string): Promise<number>;
}

/** A Redis operation took longer than the limiter's `timeout`. */
export class RateLimitStoreTimeoutError extends SluiceError {
  constructor(operation: string, timeoutMs: number) {
    super('E_RATE_LIMIT_STORE_TIMEOUT', `Redis ${operation} took longer than ${timeoutMs} ms`, {
      isRetryable: true,
    });
    this.name = 'RateLimitStoreTimeoutError';
  }
}

export interface RedisRateLimitStoreOptions {
  client: RateLimitRedisClient;
  /** Whether `close()` disconnects the client (only for clients the limiter created). */
  ownsClient: boolean;
  timeoutMs: number;
  leaseMs: number;
}

/**
 * Counters shared by every process on one Redis. Each key is a single-slot key, so it works
 * on Redis Cluster unchanged. An operation fails at once while the client is not connected
 * and after `timeoutMs` when Redis is slow; the limiter then falls back to memory.
 */
export class RedisRateLimitStore implements RateLimitStore {
  readonly kind = 'redis' as const;
  readonly client: RateLimitRedisClient;
  readonly #ownsClient: boolean;
  readonly #timeoutMs: number;
  readonly #leaseMs: number;
  readonly #commands: SlotCommands;
  /** One limiter per configured quota: bounded by the rules. */
  readonly #limiters = new Map<string, RateLimiterRedis>();

  constructor(options: RedisRateLimitStoreOptions) {
    this.client = options.client;
    this.#ownsClient = options.ownsClient;
    this.#timeoutMs = options.timeoutMs;
    this.#leaseMs = options.leaseMs;
    const client = this.client as unknown as Record<string, unknown>;
    if (typeof client.sluiceRateLimitAcquireSlot !== 'function') {
      this.client.defineCommand('sluiceRateLimitAcquireSlot', {
        numberOfKeys: 1,
        lua: ACQUIRE_SLOT,
      });
    }
    if (typeof client.sluiceRateLimitRenewSlot !== 'function') {
      this.client.defineCommand('sluiceRateLimitRenewSlot', { numberOfKeys: 1, lua: RENEW_SLOT });
    }
    this.#commands = this.client as unknown as SlotCommands;
  }

  /** Resolves true once the client is connected, false if not within `timeoutMs`. */
  ready(timeoutMs: number): Promise<boolean> {
    const client = this.client;
    if (client.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const onReady = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        client.off('ready', onReady);
        resolve(false);
      }, timeoutMs);
      client.once('ready', onReady);
    });
  }

  #limiter(quota: WindowQuota): RateLimiterRedis {
    let limiter = this.#limiters.get(quota.id);
    if (limiter === undefined) {
      limiter = new RateLimiterRedis({
        storeClient: this.client,
        points: quota.points,
        duration: quota.windowSeconds,
        keyPrefix: '',
        // Fail at once while disconnected instead of queueing; the limiter falls back to memory.
        rejectIfRedisNotReady: true,
      });
      this.#limiters.set(quota.id, limiter);
    }
    return limiter;
  }

  consume(quota: WindowQuota, key: string, points: number): Promise<WindowOutcome> {
    return this.#run('consume', () => consumeWith(this.#limiter(quota), key, points));
  }

  adjust(quota: WindowQuota, key: string, delta: number): Promise<void> {
    return this.#run('adjust', () => adjustWith(this.#limiter(quota), key, delta));
  }

  async acquireSlot(key: string, max: number, slot: string): Promise<SlotOutcome> {
    const [admitted, held] = await this.#run('acquire slot', () =>
      this.#commands.sluiceRateLimitAcquireSlot(key, max, this.#leaseMs, slot),
    );
    return { admitted: admitted === 1, held };
  }

  async renewSlots(slots: readonly SlotRef[]): Promise<void> {
    await this.#run('renew slots', () =>
      Promise.all(
        slots.map(({ key, slot }) =>
          this.#commands.sluiceRateLimitRenewSlot(key, this.#leaseMs, slot),
        ),
      ),
    );
  }

  async releaseSlot(key: string, slot: string): Promise<void> {
    await this.#run('release slot', () => this.client.zrem(key, slot));
  }

  async close(): Promise<void> {
    if (!this.#ownsClient) return;
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  #run<T>(operation: string, run: () => Promise<T>): Promise<T> {
    if (this.client.status !== 'ready') {
      return Promise.reject(
        new SluiceError('E_RATE_LIMIT_STORE_UNAVAILABLE', `Redis is ${this.client.status}`, {
          isRetryable: true,
        }),
      );
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new RateLimitStoreTimeoutError(operation, this.#timeoutMs)),
        this.#timeoutMs,
      );
    });
    return Promise.race([run(), timeout]).finally(() => clearTimeout(timer));
  }
}
