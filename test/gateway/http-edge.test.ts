import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockGateway, startMockGateway } from '../helpers/gateway.js';

// The HTTP edge over real sockets: what the server answers before (or instead of) a route.

const KEY = 'edge-key-0123456789abc';
const BODY_TIMEOUT_MS = 300;
const BODY_LIMIT = 1024 * 1024;
/** What the gateway reads and drops of a refused body before answering: 4 × bodyLimit, at least 16 MiB. */
const DISCARD_LIMIT = 16 * 1024 * 1024;

/** A short body timeout, for the timeout tests and the error shapes. */
let mock: MockGateway;
let port: number;
/** The default timeouts, for uploads of many megabytes (whose arrival the body timeout bounds). */
let uploads: MockGateway;
/** The server side of every connection to `uploads`, to see how much the gateway read. */
const serverSockets: Socket[] = [];

beforeAll(async () => {
  mock = await startMockGateway([{ name: 'gpt-4o-mini', provider: 'mock' }], {
    server: { logLevel: 'silent', bodyLimit: '1mb', bodyTimeout: `${BODY_TIMEOUT_MS}ms` },
    keys: [{ name: 'edge', key: KEY }],
    routing: { retries: { attempts: 1 } },
  });
  port = Number(new URL(mock.url).port);
  uploads = await startMockGateway([{ name: 'gpt-4o-mini', provider: 'mock' }], {
    server: { logLevel: 'silent', bodyLimit: '1mb' },
    keys: [{ name: 'edge', key: KEY }],
  });
  uploads.gateway.app.server.on('connection', (socket: Socket) => serverSockets.push(socket));
});

afterAll(async () => {
  await mock?.close();
  await uploads?.close();
});

interface RawAnswer {
  /** 0 when no response arrived before the connection closed. */
  status: number;
  headers: Record<string, string>;
  body: unknown;
  /** Milliseconds from the first byte written to the answer's arrival. */
  answeredAfterMs: number;
  /** The server closed the connection (it ended or reset it). */
  closed: boolean;
}

/**
 * Writes `text` on a fresh connection (then nothing more, unless `keepWriting`), and reads one
 * HTTP response, waiting up to `waitMs` for the server to close the connection.
 */
function rawRequest(
  text: string | Buffer,
  {
    waitMs = 5_000,
    keepWriting,
    to = port,
  }: { waitMs?: number; keepWriting?: (socket: Socket) => void; to?: number } = {},
): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = connect(to, '127.0.0.1');
    let received = Buffer.alloc(0);
    let answeredAt: number | undefined;
    const started = performance.now();
    const timer = setTimeout(() => finish(false), waitMs);
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      const raw = received.toString('utf8');
      const split = raw.indexOf('\r\n\r\n');
      if (split < 0) {
        return resolve({ status: 0, headers: {}, body: undefined, answeredAfterMs: 0, closed });
      }
      const [statusLine = '', ...headerLines] = raw.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers['content-length']);
      const bodyText = raw.slice(split + 4, split + 4 + length);
      resolve({
        status: Number(statusLine.split(' ')[1]),
        headers,
        body: JSON.parse(bodyText),
        answeredAfterMs: (answeredAt ?? performance.now()) - started,
        closed,
      });
    };
    socket.on('data', (chunk: Buffer) => {
      answeredAt ??= performance.now();
      received = Buffer.concat([received, chunk]);
    });
    // A reset after the answer (the gateway closing a connection it stopped reading) is a close.
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.write(text);
    keepWriting?.(socket);
  });
}

/** The exact OpenAI error shape: `{"error":{"message","type","code","param"}}` and nothing else. */
function expectOpenAIError(body: unknown, type: string, code: string): void {
  expect(body).toEqual({
    error: { message: expect.any(String), type, code, param: null },
  });
  const error = (body as { error: Record<string, unknown> }).error;
  expect(Object.keys(error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect((error.message as string).length).toBeGreaterThan(0);
}

function chatHead(contentLength: number | 'chunked', extra = ''): string {
  const framing =
    contentLength === 'chunked' ? 'Transfer-Encoding: chunked' : `Content-Length: ${contentLength}`;
  return (
    'POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n' +
    `Authorization: Bearer ${KEY}\r\nContent-Type: application/json\r\n${framing}\r\n${extra}\r\n`
  );
}

const CHAT_BODY = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'hello over a raw socket' }],
});

describe('body and headers timeouts (server.bodyTimeout, server.headersTimeout)', () => {
  it('a body that stalls after its headers gets 408 request_timeout within the timeout, then a closed connection; other requests are served meanwhile', async () => {
    const stalled = rawRequest(`${chatHead(CHAT_BODY.length)}${CHAT_BODY.slice(0, 10)}`);
    let stalledAnswered = false;
    void stalled.then(() => {
      stalledAnswered = true;
    });
    // While that request is held, the gateway keeps serving others.
    const client = new OpenAI({ baseURL: `${mock.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const [health, completion] = await Promise.all([
      fetch(`${mock.url}/healthz`),
      client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'served while another request stalls' }],
      }),
    ]);
    expect(health.status).toBe(200);
    expect(completion.choices[0]?.message.content).toMatch(/\w/);
    expect(stalledAnswered).toBe(false);

    const answer = await stalled;
    expect(answer.status).toBe(408);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expectOpenAIError(answer.body, 'invalid_request_error', 'request_timeout');
    expect(answer.closed).toBe(true);
    // Not before the timeout; at most its checking interval (a tenth) late, with room for load.
    expect(answer.answeredAfterMs).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 20);
    expect(answer.answeredAfterMs).toBeLessThan(BODY_TIMEOUT_MS + 3_000);
    // Counted as a 408 on the route it was for.
    expect(await mock.gateway.metrics.text()).toMatch(
      /sluice_requests_total\{route="chat",[^}]*status="408"/,
    );
  });

  it('headers that never end get 408 request_timeout too (slowloris)', async () => {
    const answer = await rawRequest('POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n');
    expect(answer.status).toBe(408);
    expectOpenAIError(answer.body, 'invalid_request_error', 'request_timeout');
    expect(answer.closed).toBe(true);
    expect(answer.answeredAfterMs).toBeLessThan(BODY_TIMEOUT_MS + 3_000);
  });

  it('bounds only the arrival of a request: an answer that takes longer than bodyTimeout is not cut', async () => {
    mock.upstream.setOptions({ ttftMs: BODY_TIMEOUT_MS * 3 });
    try {
      const client = new OpenAI({ baseURL: `${mock.url}/v1`, apiKey: KEY, maxRetries: 0 });
      const slow = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'an answer slower than the body timeout' }],
      });
      expect(slow.choices[0]?.message.content).toMatch(/\w/);
      const stream = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        stream: true,
        messages: [{ role: 'user', content: 'a stream slower than the body timeout' }],
      });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      expect(text).toMatch(/\w/);
    } finally {
      mock.upstream.setOptions({ ttftMs: 0 });
    }
  });
});

describe('errors of the HTTP layer, in OpenAI shape over a real socket', () => {
  it('431 headers_too_large for headers over 16 KiB', async () => {
    const answer = await rawRequest(
      `GET /v1/models HTTP/1.1\r\nHost: gateway\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    expect(answer.status).toBe(431);
    expectOpenAIError(answer.body, 'invalid_request_error', 'headers_too_large');
    expect(answer.closed).toBe(true);
  });

  it('400 malformed_request for what is not HTTP/1.1', async () => {
    for (const text of [
      'NOT HTTP AT ALL\r\n\r\n',
      // Both framings at once (a request-smuggling shape).
      `${chatHead(5, 'Transfer-Encoding: chunked\r\n')}0\r\n\r\n`,
      `${chatHead('chunked')}zz\r\n`,
    ]) {
      const answer = await rawRequest(text);
      expect(answer.status).toBe(400);
      expectOpenAIError(answer.body, 'invalid_request_error', 'malformed_request');
      expect(answer.closed).toBe(true);
    }
  });

  it('400 for a URL that cannot be decoded', async () => {
    const answer = await rawRequest(
      'GET /v1/models/%E0%A4%A HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n',
    );
    expect(answer.status).toBe(400);
    expectOpenAIError(answer.body, 'invalid_request_error', 'invalid_request_error');
  });

  it('400 for invalid JSON, an empty body, and a body of another content type that is not JSON', async () => {
    for (const [body, contentType] of [
      ['{"model":', 'application/json'],
      ['', 'application/json'],
      ['model=gpt-4o-mini', 'application/x-www-form-urlencoded'],
      ['hello', 'text/plain'],
    ] as const) {
      const answer = await rawRequest(
        'POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n' +
          `Authorization: Bearer ${KEY}\r\nContent-Type: ${contentType}\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      expect(answer.status, `${contentType} '${body}'`).toBe(400);
      expectOpenAIError(answer.body, 'invalid_request_error', 'invalid_request_error');
    }
  });

  it('404 not_found for an unknown route and for a method a route does not take', async () => {
    for (const head of ['GET /v1/nothing-here', 'PUT /v1/chat/completions', 'DELETE /healthz']) {
      const answer = await rawRequest(
        `${head} HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n`,
      );
      expect(answer.status, head).toBe(404);
      expectOpenAIError(answer.body, 'not_found_error', 'not_found');
    }
  });

  it('413 request_too_large for a declared or a chunked body over bodyLimit', async () => {
    const declared = await rawRequest(
      Buffer.concat([
        Buffer.from(chatHead(BODY_LIMIT + 1)),
        Buffer.alloc(BODY_LIMIT + 1, 'x'.charCodeAt(0)),
      ]),
    );
    expect(declared.status).toBe(413);
    expectOpenAIError(declared.body, 'invalid_request_error', 'request_too_large');
    const chunk = Buffer.alloc(256 * 1024, 'x'.charCodeAt(0));
    const framed = Buffer.concat([
      Buffer.from(`${chunk.length.toString(16)}\r\n`),
      chunk,
      Buffer.from('\r\n'),
    ]);
    const chunked = await rawRequest(
      Buffer.concat([
        Buffer.from(chatHead('chunked')),
        ...Array.from({ length: 6 }, () => framed),
        Buffer.from('0\r\n\r\n'),
      ]),
    );
    expect(chunked.status).toBe(413);
    expectOpenAIError(chunked.body, 'invalid_request_error', 'request_too_large');
  });

  it('503 shutting_down for a request on a connection still open while the gateway drains', async () => {
    const draining = await startMockGateway([{ name: 'gpt-4o-mini', provider: 'mock' }], {
      server: { logLevel: 'silent', shutdownTimeout: '5s' },
      keys: [{ name: 'edge', key: KEY }],
    });
    try {
      draining.upstream.setOptions({ ttftMs: 800 });
      const socket = connect(Number(new URL(draining.url).port), '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      let received = '';
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('utf8');
      });
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      // A slow request keeps the connection busy, so closing the gateway does not drop it.
      socket.write(`${chatHead(CHAT_BODY.length)}${CHAT_BODY}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const closing = draining.gateway.close();
      await new Promise((resolve) => setTimeout(resolve, 100));
      socket.write('GET /v1/models HTTP/1.1\r\nHost: gateway\r\n\r\n');
      await closed;
      await closing;
      const responses = received.split(/(?=HTTP\/1\.1 )/);
      expect(responses).toHaveLength(2);
      expect(responses[0]).toMatch(/^HTTP\/1\.1 200 /);
      const second = responses[1] ?? '';
      expect(second).toMatch(/^HTTP\/1\.1 503 /);
      expect(second.toLowerCase()).toContain('connection: close');
      expectOpenAIError(
        JSON.parse(second.slice(second.indexOf('\r\n\r\n') + 4)),
        'server_error',
        'shutting_down',
      );
    } finally {
      await draining.close();
    }
  });
});

/** Runs Node's global `fetch` (undici) in another process, as a client of the gateway would. */
function fetchFromChild(
  bodyBytes: number,
  times: number,
  apiKey: string,
): Promise<Array<{ status: number; body: unknown } | { failed: string }>> {
  const script = `
    const [url, bytes, times, key] = process.argv.slice(1);
    const results = [];
    for (let i = 0; i < Number(times); i++) {
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { authorization: 'Bearer ' + key, 'content-type': 'application/json' },
          body: 'x'.repeat(Number(bytes)),
        });
        results.push({ status: response.status, body: await response.json() });
      } catch (error) {
        results.push({ failed: String(error.cause?.code ?? error.cause ?? error.message) });
      }
    }
    process.stdout.write(JSON.stringify(results));
  `;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        script,
        `${uploads.url}/v1/chat/completions`,
        String(bodyBytes),
        String(times),
        apiKey,
      ],
      { timeout: 60_000 },
      (error, stdout) => (error === null ? resolve(JSON.parse(stdout)) : reject(error)),
    );
  });
}

describe('a refused body is read to its end (bounded) before the answer', () => {
  it('Node fetch uploading a body over bodyLimit sees 413 request_too_large, not a network error', async () => {
    const results = await fetchFromChild(12 * BODY_LIMIT, 6, KEY);
    for (const result of results) {
      expect(result).toMatchObject({ status: 413 });
      if ('body' in result)
        expectOpenAIError(result.body, 'invalid_request_error', 'request_too_large');
    }
  });

  it('so does one refused before its body is read (401 for a bad key)', async () => {
    const results = await fetchFromChild(12 * BODY_LIMIT, 6, 'not-a-configured-key-0000');
    for (const result of results) {
      expect(result).toMatchObject({ status: 401 });
      if ('body' in result)
        expectOpenAIError(result.body, 'authentication_error', 'invalid_api_key');
    }
  });

  it('beyond the discard limit the gateway answers 413 and closes without reading the upload', async () => {
    for (const framing of ['declared', 'chunked'] as const) {
      serverSockets.length = 0;
      const chunk = Buffer.alloc(64 * 1024, 'x'.charCodeAt(0));
      const framed =
        framing === 'declared'
          ? chunk
          : Buffer.concat([
              Buffer.from(`${chunk.length.toString(16)}\r\n`),
              chunk,
              Buffer.from('\r\n'),
            ]);
      let written = 0;
      const answer = await rawRequest(chatHead(framing === 'declared' ? 1024 ** 3 : 'chunked'), {
        waitMs: 20_000,
        to: Number(new URL(uploads.url).port),
        // Uploads as fast as the gateway reads, up to 64 MiB, until the connection closes.
        keepWriting: (socket) => {
          const pump = () => {
            while (!socket.destroyed && written < 64 * 1024 * 1024) {
              written += framed.length;
              if (!socket.write(framed)) return void socket.once('drain', pump);
            }
          };
          pump();
        },
      });
      // The 413 is written before the connection closes; a client still uploading may see the
      // reset before it reads the answer (the gateway does not linger).
      if (answer.status !== 0) {
        expect(answer.status, framing).toBe(413);
        expectOpenAIError(answer.body, 'invalid_request_error', 'request_too_large');
      }
      expect(answer.closed).toBe(true);
      expect(written, framing).toBeLessThan(64 * 1024 * 1024);
      const read = serverSockets.reduce((sum, socket) => sum + socket.bytesRead, 0);
      // What the gateway read: the discard limit (and bodyLimit) at most, with socket buffers.
      expect(read, framing).toBeLessThan(DISCARD_LIMIT + BODY_LIMIT + 4 * 1024 * 1024);
    }
  });
});
