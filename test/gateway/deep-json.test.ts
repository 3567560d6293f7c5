import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../../src/shared/json-depth.js';
import { type MockGateway, startMockGateway } from '../helpers/gateway.js';

/**
 * Bodies nested far deeper than any real request (10,000 levels in 20 KB) are refused with a
 * 400 before anything recursive (cache keys, freezing, token counts, the semantic request text)
 * walks them: never a 500, never an error-level log line with a stack.
 */
let running: MockGateway;
const lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) {
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  running = await startMockGateway(
    [
      { name: 'gpt-4o-mini', provider: 'mock' },
      { name: 'text-embedding-3-small', provider: 'mock' },
    ],
    { server: { logLevel: 'info' }, semantic: { enabled: true } },
    { logger: { stream } },
  );
}, 60_000);

afterAll(() => running?.close());

const DEPTH = 10_000;
/** `[[[…"x"…]]]`, `depth` arrays deep. */
const deepArray = (depth: number): string => `${'['.repeat(depth)}"x"${']'.repeat(depth)}`;
/** `{"a":{"a":…{}…}}`, `depth` objects deep. */
const deepObject = (depth: number): string => `${'{"a":'.repeat(depth)}{}${'}'.repeat(depth)}`;

const chat = (fields: string, stream = false): string =>
  `{"model":"gpt-4o-mini","stream":${stream},${fields}}`;
const userMessage = '{"role":"user","content":"hi"}';

/** Where the deep value sits, as a request body around it. */
const PLACES: Record<string, (deep: string) => string> = {
  'messages content': (deep) => chat(`"messages":[{"role":"user","content":${deep}}]`),
  'a content part': (deep) =>
    chat(`"messages":[{"role":"user","content":[{"type":"text","text":"hi","extra":${deep}}]}]`),
  'stream, messages content': (deep) =>
    chat(`"messages":[{"role":"user","content":${deep}}]`, true),
  'tools parameters': (deep) =>
    chat(
      `"messages":[${userMessage}],"tools":[{"type":"function","function":{"name":"f","parameters":${deep}}}]`,
    ),
  'stream, tools parameters': (deep) =>
    chat(
      `"messages":[${userMessage}],"tools":[{"type":"function","function":{"name":"f","parameters":${deep}}}]`,
      true,
    ),
  'response_format schema': (deep) =>
    chat(
      `"messages":[${userMessage}],"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":${deep}}}`,
    ),
  'an unknown field': (deep) => chat(`"messages":[${userMessage}],"metadata_x":${deep}`),
  'embeddings input': (deep) => `{"model":"text-embedding-3-small","input":${deep}}`,
};

async function post(route: string, body: string): Promise<Response> {
  return fetch(`${running.url}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
}

describe('deeply nested JSON', () => {
  for (const [place, build] of Object.entries(PLACES)) {
    for (const [shape, deep] of [
      ['arrays', deepArray],
      ['objects', deepObject],
    ] as const) {
      it(`answers 400 for ${DEPTH} nested ${shape} in ${place}, twice (the second from the body memo)`, async () => {
        const route = place.startsWith('embeddings') ? '/v1/embeddings' : '/v1/chat/completions';
        const body = build(deep(DEPTH));
        for (let attempt = 0; attempt < 2; attempt++) {
          const response = await post(route, body);
          expect(response.status).toBe(400);
          const answer = (await response.json()) as { error: Record<string, unknown> };
          expect(answer.error).toMatchObject({
            type: 'invalid_request_error',
            code: 'json_too_deep',
            param: null,
          });
          expect(answer.error.message).toContain(`${MAX_JSON_DEPTH} levels`);
        }
      });
    }
  }

  it('accepts a body exactly at the limit and refuses one level more', async () => {
    // The body is level 1, messages 2, the message 3; `deepObject(n)` is n + 1 levels.
    const atLimit = chat(
      `"messages":[{"role":"user","content":${deepObject(MAX_JSON_DEPTH - 4)}}]`,
    );
    const over = chat(`"messages":[{"role":"user","content":${deepObject(MAX_JSON_DEPTH - 3)}}]`);
    const accepted = await post('/v1/chat/completions', atLimit);
    // The content is not a string or an array of parts: validation names it, not the depth.
    expect(accepted.status).toBe(400);
    expect(((await accepted.json()) as { error: { code: string } }).error.code).toBe(
      'invalid_request_error',
    );
    const refused = await post('/v1/chat/completions', over);
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
      'json_too_deep',
    );
  });

  it('still serves a request with a deep but reasonable tools schema', async () => {
    const schema = (levels: number): unknown =>
      levels === 0
        ? { type: 'string' }
        : { type: 'object', properties: { inner: schema(levels - 1) } };
    const response = await post(
      '/v1/chat/completions',
      JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'hi' }],
        tools: [{ type: 'function', function: { name: 'f', parameters: schema(20) } }],
      }),
    );
    expect(response.status).toBe(200);
  });

  it('logged nothing at error level, and no stack', () => {
    const errors = lines.filter((line) => typeof line.level === 'number' && line.level >= 50);
    expect(errors).toEqual([]);
    expect(JSON.stringify(lines)).not.toContain('RangeError');
    expect(JSON.stringify(lines)).not.toContain('"stack"');
  });
});
