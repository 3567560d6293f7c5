import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/gateway/config.js';
import { type MockGateway, startMockGateway } from '../helpers/gateway.js';

const KEY = 'access-log-team-key-0001';
const PROMPT = 'a prompt that must never reach the log';

let running: MockGateway;
let baseUrl = '';
const lines: Record<string, unknown>[] = [];
const raw: string[] = [];

beforeAll(async () => {
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) {
        if (line.trim() === '') continue;
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  running = await startMockGateway(
    [{ name: 'gpt-4o-mini', provider: 'mock' }],
    {
      server: { logLevel: 'info', accessLog: true },
      keys: [{ name: 'team', key: KEY }],
      admin: { key: 'access-log-admin-key-01' },
    },
    { logger: { stream } },
  );
  baseUrl = running.url;
});

afterAll(() => running?.close());

const requestLines = () => lines.filter((line) => line.msg === 'request');

describe('the access log', () => {
  it('writes one line per model request, with the caller by name and never a key or a prompt', async () => {
    const response = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }] }),
    });
    await response.text();
    const [line] = requestLines();
    expect(requestLines()).toHaveLength(1);
    expect(line).toMatchObject({
      level: 30,
      requestId: response.headers.get('x-request-id'),
      route: 'chat',
      model: 'gpt-4o-mini',
      provider: 'mock',
      caller: 'team',
      status: 200,
      cache: 'miss',
      costUsd: response.headers.get('x-sluice-cost-usd'),
    });
    expect(line?.durationMs).toBeGreaterThan(0);
    expect(raw.some((text) => text.includes(KEY) || text.includes(PROMPT))).toBe(false);
  });

  it('skips health checks and scrapes, but logs a refused request on any route', async () => {
    const before = requestLines().length;
    await (await fetch(`${baseUrl}/healthz`)).text();
    await (await fetch(`${baseUrl}/metrics`)).text();
    expect(requestLines()).toHaveLength(before);
    const refused = await fetch(`${baseUrl}/admin/budgets`, {
      headers: { authorization: 'Bearer not-the-admin-key-000' },
    });
    await refused.text();
    expect(requestLines().at(-1)).toMatchObject({ route: '/admin/budgets', status: 401 });
    expect(raw.some((text) => text.includes('not-the-admin-key-000'))).toBe(false);
  });

  it('is off unless configured', () => {
    const config = resolveConfig(
      {
        providers: [{ name: 'p', type: 'openai-compatible', baseUrl: 'http://127.0.0.1:9/v1' }],
        models: [{ name: 'm', provider: 'p' }],
      },
      'inline',
    );
    expect(config.server.accessLog).toBe(false);
  });
});
