import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isRetryableError, SluiceError } from '../../src/shared/errors.js';
import {
  CacheKeyBuilder,
  createToolExecutor,
  DEFAULT_VOLATILE_PARAMETERS,
} from '../../src/tools/index.js';
import { backoffDelay, NO_RETRY, resolveRetry } from '../../src/tools/retry.js';

describe('CacheKeyBuilder', () => {
  const plain = new CacheKeyBuilder('tool', '1', DEFAULT_VOLATILE_PARAMETERS);

  it('writes a canonical form: sorted keys, canonical numbers, undefined members dropped', () => {
    expect(plain.canonical({ b: 1, a: { d: [1, 2], c: null } })).toBe(
      '{"a":{"c":null,"d":[1,2]},"b":1}',
    );
    expect(plain.canonical({ n: -0, m: 1.0, big: 10n, missing: undefined })).toBe(
      '{"big":10n,"m":1,"n":0}',
    );
    expect(plain.canonical({ s: '1' })).not.toBe(plain.canonical({ s: 1 }));
    expect(plain.canonical({ at: new Date(0) })).toBe('{"at":D"1970-01-01T00:00:00.000Z"}');
    expect(plain.canonical(new Set([3, 1, 2]))).toBe('[1,2,3]');
    expect(
      plain.canonical(
        new Map([
          ['b', 1],
          ['a', 2],
        ]),
      ),
    ).toBe('{"a":2,"b":1}');
  });

  it('drops volatile names at the top level and dotted paths below it', () => {
    const keys = new CacheKeyBuilder('tool', '1', ['timestamp', 'meta.request_id']);
    expect(
      keys.canonical({ q: 1, timestamp: 5, meta: { request_id: 'r', user: 'u', timestamp: 7 } }),
    ).toBe('{"meta":{"timestamp":7,"user":"u"},"q":1}');
  });

  it('hashes into a bounded key that names the tool and version but not the arguments', () => {
    const key = plain.key({ secret: 'x'.repeat(10_000) });
    expect(key.startsWith('tool@1:')).toBe(true);
    expect(key.length).toBeLessThan(60);
    expect(key).not.toContain('x');
    expect(new CacheKeyBuilder('tool', '2', []).key({})).not.toBe(plain.key({}));
  });

  it('refuses arguments nested deeper than 64 levels (a cycle)', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => plain.key(cyclic)).toThrow(/deeper than 64/);
  });
});

describe('retry policy', () => {
  it('backs off exponentially with full jitter, capped by maxDelay', () => {
    const policy = resolveRetry(
      { retries: 5, minDelay: '100ms', maxDelay: '1s', factor: 2 },
      NO_RETRY,
      'retry',
    );
    const top = () => 0.999_999;
    expect([1, 2, 3, 4, 5].map((retry) => backoffDelay(policy, retry, top))).toEqual([
      99, 199, 399, 799, 999,
    ]);
    expect(backoffDelay(policy, 3, () => 0)).toBe(0);
    expect(() => resolveRetry({ retries: -1 }, policy, 'retry')).toThrow(/retries/);
    expect(() => resolveRetry({ minDelay: '2s', maxDelay: '1s' }, policy, 'retry')).toThrow();
  });

  it('reads the retry decision from the error', () => {
    expect(isRetryableError(new SluiceError('E_X', 'x', { isRetryable: true }))).toBe(true);
    expect(isRetryableError(new SluiceError('E_X', 'x'))).toBe(false);
    expect(isRetryableError(Object.assign(new Error('api'), { isRetryable: true }))).toBe(true);
    expect(isRetryableError(new Error('plain'))).toBe(false);
  });
});

describe('hit accounting', () => {
  it('counts concurrent calls answered from the cache as hits, not as coalesced', async () => {
    let runs = 0;
    const executor = createToolExecutor();
    executor.register({ name: 'cached', parameters: z.object({}), execute: () => ++runs });
    await executor.execute('cached');
    await Promise.all([
      executor.execute('cached'),
      executor.execute('cached'),
      executor.execute('cached'),
    ]);
    expect(executor.stats().tools.cached).toMatchObject({
      executions: 1,
      cacheHits: 3,
      coalesced: 0,
    });
  });

  it('lets a caller stop waiting for a shared execution without cancelling it', async () => {
    let release: () => void = () => {};
    let signal: AbortSignal | undefined;
    const executor = createToolExecutor();
    executor.register({
      name: 'shared',
      parameters: z.object({}),
      execute: async (_input, context) => {
        signal = context.signal;
        await new Promise<void>((resolve) => (release = resolve));
        return 'done';
      },
    });
    const controller = new AbortController();
    const impatient = executor.execute('shared', {}, { signal: controller.signal });
    const patient = executor.execute('shared');
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort(new Error('gave up'));
    await expect(impatient).rejects.toThrow('gave up');
    expect(signal?.aborted).toBe(false);
    release();
    await expect(patient).resolves.toBe('done');
    await expect(executor.execute('shared')).resolves.toBe('done');
    expect(executor.stats().tools.shared?.executions).toBe(1);
  });
});
