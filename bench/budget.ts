/**
 * `sluice bench budget [--json FILE] [--quick]`: what cost control adds to a request.
 *
 * Method: three gateways in this process, in front of one zero-latency mock upstream, all on
 * the miss path (`Cache-Control: no-store`, cache on):
 * - `baseline`: no ledger, no budgets;
 * - `embedded`: the SQLite ledger (WAL, durability 'process') and two budgets counted in
 *   process (a key budget and a global one: two reservations and settlements per request);
 * - `redis`: the same ledger and budgets counted in Redis (one Lua reserve before the upstream
 *   call, one Lua settle after the response).
 * Requests go one at a time over a keep-alive connection, in interleaved rounds so that drift
 * on a shared machine affects every target alike; each request is timed with
 * `performance.now()`. The added latency of a target is its p50 (p90) minus the baseline's.
 * A bare Redis round trip (`PING` through ioredis) is measured in the same run as the yardstick
 * for the Redis target.
 * Targets: `embedded` adds at most 50 µs; `redis` adds at most one Redis round trip.
 *
 * Token counting (every routed request counts its prompt): `countMessages` on 2 KB prompts it
 * has never seen, and on a conversation that grows a message a turn, against gpt-tokenizer's
 * own `countTokens` on the same texts (the library it wraps). Target: under 1 ms per fresh 2 KB
 * prompt.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { tokenizerForModel } from '../src/cost/tokens.js';
import { createGateway, type Gateway } from '../src/gateway/index.js';
import { createMockProvider } from '../src/mock-provider/index.js';
import { parseBenchArgs } from './lib/args.js';
import { headerLine, machineEnvironment } from './lib/environment.js';
import { quantile } from './lib/stats.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const requireModule = createRequire(import.meta.url);

interface Target {
  name: 'baseline' | 'embedded' | 'redis';
  gateway: Gateway;
  pool: Pool;
  samples: number[];
}

function redisUrl(db: number): string {
  const url = new URL(REDIS_URL);
  url.pathname = `/${db}`;
  return url.toString();
}

export async function run(args: string[]): Promise<void> {
  const options = parseBenchArgs(args);
  const environment = machineEnvironment();
  console.log(headerLine('budget', environment, options.quick));
  const rounds = options.quick ? 10 : 40;
  const perRound = 100;

  const upstream = createMockProvider();
  const { url: upstreamUrl } = await upstream.listen(0);
  const directory = mkdtempSync(join(tmpdir(), 'sluice-bench-budget-'));
  const prefix = `bench-${randomUUID().slice(0, 8)}`;
  const redis = new Redis(redisUrl(8));
  const base = {
    server: { logLevel: 'silent' as const },
    store: { sqlite: false as const },
    providers: [{ name: 'mock', type: 'openai-compatible' as const, baseUrl: upstreamUrl }],
    models: [{ name: 'gpt-4o-mini', provider: 'mock' }],
    keys: [{ name: 'bench', key: 'bench-key-0123456789' }],
  };
  const budgets = [
    { scope: 'key:bench', window: 'daily' as const, limitUsd: 1_000_000 },
    { scope: 'global', window: 'monthly' as const, limitUsd: 1_000_000 },
  ];
  const gateways: Record<Target['name'], Gateway> = {
    baseline: createGateway({ ...base, cost: { ledger: false } }, { logger: false }),
    embedded: createGateway(
      { ...base, budgets, cost: { ledger: join(directory, 'embedded.db') } },
      { logger: false },
    ),
    redis: createGateway(
      {
        ...base,
        store: { sqlite: false, redis: redisUrl(8), prefix },
        cache: { enabled: false },
        budgets,
        cost: { ledger: join(directory, 'redis.db') },
      },
      { logger: false },
    ),
  };
  // The Redis gateway's cache is off so that its only Redis traffic is the budgets'.
  const targets: Target[] = [];
  for (const name of ['baseline', 'embedded', 'redis'] as const) {
    const gateway = gateways[name];
    const { url } = await gateway.listen({ port: 0 });
    targets.push({ name, gateway, pool: new Pool(url, { connections: 1 }), samples: [] });
  }
  const body = JSON.stringify({
    model: 'gpt-4o-mini',
    max_tokens: 32,
    messages: [{ role: 'user', content: 'Say hello' }],
  });
  const headers = {
    authorization: 'Bearer bench-key-0123456789',
    'content-type': 'application/json',
    'cache-control': 'no-store',
  };
  const once = async (target: Target): Promise<number> => {
    const started = performance.now();
    const response = await target.pool.request({
      method: 'POST',
      path: '/v1/chat/completions',
      headers,
      body,
    });
    await response.body.text();
    const elapsed = performance.now() - started;
    if (response.statusCode !== 200)
      throw new Error(`${target.name} answered ${response.statusCode}`);
    return elapsed;
  };
  const pings: number[] = [];
  try {
    // Warm up: JIT, connections, token encodings, prepared statements, Lua scripts.
    for (const target of targets) for (let index = 0; index < 300; index++) await once(target);
    for (let index = 0; index < 300; index++) await redis.ping();
    for (let round = 0; round < rounds; round++) {
      for (const target of targets) {
        for (let index = 0; index < perRound; index++) target.samples.push(await once(target));
      }
      for (let index = 0; index < perRound; index++) {
        const started = performance.now();
        await redis.ping();
        pings.push(performance.now() - started);
      }
    }
  } finally {
    for (const target of targets) {
      await target.pool.close();
      await target.gateway.close();
    }
    await upstream.close();
    const keys = await redis.keys(`{${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    rmSync(directory, { recursive: true, force: true });
  }

  const baseline = targets[0] as Target;
  const baseP50 = quantile(baseline.samples, 0.5);
  const baseP90 = quantile(baseline.samples, 0.9);
  const pingP50 = quantile(pings, 0.5);
  const micro = (ms: number) => `${(ms * 1_000).toFixed(1)} µs`;
  console.log('');
  console.log(
    `requests per target: ${baseline.samples.length} (sequential, keep-alive, ${rounds} interleaved rounds)`,
  );
  console.log(
    `${'target'.padEnd(10)}${'p50'.padStart(12)}${'p90'.padStart(12)}${'added p50'.padStart(14)}${'added p90'.padStart(14)}`,
  );
  const rows = targets.map((target) => {
    const p50 = quantile(target.samples, 0.5);
    const p90 = quantile(target.samples, 0.9);
    console.log(
      `${target.name.padEnd(10)}${micro(p50).padStart(12)}${micro(p90).padStart(12)}${micro(p50 - baseP50).padStart(14)}${micro(p90 - baseP90).padStart(14)}`,
    );
    return {
      name: target.name,
      p50Ms: p50,
      p90Ms: p90,
      addedP50Ms: p50 - baseP50,
      addedP90Ms: p90 - baseP90,
    };
  });
  console.log(
    `${'redis PING'.padEnd(10)}${micro(pingP50).padStart(12)}${micro(quantile(pings, 0.9)).padStart(12)}`,
  );
  const embedded = rows[1] as (typeof rows)[number];
  const viaRedis = rows[2] as (typeof rows)[number];
  const embeddedPass = embedded.addedP50Ms <= 0.05;
  const redisPass = viaRedis.addedP50Ms <= pingP50;
  console.log('');
  console.log(
    `${embeddedPass ? 'PASS' : 'FAIL'}  embedded budget check + ledger write adds ${micro(embedded.addedP50Ms)} at p50 (target ≤ 50 µs)`,
  );
  console.log(
    `${redisPass ? 'PASS' : 'FAIL'}  Redis budgets + ledger write add ${micro(viaRedis.addedP50Ms)} at p50 (target ≤ one Redis round trip, ${micro(pingP50)})`,
  );
  const tokens = measureTokenCounting(options.quick ? 3 : 10);
  const tokensPass = tokens.sluiceMs < 1;
  console.log('');
  console.log(
    `token counting, fresh 2 KB prompts (${tokens.prompts} x ${tokens.repeats}): countMessages ${micro(tokens.sluiceMs)} per prompt, gpt-tokenizer countTokens ${micro(tokens.libraryMs)} (${(tokens.sluiceMs / tokens.libraryMs).toFixed(2)}x)`,
  );
  const talk = tokens.conversation;
  console.log(
    `token counting, a conversation growing by a 2 KB message a turn (${talk.turns} turns, all of it counted every turn): countMessages ${micro(talk.sluiceMs)} per turn, gpt-tokenizer ${micro(talk.libraryMs)} (${(talk.libraryMs / talk.sluiceMs).toFixed(1)}x faster)`,
  );
  console.log(
    `${tokensPass ? 'PASS' : 'FAIL'}  a fresh 2 KB prompt is counted in ${micro(tokens.sluiceMs)} (target < 1 ms)`,
  );
  if (options.json !== undefined) {
    await writeFile(
      options.json,
      `${JSON.stringify({ suite: 'budget', environment, rounds, perRound, rows, redisPingP50Ms: pingP50, tokens }, null, 2)}\n`,
    );
  }
}

/**
 * Token counting, two ways, against the library alone (gpt-tokenizer's `countTokens` on the
 * same text) in the same run:
 * - `fresh`: 2 KB prompts never counted before (every round makes new ones): the memo's cost;
 * - `conversation`: an agent's conversation growing by one 2 KB message a turn, 40 turns, the
 *   whole conversation counted every turn as every request sends it: the memo's gain.
 */
function measureTokenCounting(repeats: number): {
  prompts: number;
  repeats: number;
  sluiceMs: number;
  libraryMs: number;
  conversation: { turns: number; sluiceMs: number; libraryMs: number };
} {
  const words = ['budget', 'latency', 'cache', 'token', 'router', 'ledger', 'agent', 'window'];
  const text2kb = (seed: number) => {
    let text = '';
    for (let index = 0; text.length < 2048; index += 1) {
      text += `${words[(index * 7 + seed) % words.length]}${(index * 31 + seed) % 997} `;
    }
    return text.slice(0, 2048);
  };
  const tokenizer = tokenizerForModel('gpt-4o');
  const library = requireModule('gpt-tokenizer/encoding/o200k_base') as {
    countTokens(text: string): number;
  };
  let seed = 0;
  // Warm-up on texts the timed rounds never see: load the encoding, compile both paths.
  for (let index = 0; index < 300; index++) {
    const text = text2kb(seed++);
    tokenizer.countMessages([{ role: 'user', content: text }]);
    library.countTokens(text2kb(seed++));
  }
  // Fresh prompts, interleaved, so that drift on a shared machine affects both alike.
  const prompts = 200;
  let sluice = 0;
  let plain = 0;
  for (let repeat = 0; repeat < repeats; repeat++) {
    const ours = Array.from({ length: prompts }, () => [
      { role: 'user', content: text2kb(seed++) },
    ]);
    const theirs = Array.from({ length: prompts }, () => text2kb(seed++));
    let started = performance.now();
    for (const prompt of ours) tokenizer.countMessages(prompt);
    sluice += performance.now() - started;
    started = performance.now();
    for (const text of theirs) library.countTokens(text);
    plain += performance.now() - started;
  }
  // A growing conversation: each turn adds a message, each request carries all of them.
  const turns = 40;
  let conversationSluice = 0;
  let conversationPlain = 0;
  for (let repeat = 0; repeat < repeats; repeat++) {
    const messages: { role: string; content: string }[] = [];
    const texts: string[] = [];
    for (let turn = 0; turn < turns; turn++) {
      const text = text2kb(seed++);
      messages.push({ role: turn % 2 === 0 ? 'user' : 'assistant', content: text });
      texts.push(text);
      let started = performance.now();
      tokenizer.countMessages(messages);
      conversationSluice += performance.now() - started;
      started = performance.now();
      for (const message of texts) library.countTokens(message);
      conversationPlain += performance.now() - started;
    }
  }
  const count = repeats * prompts;
  return {
    prompts,
    repeats,
    sluiceMs: sluice / count,
    libraryMs: plain / count,
    conversation: {
      turns,
      sluiceMs: conversationSluice / (repeats * turns),
      libraryMs: conversationPlain / (repeats * turns),
    },
  };
}
