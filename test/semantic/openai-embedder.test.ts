import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAIEmbedder } from '../../src/semantic/index.js';

interface Received {
  authorization: string | undefined;
  body: { model: string; input: string[] };
}

describe('openAIEmbedder against a local /v1/embeddings', () => {
  let server: Server;
  let baseUrl: string;
  const received: Received[] = [];
  let status = 200;

  beforeAll(async () => {
    server = createServer(async (request: IncomingMessage, response) => {
      let text = '';
      for await (const chunk of request) text += chunk;
      const body = JSON.parse(text) as Received['body'];
      received.push({ authorization: request.headers.authorization, body });
      if (status !== 200) {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end('{"error":{"message":"slow down"}}');
        return;
      }
      // Vector i is (i+1, 0, 0, 0) scaled, returned in reverse order to test index mapping.
      const data = body.input
        .map((_, index) => ({
          object: 'embedding',
          index,
          embedding: [3 * (index + 1), 4 * (index + 1), 0, 0],
        }))
        .reverse();
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ object: 'list', data, model: body.model }));
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(() => new Promise<void>((done) => server.close(() => done())));

  it('batches concurrent calls into one request and L2-normalises', async () => {
    received.length = 0;
    const embedder = openAIEmbedder({
      baseUrl,
      apiKey: 'sk-test',
      model: 'local-model',
      dimensions: 4,
    });
    const [first, second] = await Promise.all([
      embedder.embed(['alpha']),
      embedder.embed(['beta', 'gamma']),
    ]);
    expect(received).toHaveLength(1);
    expect(received[0]?.authorization).toBe('Bearer sk-test');
    expect(received[0]?.body).toMatchObject({
      model: 'local-model',
      input: ['alpha', 'beta', 'gamma'],
    });
    expect(Array.from(first?.[0] ?? [])).toEqual([expect.closeTo(0.6), expect.closeTo(0.8), 0, 0]);
    expect(second).toHaveLength(2);
    for (const vector of [...(first ?? []), ...(second ?? [])]) {
      expect(Math.hypot(...vector)).toBeCloseTo(1, 5);
    }
    await embedder.close?.();
  });

  it('carries the retry decision on errors', async () => {
    status = 429;
    const embedder = openAIEmbedder({ baseUrl, model: 'local-model', dimensions: 4 });
    await expect(embedder.embed(['x'])).rejects.toMatchObject({
      code: 'E_EMBEDDER_REQUEST',
      isRetryable: true,
    });
    status = 200;
    await embedder.close?.();
  });

  it('needs dimensions for unknown models', () => {
    expect(() => openAIEmbedder({ baseUrl, model: 'mystery' })).toThrow(/dimensions/);
  });
});
