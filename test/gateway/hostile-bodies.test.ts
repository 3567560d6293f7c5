import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway/index.js';

/**
 * Request bodies that made token counting quadratic (one run without whitespace: base64, hex,
 * minified code, one letter) or merely long, up to the gateway's default `bodyLimit` (4 MiB),
 * sent to chat (JSON and stream) and embeddings with budgets, a token rate limit and a routed
 * alias over two encodings (every place that counts prompt tokens), and the default cache (its
 * key digests long strings). The event loop's delay is
 * measured while each request is served: Sluice's own work blocks it for a few ms, never for
 * the seconds (or minutes) an exact count of such a body took.
 *
 * The upstream is a bare HTTP server that reads and drops the body (no parse), so the delay
 * measured is Sluice's: its parse, validation, cache key, token counts and forwarding.
 *
 * `SLUICE_DELAY_SIZES=40000,120000` measures other content sizes and prints the figures (for
 * the numbers in docs/reliability.md); the default sizes are asserted.
 */

/** The default `server.bodyLimit`, 4 MiB; the content is what fits in it with the JSON around. */
const BODY_LIMIT = 4 * 1024 * 1024;
const SIZES = (process.env.SLUICE_DELAY_SIZES ?? `300000,${BODY_LIMIT - 1024}`)
  .split(',')
  .map(Number);
/**
 * The bound asserted, in ms. Token counting holds the loop for at most its 10 ms budget plus one
 * piece; a loaded 2-core machine (other test files running) stretches a few ms of CPU into tens,
 * and a 4 MiB body also costs its parse, its cache key and its re-serialisation for the
 * upstream (tens of ms, more under load). Before the bound, an exact count of a 300 KB run took
 * about 50 s, of 1 MB 11 minutes.
 */
const maxDelayMs = (chars: number): number => (chars <= 1_000_000 ? 150 : 1_000);

/** A small linear congruential generator: the same bodies on every run. */
function generator(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
}

function randomBytes(length: number, seed: number): Buffer {
  const next = generator(seed);
  const bytes = Buffer.alloc(length);
  for (let index = 0; index < length; index++) bytes[index] = Math.floor(next() * 256);
  return bytes;
}

const WORDS =
  'the agent reads a log file and calls a tool when the build fails then it writes a short summary of what changed and why the test broke'.split(
    ' ',
  );
const IDENTIFIERS = ['a', 'b', 'e', 'n', 't', 'r', 'fn', 'xs', 'cb', 'el', 'Ab', 'Qz'];

/** Content generators by name, each making `chars` characters. */
const CONTENT: Record<string, (chars: number) => string> = {
  'one letter': (chars) => 'a'.repeat(chars),
  'random base64': (chars) =>
    randomBytes(Math.ceil((chars * 3) / 4), 1)
      .toString('base64')
      .slice(0, chars),
  'base64 in 76-char lines': (chars) =>
    (
      randomBytes(Math.ceil((chars * 3) / 4), 2)
        .toString('base64')
        .match(/.{1,76}/g) ?? []
    )
      .join('\n')
      .slice(0, chars),
  'minified JS': (chars) => {
    const next = generator(3);
    const pick = () => IDENTIFIERS[Math.floor(next() * IDENTIFIERS.length)] as string;
    let text = '';
    while (text.length < chars) {
      text += `function ${pick()}(${pick()},${pick()}){return ${pick()}.${pick()}(${pick()}[${Math.floor(next() * 99)}])||${pick()}}var ${pick()}=${pick()}.map(${pick()});`;
    }
    return text.slice(0, chars);
  },
  'hex, no whitespace': (chars) =>
    randomBytes(Math.ceil(chars / 2), 4)
      .toString('hex')
      .slice(0, chars),
  'English prose': (chars) => {
    const next = generator(5);
    let text = '';
    while (text.length < chars) {
      text += `${WORDS[Math.floor(next() * WORDS.length)]}${next() < 0.08 ? '. ' : ' '}`;
    }
    return text.slice(0, chars);
  },
};

let upstream: Server;
let gateway: Gateway;
let baseUrl = '';

const CHAT_ANSWER = JSON.stringify({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 10, completion_tokens: 1, total_tokens: 11 },
});
const STREAM_ANSWER = [
  { choices: [{ index: 0, delta: { role: 'assistant', content: 'ok' }, finish_reason: null }] },
  { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
  { choices: [], usage: { prompt_tokens: 10, completion_tokens: 1, total_tokens: 11 } },
]
  .map(
    (chunk) =>
      `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', ...chunk })}\n\n`,
  )
  .join('')
  .concat('data: [DONE]\n\n');
const EMBEDDING_ANSWER = JSON.stringify({
  object: 'list',
  data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2, 0.3] }],
  model: 'text-embedding-3-small',
  usage: { prompt_tokens: 10, total_tokens: 10 },
});
const STREAM_FLAG = Buffer.from('"stream":true');

beforeAll(async () => {
  upstream = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.url?.endsWith('/embeddings')) {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(EMBEDDING_ANSWER);
      } else if (Buffer.concat(chunks).includes(STREAM_FLAG)) {
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
        { name: 'gpt-4-turbo', provider: 'up' },
        { name: 'text-embedding-3-small', provider: 'up' },
      ],
      routing: { aliases: { auto: { candidates: ['gpt-4o-mini', 'gpt-4-turbo'] } } },
      budgets: [{ scope: 'global', window: 'daily', limitUsd: 1_000_000 }],
      rateLimits: [{ scope: 'global', tokensPerMinute: 1_000_000_000_000 }],
    },
    { logger: false },
  );
  baseUrl = (await gateway.listen({ port: 0 })).url;
  // The first request loads the tokenizers (once per process, not measured).
  for (const model of ['gpt-4o-mini', 'gpt-4-turbo']) {
    await send('chat', body('chat', model, 'warm up'));
  }
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await new Promise((resolve) => upstream?.close(resolve));
});

type Route = 'chat' | 'chat stream' | 'embeddings';

/** The request body, its content cut short if escaping (line breaks) took it over the limit. */
function body(route: Route, model: string, content: string): Buffer {
  const bytes = bodyOf(route, model, content);
  const over = bytes.length - BODY_LIMIT;
  return over <= 0 ? bytes : bodyOf(route, model, content.slice(0, content.length - over));
}

function bodyOf(route: Route, model: string, content: string): Buffer {
  if (route === 'embeddings') return Buffer.from(JSON.stringify({ model, input: content }));
  return Buffer.from(
    JSON.stringify({
      model,
      stream: route === 'chat stream',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content },
      ],
    }),
  );
}

async function send(route: Route, bytes: Buffer): Promise<number> {
  const response = await fetch(
    `${baseUrl}/v1/${route === 'embeddings' ? 'embeddings' : 'chat/completions'}`,
    { method: 'POST', headers: { 'content-type': 'application/json' }, body: bytes },
  );
  const text = await response.text();
  if (process.env.SLUICE_DELAY_SHOW === '1' && response.status !== 200)
    console.log(text.slice(0, 300));
  return response.status;
}

/** Serves one request while the event loop's delay is sampled every ms; the worst delay, ms. */
async function worstDelay(route: Route, bytes: Buffer): Promise<{ ms: number; status: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const status = await send(route, bytes);
  // One more turn, so that a block at the very end is sampled too.
  await new Promise((resolve) => setTimeout(resolve, 5));
  histogram.disable();
  return { ms: histogram.max / 1e6, status };
}

const figures: string[] = [];

describe('hostile request bodies', () => {
  for (const [name, make] of Object.entries(CONTENT)) {
    for (const chars of SIZES) {
      it(`${name}, ${chars.toLocaleString('en')} characters: the event loop is never held up for long`, async () => {
        const content = make(chars);
        expect(content).toHaveLength(chars);
        const cases: [Route, string][] = [
          ['chat', 'gpt-4o-mini'],
          ['chat stream', 'gpt-4o-mini'],
          ['chat', 'auto'],
          ['embeddings', 'text-embedding-3-small'],
        ];
        const measured: { route: Route; model: string; ms: number; status: number }[] = [];
        for (const [index, [route, model]] of cases.entries()) {
          // Another text for each request: none is counted from the memo of an earlier one.
          const bytes = body(route, model, `${index} ${content}`);
          expect(bytes.length).toBeLessThanOrEqual(BODY_LIMIT);
          measured.push({ route, model, ...(await worstDelay(route, bytes)) });
        }
        figures.push(
          `${name}, ${chars} chars: ${measured.map(({ route, model, ms, status }) => `${route} ${model} ${ms.toFixed(1)} ms (${status})`).join('; ')}`,
        );
        for (const { ms, status } of measured) {
          // Served: a count that is a bound refuses no deployment for its context window.
          expect(status).toBe(200);
          expect(ms).toBeLessThan(maxDelayMs(chars));
        }
      }, 120_000);
    }
  }

  afterAll(() => {
    console.log(`worst event-loop delay per request:\n${figures.join('\n')}`);
  });
});
