import type { Redis } from 'ioredis';
import { unrefWhenIdle } from '../shared/redis-handles.js';

/** One budget as a store sees it for one operation. */
export interface BudgetSlot {
  /** Stable id of the budget (its scope and window). */
  readonly id: string;
  /** Nano-dollar total at or above which new reservations are refused; -1 for never. */
  readonly cutoff: number;
  readonly limit: number;
  /** The bucket charged now and every bucket counted now (see `BudgetWindow`). */
  readonly bucket: string;
  readonly counted: readonly string[];
  /** The window id for once-per-window alerts. */
  readonly window: string;
  /** Fractions of the limit that raise an alert once per window, ascending. */
  readonly thresholds: readonly number[];
  /** How long the store keeps this budget's state after the last write, ms. */
  readonly retainMs: number;
}

export interface BudgetTotals {
  /** Settled nano-dollars in the counted buckets. */
  readonly spent: number;
  /** Nano-dollars reserved by calls not yet settled. */
  readonly reserved: number;
}

export type ReserveOutcome =
  | { readonly admitted: true; readonly totals: readonly BudgetTotals[] }
  | { readonly admitted: false; readonly index: number; readonly totals: BudgetTotals };

export interface SettleOutcome {
  readonly totals: readonly BudgetTotals[];
  /** Per slot, the thresholds this settle crossed first in its window. */
  readonly crossed: readonly (readonly number[])[];
}

/**
 * Where budget counters live: in this process, or in Redis so every process sees the same
 * spend. Both make reserve and settle atomic over all the budgets of one request.
 */
export interface BudgetStore {
  readonly kind: 'memory' | 'redis';
  /**
   * Refuses when any slot's spent + reserved is at or above its cutoff; otherwise reserves
   * `amount` in every slot until `expiresAt` (a reservation never settled then frees itself).
   */
  reserve(
    slots: readonly BudgetSlot[],
    requestId: string,
    amount: number,
    now: number,
    expiresAt: number,
  ): Promise<ReserveOutcome>;
  /** Releases the reservation (if still held) and adds `actual` to the current bucket. */
  settle(
    slots: readonly BudgetSlot[],
    requestId: string,
    actual: number,
    now: number,
  ): Promise<SettleOutcome>;
  totals(slots: readonly BudgetSlot[], now: number): Promise<readonly BudgetTotals[]>;
  /**
   * Sets a bucket's spend if the store has none for it (restoring from the ledger after a
   * restart), and marks thresholds already passed as alerted.
   */
  seed(slot: BudgetSlot, bucketSpend: ReadonlyMap<string, number>): Promise<void>;
  close(): Promise<void>;
}

interface MemoryBudget {
  spent: Map<string, number>;
  reserved: number;
  reservations: Map<string, { amount: number; expiresAt: number }>;
  alerted: Set<string>;
}

/** Budgets of one process. Exact and atomic (one thread); lost on restart unless seeded. */
export class MemoryBudgetStore implements BudgetStore {
  readonly kind = 'memory' as const;
  readonly #budgets = new Map<string, MemoryBudget>();

  #budget(id: string): MemoryBudget {
    let budget = this.#budgets.get(id);
    if (budget === undefined) {
      budget = { spent: new Map(), reserved: 0, reservations: new Map(), alerted: new Set() };
      this.#budgets.set(id, budget);
    }
    return budget;
  }

  #totals(budget: MemoryBudget, slot: BudgetSlot, now: number): BudgetTotals {
    for (const [requestId, reservation] of budget.reservations) {
      if (reservation.expiresAt <= now) {
        budget.reserved -= reservation.amount;
        budget.reservations.delete(requestId);
      }
    }
    let spent = 0;
    for (const bucket of slot.counted) spent += budget.spent.get(bucket) ?? 0;
    return { spent, reserved: budget.reserved };
  }

  async reserve(
    slots: readonly BudgetSlot[],
    requestId: string,
    amount: number,
    now: number,
    expiresAt: number,
  ): Promise<ReserveOutcome> {
    const totals: BudgetTotals[] = [];
    for (let index = 0; index < slots.length; index++) {
      const slot = slots[index] as BudgetSlot;
      const current = this.#totals(this.#budget(slot.id), slot, now);
      if (slot.cutoff >= 0 && current.spent + current.reserved >= slot.cutoff) {
        return { admitted: false, index, totals: current };
      }
      totals.push(current);
    }
    for (const slot of slots) {
      const budget = this.#budget(slot.id);
      budget.reserved += amount;
      budget.reservations.set(requestId, { amount, expiresAt });
    }
    return { admitted: true, totals };
  }

  async settle(
    slots: readonly BudgetSlot[],
    requestId: string,
    actual: number,
    now: number,
  ): Promise<SettleOutcome> {
    const totals: BudgetTotals[] = [];
    const crossed: number[][] = [];
    for (const slot of slots) {
      const budget = this.#budget(slot.id);
      const reservation = budget.reservations.get(requestId);
      if (reservation !== undefined) {
        budget.reserved -= reservation.amount;
        budget.reservations.delete(requestId);
      }
      budget.spent.set(slot.bucket, (budget.spent.get(slot.bucket) ?? 0) + actual);
      for (const bucket of budget.spent.keys()) {
        if (!slot.counted.includes(bucket)) budget.spent.delete(bucket);
      }
      const current = this.#totals(budget, slot, now);
      totals.push(current);
      crossed.push(this.#cross(budget, slot, current.spent));
    }
    return { totals, crossed };
  }

  #cross(budget: MemoryBudget, slot: BudgetSlot, spent: number): number[] {
    const crossed: number[] = [];
    for (const threshold of slot.thresholds) {
      const mark = `${slot.window}:${threshold}`;
      if (spent >= threshold * slot.limit && !budget.alerted.has(mark)) {
        budget.alerted.add(mark);
        crossed.push(threshold);
      }
    }
    for (const mark of budget.alerted) {
      if (!mark.startsWith(`${slot.window}:`)) budget.alerted.delete(mark);
    }
    return crossed;
  }

  async totals(slots: readonly BudgetSlot[], now: number): Promise<readonly BudgetTotals[]> {
    return slots.map((slot) => this.#totals(this.#budget(slot.id), slot, now));
  }

  async seed(slot: BudgetSlot, bucketSpend: ReadonlyMap<string, number>): Promise<void> {
    const budget = this.#budget(slot.id);
    for (const [bucket, spend] of bucketSpend) {
      if (!budget.spent.has(bucket)) budget.spent.set(bucket, spend);
    }
    let spent = 0;
    for (const bucket of slot.counted) spent += budget.spent.get(bucket) ?? 0;
    this.#cross(budget, slot, spent);
  }

  async close(): Promise<void> {}
}

/*
 * Redis layout, every key in one hash slot ({<prefix>:budget}) so that one script can update
 * all the budgets of a request atomically, also on Redis Cluster:
 *   {p:budget}:<id>     hash  r = reserved nanos, s:<bucket> = settled nanos, a:<window>:<t> = alerted
 *   {p:budget}:<id>:z   zset  reservation id -> expiry (ms)
 *   {p:budget}:<id>:a   hash  reservation id -> nanos
 * Arguments per slot: cutoff, counted buckets (comma-separated), bucket, retain ms, limit,
 * window, thresholds (comma-separated).
 */
const PURGE_AND_TOTAL = `
local function purge(h, z, a, now)
  local expired = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  for _, rid in ipairs(expired) do
    local amount = tonumber(redis.call('HGET', a, rid) or '0')
    redis.call('HINCRBY', h, 'r', -amount)
    redis.call('HDEL', a, rid)
  end
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', z, '-inf', now) end
end
local function spent(h, counted)
  local total = 0
  for bucket in string.gmatch(counted, '[^,]+') do
    total = total + tonumber(redis.call('HGET', h, 's:' .. bucket) or '0')
  end
  return total
end
`;

const RESERVE_SCRIPT = `${PURGE_AND_TOTAL}
local now = tonumber(ARGV[1])
local rid = ARGV[2]
local amount = tonumber(ARGV[3])
local expires = tonumber(ARGV[4])
local slots = #KEYS / 3
local result = {1}
for i = 1, slots do
  local h, z, a = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local base = 4 + (i - 1) * 7
  purge(h, z, a, now)
  local total = spent(h, ARGV[base + 2])
  local reserved = tonumber(redis.call('HGET', h, 'r') or '0')
  local cutoff = tonumber(ARGV[base + 1])
  if cutoff >= 0 and total + reserved >= cutoff then
    return {0, i, total, reserved}
  end
  result[#result + 1] = total
  result[#result + 1] = reserved
end
for i = 1, slots do
  local h, z, a = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local retain = ARGV[4 + (i - 1) * 7 + 4]
  redis.call('HINCRBY', h, 'r', amount)
  redis.call('ZADD', z, expires, rid)
  redis.call('HSET', a, rid, amount)
  redis.call('PEXPIRE', h, retain)
  redis.call('PEXPIRE', z, retain)
  redis.call('PEXPIRE', a, retain)
end
return result
`;

const SETTLE_SCRIPT = `${PURGE_AND_TOTAL}
local now = tonumber(ARGV[1])
local rid = ARGV[2]
local actual = tonumber(ARGV[3])
local slots = #KEYS / 3
local result = {}
for i = 1, slots do
  local h, z, a = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local base = 3 + (i - 1) * 7
  local counted, bucket, retain = ARGV[base + 2], ARGV[base + 3], ARGV[base + 4]
  local limit, window, thresholds = tonumber(ARGV[base + 5]), ARGV[base + 6], ARGV[base + 7]
  local held = redis.call('HGET', a, rid)
  if held then
    redis.call('HINCRBY', h, 'r', -tonumber(held))
    redis.call('HDEL', a, rid)
    redis.call('ZREM', z, rid)
  end
  redis.call('HINCRBY', h, 's:' .. bucket, actual)
  purge(h, z, a, now)
  local keep = {}
  for b in string.gmatch(counted, '[^,]+') do keep['s:' .. b] = true end
  for _, field in ipairs(redis.call('HKEYS', h)) do
    local kind = string.sub(field, 1, 2)
    if (kind == 's:' and not keep[field]) or
       (kind == 'a:' and string.sub(field, 3, 2 + #window + 1) ~= window .. ':') then
      redis.call('HDEL', h, field)
    end
  end
  local total = spent(h, counted)
  local crossed = {}
  for t in string.gmatch(thresholds, '[^,]+') do
    if total >= tonumber(t) * limit and redis.call('HSETNX', h, 'a:' .. window .. ':' .. t, 1) == 1 then
      crossed[#crossed + 1] = t
    end
  end
  redis.call('PEXPIRE', h, retain)
  result[#result + 1] = total
  result[#result + 1] = tonumber(redis.call('HGET', h, 'r') or '0')
  result[#result + 1] = table.concat(crossed, ',')
end
return result
`;

const TOTALS_SCRIPT = `${PURGE_AND_TOTAL}
local now = tonumber(ARGV[1])
local result = {}
for i = 1, #KEYS / 3 do
  local h, z, a = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  purge(h, z, a, now)
  result[#result + 1] = spent(h, ARGV[1 + i])
  result[#result + 1] = tonumber(redis.call('HGET', h, 'r') or '0')
end
return result
`;

/*
 * Leased allowances (see allowance.ts). A lease is a reservation under the id `lease:<process>`
 * that a process draws on locally; these scripts grow it, turn part of it into spend, and give
 * back what is unused. ARGV: now, lease id, amount, then the slot's fields.
 */
const LEASE_GRANT_SCRIPT = `${PURGE_AND_TOTAL}
local h, z, a = KEYS[1], KEYS[2], KEYS[3]
local now, lid = tonumber(ARGV[1]), ARGV[2]
local want, minimum, expires = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local cutoff, counted, retain = tonumber(ARGV[6]), ARGV[7], ARGV[8]
local unused = tonumber(ARGV[9] or '0')
purge(h, z, a, now)
local held = tonumber(redis.call('HGET', a, lid) or '0')
if unused > held then unused = held end
local total = spent(h, counted)
local reserved = tonumber(redis.call('HGET', h, 'r') or '0')
local grant = want
if cutoff >= 0 then
  -- The asking process's own unused allowance is not a call's reservation: the call will draw
  -- on it. So a call is admitted exactly when spend plus the reservations of calls is under the
  -- cutoff, as with per-call reservations.
  local room = cutoff - total - (reserved - unused)
  if room <= 0 then
    if minimum > 0 then return {0, held, total, reserved, 0} end
    grant = 0
  elseif grant > room then
    grant = math.max(minimum, room)
  end
end
if grant > 0 then
  redis.call('HINCRBY', h, 'r', grant)
  redis.call('HINCRBY', a, lid, grant)
end
if held + grant > 0 then redis.call('ZADD', z, expires, lid) end
redis.call('PEXPIRE', h, retain)
redis.call('PEXPIRE', z, retain)
redis.call('PEXPIRE', a, retain)
return {1, held, total, reserved + grant, grant}
`;

const LEASE_SPEND_SCRIPT = `${PURGE_AND_TOTAL}
local h, z, a = KEYS[1], KEYS[2], KEYS[3]
local now, lid, amount = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local counted, bucket, retain = ARGV[4], ARGV[5], ARGV[6]
local limit, window, thresholds = tonumber(ARGV[7]), ARGV[8], ARGV[9]
local held = tonumber(redis.call('HGET', a, lid) or '0')
local taken = math.min(held, amount)
if taken > 0 then
  redis.call('HINCRBY', h, 'r', -taken)
  redis.call('HINCRBY', a, lid, -taken)
end
redis.call('HINCRBY', h, 's:' .. bucket, amount)
purge(h, z, a, now)
local keep = {}
for b in string.gmatch(counted, '[^,]+') do keep['s:' .. b] = true end
for _, field in ipairs(redis.call('HKEYS', h)) do
  local kind = string.sub(field, 1, 2)
  if (kind == 's:' and not keep[field]) or
     (kind == 'a:' and string.sub(field, 3, 2 + #window + 1) ~= window .. ':') then
    redis.call('HDEL', h, field)
  end
end
local total = spent(h, counted)
local crossed = {}
for t in string.gmatch(thresholds, '[^,]+') do
  if total >= tonumber(t) * limit and redis.call('HSETNX', h, 'a:' .. window .. ':' .. t, 1) == 1 then
    crossed[#crossed + 1] = t
  end
end
redis.call('PEXPIRE', h, retain)
return {total, tonumber(redis.call('HGET', h, 'r') or '0'), table.concat(crossed, ','), taken}
`;

const LEASE_RELEASE_SCRIPT = `
local h, z, a = KEYS[1], KEYS[2], KEYS[3]
local lid, amount = ARGV[1], tonumber(ARGV[2])
local held = tonumber(redis.call('HGET', a, lid) or '0')
local back = math.min(held, amount)
if back > 0 then
  redis.call('HINCRBY', h, 'r', -back)
  redis.call('HINCRBY', a, lid, -back)
end
if held - back <= 0 then
  redis.call('HDEL', a, lid)
  redis.call('ZREM', z, lid)
end
return back
`;

const SEED_SCRIPT = `
local h = KEYS[1]
local retain = ARGV[1]
local limit = tonumber(ARGV[2])
local window = ARGV[3]
local counted = ARGV[4]
local thresholds = ARGV[5]
for i = 6, #ARGV, 2 do
  redis.call('HSETNX', h, 's:' .. ARGV[i], ARGV[i + 1])
end
local total = 0
for bucket in string.gmatch(counted, '[^,]+') do
  total = total + tonumber(redis.call('HGET', h, 's:' .. bucket) or '0')
end
for t in string.gmatch(thresholds, '[^,]+') do
  if total >= tonumber(t) * limit then redis.call('HSETNX', h, 'a:' .. window .. ':' .. t, 1) end
end
redis.call('PEXPIRE', h, retain)
return total
`;

function defineScripts(client: Redis): void {
  const definitions: [string, string][] = [
    ['sluiceBudgetReserve', RESERVE_SCRIPT],
    ['sluiceBudgetSettle', SETTLE_SCRIPT],
    ['sluiceBudgetTotals', TOTALS_SCRIPT],
  ];
  for (const [name, lua] of [
    ['sluiceLeaseGrant', LEASE_GRANT_SCRIPT],
    ['sluiceLeaseSpend', LEASE_SPEND_SCRIPT],
    ['sluiceLeaseRelease', LEASE_RELEASE_SCRIPT],
  ] as const) {
    if (typeof (client as unknown as Record<string, unknown>)[name] !== 'function') {
      client.defineCommand(name, { lua, numberOfKeys: 3 });
    }
  }
  for (const [name, lua] of definitions) {
    if (typeof (client as unknown as Record<string, unknown>)[name] !== 'function') {
      client.defineCommand(name, { lua });
    }
  }
  if (typeof (client as unknown as Record<string, unknown>).sluiceBudgetSeed !== 'function') {
    client.defineCommand('sluiceBudgetSeed', { lua: SEED_SCRIPT, numberOfKeys: 1 });
  }
}

/** Resolves true once the connection is up, false after `timeoutMs`. */
function waitForReady(client: Redis, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ready: boolean) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ready);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    client.on('ready', onReady);
  });
}

type ScriptClient = Redis & {
  sluiceBudgetReserve(...args: (string | number)[]): Promise<(number | string)[]>;
  sluiceBudgetSettle(...args: (string | number)[]): Promise<(number | string)[]>;
  sluiceBudgetTotals(...args: (string | number)[]): Promise<(number | string)[]>;
  sluiceBudgetSeed(...args: (string | number)[]): Promise<number>;
  sluiceLeaseGrant(...args: (string | number)[]): Promise<number[]>;
  sluiceLeaseSpend(...args: (string | number)[]): Promise<(number | string)[]>;
  sluiceLeaseRelease(...args: (string | number)[]): Promise<number>;
};

/** Budgets shared by every process on one Redis: reserve and settle are single Lua scripts. */
export class RedisBudgetStore implements BudgetStore {
  readonly kind = 'redis' as const;
  readonly #client: ScriptClient;
  readonly #ownsClient: boolean;
  readonly #prefix: string;

  /**
   * Settlements go over a second connection: they run after the response, and on one
   * connection the next request's reservation would queue behind them (two round trips on
   * the request path instead of one).
   */
  readonly #settleClient: ScriptClient;

  constructor(client: Redis, prefix: string, ownsClient: boolean) {
    this.#client = client as ScriptClient;
    this.#ownsClient = ownsClient;
    this.#prefix = `{${prefix}:budget}`;
    const settleClient = ownsClient ? client.duplicate() : client;
    this.#settleClient = settleClient as ScriptClient;
    if (ownsClient) {
      settleClient.on('error', () => {});
      // Idle connections the store owns do not keep the process alive (see unrefWhenIdle).
      unrefWhenIdle(client);
      unrefWhenIdle(settleClient);
    }
    for (const target of new Set([this.#client, this.#settleClient])) defineScripts(target);
  }

  #keys(slots: readonly BudgetSlot[]): string[] {
    const keys: string[] = [];
    for (const slot of slots) {
      const base = `${this.#prefix}:${slot.id}`;
      keys.push(base, `${base}:z`, `${base}:a`);
    }
    return keys;
  }

  #slotArguments(slot: BudgetSlot): (string | number)[] {
    return [
      slot.cutoff,
      slot.counted.join(','),
      slot.bucket,
      slot.retainMs,
      slot.limit,
      slot.window,
      slot.thresholds.join(','),
    ];
  }

  async reserve(
    slots: readonly BudgetSlot[],
    requestId: string,
    amount: number,
    now: number,
    expiresAt: number,
  ): Promise<ReserveOutcome> {
    const keys = this.#keys(slots);
    const reply = await this.#client.sluiceBudgetReserve(
      keys.length,
      ...keys,
      now,
      requestId,
      amount,
      expiresAt,
      ...slots.flatMap((slot) => this.#slotArguments(slot)),
    );
    if (Number(reply[0]) === 0) {
      return {
        admitted: false,
        index: Number(reply[1]) - 1,
        totals: { spent: Number(reply[2]), reserved: Number(reply[3]) },
      };
    }
    const totals: BudgetTotals[] = [];
    for (let index = 1; index < reply.length; index += 2) {
      totals.push({ spent: Number(reply[index]), reserved: Number(reply[index + 1]) });
    }
    return { admitted: true, totals };
  }

  async settle(
    slots: readonly BudgetSlot[],
    requestId: string,
    actual: number,
    now: number,
  ): Promise<SettleOutcome> {
    const keys = this.#keys(slots);
    const reply = await this.#settleClient.sluiceBudgetSettle(
      keys.length,
      ...keys,
      now,
      requestId,
      actual,
      ...slots.flatMap((slot) => this.#slotArguments(slot)),
    );
    const totals: BudgetTotals[] = [];
    const crossed: number[][] = [];
    for (let index = 0; index < reply.length; index += 3) {
      totals.push({ spent: Number(reply[index]), reserved: Number(reply[index + 1]) });
      const list = String(reply[index + 2] ?? '');
      crossed.push(list === '' ? [] : list.split(',').map(Number));
    }
    return { totals, crossed };
  }

  async totals(slots: readonly BudgetSlot[], now: number): Promise<readonly BudgetTotals[]> {
    const keys = this.#keys(slots);
    const reply = await this.#client.sluiceBudgetTotals(
      keys.length,
      ...keys,
      now,
      ...slots.map((slot) => slot.counted.join(',')),
    );
    const totals: BudgetTotals[] = [];
    for (let index = 0; index < reply.length; index += 2) {
      totals.push({ spent: Number(reply[index]), reserved: Number(reply[index + 1]) });
    }
    return totals;
  }

  async seed(slot: BudgetSlot, bucketSpend: ReadonlyMap<string, number>): Promise<void> {
    await this.#client.sluiceBudgetSeed(
      `${this.#prefix}:${slot.id}`,
      slot.retainMs,
      slot.limit,
      slot.window,
      slot.counted.join(','),
      slot.thresholds.join(','),
      ...[...bucketSpend].flat(),
    );
  }

  /** Resolves true once the connection is up, false after `timeoutMs`. */
  async waitReady(timeoutMs: number): Promise<boolean> {
    const [main, settle] = await Promise.all([
      waitForReady(this.#client, timeoutMs),
      waitForReady(this.#settleClient, timeoutMs),
    ]);
    return main && settle;
  }

  /**
   * Grows this process's lease on a budget by up to `want` (at least `minimum`, or refused when
   * the budget has no room for it) and renews its expiry. `unused`: the part of the lease no call
   * has taken, which does not count against the room (the call asking will draw on it). `held`
   * is the lease before the grant (less than this process believes when it expired in between).
   */
  async grantLease(
    slot: BudgetSlot,
    leaseId: string,
    want: number,
    minimum: number,
    now: number,
    expiresAt: number,
    unused = 0,
  ): Promise<{ granted: boolean; held: number; grant: number; totals: BudgetTotals }> {
    const reply = await this.#client.sluiceLeaseGrant(
      ...this.#keys([slot]),
      now,
      leaseId,
      want,
      minimum,
      expiresAt,
      slot.cutoff,
      slot.counted.join(','),
      slot.retainMs,
      Math.max(0, Math.floor(unused)),
    );
    return {
      granted: Number(reply[0]) === 1,
      held: Number(reply[1]),
      totals: { spent: Number(reply[2]), reserved: Number(reply[3]) },
      grant: Number(reply[4] ?? 0),
    };
  }

  /** Turns `amount` of the lease into spend in the current bucket (more than the lease counts too). */
  async spendLease(
    slot: BudgetSlot,
    leaseId: string,
    amount: number,
    now: number,
  ): Promise<{ totals: BudgetTotals; crossed: number[]; taken: number }> {
    const reply = await this.#settleClient.sluiceLeaseSpend(
      ...this.#keys([slot]),
      now,
      leaseId,
      amount,
      slot.counted.join(','),
      slot.bucket,
      slot.retainMs,
      slot.limit,
      slot.window,
      slot.thresholds.join(','),
    );
    const crossed = String(reply[2] ?? '');
    return {
      totals: { spent: Number(reply[0]), reserved: Number(reply[1]) },
      crossed: crossed === '' ? [] : crossed.split(',').map(Number),
      taken: Number(reply[3]),
    };
  }

  /** Gives back up to `amount` of the lease. */
  async releaseLease(slot: BudgetSlot, leaseId: string, amount: number): Promise<void> {
    await this.#settleClient.sluiceLeaseRelease(...this.#keys([slot]), leaseId, amount);
  }

  /** Removes this budget's state (tests, admin resets). */
  async clear(slots: readonly BudgetSlot[]): Promise<void> {
    const keys = this.#keys(slots);
    if (keys.length > 0) await this.#client.del(...keys);
  }

  async close(): Promise<void> {
    if (!this.#ownsClient) return;
    this.#client.disconnect();
    this.#settleClient.disconnect();
  }
}
