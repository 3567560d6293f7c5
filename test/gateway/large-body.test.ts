import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway/index.js';
import { chatCompletionJson } from '../helpers/gateway.js';

/**
 * Bodies over `LARGE_BODY_BYTES` (256 KiB) take another path: parsed in turns of their own,
 * forwarded with only `model` (and a stream's `stream_options`) rewritten in their bytes, and
 * embeddings sent on their own rather than merged. What the upstream receives, and what the
 * gateway refuses, is the same as for a small body.
 */
const received: { url: string; body: string }[] = [];
let upstream: Server;
let gateway: Gateway;
let baseUrl = '';

const CHAT_ANSWER = chatCompletionJson('gpt-4o-mini', 'ok', {
  prompt_tokens: 10,
  completion_tokens: 1,
});
const STREAM_ANSWER = `data: ${JSON.stringify({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, delta: { content: 'ok' }, finish_reason: 'stop' }],
})}\n\ndata: [DONE]\n\n`;
const EMBEDDING_ANSWER = JSON.stringify({
  object: 'list',
  data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }],
  model: 'text-embedding-3-small',
  usage: { prompt_tokens: 10, total_tokens: 10 },
});

beforeAll(async () => {
  upstream = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ url: request.url ?? '', body });
      if (request.url?.endsWith('/embeddings')) {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(EMBEDDING_ANSWER);
      } else if ((JSON.parse(body) as { stream?: boolean }).stream === true) {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.end(STREAM_ANSWER);
      } else {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(CHAT_ANSWER);
      }
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const port = (upstream.address() as AddressInfo).port;
  gateway = createGateway(
    {
      server: { logLevel: 'silent' },
      store: { sqlite: false },
      cost: { ledger: ':memory:' },
      providers: [
        { name: 'up', type: 'openai-compatible', baseUrl: `http://127.0.0.1:${port}/v1` },
      ],
      models: [
        { name: 'gpt-4o-mini', provider: 'up' },
        { name: 'fast', provider: 'up', upstreamModel: 'gpt-4o-mini' },
        { name: 'text-embedding-3-small', provider: 'up' },
      ],
    },
    { logger: false },
  );
  baseUrl = (await gateway.listen({ port: 0 })).url;
});

afterAll(async () => {
  await gateway?.close();
  await new Promise((resolve) => upstream?.close(resolve));
});

async function post(path: string, body: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  return { status: response.status, text: await response.text() };
}

/** About 400 KB of text with quotes, backslashes and braces in it. */
const content = (seed: string): string =>
  `${seed} ${'say "model": {"a":[1]} \\ then \\"quote\\" '.repeat(10_000)}`;

describe('large request bodies', () => {
  it('an alias is sent with the upstream model written into the body, the rest as sent', async () => {
    const messages = [{ role: 'user', content: content('alias') }];
    // Another member named model, nested: only the top-level one changes.
    const tools = [
      {
        type: 'function',
        function: { name: 'f', parameters: { type: 'object', properties: { model: {} } } },
      },
    ];
    const sent = JSON.stringify({ messages, model: 'fast', tools, temperature: 0 }, null, 1);
    expect(Buffer.byteLength(sent)).toBeGreaterThan(256 * 1024);
    received.length = 0;
    const answer = await post('/v1/chat/completions', sent);
    expect(answer.status).toBe(200);
    expect(received).toHaveLength(1);
    const upstreamBody = received[0]?.body ?? '';
    expect(JSON.parse(upstreamBody)).toEqual({
      messages,
      model: 'gpt-4o-mini',
      tools,
      temperature: 0,
    });
    // Spliced, not serialised again: the client's layout is kept.
    expect(upstreamBody).toBe(sent.replace('"model": "fast"', '"model": "gpt-4o-mini"'));
  });

  it('a stream asks the upstream for usage, keeping the client stream options', async () => {
    const body = {
      model: 'gpt-4o-mini',
      stream: true,
      stream_options: { include_usage: false },
      messages: [{ role: 'user', content: content('stream') }],
    };
    received.length = 0;
    const answer = await post('/v1/chat/completions', JSON.stringify(body));
    expect(answer.status).toBe(200);
    expect(answer.text).toContain('data: [DONE]');
    expect(JSON.parse(received[0]?.body ?? '')).toEqual({
      ...body,
      stream_options: { include_usage: true },
    });
  });

  it('a large embeddings request is forwarded as sent, on its own', async () => {
    const sent = JSON.stringify({ model: 'text-embedding-3-small', input: content('embed') });
    received.length = 0;
    const [one, two] = await Promise.all([
      post('/v1/embeddings', sent),
      post('/v1/embeddings', JSON.stringify({ model: 'text-embedding-3-small', input: 'hi' })),
    ]);
    expect(one.status).toBe(200);
    expect(two.status).toBe(200);
    expect(received.map(({ body }) => body)).toContain(sent);
  });

  it('refuses what a small body is refused for: prototype keys, deep nesting, bad JSON', async () => {
    const padding = content('refused');
    const proto = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":${JSON.stringify(padding)},"__proto__":{"x":1}}]}`;
    const made = `{"model":"gpt-4o-mini","messages":[],"constructor":{"prototype":{"x":1}},"pad":${JSON.stringify(padding)}}`;
    const deep = `{"model":"gpt-4o-mini","pad":${JSON.stringify(padding)},"messages":${'['.repeat(200)}${']'.repeat(200)}}`;
    const broken = `{"model":"gpt-4o-mini","pad":${JSON.stringify(padding)}`;
    for (const body of [proto, made, broken]) {
      const answer = await post('/v1/chat/completions', body);
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.text)).toMatchObject({
        error: {
          type: 'invalid_request_error',
          message: expect.stringContaining('not valid JSON'),
        },
      });
    }
    const answer = await post('/v1/chat/completions', deep);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'json_too_deep' } });
  });
});
