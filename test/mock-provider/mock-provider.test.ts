import OpenAI from 'openai';
import type {
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageToolCall,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseMockProviderArgs, runMockProvider } from '../../src/mock-provider/cli.js';
import { createMockProvider, type MockProvider } from '../../src/mock-provider/index.js';
import { ConfigError } from '../../src/shared/errors.js';

const QUESTION = 'What is the capital of France?';
const SYSTEM = 'You are a terse assistant.';

let provider: MockProvider;
let url: string;
let client: OpenAI;

beforeAll(async () => {
  provider = createMockProvider();
  ({ url } = await provider.listen());
  client = new OpenAI({ baseURL: url, apiKey: 'x', maxRetries: 0 });
});

afterAll(async () => {
  await provider.close();
});

beforeEach(() => {
  provider.setOptions({
    ttftMs: 0,
    tokenMs: 0,
    maxTokens: 64,
    error429Rate: 0,
    error500Rate: 0,
    timeoutRate: 0,
    cutRate: 0,
    seed: 1,
  });
  provider.reset();
});

/** Providers a test starts on its own, closed after it. */
const extraProviders: MockProvider[] = [];

afterEach(async () => {
  await Promise.all(extraProviders.splice(0).map((extra) => extra.close()));
});

async function startProvider(options: Parameters<typeof createMockProvider>[0] = {}) {
  const extra = createMockProvider(options);
  extraProviders.push(extra);
  return { provider: extra, ...(await extra.listen()) };
}

function chat(
  question: string,
  extra: Partial<ChatCompletionCreateParamsNonStreaming> = {},
): ChatCompletionCreateParamsNonStreaming {
  return {
    model: 'mock-small',
    messages: [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: question },
    ],
    ...extra,
  };
}

function post(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
  base = url,
): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Reads a body until it ends or breaks; returns the text received and whether it broke. */
async function readAll(response: Response): Promise<{ text: string; broken: boolean }> {
  const reader = response.body?.getReader();
  if (reader === undefined) throw new Error('no body');
  const decoder = new TextDecoder();
  let text = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { text, broken: false };
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    return { text, broken: true };
  }
}

/** The JSON payloads of an SSE body, `[DONE]` as the string itself. */
function sseEvents(text: string): unknown[] {
  const events = text.split('\n\n');
  expect(events.pop()).toBe('');
  return events.map((event) => {
    expect(event.startsWith('data: ')).toBe(true);
    const data = event.slice('data: '.length);
    return data === '[DONE]' ? data : JSON.parse(data);
  });
}

function functionCall(call: ChatCompletionMessageToolCall | undefined) {
  if (call?.type !== 'function') throw new Error(`expected a function call, got ${call?.type}`);
  return call;
}

const WEATHER_TOOL: ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        days: { type: 'integer' },
      },
      required: ['city'],
    },
  },
};

const SEARCH_TOOL: ChatCompletionTool = {
  type: 'function',
  function: { name: 'search', parameters: { type: 'object', properties: {} } },
};

describe('chat completions', () => {
  it('answers deterministically from the model and the messages', async () => {
    const first = await client.chat.completions.create(chat(QUESTION));
    const again = await client.chat.completions.create(chat(QUESTION));
    const other = await client.chat.completions.create(chat('Name a prime number.'));
    const otherModel = await client.chat.completions.create({
      ...chat(QUESTION),
      model: 'mock-large',
    });

    expect(again).toEqual(first);
    expect(first.object).toBe('chat.completion');
    expect(first.model).toBe('mock-small');
    expect(first.system_fingerprint).toBe('mock');
    expect(first.id).toMatch(/^chatcmpl-[0-9a-f]{24}$/);
    const content = first.choices[0]?.message.content ?? '';
    expect(content.startsWith("Answer to 'What is the capital of F…': ")).toBe(true);
    expect(first.choices[0]?.message.role).toBe('assistant');
    expect(first.choices[0]?.finish_reason).toBe('stop');
    expect(other.choices[0]?.message.content).not.toBe(content);
    expect(other.id).not.toBe(first.id);
    expect(otherModel.choices[0]?.message.content).not.toBe(content);
  });

  it('reports usage: prompt characters / 4 plus 4 per message, one token per word', async () => {
    const completion = await client.chat.completions.create(chat(QUESTION));
    const words = (completion.choices[0]?.message.content ?? '').split(' ').length;
    const promptTokens = Math.ceil((SYSTEM.length + QUESTION.length) / 4) + 2 * 4;
    expect(completion.usage).toEqual({
      prompt_tokens: promptTokens,
      completion_tokens: words,
      total_tokens: promptTokens + words,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    });
  });

  it('draws lengths between 8 and the cap, and max_tokens cuts with finish_reason length', async () => {
    const lengths = new Set<number>();
    for (let index = 0; index < 12; index++) {
      const completion = await client.chat.completions.create(chat(`question number ${index}`));
      const words = completion.usage?.completion_tokens ?? 0;
      expect(words).toBeGreaterThanOrEqual(8);
      expect(words).toBeLessThanOrEqual(64);
      lengths.add(words);
    }
    expect(lengths.size).toBeGreaterThan(3);

    const short = await client.chat.completions.create(chat(QUESTION, { max_tokens: 3 }));
    expect(short.choices[0]?.message.content).toBe("Answer to 'What");
    expect(short.choices[0]?.finish_reason).toBe('length');
    expect(short.usage?.completion_tokens).toBe(3);

    const capped = await client.chat.completions.create(
      chat(QUESTION, { max_completion_tokens: 10 }),
    );
    expect(capped.usage?.completion_tokens).toBeLessThanOrEqual(10);
    expect(capped.usage?.completion_tokens).toBeGreaterThanOrEqual(8);

    provider.setOptions({ maxTokens: 8 });
    const small = await client.chat.completions.create(chat('another question'));
    expect(small.usage?.completion_tokens).toBe(8);
  });

  it('gives n choices, the first one equal to the single answer', async () => {
    const single = await client.chat.completions.create(chat(QUESTION));
    const many = await client.chat.completions.create(chat(QUESTION, { n: 3 }));
    expect(many.choices.map((choice) => choice.index)).toEqual([0, 1, 2]);
    expect(many.choices[0]?.message.content).toBe(single.choices[0]?.message.content);
    const contents = new Set(many.choices.map((choice) => choice.message.content));
    expect(contents.size).toBe(3);
    const words = many.choices.reduce(
      (sum, choice) => sum + (choice.message.content ?? '').split(' ').length,
      0,
    );
    expect(many.usage?.completion_tokens).toBe(words);
  });

  it('calls the first tool when the last message is from the user, then answers the result', async () => {
    const request = chat('What is the weather in Paris today?', {
      tools: [WEATHER_TOOL, SEARCH_TOOL],
    });
    const completion = await client.chat.completions.create(request);
    const again = await client.chat.completions.create(request);
    expect(again).toEqual(completion);
    const choice = completion.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.content).toBeNull();
    const call = functionCall(choice?.message.tool_calls?.[0]);
    expect(call.id).toMatch(/^call_[0-9a-f]{24}$/);
    expect(call.function.name).toBe('get_weather');
    const parsed = JSON.parse(call.function.arguments) as Record<string, unknown>;
    expect(parsed.city).toBe('What is the weather in P');
    expect(['celsius', 'fahrenheit']).toContain(parsed.unit);
    expect(Number.isInteger(parsed.days)).toBe(true);

    const named = await client.chat.completions.create({
      ...request,
      tool_choice: { type: 'function', function: { name: 'search' } },
    });
    const namedCall = functionCall(named.choices[0]?.message.tool_calls?.[0]);
    expect(namedCall.function.name).toBe('search');
    expect(namedCall.function.arguments).toBe('{}');

    const answered = await client.chat.completions.create({
      ...request,
      messages: [
        ...request.messages,
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: call.id, content: '{"celsius":21}' },
      ],
    });
    expect(answered.choices[0]?.finish_reason).toBe('stop');
    expect(answered.choices[0]?.message.tool_calls).toBeUndefined();
    expect(answered.choices[0]?.message.content).toMatch(/^Answer to 'What is the weather in P…'/);

    const refused = await client.chat.completions.create({ ...request, tool_choice: 'none' });
    expect(refused.choices[0]?.finish_reason).toBe('stop');
  });
});

describe('streaming', () => {
  it('streams one chunk per word that adds up to the non-streamed answer, with usage', async () => {
    const whole = await client.chat.completions.create(chat(QUESTION, { n: 2 }));
    const stream = await client.chat.completions.create({
      ...chat(QUESTION, { n: 2 }),
      stream: true,
      stream_options: { include_usage: true },
    });
    const contents = ['', ''];
    const finishes: Array<string | null> = [null, null];
    let roles = 0;
    let chunks = 0;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      chunks++;
      expect(chunk.object).toBe('chat.completion.chunk');
      expect(chunk.id).toBe(whole.id);
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices) {
        if (choice.delta.role === 'assistant') roles++;
        contents[choice.index] += choice.delta.content ?? '';
        if (choice.finish_reason) finishes[choice.index] = choice.finish_reason;
      }
    }
    expect(contents).toEqual(whole.choices.map((choice) => choice.message.content));
    expect(finishes).toEqual(['stop', 'stop']);
    expect(roles).toBe(2);
    // Per choice: the role chunk, one per word, the finish chunk; plus the usage chunk.
    const words = whole.usage?.completion_tokens ?? 0;
    expect(chunks).toBe(2 * 2 + words + 1);
    expect(usage).toEqual(whole.usage);
    expect(provider.stats().streams).toBe(1);
  });

  it('writes well-formed SSE ending in [DONE], without usage unless asked', async () => {
    const response = await post('/chat/completions', { ...chat(QUESTION), stream: true });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const events = sseEvents(await response.text());
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1) as Array<{
      choices: Array<{ delta: { role?: string; content?: string }; finish_reason: string | null }>;
      usage?: unknown;
    }>;
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks[1]?.choices[0]?.delta.content).toBe('Answer ');
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks.every((chunk) => chunk.usage === undefined)).toBe(true);
  });

  it('streams a tool call: id and name first, then the arguments', async () => {
    const request = chat('What is the weather in Paris today?', { tools: [WEATHER_TOOL] });
    const whole = await client.chat.completions.create(request);
    const expected = functionCall(whole.choices[0]?.message.tool_calls?.[0]);
    const stream = await client.chat.completions.create({ ...request, stream: true });
    let id = '';
    let name = '';
    let toolArguments = '';
    let pieces = 0;
    let finish: string | null = null;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      for (const call of choice?.delta.tool_calls ?? []) {
        expect(call.index).toBe(0);
        id += call.id ?? '';
        name += call.function?.name ?? '';
        if (call.function?.arguments) pieces++;
        toolArguments += call.function?.arguments ?? '';
      }
      finish = choice?.finish_reason ?? finish;
    }
    expect({ id, name, arguments: toolArguments }).toEqual({
      id: expected.id,
      name: expected.function.name,
      arguments: expected.function.arguments,
    });
    expect(pieces).toBe(2);
    expect(finish).toBe('tool_calls');
  });
});

describe('embeddings', () => {
  it('returns the same unit vectors as base64 (the client default) and as floats', async () => {
    const input = ['the quick brown fox', 'jumps over the lazy dog'];
    const decoded = await client.embeddings.create({ model: 'text-embedding-3-small', input });
    const floats = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input,
      encoding_format: 'float',
    });
    expect(decoded.object).toBe('list');
    expect(decoded.model).toBe('text-embedding-3-small');
    expect(decoded.data.map((item) => item.index)).toEqual([0, 1]);
    expect(decoded.data.map((item) => item.embedding)).toEqual(
      floats.data.map((item) => item.embedding),
    );
    for (const item of floats.data) {
      expect(item.object).toBe('embedding');
      expect(item.embedding).toHaveLength(16);
      const norm = Math.sqrt(item.embedding.reduce((sum, value) => sum + value * value, 0));
      expect(norm).toBeCloseTo(1, 5);
    }
    expect(floats.data[0]?.embedding).not.toEqual(floats.data[1]?.embedding);
    const tokens = Math.ceil(19 / 4) + Math.ceil(23 / 4);
    expect(floats.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });

    const single = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'the quick brown fox',
      encoding_format: 'float',
    });
    expect(single.data[0]?.embedding).toEqual(floats.data[0]?.embedding);
    expect(provider.stats().embeddings).toBe(3);
  });

  it('honours dimensions, token arrays and base64 as float32 little-endian', async () => {
    const response = await post('/embeddings', {
      model: 'm',
      input: [[1, 2, 3], 'text'],
      dimensions: 64,
      encoding_format: 'base64',
    });
    const body = (await response.json()) as {
      data: Array<{ embedding: string }>;
      usage: { prompt_tokens: number };
    };
    const floats = await client.embeddings.create({
      model: 'm',
      input: [[1, 2, 3]],
      dimensions: 64,
      encoding_format: 'float',
    });
    const text = await client.embeddings.create({
      model: 'm',
      input: 'text',
      dimensions: 64,
      encoding_format: 'float',
    });
    expect(body.data).toHaveLength(2);
    expect(Buffer.from(body.data[1]?.embedding ?? '', 'base64').readFloatLE(0)).toBe(
      text.data[0]?.embedding[0],
    );
    const bytes = Buffer.from(body.data[0]?.embedding ?? '', 'base64');
    expect(bytes.length).toBe(64 * 4);
    const values = Array.from({ length: 64 }, (_, index) => bytes.readFloatLE(index * 4));
    expect(values).toEqual(floats.data[0]?.embedding);
    expect(body.usage.prompt_tokens).toBe(3 + 1);
  });
});

describe('forced faults (x-mock-fault)', () => {
  it('429 carries retry-after and the OpenAI error shape', async () => {
    const error = await client.chat.completions
      .create(chat(QUESTION), { headers: { 'x-mock-fault': '429' } })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const rateLimit = error as InstanceType<typeof OpenAI.RateLimitError>;
    expect(rateLimit.headers.get('retry-after')).toBe('1');
    expect(rateLimit.code).toBe('rate_limit_exceeded');
    expect(provider.stats().faults['429']).toBe(1);
  });

  it('500 and 400 come back as OpenAI errors', async () => {
    await expect(
      client.chat.completions.create(chat(QUESTION), { headers: { 'x-mock-fault': '500' } }),
    ).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    const response = await post(
      '/embeddings',
      { model: 'm', input: 'x' },
      { 'x-mock-fault': '400' },
    );
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: Record<string, unknown> };
    expect(body.error).toMatchObject({ type: 'invalid_request_error', code: null });
    expect(typeof body.error.message).toBe('string');
    const unknown = await post('/chat/completions', chat(QUESTION), { 'x-mock-fault': 'teapot' });
    expect(unknown.status).toBe(400);
    expect(provider.stats().faults).toMatchObject({ '500': 1, '400': 1 });
  });

  it('cut ends a stream after some chunks without [DONE], and a JSON answer midway', async () => {
    const streamed = await post(
      '/chat/completions',
      { ...chat(QUESTION), stream: true },
      { 'x-mock-fault': 'cut' },
    );
    expect(streamed.status).toBe(200);
    const received = await readAll(streamed);
    expect(received.broken).toBe(true);
    expect(received.text).toContain('data: {');
    expect(received.text).not.toContain('[DONE]');
    expect(received.text).not.toContain('finish_reason":"stop"');

    const whole = await post('/chat/completions', chat(QUESTION), { 'x-mock-fault': 'cut' });
    expect(whole.status).toBe(200);
    await expect(whole.text()).rejects.toThrow();

    const viaClient = await client.chat.completions.create(
      { ...chat(QUESTION), stream: true },
      { headers: { 'x-mock-fault': 'cut' } },
    );
    await expect(
      (async () => {
        for await (const _chunk of viaClient) {
          // Drain until the connection breaks.
        }
      })(),
    ).rejects.toThrow();
    expect(provider.stats().faults.cut).toBe(3);
  });

  it('timeout never answers, and close() ends the hung request', async () => {
    const hung = await startProvider();
    const pending = post(
      '/chat/completions',
      chat(QUESTION),
      { 'x-mock-fault': 'timeout' },
      hung.url,
    );
    const slow = post(
      '/chat/completions',
      { ...chat(QUESTION), stream: true },
      { 'x-mock-ttft-ms': '60000' },
      hung.url,
    );
    const outcome = await Promise.race([
      pending.then(
        () => 'answered',
        () => 'failed',
      ),
      new Promise((resolve) => setTimeout(() => resolve('pending'), 200)),
    ]);
    expect(outcome).toBe('pending');
    expect(hung.provider.stats().faults.timeout).toBe(1);
    const slowResponse = await slow;
    expect(slowResponse.status).toBe(200);

    const started = performance.now();
    await hung.provider.close();
    expect(performance.now() - started).toBeLessThan(1_000);
    await expect(pending).rejects.toThrow();
    expect((await readAll(slowResponse)).broken).toBe(true);
  });
});

describe('fault rates', () => {
  /** Sends requests one by one and records each outcome: a status, or `cut`. */
  async function outcomes(base: string, count: number): Promise<string[]> {
    const seen: string[] = [];
    for (let index = 0; index < count; index++) {
      const response = await post('/chat/completions', chat(`question ${index}`), {}, base);
      try {
        await response.text();
        seen.push(String(response.status));
      } catch {
        seen.push('cut');
      }
    }
    return seen;
  }

  it('draws the same faults for the same seed', async () => {
    const rates = { error429Rate: 0.25, error500Rate: 0.2, cutRate: 0.15, seed: 7 };
    const first = await startProvider(rates);
    const second = await startProvider(rates);
    const sequence = await outcomes(first.url, 30);
    expect(await outcomes(second.url, 30)).toEqual(sequence);
    expect(new Set(sequence)).toEqual(new Set(['200', '429', '500', 'cut']));
    const faults = first.provider.stats().faults;
    expect(faults['429']).toBe(sequence.filter((outcome) => outcome === '429').length);
    expect(faults.cut).toBe(sequence.filter((outcome) => outcome === 'cut').length);

    first.provider.setOptions({ seed: 7 });
    expect(await outcomes(first.url, 30)).toEqual(sequence);
    first.provider.setOptions({ seed: 8 });
    expect(await outcomes(first.url, 30)).not.toEqual(sequence);
  });

  it('refuses rates outside [0, 1] or adding up to more than 1', () => {
    expect(() => createMockProvider({ error429Rate: 1.5 })).toThrow(ConfigError);
    expect(() => createMockProvider({ error429Rate: 0.6, cutRate: 0.6 })).toThrow(/at most 1/);
    expect(() => provider.setOptions({ ttftMs: -1 })).toThrow(/ttftMs/);
    expect(() => createMockProvider({ maxTokens: 0 })).toThrow(/maxTokens/);
  });
});

describe('latency', () => {
  it('waits x-mock-ttft-ms before the first chunk and x-mock-token-ms between tokens', async () => {
    const started = performance.now();
    const response = await post(
      '/chat/completions',
      { ...chat(QUESTION), stream: true, max_tokens: 6 },
      { 'x-mock-ttft-ms': '100', 'x-mock-token-ms': '20' },
    );
    const reader = response.body?.getReader();
    const first = await reader?.read();
    const firstChunkMs = performance.now() - started;
    expect(first?.done).toBe(false);
    expect(firstChunkMs).toBeGreaterThanOrEqual(80);
    for (;;) {
      const { done } = (await reader?.read()) ?? { done: true };
      if (done) break;
    }
    // Five more tokens after the first, 20 ms apart.
    expect(performance.now() - started).toBeGreaterThanOrEqual(80 + 0.8 * 5 * 20);
  });

  it('delays non-streamed answers by the configured time to first token', async () => {
    provider.setOptions({ ttftMs: 100 });
    const started = performance.now();
    await client.chat.completions.create(chat(QUESTION, { max_tokens: 1 }));
    expect(performance.now() - started).toBeGreaterThanOrEqual(80);
    const response = await post('/chat/completions', chat(QUESTION), { 'x-mock-ttft-ms': 'soon' });
    expect(response.status).toBe(400);
  });
});

describe('routes and validation', () => {
  it('lists models', async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toEqual(expect.arrayContaining(['mock-small', 'mock-large', 'gpt-4o-mini']));
    const model = await client.models.retrieve('mock-large');
    expect(model).toMatchObject({ id: 'mock-large', object: 'model', owned_by: 'mock' });
  });

  it('answers bad JSON and bad bodies with 400 in the OpenAI shape', async () => {
    const badJson = await post('/chat/completions', '{"model": ');
    expect(badJson.status).toBe(400);
    expect(await badJson.json()).toMatchObject({ error: { type: 'invalid_request_error' } });

    for (const [body, param] of [
      [{ model: 'm' }, 'messages'],
      [{ model: 'm', messages: [] }, 'messages'],
      [{ model: 'm', messages: ['hi'] }, 'messages'],
      [{ messages: [{ role: 'user', content: 'hi' }] }, 'model'],
      [{ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: -1 }, 'max_tokens'],
      [{ model: 'm', messages: [{ role: 'user', content: 'hi' }], n: 0 }, 'n'],
    ] as const) {
      const response = await post('/chat/completions', body);
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(await response.json()).toEqual({
        error: {
          message: expect.any(String),
          type: 'invalid_request_error',
          code: null,
          param,
        },
      });
    }
    const embeddings = await post('/embeddings', { model: 'm', input: [] });
    expect(embeddings.status).toBe(400);
    const nullBody = await post('/chat/completions', 'null');
    expect(nullBody.status).toBe(400);
  });

  it('answers unknown routes with 404 and wrong methods with 405', async () => {
    const missing = await post('/completions', { model: 'm', prompt: 'hi' });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
    const wrongMethod = await fetch(`${url}/chat/completions`);
    expect(wrongMethod.status).toBe(405);
    expect((await fetch(`${url}/models/nope`)).status).toBe(404);
  });

  it('checks the API key only when one is set, and bounds the body size', async () => {
    const guarded = await startProvider({ apiKey: 'secret', maxBodyBytes: 1_024 });
    const wrong = new OpenAI({ baseURL: guarded.url, apiKey: 'x', maxRetries: 0 });
    await expect(wrong.chat.completions.create(chat(QUESTION))).rejects.toBeInstanceOf(
      OpenAI.AuthenticationError,
    );
    const right = new OpenAI({ baseURL: guarded.url, apiKey: 'secret', maxRetries: 0 });
    const completion = await right.chat.completions.create(chat(QUESTION));
    expect(completion.choices[0]?.message.content).toMatch(/^Answer to/);
    const large = await post(
      '/chat/completions',
      chat('x'.repeat(2_000)),
      { authorization: 'Bearer secret' },
      guarded.url,
    );
    expect(large.status).toBe(413);
  });

  it('counts requests by route, streams and faults; reset() zeroes them', async () => {
    await client.chat.completions.create(chat(QUESTION));
    await (await post('/chat/completions', { ...chat(QUESTION), stream: true })).text();
    await client.embeddings.create({ model: 'm', input: 'x' });
    await client.models.list();
    await post('/chat/completions', chat(QUESTION), { 'x-mock-fault': '429' });
    expect(provider.stats()).toEqual({
      requests: 5,
      chatCompletions: 3,
      streams: 1,
      embeddings: 1,
      faults: { '429': 1, '500': 0, timeout: 0, cut: 0, '400': 0 },
    });
    provider.reset();
    expect(provider.stats()).toMatchObject({ requests: 0, chatCompletions: 0, streams: 0 });
  });
});

describe('command line', () => {
  it('parses flags and refuses bad values with a message naming the flag', () => {
    expect(
      parseMockProviderArgs(['--port', '0', '--ttft', '50', '--cut-rate', '0.1', '--seed', '9']),
    ).toMatchObject({ port: 0, host: '127.0.0.1', options: { ttftMs: 50, cutRate: 0.1, seed: 9 } });
    expect(parseMockProviderArgs([])).toMatchObject({ port: 9000, host: '127.0.0.1' });
    expect(parseMockProviderArgs(['--help'])).toBeUndefined();
    expect(() => parseMockProviderArgs(['--port', 'abc'])).toThrow(/--port must be an integer/);
    expect(() => parseMockProviderArgs(['--error-429-rate', '2'])).toThrow(/--error-429-rate/);
    expect(() => parseMockProviderArgs(['--token-ms', '-5'])).toThrow(/--token-ms/);
    expect(() => parseMockProviderArgs(['--bogus'])).toThrow(ConfigError);
  });

  it('serves until stopped, printing its URL', async () => {
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((line: unknown) => {
      lines.push(String(line));
    });
    const stop = new AbortController();
    try {
      const running = runMockProvider(['--port', '0', '--seed', '3'], { signal: stop.signal });
      await vi.waitFor(() => expect(lines).toHaveLength(1), { timeout: 2_000, interval: 5 });
      const match = /^mock provider listening on (http:\/\/127\.0\.0\.1:\d+\/v1)$/.exec(
        lines[0] ?? '',
      );
      const base = match?.[1] ?? '';
      expect(base).not.toBe('');
      expect((await fetch(`${base}/models`)).status).toBe(200);
      stop.abort();
      await running;
      await expect(fetch(`${base}/models`)).rejects.toThrow();
      await expect(runMockProvider(['--seed', '1.5'])).rejects.toThrow(/--seed/);
    } finally {
      log.mockRestore();
    }
  });
});
