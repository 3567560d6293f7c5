import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/index.js';
import { ensureBuilt, ROOT } from '../helpers/build.js';
import { ThrowawayRedis } from '../helpers/redis-server.js';

const CLI = join(ROOT, 'dist/src/cli/index.js');
/** A start-up failure must end the process well within this (it takes ~1 s when it works). */
const EXIT_WITHIN_MS = 8_000;

const redisInstalled = spawnSync('redis-server', ['--version']).status === 0;

interface Ended {
  /** Exit code, or null when the process had to be killed. */
  code: number | null;
  stderr: string;
  elapsedMs: number;
}

/** Runs `sluice serve` with `args`; kills it (code null) if it is still running after the bound. */
function serve(args: string[]): Promise<Ended> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, 'serve', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_WITHIN_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, elapsedMs: performance.now() - started });
    });
  });
}

/** Connections the server holds, ours excluded. */
async function otherClients(probe: Redis): Promise<number> {
  const list = (await probe.client('LIST')) as string;
  return list.trim().split('\n').length - 1;
}

describe.skipIf(!redisInstalled)('sluice serve: a start-up error ends the process', () => {
  let redis: ThrowawayRedis;
  let probe: Redis;
  let directory: string;

  /** A configuration with Redis (the cache, budgets and rate limits all connect), plus `extra` (models, cost). */
  function configFile(name: string, extra: string): string {
    const path = join(directory, name);
    writeFileSync(
      path,
      [
        `store: { sqlite: false, redis: "${redis.url}", prefix: cli-start }`,
        'providers: [{ name: p, type: openai-compatible, baseUrl: "http://127.0.0.1:9/v1" }]',
        'budgets: [{ scope: global, window: daily, limitUsd: 1 }]',
        'rateLimits: [{ scope: global, requestsPerMinute: 100 }]',
        extra,
      ].join('\n'),
    );
    return path;
  }

  beforeAll(async () => {
    // The CLI runs as its own process: build it when this checkout's build is missing or stale.
    ensureBuilt();
    redis = await ThrowawayRedis.start();
    probe = new Redis(redis.url);
    directory = mkdtempSync(join(tmpdir(), 'sluice-serve-'));
  }, 120_000);

  afterAll(async () => {
    probe?.disconnect();
    await redis?.stop();
    if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
  });

  it('exits non-zero at once for a configuration the schema refuses', async () => {
    const ended = await serve([
      '--config',
      configFile('schema.yaml', 'models: []\ncost: { ledger: false }'),
    ]);
    expect(ended.code).toBe(1);
    expect(ended.stderr).toContain('E_CONFIG: invalid configuration');
    expect(ended.stderr).toContain('models: ');
  });

  it('exits non-zero when the gateway fails after it opened Redis connections', async () => {
    const ended = await serve([
      '--config',
      configFile(
        'late.yaml',
        [
          'models: [{ name: m, provider: p }]',
          // Read when the price table is built: after the cache, budgets and rate limiter connect.
          `cost: { ledger: false, pricingFile: "${join(directory, 'missing-prices.json')}" }`,
        ].join('\n'),
      ),
    ]);
    expect(ended.code).toBe(1);
    expect(ended.stderr).toContain('missing-prices.json');
    expect(ended.elapsedMs).toBeLessThan(EXIT_WITHIN_MS);
  });

  it('exits non-zero when the port is taken, with Redis connected', async () => {
    const taken: Server = createServer();
    await new Promise<void>((listening) => taken.listen(0, '127.0.0.1', listening));
    const port = (taken.address() as { port: number }).port;
    try {
      const ended = await serve([
        '--config',
        configFile('port.yaml', 'models: [{ name: m, provider: p }]\ncost: { ledger: false }'),
        '--port',
        String(port),
      ]);
      expect(ended.code).toBe(1);
      expect(ended.stderr).toContain('EADDRINUSE');
    } finally {
      await new Promise((closed) => taken.close(closed));
    }
  });

  it('closes the Redis connections it opened when createGateway throws', async () => {
    const before = await otherClients(probe);
    expect(() =>
      createGateway(
        {
          server: { logLevel: 'silent' },
          store: { sqlite: false, redis: redis.url, prefix: 'cli-start' },
          providers: [{ name: 'p', type: 'openai-compatible', baseUrl: 'http://127.0.0.1:9/v1' }],
          models: [{ name: 'm', provider: 'p' }],
          budgets: [{ scope: 'global', window: 'daily', limitUsd: 1 }],
          rateLimits: [{ scope: 'global', requestsPerMinute: 100 }],
          cost: { ledger: false, pricingFile: join(directory, 'missing-prices.json') },
        },
        { logger: false },
      ),
    ).toThrow('missing-prices.json');
    // The failed gateway started connecting (cache, budgets, rate limits) before the price
    // table was read. Connections are made in the background: watch for two seconds that
    // none is left open.
    await new Promise((done) => setTimeout(done, 2_000));
    const left = await otherClients(probe);
    expect(left).toBe(before);
  });
});
