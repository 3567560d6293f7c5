import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger } from '../../src/cost/ledger.js';
import { createMockProvider, type MockProvider } from '../../src/mock-provider/index.js';
import { ensureBuilt } from '../helpers/build.js';
import { redisAvailable, redisUrl } from '../helpers/redis.js';

const DB = 15;
const available = await redisAvailable();
const CLI = join(import.meta.dirname, '../../dist/src/cli/index.js');

interface Running {
  process: ChildProcess;
  url: string;
}

/** Starts `sluice serve` as its own process and resolves with its URL once it listens. */
function serve(configPath: string): Promise<Running> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--config', configPath, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${output}`)), 15_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(output);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve({ process: child, url: match[1] });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}:\n${output}`));
    });
  });
}

function stop(running: Running, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (running.process.exitCode !== null || running.process.signalCode !== null) return resolve();
    running.process.once('exit', () => resolve());
    running.process.kill(signal);
  });
}

interface Answer {
  status: number;
  requestId: string;
  costNanos: number;
  body: { error?: { type: string; code: string; scope?: string } };
}

async function ask(url: string, content: string, maxTokens = 20): Promise<Answer> {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'mock-large',
      max_tokens: maxTokens,
      messages: [{ role: 'user', content }],
    }),
  });
  return {
    status: response.status,
    requestId: response.headers.get('x-request-id') ?? '',
    costNanos: Math.round(Number(response.headers.get('x-sluice-cost-usd') ?? 'NaN') * 1e9),
    body: (await response.json()) as Answer['body'],
  };
}

describe.skipIf(!available)('gateway processes sharing Redis', () => {
  let upstream: MockProvider;
  let directory: string;
  let upstreamUrl = '';
  const running: Running[] = [];
  const redis = new Redis(redisUrl(DB));
  const prefixes: string[] = [];

  beforeAll(async () => {
    // The processes run the built CLI: build it when this checkout's build is missing or stale.
    ensureBuilt();
    upstream = createMockProvider();
    upstreamUrl = (await upstream.listen(0)).url;
    directory = mkdtempSync(join(tmpdir(), 'sluice-multi-'));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(running.map((gateway) => stop(gateway, 'SIGKILL')));
    await upstream?.close();
    for (const prefix of prefixes) {
      const keys = await redis.keys(`{${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
    }
    redis.disconnect();
    if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
  });

  async function configure(
    name: string,
    limitUsd: string,
    reservationTtl: string,
  ): Promise<{ path: string; ledger: string }> {
    const ledger = join(directory, `${name}.db`);
    const path = join(directory, `${name}.yaml`);
    const prefix = `mp-${randomUUID().slice(0, 8)}`;
    prefixes.push(prefix);
    writeFileSync(
      path,
      [
        'server: { logLevel: info, shutdownTimeout: 2s }',
        `store: { sqlite: false, redis: "${redisUrl(DB)}", prefix: ${prefix} }`,
        `providers: [{ name: mock, type: openai-compatible, baseUrl: "${upstreamUrl}" }]`,
        'models: [{ name: mock-large, provider: mock }]',
        `budgets: [{ scope: global, window: daily, limitUsd: "${limitUsd}" }]`,
        `cost: { ledger: "${ledger}", reservationTtl: ${reservationTtl} }`,
        'cache: { enabled: false }',
      ].join('\n'),
    );
    return { path, ledger };
  }

  it('three gateways, 200 concurrent requests, a small budget: the invariant holds and the ledger adds up exactly', async () => {
    upstream.setOptions({ ttftMs: 20 });
    // On mock-large ($2 / $8 per 1M tokens) an answer of 8-20 tokens costs 0.00008-0.00018 USD,
    // and reserves at most 0.00018 USD: 0.01 USD admits several dozen of the 200.
    const { path, ledger } = await configure('shared', '0.01', '1m');
    const gateways = await Promise.all([serve(path), serve(path), serve(path)]);
    running.push(...gateways);
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_unused, index) =>
        ask((gateways[index % 3] as Running).url, `concurrent question ${index} ${randomUUID()}`),
      ),
    );
    const admitted = answers.filter((answer) => answer.status === 200);
    const refused = answers.filter((answer) => answer.status === 429);
    expect(admitted.length + refused.length).toBe(200);
    expect(admitted.length).toBeGreaterThan(5);
    expect(refused.length).toBeGreaterThan(50);
    for (const answer of refused) {
      expect(answer.body.error).toMatchObject({
        type: 'budget_exceeded',
        code: 'budget_exceeded',
        scope: 'global',
      });
    }
    await Promise.all(gateways.map((gateway) => stop(gateway, 'SIGTERM')));

    const database = new Database(ledger, { readonly: true });
    const rows = database.prepare('SELECT request_id, cost_nanos, status FROM ledger').all() as {
      request_id: string;
      cost_nanos: number;
      status: number;
    }[];
    database.close();
    const ledgerTotal = rows.reduce((sum, row) => sum + row.cost_nanos, 0);
    const answeredTotal = admitted.reduce((sum, answer) => sum + answer.costNanos, 0);
    expect(ledgerTotal).toBe(answeredTotal);
    const byId = new Map(rows.map((row) => [row.request_id, row.cost_nanos]));
    for (const answer of admitted) expect(byId.get(answer.requestId)).toBe(answer.costNanos);
    // Spend never exceeds the limit by more than one request's reservation (under 0.0002 USD).
    expect(ledgerTotal).toBeLessThanOrEqual(0.01e9 + 200_000);
    expect(ledgerTotal).toBeGreaterThan(0.005e9);
  }, 60_000);

  it('kill -9 under load loses no settled ledger row, and its open reservations expire', async () => {
    upstream.setOptions({ ttftMs: 0 });
    // Three settled answers spend at most 0.00054 USD; the calls in flight then reserve the rest.
    const { path, ledger } = await configure('killed', '0.0008', '3s');
    upstream.reset();
    const victim = await serve(path);
    running.push(victim);
    const settled: Answer[] = [];
    for (let index = 0; index < 3; index++)
      settled.push(await ask(victim.url, `settled ${index} ${randomUUID()}`));
    expect(settled.every((answer) => answer.status === 200)).toBe(true);

    // Now the upstream hangs: these calls hold reservations when the process dies.
    upstream.setOptions({ ttftMs: 30_000 });
    const answered: Answer[] = [];
    const inFlight = Array.from({ length: 8 }, (_unused, index) =>
      // A large max_tokens: the first of these reserves more than the budget has left.
      ask(victim.url, `in flight ${index} ${randomUUID()}`, 2_000).then(
        (answer) => answered.push(answer),
        () => undefined,
      ),
    );
    // Reservations are taken before the upstream call: once the upstream has seen one of the
    // calls, its reservation (larger than what is left of the budget) is held in Redis.
    const started = Date.now();
    while (upstream.stats().chatCompletions < settled.length + 1) {
      if (Date.now() - started > 10_000) {
        const seen = answered.map((answer) => `${answer.status} ${JSON.stringify(answer.body)}`);
        throw new Error(`the calls never reached the upstream; answered:\n${seen.join('\n')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await stop(victim, 'SIGKILL');
    await Promise.all(inFlight);

    // Opening the ledger imports the journal the killed process left behind.
    const reader = createLedger({ path: ledger });
    const ids = new Set([...reader.rows(0, Date.now() + 1, 1_000)].map((row) => row.requestId));
    reader.close();
    for (const answer of settled) expect(ids.has(answer.requestId)).toBe(true);

    upstream.setOptions({ ttftMs: 0 });
    const successor = await serve(path);
    running.push(successor);
    const blocked = await ask(successor.url, `blocked ${randomUUID()}`);
    expect(blocked.status).toBe(429);
    await new Promise((resolve) => setTimeout(resolve, 3_200));
    const freed = await ask(successor.url, `freed ${randomUUID()}`);
    expect(freed.status).toBe(200);
    await stop(successor, 'SIGTERM');
  }, 60_000);
});
