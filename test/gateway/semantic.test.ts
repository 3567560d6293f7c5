import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway/index.js';
import { createMockProvider, type MockProvider } from '../../src/mock-provider/index.js';

const ON = 'semantic-on-key-0123456789';
const OFF = 'semantic-off-key-0123456789';

let upstream: MockProvider;
let gateway: Gateway;
let baseUrl: string;

beforeAll(async () => {
  upstream = createMockProvider();
  const { url } = await upstream.listen(0);
  gateway = createGateway(
    {
      server: { logLevel: 'silent' },
      store: { sqlite: false },
      cost: { ledger: ':memory:' },
      providers: [{ name: 'mock', type: 'openai-compatible', baseUrl: url }],
      models: [{ name: 'gpt-4o-mini', provider: 'mock' }],
      keys: [
        { name: 'on', key: ON, namespace: 'shared' },
        { name: 'off', key: OFF },
      ],
      semantic: { enabled: true, keys: ['on'], targetFalseHitRate: 0.05 },
    },
    { logger: false },
  );
  baseUrl = (await gateway.listen({ port: 0 })).url;
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
});

const ask = (key: string, content: string, extra: Record<string, unknown> = {}) =>
  fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }], ...extra }),
  });

describe('semantic cache in the gateway (offline model)', () => {
  it('answers a paraphrase with semantic-hit and refuses a look-alike with another meaning', async () => {
    const first = await ask(ON, 'What is the capital of France?');
    expect(first.headers.get('x-sluice-cache')).toBe('miss');
    const original = (await first.json()) as { choices: { message: { content: string } }[] };
    // The store runs off the response path: give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const paraphrase = await ask(ON, 'What is the capital city of France?');
    expect(paraphrase.headers.get('x-sluice-cache')).toBe('semantic-hit');
    expect(Number(paraphrase.headers.get('x-sluice-similarity'))).toBeGreaterThan(0.8);
    expect(paraphrase.headers.get('x-sluice-cost-usd')).toBe('0.000000000');
    // Answered before any deployment was chosen: no routing decision to explain.
    expect(paraphrase.headers.get('x-sluice-route')).toBeNull();
    expect(first.headers.get('x-sluice-route')).not.toBeNull();
    const answered = (await paraphrase.json()) as { choices: { message: { content: string } }[] };
    expect(answered.choices[0]?.message.content).toBe(original.choices[0]?.message.content);
    const lookalike = await ask(ON, 'What is the capital of Germany?');
    expect(lookalike.headers.get('x-sluice-cache')).toBe('miss');
    const metrics = await (await fetch(`${baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^sluice_semantic_hits 1$/m);
    expect(metrics).toMatch(/^sluice_semantic_lookups [2-9]$/m);
    expect(metrics).toMatch(/^sluice_semantic_embed_errors 0$/m);
  });

  it('is off for keys it is not enabled for, and for streams', async () => {
    await ask(OFF, 'How many moons does Mars have?');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const other = await ask(OFF, 'How many moons does the planet Mars have?');
    expect(other.headers.get('x-sluice-cache')).toBe('miss');
    const stream = await ask(ON, 'What is the capital city of France?', { stream: true });
    expect(stream.headers.get('x-sluice-cache')).toBe('miss');
    await stream.text();
  });
});
