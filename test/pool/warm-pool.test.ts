import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PoolEvents, PoolKindOptions, WarmPool } from '../../src/pool/index.js';
import { createWarmPool } from '../../src/pool/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { ConfigError, SluiceError } from '../../src/shared/errors.js';

interface Worker {
  id: number;
  healthy: boolean;
}

/** A factory of numbered workers that records what was created and destroyed. */
function workers(clock?: ManualClock, createMs = 0) {
  let next = 0;
  const created: Worker[] = [];
  const destroyed: number[] = [];
  const factory = {
    create: async (): Promise<Worker> => {
      clock?.advance(createMs);
      const worker = { id: ++next, healthy: true };
      created.push(worker);
      return worker;
    },
    destroy: (worker: Worker) => {
      destroyed.push(worker.id);
    },
    validate: (worker: Worker) => worker.healthy,
  };
  return { factory, created, destroyed };
}

function pool(
  kind: Partial<PoolKindOptions<Worker>> & Pick<PoolKindOptions<Worker>, 'create' | 'max'>,
  clock = new ManualClock(),
): WarmPool<{ worker: Worker }> {
  return createWarmPool<{ worker: Worker }>({
    kinds: { worker: kind },
    clock,
    maintenanceInterval: false,
  });
}

function record<Name extends keyof PoolEvents>(target: WarmPool<{ worker: Worker }>, name: Name) {
  const seen: Array<PoolEvents[Name]> = [];
  target.on(name, (payload) => seen.push(payload));
  return seen;
}

/** Lets pending promise callbacks run. */
async function settle(): Promise<void> {
  for (let round = 0; round < 10; round++) await new Promise((done) => setImmediate(done));
}

const open: Array<WarmPool<{ worker: Worker }>> = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(open.splice(0).map((item) => item.drain({ timeout: 0 })));
});

function track(item: WarmPool<{ worker: Worker }>): WarmPool<{ worker: Worker }> {
  open.push(item);
  return item;
}

describe('createWarmPool', () => {
  it('refuses unbounded or contradictory configurations', () => {
    const { factory } = workers();
    // @ts-expect-error max is required
    expect(() => createWarmPool({ kinds: { worker: { create: factory.create } } })).toThrow(
      /max is required/,
    );
    expect(() => pool({ ...factory, max: 2, min: 3 })).toThrow(ConfigError);
    expect(() => pool({ ...factory, max: 0 })).toThrow(ConfigError);
    expect(() =>
      pool({ ...factory, max: 2, autoscale: { scaleUpAt: 0.3, scaleDownAt: 0.8 } }),
    ).toThrow(ConfigError);
    expect(() => createWarmPool({ kinds: {} })).toThrow(ConfigError);
  });

  it('pre-warms every kind to min at start', async () => {
    const { factory, created } = workers();
    const warm = track(pool({ ...factory, min: 3, max: 5 }));
    expect(await warm.ready()).toBe(true);
    expect(created).toHaveLength(3);
    expect(warm.stats().kinds.worker).toMatchObject({ size: 3, idle: 3, target: 3, created: 3 });
  });

  it('counts warm and cold starts and times them', async () => {
    const clock = new ManualClock();
    const { factory, created } = workers(clock, 1_500);
    const warm = track(pool({ ...factory, min: 1, max: 3 }, clock));
    await warm.ready();
    const events = record(warm, 'pool-cold-start');
    const first = await warm.acquire('worker');
    expect(first.warm).toBe(true);
    expect(first.startMs).toBe(0);
    const second = await warm.acquire('worker');
    expect(second.warm).toBe(false);
    expect(second.startMs).toBe(1_500);
    expect(events).toEqual([{ kind: 'worker', startMs: 1_500 }]);
    expect(created).toHaveLength(2);
    second.release();
    const third = await warm.acquire('worker');
    expect(third.warm).toBe(true);
    expect(third.resource).toBe(second.resource);
    const stats = warm.stats();
    expect(stats.kinds.worker).toMatchObject({ warmStarts: 2, coldStarts: 1, borrowed: 2 });
    expect(stats.warmStartRate).toBeCloseTo(2 / 3);
    expect(stats.kinds.worker?.startMs.cold.maxMs).toBe(1_500);
    expect(stats.kinds.worker?.createMs.count).toBe(2);
  });

  it('times out an acquire when max resources are in use, then serves waiters in order', async () => {
    vi.useFakeTimers();
    const { factory } = workers();
    const warm = track(pool({ ...factory, max: 1, acquireTimeout: '2s' }));
    const held = await warm.acquire('worker');
    const timeouts = record(warm, 'pool-acquire-timeout');
    const late = warm.acquire('worker').catch((error: unknown) => error);
    expect(warm.stats().kinds.worker?.waiting).toBe(1);
    await vi.advanceTimersByTimeAsync(2_000);
    const error = await late;
    expect(error).toBeInstanceOf(SluiceError);
    expect(error).toMatchObject({ code: 'E_POOL_ACQUIRE_TIMEOUT', isRetryable: true });
    expect(timeouts).toHaveLength(1);
    expect(warm.stats().kinds.worker).toMatchObject({ waiting: 0, acquireTimeouts: 1 });

    const order: string[] = [];
    const a = warm.acquire('worker').then((lease) => {
      order.push('a');
      return lease;
    });
    const b = warm.acquire('worker').then((lease) => {
      order.push('b');
      return lease;
    });
    held.release();
    const leaseA = await a;
    expect(leaseA.resource).toBe(held.resource);
    expect(leaseA.warm).toBe(true);
    leaseA.release();
    await b;
    expect(order).toEqual(['a', 'b']);
  });

  it('counts an acquire that waited for a pre-warm creation as a cold start', async () => {
    let finish: (worker: Worker) => void = () => {};
    const warm = track(
      pool({ min: 1, max: 1, create: () => new Promise<Worker>((resolve) => (finish = resolve)) }),
    );
    const acquiring = warm.acquire('worker');
    expect(warm.stats().kinds.worker).toMatchObject({ creating: 1, waiting: 1 });
    await settle(); // create() is called on the next tick
    finish({ id: 1, healthy: true });
    const lease = await acquiring;
    expect(lease.warm).toBe(false);
    lease.release();
    expect((await warm.acquire('worker')).warm).toBe(true);
    expect(warm.stats().kinds.worker).toMatchObject({ warmStarts: 1, coldStarts: 1 });
  });

  it('serves waiting callers by priority, then in arrival order', async () => {
    const { factory } = workers();
    const warm = track(pool({ ...factory, max: 1 }));
    const held = await warm.acquire('worker');
    const order: string[] = [];
    const wait = (name: string, priority?: number) =>
      warm.acquire('worker', priority === undefined ? {} : { priority }).then((lease) => {
        order.push(name);
        lease.release();
      });
    const all = [wait('normal-1'), wait('low', -1), wait('high', 5), wait('normal-2')];
    held.release();
    await Promise.all(all);
    expect(order).toEqual(['high', 'normal-1', 'normal-2', 'low']);
  });

  it('refuses callers past maxWaiting', async () => {
    const { factory } = workers();
    const warm = track(pool({ ...factory, max: 1, maxWaiting: 1 }));
    const held = await warm.acquire('worker');
    const waiting = warm.acquire('worker');
    await expect(warm.acquire('worker')).rejects.toMatchObject({ code: 'E_POOL_QUEUE_FULL' });
    held.release();
    (await waiting).release();
  });

  it('replaces a resource that fails validation on borrow', async () => {
    const { factory, created, destroyed } = workers();
    const warm = track(pool({ ...factory, min: 1, max: 2 }));
    await warm.ready();
    const failures = record(warm, 'pool-validation-failed');
    (created[0] as Worker).healthy = false;
    const lease = await warm.acquire('worker');
    expect(lease.resource.id).toBe(2);
    expect(lease.warm).toBe(false);
    await settle();
    expect(destroyed).toEqual([1]);
    expect(failures).toHaveLength(1);
    expect(warm.stats().kinds.worker).toMatchObject({ validationFailures: 1, size: 1 });
  });

  it('replaces an invalid resource handed to a waiter without losing its turn', async () => {
    const { factory, destroyed } = workers();
    const warm = track(pool({ ...factory, max: 1 }));
    const held = await warm.acquire('worker');
    const waiting = warm.acquire('worker');
    held.resource.healthy = false;
    held.release();
    const lease = await waiting;
    expect(lease.resource.id).toBe(2);
    await settle();
    expect(destroyed).toEqual([1]);
    expect(warm.stats().kinds.worker?.size).toBe(1);
  });

  it('evicts resources idle longer than idleTimeout, down to the warm target', async () => {
    const clock = new ManualClock();
    const { factory, destroyed } = workers();
    const warm = track(
      pool({ ...factory, min: 1, max: 5, idleTimeout: '1m', autoscale: false }, clock),
    );
    await warm.ready();
    const leases = await Promise.all([1, 2, 3].map(() => warm.acquire('worker')));
    for (const lease of leases) lease.release();
    expect(warm.stats().kinds.worker?.size).toBe(3);
    clock.advance(59_000);
    warm.maintain();
    expect(warm.stats().kinds.worker?.size).toBe(3);
    clock.advance(2_000);
    warm.maintain();
    await settle();
    expect(warm.stats().kinds.worker).toMatchObject({ size: 1, idle: 1, evictions: 2 });
    expect(destroyed).toHaveLength(2);
  });

  it('autoscales the warm target on utilization, with a cooldown', async () => {
    const clock = new ManualClock();
    const { factory } = workers();
    const warm = track(
      pool(
        {
          ...factory,
          min: 2,
          max: 10,
          idleTimeout: false,
          autoscale: {
            scaleUpAt: 0.8,
            scaleDownAt: 0.3,
            scaleUpStep: 2,
            scaleDownStep: 1,
            cooldown: '5m',
          },
        },
        clock,
      ),
    );
    await warm.ready();
    const ups = record(warm, 'pool-scale-up');
    const downs = record(warm, 'pool-scale-down');

    // 2 of 2 in use for the whole interval: utilization 1.0 ≥ 0.8 → target 4.
    const busy = [await warm.acquire('worker'), await warm.acquire('worker')];
    clock.advance(10_000);
    warm.maintain();
    await settle();
    expect(ups).toEqual([{ kind: 'worker', from: 2, to: 4, utilization: 1 }]);
    expect(warm.stats().kinds.worker).toMatchObject({ target: 4, size: 4, idle: 2 });

    // Fully busy again, but within the cooldown: no change.
    busy.push(await warm.acquire('worker'), await warm.acquire('worker'));
    clock.advance(10_000);
    warm.maintain();
    expect(warm.stats().kinds.worker?.target).toBe(4);
    clock.advance(5 * 60_000);
    warm.maintain();
    await settle();
    expect(warm.stats().kinds.worker).toMatchObject({ target: 6, size: 6 });

    // Half the interval busy at 4/6, half idle: average 0.33 > 0.3 → no change after cooldown.
    clock.advance(5 * 60_000);
    warm.maintain(); // closes the busy interval (4/6 ≥ 0.3, < 0.8): nothing
    for (const lease of busy.splice(0, 2)) lease.release();
    clock.advance(5 * 60_000);
    warm.maintain(); // 2/6 = 0.33: nothing
    expect(warm.stats().kinds.worker?.target).toBe(6);

    // Idle: utilization 0 ≤ 0.3 → target 5, one idle resource shed.
    for (const lease of busy.splice(0)) lease.release();
    clock.advance(5 * 60_000);
    warm.maintain();
    await settle();
    expect(downs).toEqual([{ kind: 'worker', from: 6, to: 5, utilization: 0 }]);
    expect(warm.stats().kinds.worker).toMatchObject({
      target: 5,
      size: 5,
      scaleUps: 2,
      scaleDowns: 1,
    });

    // Never below min.
    for (let round = 0; round < 10; round++) {
      clock.advance(5 * 60_000);
      warm.maintain();
    }
    await settle();
    expect(warm.stats().kinds.worker).toMatchObject({ target: 2, size: 2 });
  });

  it('counts callers waiting as demand (a kind with min 0 scales up)', async () => {
    const clock = new ManualClock();
    const { factory } = workers();
    const warm = track(pool({ ...factory, max: 1, autoscale: { cooldown: 0 } }, clock));
    const held = await warm.acquire('worker');
    const waiting = warm.acquire('worker');
    clock.advance(1_000);
    warm.maintain();
    expect(warm.stats().kinds.worker).toMatchObject({ target: 1, averageUtilization: 2 });
    held.release();
    (await waiting).release();
  });

  it('use() returns the resource after work and destroys it when work throws', async () => {
    const { factory, destroyed } = workers();
    const warm = track(pool({ ...factory, max: 2 }));
    expect(await warm.use('worker', (worker) => worker.id * 10)).toBe(10);
    expect(warm.stats().kinds.worker).toMatchObject({ idle: 1, borrowed: 0 });
    await expect(
      warm.use('worker', () => {
        throw new Error('task failed');
      }),
    ).rejects.toThrow('task failed');
    await settle();
    expect(destroyed).toEqual([1]);
    await expect(
      warm.use(
        'worker',
        () => {
          throw new Error('expected failure');
        },
        { destroyOnError: false },
      ),
    ).rejects.toThrow('expected failure');
    expect(warm.stats().kinds.worker).toMatchObject({ idle: 1, destroyed: 1 });
  });

  it('refuses a second release, a foreign lease and an unknown kind', async () => {
    const { factory } = workers();
    const warm = track(pool({ ...factory, max: 1 }));
    const other = track(pool({ ...factory, max: 1 }));
    const lease = await warm.acquire('worker');
    expect(() => other.release(lease)).toThrow(/does not come from this pool/);
    warm.release(lease);
    expect(() => lease.release()).toThrow(SluiceError);
    // @ts-expect-error not a kind of this pool
    await expect(warm.acquire('sandbox')).rejects.toMatchObject({ code: 'E_POOL_UNKNOWN_KIND' });
  });

  it('reports a failing create and frees its room for the next caller', async () => {
    let fail = true;
    const warm = track(
      pool({
        max: 1,
        create: async () => {
          if (fail) throw new Error('quota exceeded');
          return { id: 7, healthy: true };
        },
      }),
    );
    const errors = record(warm, 'pool-create-error');
    await expect(warm.acquire('worker')).rejects.toMatchObject({
      code: 'E_POOL_CREATE',
      isRetryable: true,
    });
    expect(errors).toHaveLength(1);
    fail = false;
    expect((await warm.acquire('worker')).resource.id).toBe(7);
  });

  it('times out a slow create and destroys the resource when it finally arrives', async () => {
    vi.useFakeTimers();
    const destroyed: number[] = [];
    let signal: AbortSignal | undefined;
    const warm = track(
      pool({
        max: 1,
        createTimeout: '1s',
        create: (context) => {
          signal = context.signal;
          return new Promise<Worker>((resolve) =>
            setTimeout(() => resolve({ id: 1, healthy: true }), 5_000),
          );
        },
        destroy: (worker) => {
          destroyed.push(worker.id);
        },
      }),
    );
    const acquire = warm.acquire('worker').catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await acquire).toMatchObject({ code: 'E_POOL_CREATE_TIMEOUT' });
    expect(signal?.aborted).toBe(true);
    expect(warm.stats().kinds.worker?.size).toBe(0);
    await vi.advanceTimersByTimeAsync(4_000);
    expect(destroyed).toEqual([1]);
  });

  it('drains: refuses waiters and new acquires, destroys idle and returned resources', async () => {
    const { factory, destroyed } = workers();
    const warm = createWarmPool<{ worker: Worker }>({
      kinds: { worker: { ...factory, min: 2, max: 2 } },
      maintenanceInterval: '1s',
    });
    await warm.ready();
    const held = await warm.acquire('worker');
    const held2 = await warm.acquire('worker');
    const waiting = warm.acquire('worker').catch((error: unknown) => error);
    held2.release(); // goes to the waiter
    const waiter = await waiting;
    expect(waiter).toMatchObject({ resource: held2.resource });
    const another = warm.acquire('worker').catch((error: unknown) => error);

    let drained = false;
    const draining = warm.drain().then(() => {
      drained = true;
    });
    expect(await another).toMatchObject({ code: 'E_POOL_DRAINING' });
    await expect(warm.acquire('worker')).rejects.toMatchObject({ code: 'E_POOL_DRAINING' });
    await settle();
    expect(drained).toBe(false);
    held.release();
    (waiter as typeof held).release();
    await draining;
    expect(drained).toBe(true);
    expect(destroyed.sort()).toEqual([1, 2]);
    expect(warm.stats().kinds.worker?.size).toBe(0);
  });

  it('drain gives up waiting for borrowed resources after its timeout', async () => {
    vi.useFakeTimers();
    const { factory } = workers();
    const warm = pool({ ...factory, max: 1 });
    await warm.acquire('worker');
    const draining = warm.drain({ timeout: '5s' });
    let done = false;
    void draining.then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(4_999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
  });

  it('plans a target from the expected rate and measured hold times (Little’s law)', async () => {
    const clock = new ManualClock();
    const { factory } = workers();
    const warm = track(pool({ ...factory, min: 1, max: 50, costPerHour: 0.5 }, clock));
    expect(warm.plan('worker', { expectedRatePerSecond: 10 })).toMatchObject({
      recommendedTarget: 1,
      meanHoldMs: undefined,
    });
    for (let index = 0; index < 10; index++) {
      await warm.use('worker', () => {
        clock.advance(2_000);
      });
    }
    // 10/s × 2 s × 1.2 = 24 resources busy on average.
    const plan = warm.plan('worker', { expectedRatePerSecond: 10 });
    expect(plan).toMatchObject({
      currentTarget: 1,
      recommendedTarget: 24,
      change: 23,
      meanHoldMs: 2_000,
    });
    expect(plan.hourlyCostChange).toBeCloseTo(11.5);
    expect(warm.plan('worker', { expectedRatePerSecond: 1_000 }).recommendedTarget).toBe(50);
    await warm.resize('worker', plan.recommendedTarget);
    expect(warm.stats().kinds.worker).toMatchObject({ target: 24, size: 24 });
  });
});
