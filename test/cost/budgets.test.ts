import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  type BudgetAlert,
  type BudgetConfig,
  BudgetExceededError,
  type Budgets,
  createBudgets,
} from '../../src/cost/budgets.js';
import { createLedger } from '../../src/cost/ledger.js';
import { ManualClock } from '../../src/shared/clock.js';
import { redisAvailable, redisUrl } from '../helpers/redis.js';

const DB = 14;
const available = await redisAvailable();
const USD = 1e9;
const subject = { key: 'team-a', model: 'gpt-4o-mini', provider: 'openai', tags: ['research'] };

const clients: Redis[] = [];
afterAll(() => {
  for (const client of clients) client.disconnect();
});

function open(
  storeKind: 'memory' | 'redis',
  budgets: BudgetConfig[],
  clock = new ManualClock(Date.UTC(2026, 10, 22, 10)),
  prefix = `budget-${randomUUID().slice(0, 8)}`,
): Budgets {
  let redis: Redis | undefined;
  if (storeKind === 'redis') {
    redis = new Redis(redisUrl(DB));
    clients.push(redis);
  }
  return createBudgets({
    budgets,
    clock,
    prefix,
    log: () => {},
    ...(redis === undefined ? {} : { redis }),
  });
}

const kinds = (available ? ['memory', 'redis'] : ['memory']) as ('memory' | 'redis')[];

describe.each(kinds)('budgets (%s store)', (kind) => {
  it('admits while spend plus reservations is under the limit, then refuses with the details', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 22, 10));
    const budgets = open(kind, [{ scope: 'key:team-a', window: 'daily', limitUsd: 1 }], clock);
    const first = await budgets.reserve('r1', subject, 0.6 * USD);
    const second = await budgets.reserve('r2', subject, 0.6 * USD);
    // 1.2 USD reserved: over the limit by at most the last reservation.
    await expect(budgets.reserve('r3', subject, 0.01 * USD)).rejects.toBeInstanceOf(
      BudgetExceededError,
    );
    await budgets.settle(first, 0.2 * USD);
    await budgets.settle(second, 0.3 * USD);
    const third = await budgets.reserve('r3', subject, 0.4 * USD);
    await budgets.settle(third, 0.5 * USD);
    let refusal: BudgetExceededError | undefined;
    try {
      await budgets.reserve('r4', subject, 1);
    } catch (error) {
      refusal = error as BudgetExceededError;
    }
    expect(refusal).toMatchObject({
      code: 'budget_exceeded',
      scope: 'key:team-a',
      window: 'daily',
      limitNanos: 1 * USD,
      spentNanos: 1 * USD,
      resetAt: Date.UTC(2026, 10, 23),
    });
    // Another key is not affected.
    await budgets.reserve('r5', { ...subject, key: 'team-b' }, 5 * USD);
    await budgets.close();
  });

  it('starts a new window at midnight (injectable clock)', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 22, 23, 59));
    const budgets = open(kind, [{ scope: 'global', window: 'daily', limitUsd: 1 }], clock);
    await budgets.settle(await budgets.reserve('a', subject, USD), USD);
    await expect(budgets.reserve('b', subject, 1)).rejects.toThrow(/budget exceeded for global/);
    clock.advance(60_000);
    const next = await budgets.reserve('c', subject, 0.5 * USD);
    await budgets.settle(next, 0.25 * USD);
    const [status] = await budgets.status();
    expect(status).toMatchObject({
      spentNanos: 0.25 * USD,
      reservedNanos: 0,
      resetAt: Date.UTC(2026, 10, 24),
    });
    await budgets.close();
  });

  it('fires each threshold once per window, again in the next window', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 22, 10));
    const budgets = open(kind, [{ scope: 'tag:research', window: 'daily', limitUsd: 10 }], clock);
    const alerts: BudgetAlert[] = [];
    budgets.on('budget-alert', (alert) => alerts.push(alert));
    const spend = async (id: string, usd: number) =>
      budgets.settle(await budgets.reserve(id, subject, usd * USD), usd * USD);
    await spend('a', 4);
    expect(alerts).toHaveLength(0);
    await spend('b', 1.5); // 5.5: crosses 0.5
    await spend('c', 0.1);
    await spend('d', 3.6); // 9.2: crosses 0.8 and 0.9 at once
    expect(alerts.map((alert) => alert.threshold)).toEqual([0.5, 0.8, 0.9]);
    expect(alerts[0]).toMatchObject({
      scope: 'tag:research',
      spentNanos: 5.5 * USD,
      limitNanos: 10 * USD,
    });
    clock.advance(86_400_000);
    await spend('e', 6);
    expect(alerts.map((alert) => alert.threshold)).toEqual([0.5, 0.8, 0.9, 0.5]);
    await budgets.close();
  });

  it('frees the reservation of a call that never settles once it expires', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 22, 10));
    const budgets = open(
      kind,
      [{ scope: 'model:gpt-4o-mini', window: { rolling: '1h' }, limitUsd: 1 }],
      clock,
    );
    await budgets.reserve('crashed', subject, 2 * USD);
    await expect(budgets.reserve('next', subject, 1)).rejects.toBeInstanceOf(BudgetExceededError);
    clock.advance(10 * 60_000 + 1);
    const admitted = await budgets.reserve('next', subject, 1);
    await budgets.settle(admitted, 1);
    await budgets.close();
  });

  it('ages spend out of a rolling window slice by slice', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 22, 10));
    const budgets = open(
      kind,
      [{ scope: 'provider:openai', window: { rolling: '24h' }, limitUsd: 1 }],
      clock,
    );
    await budgets.settle(await budgets.reserve('a', subject, USD), USD);
    clock.advance(12 * 3_600_000);
    await expect(budgets.reserve('b', subject, 1)).rejects.toBeInstanceOf(BudgetExceededError);
    clock.advance(12 * 3_600_000 + 3_600_000);
    await budgets.settle(await budgets.reserve('c', subject, 1), 1);
    await budgets.close();
  });

  it('holds the invariant under 200 concurrent requests: overspend at most one reservation', async () => {
    const budgets = open(kind, [{ scope: 'global', window: 'daily', limitUsd: '0.05' }]);
    const maxReservation = 0.004 * USD;
    let settled = 0;
    let refused = 0;
    await Promise.all(
      Array.from({ length: 200 }, async (_unused, index) => {
        const estimate = 0.001 * USD + ((index * 7919) % 3_000_000);
        try {
          const reservation = await budgets.reserve(`c${index}`, subject, estimate);
          await new Promise((resolve) => setTimeout(resolve, index % 5));
          const actual = Math.floor(estimate * 0.8);
          await budgets.settle(reservation, actual);
          settled += actual;
        } catch (error) {
          expect(error).toBeInstanceOf(BudgetExceededError);
          refused += 1;
        }
      }),
    );
    const [status] = await budgets.status();
    expect(status?.spentNanos).toBe(settled);
    expect(status?.reservedNanos).toBe(0);
    expect(settled).toBeLessThanOrEqual(0.05 * USD + maxReservation);
    expect(refused).toBeGreaterThan(100);
    await budgets.close();
  });

  it('applies graduated soft actions from the spend it last saw', async () => {
    const budgets = open(kind, [
      {
        scope: 'key:team-a',
        window: 'daily',
        limitUsd: 1,
        actions: [
          { at: 0.5, action: 'prefer-cache' },
          { at: 0.8, action: 'downgrade', models: { 'gpt-4o-mini': 'mock-small' } },
          { at: 0.95, action: 'defer-low-priority' },
          { at: 1, action: 'reject' },
        ],
      },
    ]);
    const spend = async (id: string, usd: number) =>
      budgets.settle(await budgets.reserve(id, subject, usd * USD), usd * USD);
    expect(budgets.advise(subject)).toMatchObject({ preferCache: false, downgradeTo: undefined });
    await spend('a', 0.6);
    expect(budgets.advise(subject)).toMatchObject({ preferCache: true, downgradeTo: undefined });
    await spend('b', 0.25);
    expect(budgets.advise(subject)).toMatchObject({
      preferCache: true,
      downgradeTo: 'mock-small',
      deferLowPriority: false,
    });
    await spend('c', 0.12);
    expect(budgets.advise(subject).deferLowPriority).toBe(true);
    await expect(budgets.reserve('low', subject, 1, 'low')).rejects.toMatchObject({
      code: 'budget_deferred',
    });
    await budgets.settle(await budgets.reserve('normal', subject, 1, 'normal'), 1);
    await budgets.close();
  });
});

describe('budgets restored from the ledger', () => {
  it('count spend recorded before a restart in the current window', async () => {
    const ledger = createLedger({ path: ':memory:' });
    const now = Date.UTC(2026, 10, 22, 10);
    const row = {
      requestId: 'x',
      key: 'team-a',
      namespace: 'team-a',
      tags: ['research'],
      route: 'chat',
      model: 'gpt-4o-mini',
      provider: 'openai',
      status: 200,
      cache: 'miss',
      inputTokens: 1,
      cachedInputTokens: 0,
      cacheWriteTokens: 0,
      outputTokens: 1,
      reasoningTokens: 0,
      avoidedNanos: 0,
      durationMs: 1,
    };
    ledger.append({ ...row, time: now - 86_400_000, costNanos: 5 * USD }); // yesterday
    ledger.append({ ...row, time: now - 3_600_000, costNanos: 0.7 * USD });
    ledger.append({ ...row, time: now - 60_000, key: 'team-b', costNanos: 0.2 * USD });
    const budgets = createBudgets({
      budgets: [
        { scope: 'key:team-a', window: 'daily', limitUsd: 1 },
        { scope: 'tag:research', window: { rolling: '24h' }, limitUsd: 100 },
      ],
      clock: new ManualClock(now),
      ledger,
      log: () => {},
    });
    await budgets.ready();
    const [daily, rolling] = await budgets.status();
    expect(daily?.spentNanos).toBe(0.7 * USD);
    expect(rolling?.spentNanos).toBe(0.9 * USD);
    ledger.close();
  });
});

describe('budget configuration', () => {
  it('refuses bad scopes, limits, thresholds and duplicates', () => {
    const base = { window: 'daily' as const, limitUsd: 1 };
    expect(() => createBudgets({ budgets: [{ ...base, scope: 'team' }] })).toThrow(
      /budgets\.0\.scope/,
    );
    expect(() => createBudgets({ budgets: [{ ...base, scope: 'global', limitUsd: -1 }] })).toThrow(
      /limitUsd/,
    );
    expect(() =>
      createBudgets({ budgets: [{ ...base, scope: 'global', limitUsd: '0.0000000001' }] }),
    ).toThrow(/at most 9 decimals/);
    expect(() =>
      createBudgets({ budgets: [{ ...base, scope: 'global', thresholds: [0] }] }),
    ).toThrow(/thresholds/);
    expect(() =>
      createBudgets({
        budgets: [
          { ...base, scope: 'global' },
          { ...base, scope: 'global' },
        ],
      }),
    ).toThrow(/two budgets for global/);
  });
});

describe.skipIf(!available)('leased allowances (Redis)', () => {
  it('admit most calls without a Redis round trip, and give unused allowance back on close', async () => {
    const { RedisBudgetStore } = await import('../../src/cost/budget-store.js');
    const grants = vi.spyOn(RedisBudgetStore.prototype, 'grantLease');
    const redis = new Redis(redisUrl(DB));
    clients.push(redis);
    const prefix = `lease-${randomUUID().slice(0, 8)}`;
    const clock = new ManualClock(Date.UTC(2026, 10, 22, 10));
    const budgets = createBudgets({
      budgets: [{ scope: 'global', window: 'daily', limitUsd: 10 }],
      redis,
      prefix,
      clock,
      log: () => {},
    });
    for (let index = 0; index < 50; index++) {
      const reservation = await budgets.reserve(`l${index}`, subject, 0.001 * USD);
      await budgets.settle(reservation, 0.0005 * USD);
    }
    // A slice is 1% of the limit (0.1 USD): 100 calls' estimates; one grant serves them all.
    expect(grants.mock.calls.length).toBeLessThanOrEqual(2);
    const [status] = await budgets.status();
    expect(status?.spentNanos).toBe(50 * 0.0005 * USD);
    expect(status?.reservedNanos).toBe(0);
    await budgets.close();
    const other = createBudgets({
      budgets: [{ scope: 'global', window: 'daily', limitUsd: 10 }],
      redis,
      prefix,
      clock,
      log: () => {},
    });
    const [after] = await other.status();
    expect(after).toMatchObject({ spentNanos: 50 * 0.0005 * USD, reservedNanos: 0 });
    grants.mockRestore();
  });
});

describe.skipIf(!available)('leased allowances racing their own spend writes (Redis)', () => {
  it('do not mistake a spend that landed before a grant for an expired lease', async () => {
    const { RedisBudgetStore } = await import('../../src/cost/budget-store.js');
    // Spend goes over the settlement connection: let it land in Redis, but hold its reply back
    // until a grant on the other connection has come and gone.
    const spendLease = RedisBudgetStore.prototype.spendLease;
    let landed!: () => void;
    const spendLanded = new Promise<void>((resolve) => {
      landed = resolve;
    });
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const spends = vi
      .spyOn(RedisBudgetStore.prototype, 'spendLease')
      .mockImplementation(async function (this: InstanceType<typeof RedisBudgetStore>, ...args) {
        const result = await spendLease.apply(this, args);
        landed();
        await gate;
        return result;
      });
    const redis = new Redis(redisUrl(DB));
    clients.push(redis);
    const prefix = `lease-race-${randomUUID().slice(0, 8)}`;
    const clock = new ManualClock(Date.UTC(2026, 10, 22, 10));
    const config: BudgetConfig[] = [{ scope: 'global', window: 'daily', limitUsd: 1 }];
    const budgets = createBudgets({ budgets: config, redis, prefix, clock, log: () => {} });
    try {
      // Each call needs more than a slice (1% of the limit): every reserve grows the lease.
      const first = await budgets.reserve('r1', subject, 0.3 * USD);
      const settling = budgets.settle(first, 0.1 * USD);
      await spendLanded;
      const second = await budgets.reserve('r2', subject, 0.3 * USD);
      open();
      await settling;
      await budgets.settle(second, 0.3 * USD);
      const [status] = await budgets.status();
      expect(status).toMatchObject({ spentNanos: 0.4 * USD, reservedNanos: 0 });
      await budgets.close();
      // Closing gives back everything the lease holds: nothing stays reserved in Redis.
      const other = createBudgets({ budgets: config, redis, prefix, clock, log: () => {} });
      const [after] = await other.status();
      expect(after).toMatchObject({ spentNanos: 0.4 * USD, reservedNanos: 0 });
      await other.close();
    } finally {
      spends.mockRestore();
    }
  });
});

describe.skipIf(!available)('leased allowances near the limit (Redis)', () => {
  it('admit a call that needs more than the room left, when only this process’s unused allowance fills it', async () => {
    const redis = new Redis(redisUrl(DB));
    clients.push(redis);
    const prefix = `lease-room-${randomUUID().slice(0, 8)}`;
    const clock = new ManualClock(Date.UTC(2026, 10, 22, 10));
    const budgets = createBudgets({
      budgets: [{ scope: 'global', window: 'daily', limitUsd: 1 }],
      redis,
      prefix,
      clock,
      log: () => {},
    });
    try {
      // Two calls leave 0.6 USD spent and 0.4 USD of unused allowance in this process's lease:
      // spend plus the lease is exactly the limit.
      await budgets.settle(await budgets.reserve('a', subject, 0.6 * USD), 0.3 * USD);
      await budgets.settle(await budgets.reserve('b', subject, 0.6 * USD), 0.3 * USD);
      // Spend is under the limit and no call holds a reservation: a large call is admitted, as
      // it would be with per-call reservations (it draws on the unused allowance first).
      const large = await budgets.reserve('c', subject, 2 * USD);
      // Now a call does hold the budget: the next one is refused.
      await expect(budgets.reserve('d', subject, 0.01 * USD)).rejects.toBeInstanceOf(
        BudgetExceededError,
      );
      await budgets.settle(large, 0.1 * USD);
      const [status] = await budgets.status();
      expect(status?.spentNanos).toBe(0.7 * USD);
    } finally {
      await budgets.close();
    }
  });
});
