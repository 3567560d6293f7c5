import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockGateway, startMockGateway } from '../helpers/gateway.js';

/**
 * Mutated request bodies and headers, from a fixed seed: whatever a client sends, the gateway
 * answers with a 2xx or a 4xx, never a 5xx or a stack trace, and keeps serving.
 */
const REQUESTS = 600;

let running: MockGateway;
let baseUrl = '';

beforeAll(async () => {
  running = await startMockGateway(
    [
      { name: 'gpt-4o-mini', provider: 'mock' },
      { name: 'text-embedding-3-small', provider: 'mock' },
    ],
    { semantic: { enabled: true } },
  );
  baseUrl = running.url;
}, 60_000);

afterAll(() => running?.close());

/** A small linear congruential generator: the same sequence on every run. */
function generator(seed: number) {
  let state = seed;
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
  const pick = <Value>(values: readonly Value[]): Value =>
    values[Math.floor(next() * values.length)] as Value;
  return { next, pick };
}

const WEIRD: readonly unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1e308,
  3.5,
  '',
  'x',
  '\u0000',
  '\ud800',
  '💥'.repeat(50),
  [],
  {},
  [null],
  { a: { b: { c: [] } } },
  'a'.repeat(5_000),
  [1, 2, 3],
  { type: 'text' },
  { type: 'image_url', image_url: {} },
  [{ type: 'text', text: 'hi' }, { type: 'input_audio' }],
  { role: 'user' },
  [{ role: 'tool', content: 'x' }],
  [{ role: 'assistant', content: null, tool_calls: [{ id: 1 }] }],
  '__proto__',
  JSON.parse('{"__proto__":{"polluted":1}}'),
  { constructor: { prototype: { polluted: 1 } } },
];
const FIELDS = [
  'temperature',
  'top_p',
  'n',
  'max_tokens',
  'max_completion_tokens',
  'seed',
  'tools',
  'tool_choice',
  'stream',
  'stream_options',
  'response_format',
  'sluice',
  'user',
  'logit_bias',
  'stop',
  'messages',
  'model',
  'input',
  'dimensions',
  'encoding_format',
];

describe('mutated requests', () => {
  it('get a 2xx or a 4xx, never a 5xx or a stack trace, and the gateway keeps serving', async () => {
    const { next, pick } = generator(20261203);
    const mutate = (value: unknown, depth = 0): unknown => {
      if (depth > 3 || value === null || typeof value !== 'object') return pick(WEIRD);
      const copy: Record<string, unknown> = Array.isArray(value) ? { ...value } : { ...value };
      const keys = Object.keys(copy);
      const action = next();
      if (action < 0.3 && keys.length > 0) copy[pick(keys)] = pick(WEIRD);
      else if (action < 0.5 && keys.length > 0) {
        const key = pick(keys);
        copy[key] = mutate(copy[key], depth + 1);
      } else if (action < 0.65 && keys.length > 0) delete copy[pick(keys)];
      else copy[pick(FIELDS)] = pick(WEIRD);
      return Array.isArray(value) ? Object.values(copy) : copy;
    };
    const statuses = new Map<number, number>();
    for (let index = 0; index < REQUESTS; index++) {
      const embeddings = next() < 0.25;
      let body: unknown = embeddings
        ? { model: 'text-embedding-3-small', input: 'fuzz' }
        : { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello fuzz' }] };
      const mutations = 1 + Math.floor(next() * 3);
      for (let step = 0; step < mutations; step++) body = mutate(body);
      let text = JSON.stringify(body);
      if (next() < 0.05) text = text.slice(0, -1 - Math.floor(next() * 5));
      const headers: Record<string, string> = {
        'content-type': pick(['application/json', 'application/json', 'text/plain', 'text/html']),
      };
      if (next() < 0.1) {
        headers['cache-control'] = pick(['max-age=abc', 'no-store', 'max-age=-1', 'x'.repeat(300)]);
      }
      if (next() < 0.05) headers['x-sluice-cache-ttl'] = pick(['-5', 'abc', '1e9', '']);
      if (next() < 0.05) headers['x-sluice-namespace'] = pick(['../../etc', 'a b', 'ok-ns']);
      const response = await fetch(
        `${baseUrl}${embeddings ? '/v1/embeddings' : '/v1/chat/completions'}`,
        {
          method: 'POST',
          headers,
          body: text,
        },
      );
      const answer = await response.text();
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      expect(response.status, `${text.slice(0, 300)} -> ${answer.slice(0, 300)}`).toBeLessThan(500);
      expect(answer).not.toMatch(/\bat .+\.[jt]s:\d+/);
    }
    // Some requests got through, most were refused: the mutations reach both paths.
    expect(statuses.get(200) ?? 0).toBeGreaterThan(20);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(REQUESTS / 2);
    expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  }, 120_000);
});
