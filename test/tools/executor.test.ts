import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { memoryStore } from '../../src/cache/stores/memory-store.js';
import { createCache } from '../../src/cache/tiered-cache.js';
import { ManualClock } from '../../src/shared/clock.js';
import { ConfigError, SluiceError } from '../../src/shared/errors.js';
import {
  createToolExecutor,
  defineTool,
  ToolArgumentsError,
  type ToolContext,
  type ToolDefinition,
  ToolError,
  type ToolExecutorOptions,
} from '../../src/tools/index.js';

/** A promise with its resolve function outside. */
function deferred<Value = void>() {
  let resolve: (value: Value) => void = () => {};
  let reject: (error: unknown) => void = () => {};
  const promise = new Promise<Value>((onResolve, onReject) => {
    resolve = onResolve;
    reject = onReject;
  });
  return { promise, resolve, reject };
}

/** Lets pending promise callbacks run. */
async function settle(): Promise<void> {
  for (let round = 0; round < 10; round++) await new Promise((done) => setImmediate(done));
}

const weatherSchema = z.object({
  city: z.string().min(2),
  days: z.number().int().min(1).max(7).default(1),
  filters: z.array(z.object({ field: z.string(), value: z.string() })).optional(),
});

function weatherTool(
  overrides: Partial<ToolDefinition<z.output<typeof weatherSchema>, unknown>> = {},
) {
  const calls: Array<Record<string, unknown>> = [];
  const tool = defineTool({
    name: 'get_weather',
    description: 'Weather forecast for a city',
    parameters: weatherSchema,
    execute: (input) => {
      calls.push(input);
      return { city: input.city, forecast: 'sunny', days: input.days };
    },
    ...overrides,
  });
  return { tool, calls };
}

function setup(options: ToolExecutorOptions = {}) {
  return createToolExecutor({ random: () => 0, ...options });
}

afterEach(() => {
  vi.useRealTimers();
});

describe('argument validation', () => {
  it('refuses arguments that do not match a zod schema, naming each path, before the tool runs', async () => {
    const { tool, calls } = weatherTool();
    const executor = setup({ tools: [tool] });
    const error = await executor
      .execute('get_weather', { days: 9, filters: [{ field: 'a', value: 'b' }, { field: 3 }] })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ToolArgumentsError);
    const refused = error as ToolArgumentsError;
    expect(refused.code).toBe('E_TOOL_ARGUMENTS');
    expect(refused.tool).toBe('get_weather');
    expect(refused.issues.map((issue) => issue.path).sort()).toEqual(
      ['city', 'days', 'filters[1].field', 'filters[1].value'].sort(),
    );
    expect(refused.message).toMatch(/get_weather.*city/);
    expect(calls).toHaveLength(0);
    expect(executor.stats().tools.get_weather?.argumentErrors).toBe(1);
    expect(executor.stats().tools.get_weather?.executions).toBe(0);
  });

  it('enforces a JSON Schema: type, required, enum, bounds, lengths, pattern, items, additionalProperties', async () => {
    const run = vi.fn((input: unknown) => input);
    const executor = setup({
      tools: [
        defineTool({
          name: 'search',
          parameters: {
            type: 'object',
            properties: {
              query: { type: 'string', minLength: 2, maxLength: 20, pattern: '^[a-z ]+$' },
              limit: { type: 'integer', minimum: 1, maximum: 50 },
              sort: { enum: ['relevance', 'date'] },
              tags: { type: 'array', items: { type: 'string' }, maxItems: 3 },
              options: {
                type: 'object',
                properties: { fuzzy: { type: 'boolean' } },
                additionalProperties: false,
              },
            },
            required: ['query'],
          },
          execute: run,
        }),
      ],
    });
    const cases: Array<[unknown, string]> = [
      [{}, 'query'],
      [{ query: 'x' }, 'query'],
      [{ query: 'UPPER' }, 'query'],
      [{ query: 'a'.repeat(21) }, 'query'],
      [{ query: 'ok', limit: 0 }, 'limit'],
      [{ query: 'ok', limit: 51 }, 'limit'],
      [{ query: 'ok', limit: 1.5 }, 'limit'],
      [{ query: 'ok', sort: 'random' }, 'sort'],
      [{ query: 'ok', tags: ['a', 2] }, 'tags[1]'],
      [{ query: 'ok', tags: ['a', 'b', 'c', 'd'] }, 'tags'],
      [{ query: 'ok', options: { fuzzy: true, extra: 1 } }, 'options'],
      ['not an object', '(root)'],
    ];
    for (const [input, path] of cases) {
      const error = await executor.execute('search', input).catch((caught: unknown) => caught);
      expect(error, JSON.stringify(input)).toBeInstanceOf(ToolArgumentsError);
      expect((error as ToolArgumentsError).issues.map((issue) => issue.path)).toContain(path);
    }
    expect(run).not.toHaveBeenCalled();
    await expect(
      executor.execute('search', { query: 'ok go', limit: 5, sort: 'date', tags: ['a'] }),
    ).resolves.toEqual({ query: 'ok go', limit: 5, sort: 'date', tags: ['a'] });
  });

  it('refuses at registration a JSON Schema it cannot enforce, bad names and duplicates', () => {
    const executor = setup();
    expect(() =>
      executor.register({
        name: 'conditional',
        parameters: { type: 'object', unevaluatedProperties: false },
        execute: () => 1,
      }),
    ).toThrow(ConfigError);
    expect(() =>
      executor.register({ name: 'has space', parameters: z.object({}), execute: () => 1 }),
    ).toThrow(ConfigError);
    executor.register({ name: 'once', parameters: z.object({}), execute: () => 1 });
    expect(() =>
      executor.register({ name: 'once', parameters: z.object({}), execute: () => 1 }),
    ).toThrow(/already registered/);
  });

  it('describes tools in OpenAI shape from zod and JSON Schema', () => {
    const { tool } = weatherTool();
    const executor = setup({ tools: [tool] });
    executor.register({
      name: 'lookup',
      parameters: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
      execute: () => 1,
    });
    const [weather, lookup] = executor.definitions();
    expect(weather).toMatchObject({
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Weather forecast for a city',
        parameters: {
          type: 'object',
          required: ['city'],
          properties: { city: { type: 'string' } },
        },
      },
    });
    expect(weather?.function.parameters).not.toHaveProperty('$schema');
    expect(lookup?.function.parameters).toEqual({
      type: 'object',
      properties: { id: { type: 'string' } },
      required: ['id'],
    });
  });
});

describe('result caching', () => {
  it('answers a repeated call from the cache', async () => {
    const { tool, calls } = weatherTool();
    const executor = setup({ tools: [tool] });
    const first = await executor.execute('get_weather', { city: 'Paris' });
    const second = await executor.execute('get_weather', { city: 'Paris' });
    expect(second).toEqual(first);
    expect(calls).toHaveLength(1);
    const [third] = await executor.executeAll([{ name: 'get_weather', input: { city: 'Paris' } }]);
    expect(third).toMatchObject({ ok: true, source: 'cache' });
    const stats = executor.stats().tools.get_weather;
    expect(stats).toMatchObject({ calls: 3, cacheHits: 2, executions: 1 });
    expect(stats?.hitRatio).toBeCloseTo(2 / 3);
    await executor.close();
  });

  it('expires results after the tool ttl', async () => {
    const clock = new ManualClock();
    const { tool, calls } = weatherTool({ ttl: '1m' });
    const executor = setup({ tools: [tool], clock });
    await executor.execute('get_weather', { city: 'Paris' });
    clock.advance(59_000);
    await executor.execute('get_weather', { city: 'Paris' });
    expect(calls).toHaveLength(1);
    clock.advance(2_000);
    await executor.execute('get_weather', { city: 'Paris' });
    expect(calls).toHaveLength(2);
  });

  it('leaves volatile parameters out of the key but still passes them to the tool', async () => {
    const seen: unknown[] = [];
    const executor = setup({
      tools: [
        defineTool({
          name: 'report',
          parameters: z.object({ id: z.string(), timestamp: z.number(), request_id: z.string() }),
          execute: (input) => {
            seen.push(input);
            return `report ${input.id}`;
          },
        }),
      ],
    });
    await executor.execute('report', { id: 'a', timestamp: 1, request_id: 'r1' });
    await executor.execute('report', { id: 'a', timestamp: 2, request_id: 'r2' });
    await executor.execute('report', { id: 'b', timestamp: 3, request_id: 'r3' });
    expect(seen).toEqual([
      { id: 'a', timestamp: 1, request_id: 'r1' },
      { id: 'b', timestamp: 3, request_id: 'r3' },
    ]);
  });

  it('takes the volatile list from the executor and lets a tool replace it', async () => {
    let runs = 0;
    const schema = z.object({ at: z.string(), timestamp: z.number().optional() });
    const executor = setup({ volatileParameters: ['at'] });
    executor.register({ name: 'by_default', parameters: schema, execute: () => ++runs });
    executor.register({
      name: 'keeps_all',
      parameters: schema,
      volatileParameters: [],
      execute: () => ++runs,
    });
    await executor.execute('by_default', { at: '1' });
    await executor.execute('by_default', { at: '2' });
    expect(runs).toBe(1); // 'at' is volatile
    await executor.execute('by_default', { at: '1', timestamp: 1 });
    await executor.execute('by_default', { at: '1', timestamp: 2 });
    expect(runs).toBe(3); // the executor's list replaced the default: timestamp counts
    await executor.execute('keeps_all', { at: '1' });
    await executor.execute('keeps_all', { at: '2' });
    expect(runs).toBe(5);
  });

  it('normalises equivalent arguments: key order, numbers, and configured trimming, case and sets', async () => {
    let runs = 0;
    const executor = setup();
    executor.register({
      name: 'normalised',
      parameters: z.object({
        query: z.string(),
        region: z.string(),
        tags: z.array(z.string()),
        limit: z.number(),
      }),
      normalize: { trim: true, lowercase: ['query'], sortArrays: ['tags'] },
      execute: () => ++runs,
    });
    executor.register({
      name: 'plain',
      parameters: z.object({ query: z.string() }),
      execute: () => ++runs,
    });
    await executor.execute('normalised', {
      query: 'Weather in Paris',
      region: 'EU',
      tags: ['a', 'b'],
      limit: 10,
    });
    await executor.execute('normalised', {
      limit: 10.0,
      tags: ['b', 'a'],
      region: ' EU ',
      query: '  weather IN paris ',
    });
    expect(runs).toBe(1);
    await executor.execute('normalised', {
      query: 'weather in paris',
      region: 'eu', // region is trimmed but not lowercased
      tags: ['a', 'b'],
      limit: 10,
    });
    expect(runs).toBe(2);
    await executor.execute('plain', { query: 'Paris' });
    await executor.execute('plain', { query: ' paris' });
    expect(runs).toBe(4); // nothing configured: case and spaces matter
  });

  it('never caches a tool with side effects (and refuses a ttl on one)', async () => {
    let sent = 0;
    const executor = setup({
      tools: [
        defineTool({
          name: 'send_email',
          parameters: z.object({ to: z.string() }),
          sideEffects: true,
          execute: () => ++sent,
        }),
      ],
    });
    expect(await executor.execute('send_email', { to: 'a@example.com' })).toBe(1);
    expect(await executor.execute('send_email', { to: 'a@example.com' })).toBe(2);
    expect(executor.stats().tools.send_email).toMatchObject({ executions: 2, cacheHits: 0 });
    expect(() =>
      executor.register({
        name: 'charge',
        parameters: z.object({}),
        sideEffects: true,
        ttl: '1m',
        execute: () => 1,
      }),
    ).toThrow(ConfigError);
  });

  it('does not cache a tool with ttl false, undefined results or results shouldCache refuses', async () => {
    let clock = 0;
    let flaky = 0;
    const executor = setup();
    executor.register({
      name: 'now',
      parameters: z.object({}),
      ttl: false,
      execute: () => ++clock,
    });
    executor.register({
      name: 'maybe',
      parameters: z.object({}),
      shouldCache: (output: { error?: string }) => output.error === undefined,
      execute: () => (++flaky === 1 ? { error: 'upstream busy' } : { value: flaky }),
    });
    expect(await executor.execute('now')).toBe(1);
    expect(await executor.execute('now')).toBe(2);
    expect(await executor.execute('maybe')).toEqual({ error: 'upstream busy' });
    expect(await executor.execute('maybe')).toEqual({ value: 2 });
    expect(await executor.execute('maybe')).toEqual({ value: 2 });
  });

  it('runs identical concurrent calls once (single-flight)', async () => {
    const gate = deferred();
    let runs = 0;
    const executor = setup({
      tools: [
        defineTool({
          name: 'slow',
          parameters: z.object({ id: z.number() }),
          execute: async (input) => {
            runs++;
            await gate.promise;
            return `result ${input.id}`;
          },
        }),
      ],
    });
    const calls = Array.from({ length: 5 }, () => executor.execute('slow', { id: 1 }));
    const other = executor.execute('slow', { id: 2 });
    await settle();
    expect(runs).toBe(2);
    gate.resolve();
    expect(await Promise.all(calls)).toEqual(Array(5).fill('result 1'));
    expect(await other).toBe('result 2');
    expect(executor.stats().tools.slow).toMatchObject({ calls: 6, executions: 2, coalesced: 4 });
  });

  it('shares results between executors whose caches share an L2 (two processes)', async () => {
    const shared = memoryStore();
    let runs = 0;
    const tool = defineTool({
      name: 'expensive',
      parameters: z.object({ n: z.number() }),
      execute: (input) => {
        runs++;
        return input.n * 2;
      },
    });
    const first = setup({
      tools: [tool],
      cache: createCache({ l1: { maxEntries: 100 }, l2: shared, bus: false }),
    });
    const second = setup({
      tools: [tool],
      cache: createCache({ l1: { maxEntries: 100 }, l2: shared, bus: false }),
    });
    expect(await first.execute('expensive', { n: 21 })).toBe(42);
    expect(await second.execute('expensive', { n: 21 })).toBe(42);
    expect(runs).toBe(1);
    expect(second.stats().tools.expensive?.cacheHits).toBe(1);
  });

  it('invalidates a tool’s results on demand', async () => {
    const { tool, calls } = weatherTool();
    const executor = setup({ tools: [tool] });
    await executor.execute('get_weather', { city: 'Paris' });
    await executor.invalidate('get_weather');
    await executor.execute('get_weather', { city: 'Paris' });
    expect(calls).toHaveLength(2);
  });
});

describe('timeouts and retries', () => {
  it('times out an attempt, aborts its signal and reports E_TOOL_TIMEOUT', async () => {
    vi.useFakeTimers();
    let signal: AbortSignal | undefined;
    const executor = setup({
      retry: false,
      tools: [
        defineTool({
          name: 'hang',
          parameters: z.object({}),
          timeout: '50ms',
          execute: (_input: unknown, context: ToolContext) => {
            signal = context.signal;
            return new Promise(() => {});
          },
        }),
      ],
    });
    const call = executor.execute('hang').catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(49);
    expect(signal?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const error = await call;
    expect(error).toBeInstanceOf(ToolError);
    expect(error).toMatchObject({ code: 'E_TOOL_TIMEOUT', tool: 'hang', isRetryable: true });
    expect(signal?.aborted).toBe(true);
    expect(executor.stats().tools.hang).toMatchObject({ timeouts: 1, errors: 1 });
  });

  it('retries an idempotent tool on retryable errors and timeouts, with growing backoff', async () => {
    vi.useFakeTimers();
    let attempts = 0;
    const executor = setup({
      random: () => 0.5,
      retry: { retries: 3, minDelay: '100ms', maxDelay: '1s', factor: 2 },
      tools: [
        defineTool({
          name: 'flaky',
          parameters: z.object({}),
          timeout: '1s',
          execute: (_input: unknown, context: ToolContext) => {
            attempts++;
            if (context.attempt === 1)
              throw new SluiceError('E_UPSTREAM', 'busy', { isRetryable: true });
            if (context.attempt === 2) return new Promise(() => {}); // times out
            return 'ok';
          },
        }),
      ],
    });
    const call = executor.execute('flaky');
    await vi.advanceTimersByTimeAsync(0);
    expect(attempts).toBe(1);
    await vi.advanceTimersByTimeAsync(49); // backoff 0.5 × 100 ms = 50 ms
    expect(attempts).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(attempts).toBe(2);
    await vi.advanceTimersByTimeAsync(1_000); // attempt 2 times out
    await vi.advanceTimersByTimeAsync(99); // backoff 0.5 × 200 ms = 100 ms
    expect(attempts).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    await expect(call).resolves.toBe('ok');
    expect(attempts).toBe(3);
    expect(executor.stats().tools.flaky).toMatchObject({ retries: 2, timeouts: 1, errors: 0 });
  });

  it('does not retry errors that are not retryable, nor tools with side effects', async () => {
    let plain = 0;
    let effects = 0;
    let idempotentEffects = 0;
    const retryable = () => new SluiceError('E_UPSTREAM', 'busy', { isRetryable: true });
    const executor = setup({
      retry: { retries: 3, minDelay: 0 },
      tools: [
        defineTool({
          name: 'broken',
          parameters: z.object({}),
          execute: () => {
            plain++;
            throw new Error('bad input for upstream');
          },
        }),
        defineTool({
          name: 'post',
          parameters: z.object({}),
          sideEffects: true,
          execute: () => {
            effects++;
            throw retryable();
          },
        }),
        defineTool({
          name: 'put',
          parameters: z.object({}),
          sideEffects: true,
          idempotent: true,
          execute: () => {
            idempotentEffects++;
            throw retryable();
          },
        }),
      ],
    });
    const broken = await executor.execute('broken').catch((error: unknown) => error);
    expect(broken).toMatchObject({ code: 'E_TOOL_FAILED', isRetryable: false });
    expect((broken as Error).cause).toBeInstanceOf(Error);
    await expect(executor.execute('post')).rejects.toMatchObject({ code: 'E_TOOL_FAILED' });
    await expect(executor.execute('put')).rejects.toMatchObject({ isRetryable: true });
    expect([plain, effects, idempotentEffects]).toEqual([1, 1, 4]);
    expect(() =>
      executor.register({
        name: 'charge',
        parameters: z.object({}),
        sideEffects: true,
        retry: { retries: 2 },
        execute: () => 1,
      }),
    ).toThrow(/idempotent/);
  });

  it('cancels an uncached call through the caller signal', async () => {
    let signal: AbortSignal | undefined;
    const executor = setup({
      tools: [
        defineTool({
          name: 'long',
          parameters: z.object({}),
          sideEffects: true,
          execute: (_input: unknown, context: ToolContext) => {
            signal = context.signal;
            return new Promise(() => {});
          },
        }),
      ],
    });
    const controller = new AbortController();
    const call = executor.execute('long', {}, { signal: controller.signal });
    await settle();
    controller.abort(new Error('user left'));
    await expect(call).rejects.toThrow('user left');
    expect(signal?.aborted).toBe(true);
  });
});

describe('executeAll', () => {
  it('returns results in request order with per-call error isolation', async () => {
    const executor = setup({
      tools: [
        defineTool({
          name: 'delay',
          parameters: z.object({ ms: z.number(), fail: z.boolean().optional() }),
          sideEffects: true,
          execute: async (input) => {
            await new Promise((done) => setTimeout(done, input.ms));
            if (input.fail) throw new Error(`failed after ${input.ms}`);
            return input.ms;
          },
        }),
      ],
    });
    const results = await executor.executeAll([
      { name: 'delay', input: { ms: 30 } },
      { name: 'delay', input: { ms: 1, fail: true } },
      { name: 'missing', input: {} },
      { name: 'delay', input: { ms: 'x' } },
      { name: 'delay', input: { ms: 10 } },
    ]);
    expect(
      results.map((result) => (result.ok ? result.value : (result.error as SluiceError).code)),
    ).toEqual([30, 'E_TOOL_FAILED', 'E_TOOL_UNKNOWN', 'E_TOOL_ARGUMENTS', 10]);
    expect(results[0]).toMatchObject({ ok: true, name: 'delay', source: 'execution' });
    expect(executor.stats().unknownCalls).toBe(1);
  });

  it('never runs more than `concurrency` calls at once', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const executor = setup({
      concurrency: 8,
      tools: [
        defineTool({
          name: 'work',
          parameters: z.object({ id: z.number() }),
          execute: async (input) => {
            inFlight++;
            maxInFlight = Math.max(maxInFlight, inFlight);
            await new Promise((done) => setTimeout(done, 2 + (input.id % 3)));
            inFlight--;
            return input.id;
          },
        }),
      ],
    });
    const calls = Array.from({ length: 20 }, (_, id) => ({ name: 'work', input: { id } }));
    const results = await executor.executeAll(calls, { concurrency: 3 });
    expect(maxInFlight).toBe(3);
    expect(results.map((result) => result.ok && result.value)).toEqual(
      calls.map((call) => call.input.id),
    );

    maxInFlight = 0;
    await executor.invalidate('work');
    await executor.executeAll(calls);
    expect(maxInFlight).toBe(8); // the executor's default
    expect(() => executor.executeAll(calls, { concurrency: 0 })).toThrow(ConfigError);
  });
});

describe('executeToolCalls (OpenAI)', () => {
  it('answers every tool call with a tool message, turning failures into error content', async () => {
    const { tool } = weatherTool();
    const executor = setup({ tools: [tool] });
    executor.register({ name: 'greet', parameters: z.object({}), execute: () => 'hello' });
    const messages = await executor.executeToolCalls([
      {
        id: 'call_1',
        type: 'function',
        function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
      },
      { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":' } },
      { id: 'call_3', type: 'function', function: { name: 'launch_rocket', arguments: '{}' } },
      {
        id: 'call_4',
        type: 'function',
        function: { name: 'get_weather', arguments: '{"city":"P"}' },
      },
      { id: 'call_5', type: 'function', function: { name: 'greet', arguments: '' } },
      { id: 'call_6', type: 'custom' },
    ]);
    expect(messages.map((message) => message.tool_call_id)).toEqual([
      'call_1',
      'call_2',
      'call_3',
      'call_4',
      'call_5',
      'call_6',
    ]);
    expect(messages.every((message) => message.role === 'tool')).toBe(true);
    expect(JSON.parse(messages[0]?.content ?? '')).toEqual({
      city: 'Paris',
      forecast: 'sunny',
      days: 1,
    });
    const errorCode = (index: number) => JSON.parse(messages[index]?.content ?? '').error.code;
    expect(errorCode(1)).toBe('E_TOOL_JSON');
    expect(errorCode(2)).toBe('E_TOOL_UNKNOWN');
    expect(errorCode(3)).toBe('E_TOOL_ARGUMENTS');
    expect(JSON.parse(messages[3]?.content ?? '').error.issues[0].path).toBe('city');
    expect(messages[4]?.content).toBe('hello');
    expect(errorCode(5)).toBe('E_TOOL_CALL');
  });

  it('uses custom formatters and survives a formatter that throws', async () => {
    const executor = setup({
      formatResult: (value, name) => `${name} → ${String(value)}`,
      formatError: () => {
        throw new Error('formatter bug');
      },
    });
    executor.register({ name: 'one', parameters: z.object({}), execute: () => 1 });
    const [ok, failed] = await executor.executeToolCalls([
      { id: 'a', function: { name: 'one', arguments: '{}' } },
      { id: 'b', function: { name: 'two', arguments: '{}' } },
    ]);
    expect(ok?.content).toBe('one → 1');
    expect(JSON.parse(failed?.content ?? '').error.code).toBe('E_TOOL_UNKNOWN');
  });
});

describe('statistics', () => {
  it('counts calls, hits, errors and timeouts and reports p50/p95 of execution time', async () => {
    const clock = new ManualClock();
    const executor = setup({ clock, retry: false });
    executor.register({
      name: 'timed',
      parameters: z.object({ ms: z.number() }),
      volume: (output: { rows: number }) => output.rows,
      execute: (input) => {
        clock.advance(input.ms);
        if (input.ms === 999) throw new Error('broken');
        return { rows: 10 };
      },
    });
    for (let ms = 1; ms <= 100; ms++) await executor.execute('timed', { ms });
    await executor.execute('timed', { ms: 50 }); // a hit
    await executor.execute('timed', { ms: 999 }).catch(() => {});
    const stats = executor.stats().tools.timed;
    expect(stats).toMatchObject({
      calls: 102,
      cacheHits: 1,
      executions: 101,
      errors: 1,
      volume: 1_000,
    });
    expect(Math.abs((stats?.durationMs.p50Ms ?? 0) - 51) / 51).toBeLessThanOrEqual(1 / 64);
    expect(Math.abs((stats?.durationMs.p95Ms ?? 0) - 96) / 96).toBeLessThanOrEqual(1 / 64);
    expect(stats?.durationMs.maxMs).toBe(999);
    expect(executor.stats().totals).toMatchObject({ calls: 102, cacheHits: 1, errors: 1 });
  });
});
