import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wrapOpenAI } from '../../src/adapters/openai.js';
import { createMockProvider, type MockProvider } from '../../src/mock-provider/index.js';

let upstream: MockProvider;
let client: OpenAI;
let counter = 0;
const question = () => `adapter question ${++counter}`;

beforeAll(async () => {
  upstream = createMockProvider();
  const { url } = await upstream.listen(0);
  client = new OpenAI({ baseURL: url, apiKey: 'test', maxRetries: 0 });
});

afterAll(async () => {
  await upstream?.close();
});

describe('wrapOpenAI', () => {
  it('answers a repeated completion from the cache, in process', async () => {
    const sluiced = wrapOpenAI(client);
    upstream.reset();
    const request = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: question() }],
    };
    const first = await sluiced.chat.completions.create(request);
    const second = await sluiced.chat.completions.create(request).withResponse();
    expect(second.data).toEqual(first);
    expect(second.response.headers.get('x-sluice-cache')).toBe('hit');
    expect(upstream.stats().chatCompletions).toBe(1);
    // Everything else on the client is the client's own.
    expect((await sluiced.models.list()).data.length).toBeGreaterThan(0);
    await sluiced.sluice.close();
  });

  it('streams through Sluice and replays the cached stream chunk for chunk', async () => {
    const sluiced = wrapOpenAI(client);
    upstream.reset();
    const request = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: question() }],
      stream: true as const,
    };
    const collect = async () => {
      const chunks = [];
      for await (const chunk of await sluiced.chat.completions.create(request)) chunks.push(chunk);
      return chunks;
    };
    const live = await collect();
    const replayed = await collect();
    expect(live.length).toBeGreaterThan(3);
    expect(replayed).toEqual(live);
    expect(upstream.stats().streams).toBe(1);
    const plain = await client.chat.completions.create({ ...request, stream: false });
    expect(
      live
        .map((chunk) => (chunk as OpenAI.ChatCompletionChunk).choices[0]?.delta.content ?? '')
        .join(''),
    ).toBe(plain.choices[0]?.message.content);
    await sluiced.sluice.close();
  });

  it('caches embeddings and returns floats', async () => {
    const sluiced = wrapOpenAI(client);
    upstream.reset();
    const input = question();
    const first = await sluiced.embeddings.create({ model: 'text-embedding-3-small', input });
    const second = await sluiced.embeddings.create({ model: 'text-embedding-3-small', input });
    expect(first.data[0]?.embedding.length).toBe(16);
    expect(typeof first.data[0]?.embedding[0]).toBe('number');
    expect(second).toEqual(first);
    expect(upstream.stats().embeddings).toBe(1);
    await sluiced.sluice.close();
  });

  it('raises the client’s own APIError for upstream errors and budget refusals', async () => {
    const faulty = createMockProvider({ error500Rate: 1 });
    const { url } = await faulty.listen(0);
    const sluiced = wrapOpenAI(new OpenAI({ baseURL: url, apiKey: 'test', maxRetries: 0 }));
    const failure = await sluiced.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: question() }] })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect(failure).toMatchObject({ status: 500 });
    await sluiced.sluice.close();
    await faulty.close();

    const budgeted = wrapOpenAI(client, {
      caller: { name: 'agent' },
      config: {
        budgets: [{ scope: 'key:agent', window: 'daily', limitUsd: '0.00001' }],
        cost: { ledger: ':memory:' },
      },
    });
    await budgeted.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: question() }],
    });
    const refused = await budgeted.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: question() }] })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    expect(refused).toMatchObject({ status: 429, code: 'budget_exceeded' });
    await budgeted.sluice.close();
  });

  it('honours request controls passed as headers', async () => {
    const sluiced = wrapOpenAI(client);
    upstream.reset();
    const request = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: question() }],
    };
    await sluiced.chat.completions.create(request, { headers: { 'cache-control': 'no-store' } });
    const after = await sluiced.chat.completions.create(request).withResponse();
    expect(after.response.headers.get('x-sluice-cache')).toBe('miss');
    expect(upstream.stats().chatCompletions).toBe(2);
    await sluiced.sluice.close();
  });
});
