import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  createRateLimiter,
  RateLimitError,
  type RateLimiter,
  type RateLimiterOptions,
  type RateLimitSubject,
} from '../../src/routing/rate-limit.js';
import { ConfigError } from '../../src/shared/errors.js';
import { redisAvailable, redisUrl } from '../helpers/redis.js';
import { ThrowawayRedis } from '../helpers/redis-server.js';

const DB = 10;
const available = await redisAvailable();

const teamA: RateLimitSubject = { key: 'team-a', model: 'gpt-4o', tags: [] };

/** The RateLimitError `promise` rejects with (failing the test if it resolves). */
async function refusal(promise: Promise<unknown>): Promise<RateLimitError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(RateLimitError);
  return error as RateLimitError;
}

function sleep(milliseconds: number): Promise<void> {
  return new Promise((done) => setTimeout(done, milliseconds));
}

type Open = (options: RateLimiterOptions) => RateLimiter;

/**
 * The behaviour every store must show: memory and Redis run the same tests. `open` builds
 * a limiter on a fresh namespace; the suite closes it.
 */
function registerRateLimitSuite(name: string, open: Open): void {
  describe(`rate limits (${name})`, () => {
    const opened: RateLimiter[] = [];
    let storeFailures = 0;

    function limiter(options: RateLimiterOptions): RateLimiter {
      const created = open(options);
      created.on('rate-limit-store-failed', () => {
        storeFailures++;
      });
      opened.push(created);
      return created;
    }

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((each) => each.close()));
      // Every decision was taken by the store under test, never by the fallback.
      expect(storeFailures).toBe(0);
      storeFailures = 0;
    });

    it('admits exactly requestsPerMinute, then refuses with retry-after and RateLimit headers', async () => {
      const limits = limiter({ rules: [{ scope: 'key:team-a', requestsPerMinute: 3 }] });
      for (const remaining of [2, 1, 0]) {
        const ticket = await limits.acquire(teamA);
        expect(ticket.headers['ratelimit-limit']).toBe('3');
        expect(ticket.headers['ratelimit-remaining']).toBe(String(remaining));
        expect(Number(ticket.headers['ratelimit-reset'])).toBeGreaterThanOrEqual(59);
        expect(Number(ticket.headers['ratelimit-reset'])).toBeLessThanOrEqual(60);
        await ticket.release();
      }
      const error = await refusal(limits.acquire(teamA));
      expect(error).toMatchObject({
        code: 'rate_limit_exceeded',
        isRetryable: true,
        scope: 'key:team-a',
        rule: 'key:team-a',
        limit: 'requestsPerMinute',
        quota: 3,
      });
      expect(error.retryAfterMs).toBeGreaterThan(58_000);
      expect(error.retryAfterMs).toBeLessThanOrEqual(60_000);
      expect(error.headers['retry-after']).toBe(String(Math.ceil(error.retryAfterMs / 1_000)));
      expect(error.headers['ratelimit-limit']).toBe('3');
      expect(error.headers['ratelimit-remaining']).toBe('0');
      expect(error.headers['ratelimit-reset']).toBe(error.headers['retry-after']);
      // Refusals do not pile up: still exactly zero left, and other keys are not limited.
      await refusal(limits.acquire(teamA));
      await limits.acquire({ ...teamA, key: 'team-b' });
    });

    it('admits again once the window resets', async () => {
      const limits = limiter({
        rules: [{ scope: 'key:team-a', requestsPerMinute: 2 }],
        window: '1s',
      });
      await limits.acquire(teamA);
      await limits.acquire(teamA);
      const error = await refusal(limits.acquire(teamA));
      expect(error.headers['retry-after']).toBe('1');
      await sleep(error.retryAfterMs + 50);
      const ticket = await limits.acquire(teamA);
      expect(ticket.headers['ratelimit-remaining']).toBe('1');
    });

    it('reserves estimated tokens and reconciles them with the actual usage', async () => {
      const limits = limiter({ rules: [{ scope: 'model:gpt-4o', tokensPerMinute: 1_000 }] });
      const first = await limits.acquire(teamA, { estimatedTokens: 400 });
      expect(first.headers['ratelimit-remaining']).toBe('600');
      const second = await limits.acquire(teamA, { estimatedTokens: 400 });
      expect(second.headers['ratelimit-remaining']).toBe('200');
      const tooMany = await refusal(limits.acquire(teamA, { estimatedTokens: 400 }));
      expect(tooMany).toMatchObject({ limit: 'tokensPerMinute', scope: 'model:gpt-4o' });
      expect(tooMany.headers['ratelimit-remaining']).toBe('200');

      // Lower than reserved: the 300 unused tokens come back and let the next request in.
      await first.settle(100);
      await first.settle(0); // only the first settle counts
      const third = await limits.acquire(teamA, { estimatedTokens: 400 });
      expect(third.headers['ratelimit-remaining']).toBe('100');
      await third.settle(400);

      // Higher than reserved: the extra 300 is charged (the finished request is not failed).
      await expect(second.settle(700)).resolves.toBeUndefined();
      const over = await refusal(limits.acquire(teamA, { estimatedTokens: 1 }));
      expect(over.headers['ratelimit-remaining']).toBe('0');
    });

    it('reserves at least one token and at most the whole limit', async () => {
      const limits = limiter({ rules: [{ scope: 'key:team-a', tokensPerMinute: 100 }] });
      const huge = await limits.acquire(teamA, { estimatedTokens: 5_000 });
      expect(huge.headers['ratelimit-remaining']).toBe('0');
      await refusal(limits.acquire(teamA));
      await huge.settle(60);
      const small = await limits.acquire(teamA);
      expect(small.headers['ratelimit-remaining']).toBe('39');
    });

    it('is all-or-nothing: a request refused by one rule takes nothing from the others', async () => {
      const limits = limiter({
        rules: [
          { scope: 'key:team-a', requestsPerMinute: 2, tokensPerMinute: 1_000 },
          { scope: 'model:gpt-4o', requestsPerMinute: 1 },
        ],
      });
      await limits.acquire(teamA, { estimatedTokens: 500 });
      const byModel = await refusal(limits.acquire(teamA, { estimatedTokens: 400 }));
      expect(byModel).toMatchObject({ scope: 'model:gpt-4o', limit: 'requestsPerMinute' });
      // Had the refused request kept its key quota, this one (2nd request, 900 tokens) would fail.
      const other = await limits.acquire(
        { ...teamA, model: 'gpt-4o-mini' },
        { estimatedTokens: 400 },
      );
      expect(other.headers).toMatchObject({ 'ratelimit-limit': '2', 'ratelimit-remaining': '0' });
      await refusal(limits.acquire({ ...teamA, model: 'gpt-4o-mini' }, { estimatedTokens: 101 }));
      const byKey = await refusal(limits.acquire({ ...teamA, model: 'gpt-4o-mini' }));
      expect(byKey).toMatchObject({ scope: 'key:team-a', limit: 'requestsPerMinute' });
    });

    it('gives back what the refusing rule itself counted', async () => {
      const limits = limiter({ rules: [{ scope: 'key:team-a', tokensPerMinute: 1_000 }] });
      await limits.acquire(teamA, { estimatedTokens: 900 });
      for (let attempt = 0; attempt < 3; attempt++) {
        await refusal(limits.acquire(teamA, { estimatedTokens: 200 }));
      }
      const fits = await limits.acquire(teamA, { estimatedTokens: 100 });
      expect(fits.headers['ratelimit-remaining']).toBe('0');
    });

    it('reports the most constraining rule in the headers', async () => {
      const limits = limiter({
        rules: [
          { scope: 'key:team-a', requestsPerMinute: 10, tokensPerMinute: 1_000 },
          { scope: 'model:gpt-4o', requestsPerMinute: 4 },
        ],
      });
      const ticket = await limits.acquire(teamA, { estimatedTokens: 100 });
      // Left: key RPM 9/10, key TPM 900/1000, model RPM 3/4 (the smallest share).
      expect(ticket.headers).toEqual({
        'ratelimit-limit': '4',
        'ratelimit-remaining': '3',
        'ratelimit-reset': '60',
      });
      const heavy = await limits.acquire(teamA, { estimatedTokens: 850 });
      expect(heavy.headers).toMatchObject({
        'ratelimit-limit': '1000',
        'ratelimit-remaining': '50',
      });
    });

    it('limits requests in flight; release is idempotent and frees the slot on errors too', async () => {
      const limits = limiter({ rules: [{ scope: 'key:team-a', maxConcurrent: 2 }] });
      const first = await limits.acquire(teamA);
      const second = await limits.acquire(teamA);
      expect(first.headers).toEqual({});
      const full = await refusal(limits.acquire(teamA));
      expect(full).toMatchObject({ limit: 'maxConcurrent', quota: 2, retryAfterMs: 1_000 });
      expect(full.headers).toEqual({
        'retry-after': '1',
        'ratelimit-limit': '2',
        'ratelimit-remaining': '0',
        'ratelimit-reset': '1',
      });

      await first.release();
      await first.release(); // a second release must not free another request's slot
      const third = await limits.acquire(teamA);
      await refusal(limits.acquire(teamA));

      async function failingCall(): Promise<void> {
        const ticket = await limits.acquire(teamA);
        try {
          throw new Error('upstream failed');
        } finally {
          await ticket.release();
        }
      }
      await second.release();
      await expect(failingCall()).rejects.toThrow('upstream failed');
      await expect(failingCall()).rejects.toThrow('upstream failed');
      await limits.acquire(teamA);
      await refusal(limits.acquire(teamA));
      await third.release();
    });

    it('releases a ticket when its request is aborted', async () => {
      const limits = limiter({ rules: [{ scope: 'key:team-a', maxConcurrent: 1 }] });
      const controller = new AbortController();
      await limits.acquire(teamA, { signal: controller.signal });
      await refusal(limits.acquire(teamA));
      controller.abort();
      await expect
        .poll(() =>
          limits.acquire(teamA).then(
            () => true,
            () => false,
          ),
        )
        .toBe(true);
      const aborted = AbortSignal.abort();
      await expect(limits.acquire(teamA, { signal: aborted })).rejects.toThrow();
    });

    it('releases a ticket held longer than maxHold', async () => {
      const limits = limiter({
        rules: [{ scope: 'key:team-a', maxConcurrent: 1 }],
        maxHold: '200ms',
      });
      const expired = new Promise((done) => limits.on('rate-limit-ticket-expired', done));
      await limits.acquire(teamA); // never released
      await refusal(limits.acquire(teamA));
      expect(await expired).toMatchObject({ scopes: ['key:team-a'] });
      await limits.acquire(teamA);
    });

    it('gives every key its own limit under key:*', async () => {
      const limits = limiter({ rules: [{ scope: 'key:*', requestsPerMinute: 1 }] });
      await limits.acquire({ ...teamA, key: 'a' });
      const error = await refusal(limits.acquire({ ...teamA, key: 'a' }));
      expect(error).toMatchObject({ scope: 'key:a', rule: 'key:*' });
      await limits.acquire({ ...teamA, key: 'b' });
      await refusal(limits.acquire({ ...teamA, key: 'b' }));
    });

    it('limits per model under model:*, and per tag', async () => {
      const limits = limiter({
        rules: [
          { scope: 'model:*', maxConcurrent: 1 },
          { scope: 'tag:batch', requestsPerMinute: 1 },
          { scope: 'tag:*', requestsPerMinute: 2 },
        ],
      });
      const gpt = await limits.acquire({ key: 'k', model: 'gpt-4o' });
      await limits.acquire({ key: 'k', model: 'claude' });
      expect(await refusal(limits.acquire({ key: 'k', model: 'gpt-4o' }))).toMatchObject({
        scope: 'model:gpt-4o',
        limit: 'maxConcurrent',
      });
      await gpt.release();

      const batch = { key: 'k', model: 'm1', tags: ['batch', 'nightly'] };
      await limits.acquire(batch);
      expect(await refusal(limits.acquire({ ...batch, model: 'm2' }))).toMatchObject({
        scope: 'tag:batch',
        rule: 'tag:batch',
      });
      // tag:* counts each tag separately; the refused request above was not counted.
      await limits.acquire({ key: 'k', model: 'm3', tags: ['nightly', 'nightly'] });
      expect(
        await refusal(limits.acquire({ key: 'k', model: 'm4', tags: ['nightly'] })),
      ).toMatchObject({
        scope: 'tag:nightly',
        rule: 'tag:*',
      });
      await limits.acquire({ key: 'k', model: 'm5', tags: ['other'] });
      await limits.acquire({ key: 'k', model: 'm6' });
    });
  });
}

registerRateLimitSuite('memory', (options) => createRateLimiter(options));

describe.skipIf(!available)('on Redis', () => {
  const prefixes: string[] = [];
  const redis = new Redis(redisUrl(DB));

  function prefix(): string {
    const created = `rltest-${randomUUID().slice(0, 12)}`;
    prefixes.push(created);
    return created;
  }

  afterEach(async () => {
    for (const used of prefixes.splice(0)) {
      const keys = await redis.keys(`${used}:*`);
      if (keys.length > 0) await redis.del(...keys);
    }
  });

  afterAll(() => {
    redis.disconnect();
  });

  registerRateLimitSuite('Redis', (options) =>
    // A shared client that is always ready; a generous timeout so no decision falls back.
    createRateLimiter({ ...options, redis, prefix: prefix(), timeout: '5s' }),
  );

  it('shares counters between limiters (processes) on the same prefix', async () => {
    const shared = prefix();
    const options: RateLimiterOptions = {
      rules: [{ scope: 'key:*', requestsPerMinute: 3, maxConcurrent: 2 }],
      redis: redisUrl(DB),
      prefix: shared,
    };
    const one = createRateLimiter(options);
    const two = createRateLimiter(options);
    try {
      expect(await one.ready()).toBe(true);
      expect(await two.ready()).toBe(true);
      expect(one.storeKind).toBe('redis');
      const held = await one.acquire(teamA);
      await two.acquire(teamA);
      await refusal(one.acquire(teamA)); // both slots held
      await held.release();
      await one.acquire(teamA);
      await refusal(two.acquire(teamA)); // three requests this window
      expect(await redis.exists(`${shared}:rl:{key:*:team-a}:rpm`)).toBe(1);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });

  it('never fails a request because Redis is down: limits then hold per process', async () => {
    const server = await ThrowawayRedis.start();
    const limits = createRateLimiter({
      rules: [{ scope: 'key:team-a', requestsPerMinute: 3, maxConcurrent: 5 }],
      redis: server.url,
      timeout: 50,
    });
    const failures: string[] = [];
    limits.on('rate-limit-store-failed', ({ operation }) => failures.push(operation));
    try {
      expect(await limits.ready()).toBe(true);
      const onRedis = await limits.acquire(teamA);
      expect(onRedis.headers['ratelimit-remaining']).toBe('2');
      await server.stop();

      const started = performance.now();
      const local = await limits.acquire(teamA);
      // This process's own counters: a fresh window.
      expect(local.headers['ratelimit-remaining']).toBe('2');
      await limits.acquire(teamA);
      await limits.acquire(teamA);
      await refusal(limits.acquire(teamA));
      await onRedis.release(); // the slot is in Redis: fails quietly, its lease will expire
      await local.release();
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(failures.length).toBeGreaterThan(0);
    } finally {
      await limits.close();
      await server.stop();
    }
  });
});

describe('configuration', () => {
  it.each([
    [{ rules: [{ scope: 'user:x', requestsPerMinute: 1 }] }, /scope/],
    [{ rules: [{ scope: 'key:a*', requestsPerMinute: 1 }] }, /scope/],
    [{ rules: [{ scope: 'key:a' }] }, /needs requestsPerMinute/],
    [{ rules: [{ scope: 'key:a', requestsPerMinute: 0 }] }, /positive integer/],
    [{ rules: [{ scope: 'key:a', tokensPerMinute: 1.5 }] }, /positive integer/],
    [
      {
        rules: [
          { scope: 'key:a', requestsPerMinute: 1 },
          { scope: 'key:a', maxConcurrent: 1 },
        ],
      },
      /two rules/,
    ],
    [{ rules: [], window: '1500ms' }, /whole seconds/],
    [{ rules: [], prefix: 'a:b' }, /prefix/],
  ] as [RateLimiterOptions, RegExp][])('refuses %j', (options, message) => {
    expect(() => createRateLimiter(options)).toThrow(ConfigError);
    expect(() => createRateLimiter(options)).toThrow(message);
  });

  it('admits everything a rule does not match, with no headers', async () => {
    const limits = createRateLimiter({ rules: [{ scope: 'key:other', requestsPerMinute: 1 }] });
    for (let index = 0; index < 5; index++) {
      const ticket = await limits.acquire(teamA);
      expect(ticket.headers).toEqual({});
      await ticket.settle(10);
      await ticket.release();
    }
    await limits.close();
    await expect(limits.acquire(teamA)).rejects.toMatchObject({ code: 'E_CLOSED' });
  });
});
