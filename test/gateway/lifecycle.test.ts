import { afterEach, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway/index.js';
import { createMockProvider, type MockProvider } from '../../src/mock-provider/index.js';

let upstream: MockProvider | undefined;
let gateway: Gateway | undefined;

afterEach(async () => {
  await gateway?.close();
  await upstream?.close();
  gateway = undefined;
  upstream = undefined;
});

async function start(shutdownTimeout: number): Promise<string> {
  upstream = createMockProvider();
  const { url } = await upstream.listen(0);
  gateway = createGateway(
    {
      server: { shutdownTimeout, logLevel: 'silent' },
      store: { sqlite: false },
      providers: [{ name: 'mock', type: 'openai-compatible', baseUrl: url }],
      models: [{ name: '*', provider: 'mock' }],
    },
    { logger: false },
  );
  return (await gateway.listen({ port: 0 })).url;
}

const chat = (stream: boolean) => ({
  model: 'any-model',
  messages: [{ role: 'user', content: `shutdown ${Math.random()}` }],
  stream,
  max_tokens: 20,
});

describe('gateway lifecycle', () => {
  it('runs open without keys (loopback only) and passes any model through a wildcard', async () => {
    const url = await start(5_000);
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(chat(false)),
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { model: string }).model).toBe('any-model');
  });

  it('lets an in-flight stream finish on close, then refuses new connections', async () => {
    const url = await start(5_000);
    upstream?.setOptions({ tokenMs: 15 });
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(chat(true)),
    });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    const closed = gateway?.close();
    let text = new TextDecoder().decode(first.value);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await closed;
    expect(text).toContain('data: [DONE]');
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('closes a request still hanging at the shutdown deadline', async () => {
    const url = await start(300);
    upstream?.setOptions({ timeoutRate: 1 });
    const hanging = fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(chat(false)),
    }).then(
      () => 'answered',
      () => 'cut',
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    await gateway?.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await hanging).toBe('cut');
  });
});
