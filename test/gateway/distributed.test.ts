import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway/index.js';
import { createMockProvider, type MockProvider } from '../../src/mock-provider/index.js';
import { redisAvailable, redisUrl } from '../helpers/redis.js';

const DB = 13;
const available = await redisAvailable();

describe.skipIf(!available)('three gateways sharing one Redis', () => {
  let upstream: MockProvider;
  const gateways: Gateway[] = [];
  const urls: string[] = [];

  beforeAll(async () => {
    upstream = createMockProvider();
    const { url } = await upstream.listen(0);
    const prefix = `gw-${randomUUID().slice(0, 8)}`;
    for (let index = 0; index < 3; index++) {
      const gateway = createGateway(
        {
          server: { logLevel: 'silent' },
          store: { sqlite: false, redis: redisUrl(DB), prefix },
          providers: [{ name: 'mock', type: 'openai-compatible', baseUrl: url }],
          models: [{ name: 'gpt-4o-mini', provider: 'mock' }],
        },
        { logger: false },
      );
      expect(await gateway.cache?.ready()).toBe(true);
      gateways.push(gateway);
      urls.push((await gateway.listen({ port: 0 })).url);
    }
  });

  afterAll(async () => {
    await gateways[0]?.cache?.clear();
    for (const gateway of gateways) await gateway.close();
    await upstream?.close();
  });

  const ask = (url: string, content: string, stream = false) =>
    fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }], stream }),
    });

  it("serves one gateway's answer from another through Redis", async () => {
    upstream.reset();
    const content = `shared ${randomUUID()}`;
    const first = await ask(urls[0] as string, content);
    const second = await ask(urls[1] as string, content);
    expect(first.headers.get('x-sluice-cache')).toBe('miss');
    expect(second.headers.get('x-sluice-cache')).toBe('hit');
    expect(await second.text()).toBe(await first.text());
    expect(upstream.stats().chatCompletions).toBe(1);
  });

  it('coalesces identical concurrent requests across gateways into one upstream call', async () => {
    upstream.reset();
    upstream.setOptions({ ttftMs: 200 });
    try {
      const content = `stampede ${randomUUID()}`;
      const responses = await Promise.all(
        Array.from({ length: 9 }, (_unused, index) => ask(urls[index % 3] as string, content)),
      );
      const bodies = await Promise.all(responses.map((response) => response.text()));
      expect(new Set(bodies).size).toBe(1);
      expect(responses.every((response) => response.status === 200)).toBe(true);
      expect(upstream.stats().chatCompletions).toBe(1);
      const streamed = await Promise.all(
        Array.from({ length: 3 }, (_unused, index) =>
          ask(urls[index] as string, `${content} stream`, true),
        ),
      );
      const texts = await Promise.all(streamed.map((response) => response.text()));
      expect(new Set(texts).size).toBe(1);
      expect(texts[0]).toContain('data: [DONE]');
      expect(upstream.stats().streams).toBe(1);
    } finally {
      upstream.setOptions({ ttftMs: 0 });
    }
  });
});
