import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway/index.js';
import { createMockProvider, type MockProvider } from '../../src/mock-provider/index.js';

const KEY = 'routing-key-0123456789';
const LIMITED = 'limited-key-0123456789';

let primary: MockProvider;
let secondary: MockProvider;
let gateway: Gateway;
let baseUrl: string;
let client: OpenAI;
let counter = 0;
const question = () => `routing question ${++counter}`;

beforeAll(async () => {
  primary = createMockProvider();
  secondary = createMockProvider();
  const primaryUrl = (await primary.listen(0)).url;
  const secondaryUrl = (await secondary.listen(0)).url;
  gateway = createGateway(
    {
      server: { logLevel: 'silent' },
      store: { sqlite: false },
      cache: { enabled: false },
      cost: { ledger: false },
      providers: [
        { name: 'primary', type: 'openai-compatible', baseUrl: primaryUrl, timeout: 300 },
        { name: 'secondary', type: 'openai-compatible', baseUrl: secondaryUrl },
      ],
      models: [
        // One model, two deployments: balanced, each the other's failover.
        { name: 'gpt-4o-mini', provider: 'primary' },
        { name: 'gpt-4o-mini', provider: 'secondary' },
        // A model with a single deployment and no fallback.
        { name: 'solo', provider: 'primary', upstreamModel: 'mock-small' },
        { name: 'solo-large', provider: 'primary', upstreamModel: 'mock-large' },
        { name: 'gpt-4.1-nano', provider: 'secondary' },
        { name: 'gpt-4.1', provider: 'secondary' },
        { name: 'text-embedding-3-small', provider: 'secondary' },
      ],
      keys: [
        { name: 'agent', key: KEY },
        { name: 'limited', key: LIMITED },
      ],
      routing: {
        aliases: { auto: { candidates: ['gpt-4.1-nano', 'gpt-4o-mini', 'gpt-4.1'] } },
        retries: { attempts: 2, baseDelay: 1, maxDelay: 5 },
        breaker: { failures: 3, cooldown: '1s' },
      },
      rateLimits: [{ scope: 'key:limited', requestsPerMinute: 3 }],
      batching: { embeddingsWindow: 20 },
    },
    { logger: false },
  );
  baseUrl = (await gateway.listen({ port: 0 })).url;
  client = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: KEY, maxRetries: 0 });
});

afterAll(async () => {
  await gateway?.close();
  await primary?.close();
  await secondary?.close();
});

beforeEach(() => {
  primary.setOptions({
    error429Rate: 0,
    error500Rate: 0,
    timeoutRate: 0,
    cutRate: 0,
    ttftMs: 0,
    tokenMs: 0,
  });
  primary.reset();
  secondary.reset();
});

const ask = (
  model: string,
  headers: Record<string, string> = {},
  extra: Record<string, unknown> = {},
) =>
  fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: question() }], ...extra }),
  });

describe('resilience under injected upstream faults (official openai client)', () => {
  for (const [fault, options] of [
    ['500s', { error500Rate: 1 }],
    ['429 bursts', { error429Rate: 1 }],
    ['timeouts', { timeoutRate: 1 }],
  ] as const) {
    it(`answers every request despite ${fault} on one deployment`, async () => {
      primary.setOptions(options);
      for (let index = 0; index < 6; index++) {
        const completion = await client.chat.completions.create({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: question() }],
        });
        expect(completion.choices[0]?.message.content).toMatch(/\w/);
      }
      expect(secondary.stats().chatCompletions).toBeGreaterThanOrEqual(6);
    });
  }

  it('retries or falls back when an answer is cut off mid-body', async () => {
    primary.setOptions({ cutRate: 1 });
    for (let index = 0; index < 4; index++) {
      const response = await ask('gpt-4o-mini');
      expect(response.status).toBe(200);
      expect(((await response.json()) as { choices: unknown[] }).choices).toHaveLength(1);
    }
  });

  it('turns a hung upstream into a 504 at the provider timeout, not later', async () => {
    primary.setOptions({ timeoutRate: 1 });
    const started = performance.now();
    const response = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${KEY}`,
        'content-type': 'application/json',
        'x-sluice-hedge': 'off',
      },
      body: JSON.stringify({
        model: 'solo-large',
        messages: [{ role: 'user', content: question() }],
      }),
    });
    const elapsed = performance.now() - started;
    expect(response.status).toBe(504);
    // Two attempts of 300 ms each, plus a backoff of at most 5 ms.
    expect(elapsed).toBeGreaterThanOrEqual(590);
    expect(elapsed).toBeLessThan(1_000);
  });

  it('falls back before the first byte of a stream', async () => {
    primary.setOptions({ error500Rate: 1 });
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: question() }],
      stream: true,
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(1);
  });

  it('gives the documented error where no fallback exists, then fails fast once the circuit opens', async () => {
    primary.setOptions({ error500Rate: 1 });
    const statuses: number[] = [];
    // Two attempts per request (one retry) and a breaker opening at the third failure.
    for (let index = 0; index < 2; index++) {
      const response = await ask('solo');
      statuses.push(response.status);
      expect(((await response.json()) as { error: { type: string } }).error.type).toBe(
        'upstream_error',
      );
    }
    expect(statuses).toEqual([500, 500]);
    const calls = primary.stats().chatCompletions;
    const fast = await ask('solo');
    expect(fast.status).toBe(503);
    expect(((await fast.json()) as { error: { code: string } }).error.code).toBe('circuit_open');
    expect(fast.headers.get('retry-after')).not.toBeNull();
    expect(primary.stats().chatCompletions).toBe(calls);
    // After the cooldown a probe goes through and closes the circuit again.
    primary.setOptions({ error500Rate: 0 });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await ask('solo')).status).toBe(200);
  });

  it('ends a stream cut mid-way with an error event, never a fake [DONE]', async () => {
    primary.setOptions({ cutRate: 1 });
    const response = await ask('solo', {}, { stream: true });
    const text = await response.text();
    expect(text).not.toContain('[DONE]');
    expect(text).toMatch(/"type":"upstream_error","code":"upstream_stream_cut"/);
  });
});

describe('right-sizing with model: auto', () => {
  it('sends a short chat to the cheapest model and explains the decision', async () => {
    const response = await ask('auto');
    expect(response.status).toBe(200);
    expect(response.headers.get('x-sluice-route')).toMatch(/^auto->gpt-4\.1-nano /);
    expect(((await response.json()) as { model: string }).model).toBe('gpt-4.1-nano');
  });

  it('honours a minimum quality from a header or the body extension', async () => {
    const strict = await ask('auto', { 'x-sluice-min-quality': '0.85' });
    expect(strict.headers.get('x-sluice-route')).toMatch(/^auto->gpt-4\.1 /);
    const viaBody = await ask('auto', {}, { sluice: { minQuality: 0.85 } });
    expect(((await viaBody.json()) as { model: string }).model).toBe('gpt-4.1');
    const bad = await ask('auto', { 'x-sluice-min-quality': 'high' });
    expect(bad.status).toBe(400);
  });

  it('raises the floor for a complex request (code, tools, reasoning)', async () => {
    const code = `${'```ts\nexport function reconcile(ledger: Entry[]): Totals { /* ... */ }\n```\n'.repeat(20)}Analyze step by step and prove the invariant holds.`;
    const response = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'auto',
        messages: [{ role: 'user', content: code }],
        tools: [
          { type: 'function', function: { name: 'run_tests', parameters: { type: 'object' } } },
        ],
      }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-sluice-route')).not.toMatch(/^auto->gpt-4\.1-nano /);
  });
});

describe('rate limits', () => {
  it('admits the limit, then answers 429 rate_limit_exceeded with retry-after and RateLimit headers', async () => {
    const limited = (content: string) =>
      fetch(`${baseUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${LIMITED}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4.1-nano', messages: [{ role: 'user', content }] }),
      });
    for (let index = 0; index < 3; index++) {
      const response = await limited(question());
      expect(response.status).toBe(200);
      expect(response.headers.get('ratelimit-limit')).toBe('3');
      expect(response.headers.get('ratelimit-remaining')).toBe(String(2 - index));
    }
    const refused = await limited(question());
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
      'rate_limit_exceeded',
    );
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.headers.get('ratelimit-remaining')).toBe('0');
    // Another key is not limited.
    expect((await ask('gpt-4.1-nano')).status).toBe(200);
  });
});

describe('embeddings batching', () => {
  it('merges concurrent embeddings requests to one model into one upstream call', async () => {
    secondary.reset();
    const inputs = ['alpha', ['beta', 'gamma'], 'delta', ['epsilon']].map((input) =>
      Array.isArray(input)
        ? input.map((text) => `${text} ${question()}`)
        : `${input} ${question()}`,
    );
    const answers = await Promise.all(
      inputs.map(async (input) => {
        const response = await fetch(`${baseUrl}/v1/embeddings`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            model: 'text-embedding-3-small',
            input,
            encoding_format: 'float',
          }),
        });
        expect(response.status).toBe(200);
        return (await response.json()) as {
          data: { index: number; embedding: number[] }[];
          usage: { prompt_tokens: number };
        };
      }),
    );
    expect(secondary.stats().embeddings).toBe(1);
    expect(answers.map((answer) => answer.data.map((item) => item.index))).toEqual([
      [0],
      [0, 1],
      [0],
      [0],
    ]);
    for (const answer of answers) expect(answer.usage.prompt_tokens).toBeGreaterThan(0);
    // The same text embeds the same whether merged or alone.
    const alone = await fetch(`${baseUrl}/v1/embeddings`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${KEY}`,
        'content-type': 'application/json',
        'cache-control': 'no-cache',
      },
      body: JSON.stringify({
        model: 'text-embedding-3-small',
        input: inputs[0],
        encoding_format: 'float',
      }),
    });
    expect(
      ((await alone.json()) as { data: { embedding: number[] }[] }).data[0]?.embedding,
    ).toEqual(answers[0]?.data[0]?.embedding);
  });
});
