import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway/index.js';
import { createMockProvider, type MockProvider } from '../../src/mock-provider/index.js';

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
      cost: { ledger: false },
      providers: [{ name: 'mock', type: 'openai-compatible', baseUrl: url }],
      models: [{ name: 'gpt-4o-mini', provider: 'mock' }],
      deferred: { path: ':memory:', batchProvider: 'mock', interval: 50 },
    },
    { logger: false },
  );
  baseUrl = (await gateway.listen({ port: 0 })).url;
});

afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
});

describe('deferred work through the Batch API', () => {
  it('queues a request, submits it as a batch, and returns the result and savings by id', async () => {
    const body = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Summarise the quarter, no rush.' }],
    };
    const queued = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-sluice-defer': 'batch',
        'x-sluice-priority': 'low',
      },
      body: JSON.stringify(body),
    });
    expect(queued.status).toBe(202);
    const { id, status } = (await queued.json()) as { id: string; status: string };
    expect(status).toBe('queued');
    let item: {
      status: string;
      result?: { choices: { message: { content: string } }[] };
      costNanos?: number;
      savedNanos?: number;
    } = {
      status: 'queued',
    };
    for (let attempt = 0; attempt < 100 && item.status !== 'done'; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      item = (await (await fetch(`${baseUrl}/v1/sluice/deferred/${id}`)).json()) as typeof item;
    }
    expect(item.status).toBe('done');
    const direct = (await (
      await fetch(`${baseUrl}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(body) })
    ).json()) as { choices: { message: { content: string } }[] };
    expect(item.result?.choices[0]?.message.content).toBe(direct.choices[0]?.message.content);
    expect(item.savedNanos).toBeGreaterThan(0);
    expect(upstream.batchStats().batchesCreated).toBeGreaterThanOrEqual(1);
  });

  it('refuses a deferred stream, an unknown mode and an unknown id', async () => {
    const post = (headers: Record<string, string>, body: unknown) =>
      fetch(`${baseUrl}/v1/chat/completions`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
      });
    const message = [{ role: 'user', content: 'x' }];
    expect(
      (
        await post(
          { 'x-sluice-defer': 'batch' },
          { model: 'gpt-4o-mini', messages: message, stream: true },
        )
      ).status,
    ).toBe(400);
    expect(
      (await post({ 'x-sluice-defer': 'someday' }, { model: 'gpt-4o-mini', messages: message }))
        .status,
    ).toBe(400);
    expect(
      (await post({ 'x-sluice-defer': 'off-peak' }, { model: 'gpt-4o-mini', messages: message }))
        .status,
    ).toBe(400);
    expect((await fetch(`${baseUrl}/v1/sluice/deferred/deferred-unknown`)).status).toBe(404);
  });
});

describe('deferred work off-peak', () => {
  it('runs an off-peak request through the provider and keeps its answer', async () => {
    const offPeakUpstream = createMockProvider();
    const { url } = await offPeakUpstream.listen(0);
    // A window around now (UTC), so the queue runs the request at its next tick.
    const hhmm = (time: number) => new Date(time).toISOString().slice(11, 16);
    const offPeakGateway = createGateway(
      {
        server: { logLevel: 'silent' },
        store: { sqlite: false },
        cost: { ledger: false },
        providers: [{ name: 'mock', type: 'openai-compatible', baseUrl: url }],
        models: [{ name: 'gpt-4o-mini', provider: 'mock' }],
        deferred: {
          path: ':memory:',
          interval: 50,
          offPeak: { start: hhmm(Date.now() - 600_000), end: hhmm(Date.now() + 3_600_000) },
        },
      },
      { logger: false },
    );
    try {
      const origin = (await offPeakGateway.listen({ port: 0 })).url;
      const queued = await fetch(`${origin}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-sluice-defer': 'off-peak' },
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: 'Tidy the archive tonight.' }],
        }),
      });
      expect(queued.status).toBe(202);
      const { id } = (await queued.json()) as { id: string };
      let item: { status: string; result?: { choices: unknown[] }; error?: unknown } = {
        status: 'queued',
      };
      for (let attempt = 0; attempt < 200 && item.status !== 'done'; attempt++) {
        if (item.status === 'failed') break;
        await new Promise((resolve) => setTimeout(resolve, 50));
        item = (await (await fetch(`${origin}/v1/sluice/deferred/${id}`)).json()) as typeof item;
      }
      expect(item, JSON.stringify(item)).toMatchObject({ status: 'done' });
      expect(item.result?.choices).toHaveLength(1);
      expect(offPeakUpstream.stats().chatCompletions).toBe(1);
    } finally {
      await offPeakGateway.close();
      await offPeakUpstream.close();
    }
  });
});
