import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway/index.js';
import { createMockProvider, type MockProvider } from '../../src/mock-provider/index.js';

const KEY_A = 'team-a-key-0123456789';
const KEY_B = 'team-b-key-0123456789';
const KEY_C = 'team-c-key-0123456789';
const ADMIN = { authorization: 'Bearer admin-key-0123456789' };

let upstream: MockProvider;
let gateway: Gateway;
let baseUrl: string;
let counter = 0;

beforeAll(async () => {
  upstream = createMockProvider();
  const { url } = await upstream.listen(0);
  gateway = createGateway(
    {
      server: { logLevel: 'silent' },
      store: { sqlite: false },
      providers: [{ name: 'mock', type: 'openai-compatible', baseUrl: url }],
      models: [
        { name: 'mock-large', provider: 'mock' },
        { name: 'mock-small', provider: 'mock' },
      ],
      keys: [
        { name: 'team-a', key: KEY_A },
        { name: 'team-b', key: KEY_B, tags: ['batch'] },
        { name: 'team-c', key: KEY_C },
      ],
      admin: { key: 'admin-key-0123456789' },
      budgets: [
        { scope: 'key:team-a', window: 'daily', limitUsd: '0.002' },
        {
          scope: 'tag:batch',
          window: 'daily',
          limitUsd: 1,
          actions: [
            { at: 0, action: 'downgrade', models: { 'mock-large': 'mock-small' } },
            { at: 0, action: 'defer-low-priority' },
          ],
        },
      ],
      cost: { ledger: ':memory:' },
    },
    { logger: false },
  );
  baseUrl = (await gateway.listen({ port: 0 })).url;
});

afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
});

function ask(
  key: string,
  content: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({
      model: 'mock-large',
      max_tokens: 40,
      messages: [{ role: 'user', content }],
    }),
  });
}

async function admin(path: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${baseUrl}${path}`, { headers: ADMIN });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

describe('cost accounting in the gateway', () => {
  it('prices each answer, records it in the ledger, and records what a hit avoided', async () => {
    const content = `priced question ${++counter}`;
    const miss = await ask(KEY_C, content);
    const body = (await miss.json()) as {
      usage: { prompt_tokens: number; completion_tokens: number };
    };
    // mock-large: $2 per 1M input tokens, $8 per 1M output tokens: 2,000 and 8,000 nano-dollars a token.
    const expectedNanos = body.usage.prompt_tokens * 2_000 + body.usage.completion_tokens * 8_000;
    expect(miss.headers.get('x-sluice-cost-usd')).toBe((expectedNanos / 1e9).toFixed(9));
    const hit = await ask(KEY_C, content);
    expect(hit.headers.get('x-sluice-cache')).toBe('hit');
    expect(hit.headers.get('x-sluice-cost-usd')).toBe('0.000000000');
    const ledger = (await admin('/admin/ledger?format=json')) as {
      data: { key: string; costNanos: number; avoidedNanos: number; cache: string }[];
    };
    const rows = ledger.data.filter((row) => row.key === 'team-c');
    expect(rows.map((row) => [row.cache, row.costNanos, row.avoidedNanos])).toEqual([
      ['miss', expectedNanos, 0],
      ['hit', 0, expectedNanos],
    ]);
    const savings = await admin('/admin/savings');
    expect(Number(savings.avoided_usd)).toBeGreaterThan(0);
    // The same figures on /metrics, for alerting: spend and avoided cost by model and key,
    // and each budget's state.
    const metrics = await (await fetch(`${baseUrl}/metrics`)).text();
    const value = (series: string) =>
      Number(
        metrics
          .split('\n')
          .find((line) => line.startsWith(`${series} `))
          ?.split(' ')[1] ?? 'NaN',
      );
    expect(value('sluice_spend_usd_total{model="mock-large",key="team-c"}')).toBeCloseTo(
      expectedNanos / 1e9,
      12,
    );
    expect(value('sluice_avoided_usd_total{model="mock-large",key="team-c"}')).toBeCloseTo(
      expectedNanos / 1e9,
      12,
    );
    expect(value('sluice_budget_limit_usd{scope="key:team-a",window="daily"}')).toBe(0.002);
    expect(value('sluice_budget_used_ratio{scope="tag:batch",window="daily"}')).toBe(0);
  });

  it('refuses with 429 budget_exceeded once the budget is spent, and still serves cache hits', async () => {
    const first = `budget question ${++counter}`;
    expect((await ask(KEY_A, first)).status).toBe(200);
    let refusal: Response | undefined;
    for (let attempt = 0; attempt < 50 && refusal === undefined; attempt++) {
      const response = await ask(KEY_A, `budget question ${++counter}`);
      if (response.status === 429) refusal = response;
      else expect(response.status).toBe(200);
    }
    expect(refusal).toBeDefined();
    const error = ((await (refusal as Response).json()) as { error: Record<string, unknown> })
      .error;
    expect(error).toMatchObject({
      type: 'budget_exceeded',
      code: 'budget_exceeded',
      scope: 'key:team-a',
      window: 'daily',
      limit_usd: 0.002,
    });
    expect(error.spent_usd as number).toBeGreaterThanOrEqual(0.002);
    expect(Date.parse(error.reset_at as string)).toBeGreaterThan(Date.now());
    expect(Number(refusal?.headers.get('retry-after'))).toBeGreaterThan(0);
    // A cached answer costs nothing: it is still served.
    const cached = await ask(KEY_A, first);
    expect(cached.status).toBe(200);
    expect(cached.headers.get('x-sluice-cache')).toBe('hit');

    const budgets = (await admin('/admin/budgets')) as {
      budgets: { scope: string; ratio: number; spent_usd: string }[];
    };
    const teamA = budgets.budgets.find((budget) => budget.scope === 'key:team-a');
    expect(teamA?.ratio).toBeGreaterThanOrEqual(1);
    const spend = await admin('/admin/spend?scope=key:team-a&window=daily');
    expect(spend.cost_usd).toBe(teamA?.spent_usd);
    const csv = await (
      await fetch(`${baseUrl}/admin/ledger?format=csv`, { headers: ADMIN })
    ).text();
    const lines = csv.trim().split('\n');
    expect(lines[0]).toMatch(/^seq,request_id,time,key,/);
    const teamARows = lines.slice(1).filter((line) => line.split(',')[3] === 'team-a');
    const csvTotal = teamARows.reduce((sum, line) => sum + Number(line.split(',')[16]), 0);
    expect(csvTotal).toBe(Math.round(Number(teamA?.spent_usd) * 1e9));
  });

  it('applies graduated actions: downgrade to a cheaper model, defer low-priority work', async () => {
    const downgraded = await ask(KEY_B, `batch question ${++counter}`);
    expect(downgraded.status).toBe(200);
    expect(((await downgraded.json()) as { model: string }).model).toBe('mock-small');
    const deferred = await ask(KEY_B, `batch question ${++counter}`, {
      'x-sluice-priority': 'low',
    });
    expect(deferred.status).toBe(429);
    expect(((await deferred.json()) as { error: { code: string } }).error.code).toBe(
      'budget_deferred',
    );
    const bad = await ask(KEY_B, 'x', { 'x-sluice-priority': 'urgent' });
    expect(bad.status).toBe(400);
  });

  it('groups spend by key and rejects bad admin queries', async () => {
    const grouped = (await admin('/admin/spend?by=key')) as { groups: { name: string }[] };
    expect(grouped.groups.map((group) => group.name).sort()).toEqual([
      'team-a',
      'team-b',
      'team-c',
    ]);
    const bad = await fetch(`${baseUrl}/admin/spend?scope=everyone`, { headers: ADMIN });
    expect(bad.status).toBe(400);
    const badRange = await fetch(`${baseUrl}/admin/ledger?from=yesterday`, { headers: ADMIN });
    expect(badRange.status).toBe(400);
  });
});
