import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway/index.js';
import { createMockProvider, type MockProvider } from '../../src/mock-provider/index.js';
import { ThrowawayRedis } from '../helpers/redis-server.js';
import { SmallDisk } from '../helpers/small-disk.js';

/** Log lines the gateway wrote at warn level or above, parsed. */
function logSink(): { stream: Writable; lines: { msg: string; dependency?: string }[] } {
  const lines: { msg: string; dependency?: string }[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) {
        if (line.trim() !== '') lines.push(JSON.parse(line) as { msg: string });
      }
      done();
    },
  });
  return { stream, lines };
}

async function until(
  condition: () => Promise<boolean> | boolean,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((done) => setTimeout(done, 50));
  }
}

interface Health {
  status: string;
  dependencies: Record<string, { status: string; errors: number; reason?: string }>;
}

describe('gateway on a full disk and through a Redis outage', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function upstream(): Promise<{ provider: MockProvider; url: string }> {
    const provider = createMockProvider();
    const { url } = await provider.listen(0);
    cleanup.push(() => provider.close());
    return { provider, url };
  }

  async function start(
    config: Record<string, unknown>,
    upstreamUrl: string,
  ): Promise<{ gateway: Gateway; url: string; lines: ReturnType<typeof logSink>['lines'] }> {
    const sink = logSink();
    const gateway = createGateway(
      {
        server: { logLevel: 'warn' },
        providers: [{ name: 'mock', type: 'openai-compatible', baseUrl: upstreamUrl }],
        models: [{ name: 'gpt-4o-mini', provider: 'mock' }],
        cost: { prices: { 'gpt-4o-mini': { input: 0.15, output: 0.6 } } },
        ...config,
      },
      { logger: { stream: sink.stream } },
    );
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await gateway.close();
    };
    cleanup.push(close);
    const { url } = await gateway.listen({ port: 0 });
    return { gateway, url, lines: sink.lines };
  }

  async function chat(url: string, content: string): Promise<number> {
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] }),
    });
    await response.text();
    return response.status;
  }

  async function health(url: string): Promise<Health> {
    const response = await fetch(`${url}/healthz`);
    expect(response.status).toBe(200);
    return (await response.json()) as Health;
  }

  function ledgerRows(path: string): number {
    const database = new Database(path, { readonly: true });
    try {
      return (database.prepare('SELECT COUNT(*) AS n FROM ledger').get() as { n: number }).n;
    } finally {
      database.close();
    }
  }

  it('serves through a disk that fills up, says so once, and loses no ledger row', async () => {
    const small = SmallDisk.create(8 * 1024 * 1024);
    cleanup.push(() => small.close());
    const { url: upstreamUrl } = await upstream();
    const sqlite = join(small.directory, 'sluice.db');
    const ledger = join(small.directory, 'ledger.db');
    const { gateway, url, lines } = await start(
      {
        store: { sqlite },
        cost: { ledger, prices: { 'gpt-4o-mini': { input: 0.15, output: 0.6 } } },
      },
      upstreamUrl,
    );
    expect(await chat(url, 'before the disk fills')).toBe(200);
    small.fill([
      { file: sqlite, table: 'sluice_cache' },
      { file: ledger, table: 'ledger' },
    ]);
    const requests = 300;
    for (let index = 0; index < requests; index++) {
      // Distinct, long answers: the L3 writes need new pages.
      expect(await chat(url, `question ${index} ${'x'.repeat(2_000)}`)).toBe(200);
    }
    await new Promise((done) => setTimeout(done, 100));
    const degraded = await health(url);
    expect(degraded.status).toBe('degraded');
    expect(degraded.dependencies.ledger?.status).toBe('degraded');
    expect(degraded.dependencies['cache-l3']?.status).toBe('degraded');
    expect(gateway.cache?.stats().tiers.l3?.errors).toBeGreaterThan(0);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('sluice_dependency_degraded{dependency="cache-l3"} 1');
    const entering = (name: string) =>
      lines.filter((line) => line.dependency === name && line.msg.includes('degraded')).length;
    expect(entering('cache-l3')).toBe(1);
    expect(entering('ledger')).toBe(1);

    small.free();
    await until(async () => {
      await chat(url, `after space returns ${Date.now()}`);
      return (await health(url)).status === 'ok';
    });
    const recovered = (name: string) =>
      lines.filter((line) => line.dependency === name && line.msg.endsWith('recovered')).length;
    expect(recovered('ledger')).toBe(1);
    expect(recovered('cache-l3')).toBe(1);
    const answered = (await health(url)).dependencies.ledger?.errors ?? 0;
    expect(answered).toBeGreaterThan(0);
    await gateway.close();
    // Every answered request has its row: 1 before, 300 while full, the probes after.
    const rows = ledgerRows(ledger);
    expect(rows).toBeGreaterThanOrEqual(requests + 2);
    console.log(`full disk: ${requests} requests answered while full, ${rows} ledger rows, 0 lost`);
  }, 60_000);

  it('starts on a full disk, serves, and writes the held ledger rows when space returns', async () => {
    const small = SmallDisk.create(8 * 1024 * 1024);
    cleanup.push(() => small.close());
    const { url: upstreamUrl } = await upstream();
    const sqlite = join(small.directory, 'sluice.db');
    const ledger = join(small.directory, 'ledger.db');
    const config = {
      store: { sqlite },
      cost: { ledger, prices: { 'gpt-4o-mini': { input: 0.15, output: 0.6 } } },
    };
    const first = await start(config, upstreamUrl);
    expect(await chat(first.url, 'first run')).toBe(200);
    await first.gateway.close();
    small.fill([
      { file: sqlite, table: 'sluice_cache' },
      { file: ledger, table: 'ledger' },
    ]);
    const { gateway, url } = await start(config, upstreamUrl);
    const requests = 50;
    for (let index = 0; index < requests; index++) {
      expect(await chat(url, `on a full disk ${index}`)).toBe(200);
    }
    expect((await health(url)).dependencies.ledger?.status).toBe('degraded');
    small.free();
    await until(async () => (await health(url)).dependencies.ledger?.status === 'ok');
    await gateway.close();
    expect(ledgerRows(ledger)).toBe(requests + 1);
  }, 60_000);

  it('answers 503 storage_unavailable for spend while the ledger cannot be opened', async () => {
    const small = SmallDisk.create(4 * 1024 * 1024);
    cleanup.push(() => small.close());
    if (!small.real) {
      // A simulated disk refuses inserts into existing tables; a file that cannot be created
      // needs a real full file system.
      console.warn('SKIPPED: no size-limited tmpfs can be mounted here');
      return;
    }
    const { url: upstreamUrl } = await upstream();
    small.fill();
    const { url } = await start(
      {
        store: { sqlite: false },
        admin: { key: 'sk-admin-full-disk-test' },
        cost: {
          ledger: join(small.directory, 'ledger.db'),
          prices: { 'gpt-4o-mini': { input: 0.15, output: 0.6 } },
        },
      },
      upstreamUrl,
    );
    expect(await chat(url, 'no ledger file yet')).toBe(200);
    const response = await fetch(`${url}/admin/spend`, {
      headers: { authorization: 'Bearer sk-admin-full-disk-test' },
    });
    expect(response.status).toBe(503);
    const body = (await response.json()) as { error: { code: string; type: string } };
    expect(body.error).toMatchObject({ type: 'server_error', code: 'storage_unavailable' });
    small.free();
    await until(async () => (await health(url)).dependencies.ledger?.status === 'ok');
    const after = await fetch(`${url}/admin/spend`, {
      headers: { authorization: 'Bearer sk-admin-full-disk-test' },
    });
    expect(after.status).toBe(200);
  }, 60_000);

  it('logs one warning when Redis goes away and one when it is back; /healthz follows', async () => {
    const redis = await ThrowawayRedis.start();
    cleanup.push(() => redis.stop());
    const { url: upstreamUrl } = await upstream();
    const { url, lines } = await start(
      {
        store: { sqlite: false, redis: redis.url, prefix: 'h17-disk-outage' },
        cost: { ledger: ':memory:', prices: { 'gpt-4o-mini': { input: 0.15, output: 0.6 } } },
        budgets: [{ scope: 'global', window: 'daily', limitUsd: 100 }],
        rateLimits: [{ scope: 'global', requestsPerMinute: 100_000 }],
      },
      upstreamUrl,
    );
    expect(await chat(url, 'redis up')).toBe(200);
    expect((await health(url)).status).toBe('ok');
    await redis.stop();
    let request = 0;
    await until(async () => {
      expect(await chat(url, `redis down ${request++}`)).toBe(200);
      const state = await health(url);
      return (
        state.dependencies['cache-l2']?.status === 'degraded' &&
        state.dependencies['budgets-store']?.status === 'degraded' &&
        state.dependencies['rate-limit-store']?.status === 'degraded'
      );
    });
    await redis.start();
    await until(async () => {
      expect(await chat(url, `redis back ${request++}`)).toBe(200);
      return (await health(url)).status === 'ok';
    });
    for (const name of ['cache-l2', 'budgets-store', 'rate-limit-store']) {
      const mine = lines.filter((line) => line.dependency === name);
      expect(
        mine.map((line) => (line.msg.endsWith('recovered') ? 'recovered' : 'degraded')),
      ).toEqual(['degraded', 'recovered']);
    }
  }, 60_000);
});
