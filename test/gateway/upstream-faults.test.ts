import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGateway, type Gateway, type GatewayConfigFile } from '../../src/gateway/index.js';
import { chatCompletionJson } from '../helpers/gateway.js';

/**
 * Upstreams that answer 200 with something that is not an answer: JSON cut short and closed
 * cleanly (chunked, properly terminated: the body looks whole to the HTTP layer), JSON of
 * another shape, a stream whose socket is destroyed, a stream that ends without [DONE] or
 * without a finish reason. None of it may be passed on as an answer, and none of it stored.
 */

type Answer = (response: ServerResponse, body: Record<string, unknown>) => void;

/** A hand-written upstream: each request takes the next planned answer, else a good one. */
class ScriptedUpstream {
  readonly plan: Answer[] = [];
  calls = 0;
  readonly #server: Server;

  constructor() {
    this.#server = createServer((request: IncomingMessage, response: ServerResponse) => {
      let text = '';
      request.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      request.on('end', () => {
        this.calls++;
        const body = JSON.parse(text) as Record<string, unknown>;
        const answer = this.plan.shift();
        if (answer !== undefined) answer(response, body);
        else if (request.url?.endsWith('/embeddings')) goodEmbeddings(response);
        else if (request.url?.endsWith('/messages')) goodMessage(response);
        else if (body.stream === true) goodStream(response, String(body.model));
        else goodJson(response, String(body.model));
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/v1`;
  }

  reset(): void {
    this.plan.length = 0;
    this.calls = 0;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const SSE_HEADERS = { 'content-type': 'text/event-stream' };

function goodJson(response: ServerResponse, model: string): void {
  response.writeHead(200, JSON_HEADERS);
  response.end(
    chatCompletionJson(model, 'a whole answer', { prompt_tokens: 5, completion_tokens: 3 }),
  );
}

/** The good answer, cut short mid-string, and the response ended cleanly (no content-length). */
const truncatedJson: Answer = (response, body) => {
  const whole = chatCompletionJson(String(body.model), 'a whole answer that is cut short', {
    prompt_tokens: 5,
    completion_tokens: 3,
  });
  response.writeHead(200, JSON_HEADERS);
  response.end(whole.slice(0, whole.indexOf('cut short')));
};

const jsonAnswer =
  (text: string): Answer =>
  (response) => {
    response.writeHead(200, JSON_HEADERS);
    response.end(text);
  };

function chunk(model: string, delta: Record<string, unknown>, finish: string | null): string {
  return `data: ${JSON.stringify({
    id: 'chatcmpl-s',
    object: 'chat.completion.chunk',
    created: 1,
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  })}\n\n`;
}

const USAGE_CHUNK = `data: ${JSON.stringify({
  id: 'chatcmpl-s',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'x',
  choices: [],
  usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
})}\n\n`;

function goodStream(response: ServerResponse, model: string): void {
  response.writeHead(200, SSE_HEADERS);
  response.end(
    chunk(model, { role: 'assistant', content: 'Hel' }, null) +
      chunk(model, { content: 'lo' }, 'stop') +
      USAGE_CHUNK +
      'data: [DONE]\n\n',
  );
}

/** Two chunks, then the socket destroyed: the provider was reached and cut its stream. */
const destroyedStream: Answer = (response, body) => {
  const model = String(body.model);
  response.writeHead(200, SSE_HEADERS);
  response.write(chunk(model, { role: 'assistant', content: 'Hel' }, null), () =>
    setTimeout(() => response.destroy(), 20),
  );
};

/** Chunks, then a clean end without [DONE]. */
const streamWithoutDone: Answer = (response, body) => {
  const model = String(body.model);
  response.writeHead(200, SSE_HEADERS);
  response.end(chunk(model, { role: 'assistant', content: 'Hel' }, null));
};

/** An error event, then [DONE]: no choice ever finished. */
const streamWithoutFinish: Answer = (response, body) => {
  const model = String(body.model);
  response.writeHead(200, SSE_HEADERS);
  response.end(
    `${chunk(model, { role: 'assistant', content: 'Hel' }, null)}data: {"error":{"message":"overloaded"}}\n\ndata: [DONE]\n\n`,
  );
};

function goodEmbeddings(response: ServerResponse): void {
  response.writeHead(200, JSON_HEADERS);
  response.end(
    JSON.stringify({
      object: 'list',
      data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2, 0.3] }],
      model: 'embed',
      usage: { prompt_tokens: 2, total_tokens: 2 },
    }),
  );
}

const ANTHROPIC_MESSAGE = JSON.stringify({
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model: 'claude-x',
  content: [{ type: 'text', text: 'a whole answer from Anthropic' }],
  stop_reason: 'end_turn',
  usage: { input_tokens: 5, output_tokens: 6 },
});

function goodMessage(response: ServerResponse): void {
  response.writeHead(200, JSON_HEADERS);
  response.end(ANTHROPIC_MESSAGE);
}

const first = new ScriptedUpstream();
const second = new ScriptedUpstream();
let folder: string;
let config: GatewayConfigFile;
let gateway: Gateway;
let baseUrl: string;
let questionNumber = 0;

function question(): string {
  questionNumber += 1;
  return `upstream fault question ${questionNumber}`;
}

function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

const chat = (model: string, content = question(), stream = false) => ({
  model,
  messages: [{ role: 'user', content }],
  ...(stream ? { stream: true } : {}),
});

async function errorOf(response: Response): Promise<{ code: string; message: string }> {
  return ((await response.json()) as { error: { code: string; message: string } }).error;
}

/** The data events of an SSE answer, [DONE] as the string. */
function eventsOf(text: string): string[] {
  return text
    .split('\n\n')
    .filter((block) => block.startsWith('data: '))
    .map((block) => block.slice(6));
}

async function metricValue(labels: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const line = text
    .split('\n')
    .find((entry) => entry.startsWith(`sluice_requests_total{${labels}}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

async function start(): Promise<void> {
  gateway = createGateway(config, { logger: false });
  baseUrl = (await gateway.listen({ port: 0, host: '127.0.0.1' })).url;
}

beforeAll(async () => {
  folder = mkdtempSync(join(tmpdir(), 'sluice-upstream-faults-'));
  const firstUrl = await first.listen();
  const secondUrl = await second.listen();
  config = {
    server: { logLevel: 'silent' },
    // A real SQLite file: the persistent tier survives a restart of the gateway.
    store: { sqlite: join(folder, 'cache.db') },
    cost: { ledger: ':memory:' },
    providers: [
      { name: 'first', type: 'openai-compatible', baseUrl: firstUrl },
      { name: 'second', type: 'openai-compatible', baseUrl: secondUrl },
      { name: 'claude', type: 'anthropic', baseUrl: firstUrl, apiKey: 'sk-ant-test-0123456789' },
    ],
    models: [
      { name: 'chat-a', provider: 'first' },
      { name: 'chat-b', provider: 'second' },
      { name: 'guarded', provider: 'first' },
      { name: 'embed-a', provider: 'first' },
      { name: 'claude-x', provider: 'claude' },
    ],
    routing: {
      fallbacks: { guarded: ['chat-b'] },
      retries: { attempts: 2, baseDelay: 1, maxDelay: 5 },
      breaker: { failures: 1_000 },
    },
  };
  await start();
});

afterAll(async () => {
  await gateway?.close();
  await first.close();
  await second.close();
  rmSync(folder, { recursive: true, force: true });
});

beforeEach(() => {
  first.reset();
  second.reset();
});

describe('a 200 whose body is not the protocol answer', () => {
  it('is a 502 upstream_invalid_response for JSON cut short and closed cleanly, never stored (also across a restart)', async () => {
    const request = chat('chat-a');
    first.plan.push(truncatedJson, truncatedJson);
    const cut = await post('/v1/chat/completions', request);
    expect(cut.status).toBe(502);
    const error = await errorOf(cut);
    expect(error.code).toBe('upstream_invalid_response');
    expect(error.message).toMatch(/provider 'first' answered 200 with an invalid response/);
    expect(first.calls).toBe(2); // retried like any upstream failure

    // Nothing in memory: the same request reaches the upstream again.
    const again = await post('/v1/chat/completions', request);
    expect(again.status).toBe(200);
    expect(again.headers.get('x-sluice-cache')).toBe('miss');
    expect(first.calls).toBe(3);

    // Nothing in SQLite: a request the truncated answer was the only answer to is a miss after
    // a restart on the same file.
    const other = chat('chat-a');
    first.plan.push(truncatedJson, truncatedJson);
    expect((await post('/v1/chat/completions', other)).status).toBe(502);
    await gateway.close();
    await start();
    const calls = first.calls;
    const afterRestart = await post('/v1/chat/completions', other);
    expect(afterRestart.status).toBe(200);
    expect(afterRestart.headers.get('x-sluice-cache')).toBe('miss');
    expect(first.calls).toBe(calls + 1);
    expect(((await afterRestart.json()) as { choices: unknown[] }).choices).toHaveLength(1);
  });

  it('refuses JSON of the wrong shape: {}, an error object sent with 200, choices without a message', async () => {
    for (const text of [
      '{}',
      '{"error":{"message":"overloaded","type":"server_error"}}',
      '{"id":"x","choices":[{"index":0,"finish_reason":"stop"}]}',
      '[]',
      '',
    ]) {
      first.reset();
      first.plan.push(jsonAnswer(text), jsonAnswer(text));
      const request = chat('chat-a');
      const response = await post('/v1/chat/completions', request);
      expect(response.status, text).toBe(502);
      expect((await errorOf(response)).code, text).toBe('upstream_invalid_response');
      const again = await post('/v1/chat/completions', request);
      expect(again.headers.get('x-sluice-cache'), text).toBe('miss');
    }
  });

  it('refuses an embeddings answer without embeddings', async () => {
    const request = { model: 'embed-a', input: question() };
    first.plan.push(jsonAnswer('{"object":"list"}'), jsonAnswer('{"object":"list","data":[{}]}'));
    const response = await post('/v1/embeddings', request);
    expect(response.status).toBe(502);
    expect((await errorOf(response)).code).toBe('upstream_invalid_response');
    const again = await post('/v1/embeddings', request);
    expect(again.status).toBe(200);
    expect(again.headers.get('x-sluice-cache')).toBe('miss');
  });

  it('is retried: a truncated first attempt, then a whole answer, is a 200', async () => {
    first.plan.push(truncatedJson);
    const response = await post('/v1/chat/completions', chat('chat-a'));
    expect(response.status).toBe(200);
    expect(first.calls).toBe(2);
    expect(((await response.json()) as { choices: unknown[] }).choices).toHaveLength(1);
  });

  it('falls back to the next model when every attempt of a deployment is invalid', async () => {
    first.plan.push(truncatedJson, jsonAnswer('{}'));
    const response = await post('/v1/chat/completions', chat('guarded'));
    expect(response.status).toBe(200);
    expect(response.headers.get('x-sluice-fallback')).toBe('chat-b (second)');
    expect(first.calls).toBe(2);
    expect(second.calls).toBe(1);
  });

  it("refuses the Anthropic provider's answer before translating it", async () => {
    for (const answer of [
      jsonAnswer(ANTHROPIC_MESSAGE.slice(0, 60)),
      jsonAnswer('{}'),
      jsonAnswer('{"type":"error","error":{"type":"overloaded_error","message":"busy"}}'),
    ]) {
      first.reset();
      first.plan.push(answer, answer);
      const request = chat('claude-x');
      const response = await post('/v1/chat/completions', request);
      expect(response.status).toBe(502);
      expect((await errorOf(response)).code).toBe('upstream_invalid_response');
      const again = await post('/v1/chat/completions', request);
      expect(again.status).toBe(200);
      expect(again.headers.get('x-sluice-cache')).toBe('miss');
    }
  });
});

describe('a stream the upstream cuts', () => {
  it('ends with upstream_stream_cut when the socket is destroyed, and is counted as an upstream error', async () => {
    const labels = 'route="chat",model="chat-a",status="200",cache="miss",outcome="upstream_error"';
    const before = await metricValue(labels);
    const request = chat('chat-a', question(), true);
    first.plan.push(destroyedStream);
    const response = await post('/v1/chat/completions', request);
    expect(response.status).toBe(200);
    const events = eventsOf(await response.text());
    expect(events).not.toContain('[DONE]');
    const last = JSON.parse(events.at(-1) as string) as {
      error: { code: string; message: string };
    };
    expect(last.error.code).toBe('upstream_stream_cut');
    expect(last.error.message).toMatch(/provider 'first' broke off the stream/);
    expect(last.error.message).not.toMatch(/could not be reached/);
    expect(await metricValue(labels)).toBe(before + 1);

    const dashboard = (await (await fetch(`${baseUrl}/dashboard/data`)).json()) as {
      activity: { totals: { upstreamErrors: number }; models: { model: string; errors: number }[] };
    };
    expect(dashboard.activity.totals.upstreamErrors).toBeGreaterThanOrEqual(1);
    expect(
      dashboard.activity.models.find((model) => model.model === 'chat-a')?.errors,
    ).toBeGreaterThanOrEqual(1);

    // Not stored: the same request streams from the upstream again.
    const again = await post('/v1/chat/completions', request);
    expect(again.headers.get('x-sluice-cache')).toBe('miss');
    expect(await again.text()).toContain('data: [DONE]');
    expect(first.calls).toBe(2);
  });

  it('ends with upstream_stream_cut when the stream ends without [DONE], and stores nothing', async () => {
    const request = chat('chat-a', question(), true);
    first.plan.push(streamWithoutDone);
    const events = eventsOf(await (await post('/v1/chat/completions', request)).text());
    expect(events).not.toContain('[DONE]');
    expect(JSON.parse(events.at(-1) as string)).toMatchObject({
      error: { code: 'upstream_stream_cut' },
    });
    const again = await post('/v1/chat/completions', request);
    expect(again.headers.get('x-sluice-cache')).toBe('miss');
    await again.text();
    expect(first.calls).toBe(2);
  });

  it('passes on a stream where no choice finished, but does not store it', async () => {
    const request = chat('chat-a', question(), true);
    first.plan.push(streamWithoutFinish);
    const text = await (await post('/v1/chat/completions', request)).text();
    expect(text).toContain('overloaded');
    const again = await post('/v1/chat/completions', request);
    expect(again.headers.get('x-sluice-cache')).toBe('miss');
    expect(await again.text()).not.toContain('overloaded');
    expect(first.calls).toBe(2);
  });
});

describe('how failures are counted', () => {
  it("counts an upstream's 429 as an upstream error, and a refusal without a model under no model", async () => {
    const limited =
      'route="chat",model="chat-a",status="429",cache="bypass",outcome="upstream_error"';
    const refused = 'route="chat",model="",status="400",cache="bypass",outcome="client_error"';
    const [limitedBefore, refusedBefore] = [await metricValue(limited), await metricValue(refused)];
    const tooMany: Answer = (response) => {
      response.writeHead(429, JSON_HEADERS);
      response.end('{"error":{"message":"slow down","type":"rate_limit_exceeded"}}');
    };
    first.plan.push(tooMany, tooMany);
    const response = await post('/v1/chat/completions', chat('chat-a'));
    expect(response.status).toBe(429);
    expect(await metricValue(limited)).toBe(limitedBefore + 1);

    const invalid = await post('/v1/chat/completions', { model: 'chat-a', messages: [] });
    expect(invalid.status).toBe(400);
    expect(await metricValue(refused)).toBe(refusedBefore + 1);
    const metrics = await (await fetch(`${baseUrl}/metrics`)).text();
    expect(metrics).not.toContain('model="none"');

    const dashboard = (await (await fetch(`${baseUrl}/dashboard/data`)).json()) as {
      activity: { totals: { clientErrors: number }; models: { model: string }[] };
    };
    expect(dashboard.activity.totals.clientErrors).toBeGreaterThanOrEqual(1);
    const names = dashboard.activity.models.map((model) => model.model);
    expect(names).not.toContain('none');
    expect(names).not.toContain('');
  });
});
