import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway/index.js';
import { createMockProvider, type MockProvider } from '../../src/mock-provider/index.js';
import { chatCompletionJson } from '../helpers/gateway.js';

const KEY_A = 'team-a-key-0123456789';
const KEY_B = 'team-b-key-0123456789';
const ADMIN_KEY = 'admin-key-0123456789';
const UPSTREAM_KEY = 'upstream-secret-value';

let upstream: MockProvider;
let faulty: MockProvider;
let gateway: Gateway;
let baseUrl: string;
let clientA: OpenAI;
let clientB: OpenAI;
let questionNumber = 0;

/** A question no other test asks, so each test starts from a cold cache. */
function freshQuestion(): string {
  questionNumber += 1;
  return `question ${questionNumber} from ${process.pid}: what is ${questionNumber} squared?`;
}

beforeAll(async () => {
  upstream = createMockProvider({ apiKey: UPSTREAM_KEY });
  faulty = createMockProvider();
  const upstreamUrl = (await upstream.listen(0)).url;
  const faultyUrl = (await faulty.listen(0)).url;
  gateway = createGateway(
    {
      server: { bodyLimit: '64kb', logLevel: 'silent' },
      store: { sqlite: false },
      providers: [
        { name: 'mock', type: 'openai-compatible', baseUrl: upstreamUrl, apiKey: UPSTREAM_KEY },
        { name: 'faulty', type: 'openai-compatible', baseUrl: faultyUrl, timeout: 300 },
        { name: 'closed', type: 'openai-compatible', baseUrl: 'http://127.0.0.1:9/v1' },
      ],
      models: [
        { name: 'gpt-4o-mini', provider: 'mock' },
        { name: 'small', provider: 'mock', upstreamModel: 'mock-small' },
        { name: 'text-embedding-3-small', provider: 'mock' },
        { name: 'faulty-model', provider: 'faulty' },
        { name: 'unreachable-model', provider: 'closed' },
      ],
      keys: [
        { name: 'team-a', key: KEY_A },
        { name: 'team-b', key: KEY_B, models: ['gpt-4o-mini'] },
      ],
      admin: { key: ADMIN_KEY },
      // These tests check how each upstream error passes through, one call each: no retries,
      // and no breaker opening on the deliberately faulty provider.
      routing: { retries: { attempts: 1 }, breaker: { failures: 1_000 } },
    },
    { logger: false },
  );
  baseUrl = (await gateway.listen({ port: 0 })).url;
  clientA = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: KEY_A, maxRetries: 0 });
  clientB = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: KEY_B, maxRetries: 0 });
});

afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
  await faulty?.close();
});

beforeEach(() => {
  upstream.setOptions({ ttftMs: 0, tokenMs: 0 });
  faulty.setOptions({ error429Rate: 0, error500Rate: 0, timeoutRate: 0, cutRate: 0 });
  upstream.reset();
  faulty.reset();
});

function post(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function errorOf(
  response: Response,
): Promise<{ type: string; code: string; param: string | null; message: string }> {
  const body = (await response.json()) as {
    error: { type: string; code: string; param: string | null; message: string };
  };
  return body.error;
}

describe('chat completions through the gateway (official openai client, real sockets)', () => {
  it('answers a miss from the upstream and the repeat from the cache, without contacting it', async () => {
    const request = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: freshQuestion() }],
    };
    const first = await clientA.chat.completions.create(request).withResponse();
    const second = await clientA.chat.completions.create(request).withResponse();
    expect(first.response.headers.get('x-sluice-cache')).toBe('miss');
    expect(second.response.headers.get('x-sluice-cache')).toBe('hit');
    expect(second.data).toEqual(first.data);
    expect(first.data.choices[0]?.message.content).toMatch(/\w/);
    expect(first.data.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(upstream.stats().chatCompletions).toBe(1);
    for (const { response } of [first, second]) {
      expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(Number(response.headers.get('x-sluice-overhead-ms'))).toBeGreaterThanOrEqual(0);
    }
  });

  it('maps the requested model to its upstream name and keeps tenants apart', async () => {
    const content = freshQuestion();
    const viaAlias = await clientA.chat.completions.create({
      model: 'small',
      messages: [{ role: 'user', content }],
    });
    expect(viaAlias.model).toBe('mock-small');
    const a = await clientA.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] })
      .withResponse();
    const b = await clientB.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] })
      .withResponse();
    expect(a.response.headers.get('x-sluice-cache')).toBe('miss');
    expect(b.response.headers.get('x-sluice-cache')).toBe('miss');
    expect(upstream.stats().chatCompletions).toBe(3);
  });

  it('separates every generation parameter in the key', async () => {
    const messages = [{ role: 'user' as const, content: freshQuestion() }];
    await clientA.chat.completions.create({ model: 'gpt-4o-mini', messages, temperature: 0 });
    const other = await clientA.chat.completions
      .create({ model: 'gpt-4o-mini', messages, temperature: 0.7 })
      .withResponse();
    expect(other.response.headers.get('x-sluice-cache')).toBe('miss');
    const tools = await clientA.chat.completions
      .create({
        model: 'gpt-4o-mini',
        messages,
        temperature: 0,
        tools: [
          {
            type: 'function',
            function: { name: 'lookup', parameters: { type: 'object', properties: {} } },
          },
        ],
      })
      .withResponse();
    expect(tools.response.headers.get('x-sluice-cache')).toBe('miss');
    expect(tools.data.choices[0]?.message.tool_calls?.[0]).toMatchObject({ type: 'function' });
    expect(upstream.stats().chatCompletions).toBe(3);
  });

  it('streams chunk by chunk, and replays a cached stream with the same chunks', async () => {
    const request = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: freshQuestion() }],
      stream: true as const,
    };
    const collect = async () => {
      const { data, response } = await clientA.chat.completions.create(request).withResponse();
      const chunks = [];
      for await (const chunk of data) chunks.push(chunk);
      return { chunks, cache: response.headers.get('x-sluice-cache') };
    };
    const before = gateway.cache?.stats();
    const live = await collect();
    const replayed = await collect();
    expect(live.cache).toBe('miss');
    expect(replayed.cache).toBe('hit');
    // One lookup each: the miss is counted once (not by a read and again by getOrSet).
    const after = gateway.cache?.stats();
    expect((after?.misses ?? 0) - (before?.misses ?? 0)).toBe(1);
    expect((after?.hits ?? 0) - (before?.hits ?? 0)).toBe(1);
    expect(live.chunks.length).toBeGreaterThan(3);
    expect(replayed.chunks).toEqual(live.chunks);
    // The client did not ask for usage: the usage chunk the gateway requested stays hidden.
    expect(live.chunks.some((chunk) => chunk.choices.length === 0)).toBe(false);
    const text = live.chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
    const plain = await clientA.chat.completions.create({ ...request, stream: false });
    expect(text).toBe(plain.choices[0]?.message.content);
    expect(upstream.stats().streams).toBe(1);
  });

  it('delivers the usage chunk to a client that asks for it, from the same cache entry', async () => {
    const request = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: freshQuestion() }],
      stream: true as const,
    };
    const first = await clientA.chat.completions.create(request);
    for await (const _chunk of first) {
      // drain
    }
    const { data, response } = await clientA.chat.completions
      .create({ ...request, stream_options: { include_usage: true } })
      .withResponse();
    const chunks = [];
    for await (const chunk of data) chunks.push(chunk);
    expect(response.headers.get('x-sluice-cache')).toBe('hit');
    expect(chunks.at(-1)?.usage?.completion_tokens).toBeGreaterThan(0);
    expect(upstream.stats().streams).toBe(1);
  });

  it('answers embeddings (base64 and float) and caches them', async () => {
    const input = freshQuestion();
    const first = await clientA.embeddings
      .create({ model: 'text-embedding-3-small', input })
      .withResponse();
    const second = await clientA.embeddings
      .create({ model: 'text-embedding-3-small', input })
      .withResponse();
    expect(first.data.data[0]?.embedding.length).toBeGreaterThan(0);
    expect(second.data.data[0]?.embedding).toEqual(first.data.data[0]?.embedding);
    expect(second.response.headers.get('x-sluice-cache')).toBe('hit');
    const asFloat = await clientA.embeddings.create({
      model: 'text-embedding-3-small',
      input,
      encoding_format: 'float',
    });
    expect(asFloat.data[0]?.embedding[0]).toBeCloseTo(
      first.data.data[0]?.embedding[0] ?? Number.NaN,
      5,
    );
    expect(upstream.stats().embeddings).toBe(2);
  });

  it('lists the models a key may use', async () => {
    const all = await clientA.models.list();
    expect(all.data.map((model) => model.id)).toContain('faulty-model');
    const restricted = await clientB.models.list();
    expect(restricted.data.map((model) => model.id)).toEqual(['gpt-4o-mini']);
  });

  it('retrieves one model with the openai client, as a request for it would be admitted', async () => {
    expect(await clientA.models.retrieve('small')).toMatchObject({
      id: 'small',
      object: 'model',
      owned_by: 'mock',
    });
    expect((await clientB.models.retrieve('gpt-4o-mini')).id).toBe('gpt-4o-mini');
    await expect(clientB.models.retrieve('small')).rejects.toMatchObject({
      status: 403,
      code: 'model_not_allowed',
    });
    await expect(clientA.models.retrieve('no-such-model')).rejects.toMatchObject({
      status: 404,
      code: 'model_not_found',
    });
  });
});

describe('request cache controls', () => {
  const body = () => ({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: freshQuestion() }],
  });

  it('no-store neither reads nor writes; no-cache skips the read but stores', async () => {
    const request = body();
    const noStore = await post('/v1/chat/completions', request, { 'cache-control': 'no-store' });
    expect(noStore.headers.get('x-sluice-cache')).toBe('bypass');
    expect((await post('/v1/chat/completions', request)).headers.get('x-sluice-cache')).toBe(
      'miss',
    );
    const noCache = await post('/v1/chat/completions', request, { 'cache-control': 'no-cache' });
    expect(noCache.headers.get('x-sluice-cache')).toBe('bypass');
    expect((await post('/v1/chat/completions', request)).headers.get('x-sluice-cache')).toBe('hit');
    expect(upstream.stats().chatCompletions).toBe(3);
  });

  it('max-age refuses an answer older than asked', async () => {
    const request = body();
    await post('/v1/chat/completions', request);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const fresh = await post('/v1/chat/completions', request, { 'cache-control': 'max-age=1' });
    expect(fresh.headers.get('x-sluice-cache')).toBe('miss');
    const recent = await post('/v1/chat/completions', request, { 'cache-control': 'max-age=60' });
    expect(recent.headers.get('x-sluice-cache')).toBe('hit');
    expect(upstream.stats().chatCompletions).toBe(2);
  });

  it('x-sluice-cache-ttl sets the entry lifetime and x-sluice-namespace separates entries', async () => {
    const request = body();
    await post('/v1/chat/completions', request, { 'x-sluice-cache-ttl': '1' });
    const other = await post('/v1/chat/completions', request, {
      'x-sluice-namespace': 'experiment',
    });
    expect(other.headers.get('x-sluice-cache')).toBe('miss');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const expired = await post('/v1/chat/completions', request);
    expect(expired.headers.get('x-sluice-cache')).toBe('miss');
    const bad = await post('/v1/chat/completions', request, { 'x-sluice-namespace': 'no spaces!' });
    expect(bad.status).toBe(400);
  });
});

describe('coalescing', () => {
  it('makes one upstream call for identical concurrent requests', async () => {
    upstream.setOptions({ ttftMs: 150 });
    const request = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: freshQuestion() }],
    };
    const responses = await Promise.all(
      Array.from({ length: 6 }, () => post('/v1/chat/completions', request)),
    );
    const bodies = await Promise.all(responses.map((response) => response.text()));
    expect(new Set(bodies).size).toBe(1);
    expect(responses.map((response) => response.headers.get('x-sluice-cache')).sort()).toEqual([
      'hit',
      'hit',
      'hit',
      'hit',
      'hit',
      'miss',
    ]);
    expect(upstream.stats().chatCompletions).toBe(1);
  });

  it('gives a streaming joiner the full stream, live', async () => {
    upstream.setOptions({ ttftMs: 50, tokenMs: 10 });
    const request = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: freshQuestion() }],
      stream: true as const,
    };
    const run = async () => {
      const stream = await clientA.chat.completions.create(request);
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      return chunks;
    };
    const leader = run();
    await new Promise((resolve) => setTimeout(resolve, 90));
    const [leaderChunks, joinerChunks, lateChunks] = await Promise.all([leader, run(), run()]);
    expect(joinerChunks).toEqual(leaderChunks);
    expect(lateChunks).toEqual(leaderChunks);
    expect(upstream.stats().streams).toBe(1);
  });
});

describe('errors are OpenAI-shaped and never crash the gateway', () => {
  it('400 for malformed JSON and schema violations, naming the field', async () => {
    const malformed = await post('/v1/chat/completions', '{"model": "gpt-4o-mini", "messages": [');
    expect(malformed.status).toBe(400);
    expect((await errorOf(malformed)).type).toBe('invalid_request_error');
    const missing = await post('/v1/chat/completions', { model: 'gpt-4o-mini' });
    expect(missing.status).toBe(400);
    expect(await errorOf(missing)).toMatchObject({
      type: 'invalid_request_error',
      param: 'messages',
    });
    const badRole = await post('/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'wizard', content: 'x' }],
    });
    expect(await errorOf(badRole)).toMatchObject({ param: 'messages.0.role' });
    // Refused here, not by the upstream: no call is made for a body that cannot succeed.
    const calls = upstream.stats().chatCompletions;
    const badTool = await post('/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
      tools: [{ type: 'function' }],
    });
    expect(badTool.status).toBe(400);
    expect(await errorOf(badTool)).toMatchObject({
      type: 'invalid_request_error',
      param: 'tools.0.function',
    });
    expect(upstream.stats().chatCompletions).toBe(calls);
    const notObject = await post('/v1/chat/completions', '[1,2]');
    expect(notObject.status).toBe(400);
    const noBody = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
    });
    expect(noBody.status).toBe(400);
  });

  it('401 for a missing or unknown key, 403 for a model the key may not use', async () => {
    const missing = await fetch(`${baseUrl}/v1/models`);
    expect(missing.status).toBe(401);
    expect(await errorOf(missing)).toMatchObject({
      type: 'authentication_error',
      code: 'missing_api_key',
    });
    const unknown = new OpenAI({
      baseURL: `${baseUrl}/v1`,
      apiKey: 'not-a-configured-key-000',
      maxRetries: 0,
    });
    await expect(unknown.models.list()).rejects.toMatchObject({
      status: 401,
      code: 'invalid_api_key',
    });
    await expect(
      clientB.chat.completions.create({
        model: 'small',
        messages: [{ role: 'user', content: 'x' }],
      }),
    ).rejects.toMatchObject({ status: 403, code: 'model_not_allowed' });
  });

  it('404 model_not_found for an unknown model, 404 for an unknown route', async () => {
    await expect(
      clientA.chat.completions.create({
        model: 'gpt-9',
        messages: [{ role: 'user', content: 'x' }],
      }),
    ).rejects.toMatchObject({ status: 404, code: 'model_not_found', type: 'not_found_error' });
    const route = await post('/v1/unknown', {});
    expect(route.status).toBe(404);
    expect((await errorOf(route)).code).toBe('not_found');
  });

  it('413 for a body over the limit', async () => {
    const huge = await post('/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x'.repeat(100_000) }],
    });
    expect(huge.status).toBe(413);
    expect((await errorOf(huge)).code).toBe('request_too_large');
  });

  it('502 when the upstream cannot be reached, 504 when it does not answer in time', async () => {
    await expect(
      clientA.chat.completions.create({
        model: 'unreachable-model',
        messages: [{ role: 'user', content: 'x' }],
      }),
    ).rejects.toMatchObject({ status: 502, type: 'upstream_error' });
    faulty.setOptions({ timeoutRate: 1 });
    const started = Date.now();
    await expect(
      clientA.chat.completions.create({
        model: 'faulty-model',
        messages: [{ role: 'user', content: freshQuestion() }],
      }),
    ).rejects.toMatchObject({ status: 504, type: 'timeout' });
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('passes upstream 429 and 500 through with their status, a mapped body and retry-after', async () => {
    faulty.setOptions({ error429Rate: 1 });
    const limited = await post('/v1/chat/completions', {
      model: 'faulty-model',
      messages: [{ role: 'user', content: freshQuestion() }],
    });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect((await errorOf(limited)).type).toBe('rate_limit_exceeded');
    faulty.setOptions({ error429Rate: 0, error500Rate: 1 });
    const request = {
      model: 'faulty-model',
      messages: [{ role: 'user', content: freshQuestion() }],
    };
    const failed = await post('/v1/chat/completions', request);
    expect(failed.status).toBe(500);
    expect((await errorOf(failed)).message).toMatch(/provider 'faulty' answered 500/);
    // Errors are never cached: the same request reaches the upstream again.
    faulty.setOptions({ error500Rate: 0 });
    const recovered = await post('/v1/chat/completions', request);
    expect(recovered.status).toBe(200);
    expect(recovered.headers.get('x-sluice-cache')).toBe('miss');
  });

  it('ends a cut stream with an error event, never [DONE], and does not store it', async () => {
    faulty.setOptions({ cutRate: 1 });
    const request = {
      model: 'faulty-model',
      messages: [{ role: 'user', content: freshQuestion() }],
      stream: true,
    };
    const cut = await post('/v1/chat/completions', request);
    expect(cut.status).toBe(200);
    const text = await cut.text();
    expect(text).not.toContain('[DONE]');
    expect(text).toMatch(/"code":"upstream_stream_cut"/);
    faulty.setOptions({ cutRate: 0 });
    const again = await post('/v1/chat/completions', request);
    expect(again.headers.get('x-sluice-cache')).toBe('miss');
    expect(await again.text()).toContain('data: [DONE]');
  });

  it('answers 502 to a JSON answer cut off mid-body, and does not store it', async () => {
    faulty.setOptions({ cutRate: 1 });
    const request = {
      model: 'faulty-model',
      messages: [{ role: 'user', content: freshQuestion() }],
    };
    const cut = await post('/v1/chat/completions', request);
    expect(cut.status).toBe(502);
    expect(await cut.json()).toMatchObject({ error: { type: 'upstream_error' } });
    faulty.setOptions({ cutRate: 0 });
    const again = await post('/v1/chat/completions', request);
    expect(again.status).toBe(200);
    expect(again.headers.get('x-sluice-cache')).toBe('miss');
  });

  it('never returns the provider key', async () => {
    const response = await post('/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: freshQuestion() }],
    });
    expect(response.status).toBe(200);
    const everything = JSON.stringify([...response.headers]) + (await response.text());
    expect(everything).not.toContain(UPSTREAM_KEY);
  });
});

describe('operations endpoints', () => {
  it('serves health and Prometheus metrics', async () => {
    const health = await fetch(`${baseUrl}/healthz`);
    expect(await health.json()).toMatchObject({ status: 'ok', cache: 'on' });
    expect(health.headers.get('x-request-id')).not.toBeNull();
    await post('/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'metrics' }],
    });
    const metrics = await (await fetch(`${baseUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /sluice_requests_total\{route="chat",model="gpt-4o-mini",status="200",cache="(miss|hit)",outcome="success"\} \d+/,
    );
    expect(metrics).toContain('sluice_overhead_seconds_bucket');
    expect(metrics).toContain('sluice_upstream_duration_seconds_bucket');
    expect(metrics).toMatch(/sluice_tokens_total\{model="gpt-4o-mini",kind="completion"\} \d+/);
  });

  it("puts Sluice's headers on every response and counts each request once", async () => {
    const count = async (labels: string): Promise<number> => {
      const text = await (await fetch(`${baseUrl}/metrics`)).text();
      const line = text
        .split('\n')
        .find((entry) => entry.startsWith(`sluice_requests_total{${labels}}`));
      return line === undefined ? 0 : Number(line.split(' ').pop());
    };
    const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: freshQuestion() }] };
    const cases: [string, () => Promise<Response>, number, string][] = [
      [
        'a chat miss',
        () => post('/v1/chat/completions', chat),
        200,
        'route="chat",model="gpt-4o-mini",status="200",cache="miss",outcome="success"',
      ],
      [
        'a chat refused by validation',
        () => post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [] }),
        400,
        'route="chat",model="",status="400",cache="bypass",outcome="client_error"',
      ],
      [
        'a chat without a key',
        () => post('/v1/chat/completions', chat, { authorization: '' }),
        401,
        'route="chat",model="",status="401",cache="bypass",outcome="client_error"',
      ],
      [
        'embeddings',
        () => post('/v1/embeddings', { model: 'text-embedding-3-small', input: freshQuestion() }),
        200,
        'route="embeddings",model="text-embedding-3-small",status="200",cache="miss",outcome="success"',
      ],
      [
        'the model list',
        () => fetch(`${baseUrl}/v1/models`, { headers: { authorization: `Bearer ${KEY_A}` } }),
        200,
        'route="/v1/models",model="",status="200",cache="bypass",outcome="success"',
      ],
      [
        'an admin call without the admin key',
        () => fetch(`${baseUrl}/admin/cache/stats`),
        401,
        'route="/admin/cache/stats",model="",status="401",cache="bypass",outcome="client_error"',
      ],
      [
        'an unknown route',
        () => fetch(`${baseUrl}/v2/nothing`),
        404,
        'route="unknown",model="",status="404",cache="bypass",outcome="client_error"',
      ],
    ];
    for (const [what, send, status, labels] of cases) {
      const before = await count(labels);
      const response = await send();
      await response.arrayBuffer();
      expect(response.status, what).toBe(status);
      expect(response.headers.get('x-request-id'), what).toMatch(/^[0-9a-f-]{36}$/);
      expect(response.headers.get('x-sluice-cache'), what).toMatch(/^(miss|hit|bypass)$/);
      expect(Number(response.headers.get('x-sluice-overhead-ms')), what).toBeGreaterThanOrEqual(0);
      expect(await count(labels), what).toBe(before + 1);
    }
  });

  it('guards the admin API with the admin key and clears one namespace', async () => {
    const request = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: freshQuestion() }],
    };
    await post('/v1/chat/completions', request);
    expect((await fetch(`${baseUrl}/admin/cache/stats`)).status).toBe(401);
    const stats = await fetch(`${baseUrl}/admin/cache/stats`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    expect(await stats.json()).toMatchObject({ enabled: true });
    const clear = await post(
      '/admin/cache/clear',
      { namespace: 'team-a' },
      { authorization: `Bearer ${ADMIN_KEY}` },
    );
    expect(await clear.json()).toEqual({ cleared: true, namespace: 'team-a' });
    expect((await post('/v1/chat/completions', request)).headers.get('x-sluice-cache')).toBe(
      'miss',
    );
  });
});

describe('the body sent upstream', () => {
  it("is the client's own bytes when nothing in it changes, and re-serialised when the model does", async () => {
    const received: string[] = [];
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push(Buffer.concat(chunks).toString('utf8'));
        response.setHeader('content-type', 'application/json');
        response.end(chatCompletionJson('m', 'ok', { prompt_tokens: 3, completion_tokens: 1 }));
      });
    });
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    const port = (server.address() as AddressInfo).port;
    const echo = createGateway(
      {
        server: { logLevel: 'silent' },
        store: { sqlite: false },
        providers: [
          { name: 'echo', type: 'openai-compatible', baseUrl: `http://127.0.0.1:${port}/v1` },
        ],
        models: [
          { name: 'same', provider: 'echo' },
          { name: 'alias', provider: 'echo', upstreamModel: 'renamed' },
        ],
      },
      { logger: false },
    );
    const origin = (await echo.listen({ port: 0 })).url;
    try {
      // Odd spacing, key order and a non-ASCII character: kept byte for byte.
      const raw = '{ "messages":[{"content":"naïve café ☕","role":"user"}],\n  "model" : "same" }';
      const asIs = await fetch(`${origin}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
        body: raw,
      });
      expect(asIs.status).toBe(200);
      expect(received[0]).toBe(raw);

      const renamed = await fetch(`${origin}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
        body: raw.replace('"same"', '"alias"'),
      });
      expect(renamed.status).toBe(200);
      expect(JSON.parse(received[1] as string)).toEqual({
        messages: [{ content: 'naïve café ☕', role: 'user' }],
        model: 'renamed',
      });
    } finally {
      await echo.close();
      await new Promise((closed) => server.close(closed));
    }
  });
});
