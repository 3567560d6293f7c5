import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateText, streamText, wrapLanguageModel } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sluiceMiddleware } from '../../src/adapters/ai-sdk.js';
import { createSluice, type Sluice } from '../../src/gateway/sluice.js';
import { createMockProvider, type MockProvider } from '../../src/mock-provider/index.js';

let upstream: MockProvider;
let sluice: Sluice;
let upstreamUrl: string;
let counter = 0;

beforeAll(async () => {
  upstream = createMockProvider();
  upstreamUrl = (await upstream.listen(0)).url;
  sluice = createSluice({
    store: { sqlite: false },
    providers: [{ name: 'unused', type: 'openai-compatible', baseUrl: upstreamUrl }],
    models: [{ name: '*', provider: 'unused' }],
    cost: { ledger: ':memory:' },
  });
});

afterAll(async () => {
  await sluice?.close();
  await upstream?.close();
});

function model() {
  const provider = createOpenAICompatible({
    name: 'mock',
    baseURL: upstreamUrl,
    apiKey: 'test',
    includeUsage: true,
  });
  return wrapLanguageModel({
    model: provider.chatModel('mock-large'),
    middleware: sluiceMiddleware({ sluice, caller: { name: 'ai-agent' } }),
  });
}

describe('AI SDK middleware (real ai package, mock provider)', () => {
  it('answers a repeated generateText from the cache and records both in the ledger', async () => {
    upstream.reset();
    const prompt = `ai sdk question ${++counter}`;
    const first = await generateText({ model: model(), prompt });
    const second = await generateText({ model: model(), prompt });
    expect(second.text).toBe(first.text);
    expect(first.text.length).toBeGreaterThan(0);
    expect(second.usage.outputTokens).toBe(first.usage.outputTokens);
    expect(upstream.stats().chatCompletions).toBe(1);
    const rows = [...(sluice.ledger?.rows(0, Date.now() + 1, 100) ?? [])].filter(
      (row) => row.key === 'ai-agent',
    );
    expect(rows.map((row) => row.cache)).toEqual(['miss', 'hit']);
    expect(rows[0]?.costNanos).toBeGreaterThan(0);
    expect(rows[1]?.avoidedNanos).toBe(rows[0]?.costNanos);
  });

  it('replays a cached stream part for part', async () => {
    upstream.reset();
    const prompt = `ai sdk stream ${++counter}`;
    const collect = async () => {
      const result = streamText({ model: model(), prompt });
      const deltas: string[] = [];
      for await (const delta of result.textStream) deltas.push(delta);
      return { deltas, text: await result.text };
    };
    const live = await collect();
    const replayed = await collect();
    expect(replayed.deltas).toEqual(live.deltas);
    expect(replayed.text).toBe(live.text);
    expect(upstream.stats().streams).toBe(1);
  });

  it('separates calls that differ in their settings', async () => {
    upstream.reset();
    const prompt = `ai sdk settings ${++counter}`;
    await generateText({ model: model(), prompt, temperature: 0 });
    await generateText({ model: model(), prompt, temperature: 0.5 });
    expect(upstream.stats().chatCompletions).toBe(2);
  });
});
