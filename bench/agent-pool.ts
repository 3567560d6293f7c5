/**
 * Part 4 of `sluice bench agent`: acquiring a resource from a pre-warmed `createWarmPool` against
 * a cold acquire (the same pool with nothing idle, so every acquire creates), and against calling
 * `create` directly without a pool (the named baseline: what an agent does without a pool).
 *
 * The resource stands for a sandbox, worker or authenticated client: creating one is a real
 * `CREATE_WAIT_MS` timer (start-up I/O) plus SHA-256 over `CREATE_CPU_KILOBYTES` (initialisation
 * work). Cold: `min: 0`, each lease destroyed after the acquire, so the next one must create.
 * Warm: `min: WARM_MIN`, `await pool.ready()`, each lease released after the acquire. Times are
 * taken around `await pool.acquire(...)` by the caller, and checked against the lease's `warm`.
 */
import { createWarmPool } from '../src/pool/index.js';
import { burnCpu, sleep } from './agent-timing.js';
import { type DurationSummary, summarize } from './lib/stats.js';

export const CREATE_WAIT_MS = 30;
export const CREATE_CPU_KILOBYTES = 1_024;
const WARM_MIN = 4;

interface Sandbox {
  id: number;
  fingerprint: string;
}

export interface PoolResult {
  createWaitMs: number;
  createCpuKilobytes: number;
  /** `create` called directly, no pool. */
  direct: DurationSummary;
  /** `acquire` with nothing idle: the pool creates. */
  cold: DurationSummary;
  /** `acquire` from a pre-warmed pool. */
  warm: DurationSummary;
  /** Leases of the cold run that said `warm: true`, and of the warm run that said `warm: false`. */
  mislabelled: { cold: number; warm: number };
  /** What the pools counted: warm and cold starts, and their own `startMs` p50. */
  poolCounters: {
    cold: { warmStarts: number; coldStarts: number; created: number; startP50Ms: number };
    warm: { warmStarts: number; coldStarts: number; created: number; startP50Ms: number };
  };
  /** Cold mean ÷ warm mean, and cold p95 ÷ warm p95. */
  speedupMean: number;
  speedupP95: number;
}

let nextId = 0;

async function createSandbox(): Promise<Sandbox> {
  await sleep(CREATE_WAIT_MS);
  return { id: nextId++, fingerprint: burnCpu(CREATE_CPU_KILOBYTES) };
}

export async function measureWarmPool(
  coldSamples: number,
  warmSamples: number,
): Promise<PoolResult> {
  const options = {
    create: createSandbox,
    max: WARM_MIN,
    autoscale: false as const,
    idleTimeout: false as const,
  };

  const direct: number[] = [];
  for (let index = 0; index < coldSamples + 1; index++) {
    const started = performance.now();
    await createSandbox();
    if (index > 0) direct.push(performance.now() - started);
  }

  const coldPool = createWarmPool<{ sandbox: Sandbox }>({
    kinds: { sandbox: { ...options, min: 0 } },
    maintenanceInterval: false,
  });
  const cold: number[] = [];
  let coldMislabelled = 0;
  try {
    for (let index = 0; index < coldSamples + 1; index++) {
      const started = performance.now();
      const lease = await coldPool.acquire('sandbox');
      const elapsed = performance.now() - started;
      if (lease.warm) coldMislabelled += 1;
      lease.destroy();
      if (index > 0) cold.push(elapsed);
    }
  } finally {
    await coldPool.drain({ timeout: '5s' });
  }
  const coldStats = coldPool.stats().kinds.sandbox;

  const warmPool = createWarmPool<{ sandbox: Sandbox }>({
    kinds: { sandbox: { ...options, min: WARM_MIN } },
    maintenanceInterval: false,
  });
  const warm: number[] = [];
  let warmMislabelled = 0;
  try {
    if (!(await warmPool.ready())) throw new Error('the warm pool did not reach its minimum');
    const warmUp = Math.min(200, warmSamples);
    for (let index = 0; index < warmUp + warmSamples; index++) {
      const started = performance.now();
      const lease = await warmPool.acquire('sandbox');
      const elapsed = performance.now() - started;
      if (!lease.warm) warmMislabelled += 1;
      lease.release();
      if (index >= warmUp) warm.push(elapsed);
    }
  } finally {
    await warmPool.drain({ timeout: '5s' });
  }
  const warmStats = warmPool.stats().kinds.sandbox;
  if (coldStats === undefined || warmStats === undefined) throw new Error('no pool statistics');

  const coldSummary = summarize(cold);
  const warmSummary = summarize(warm);
  return {
    createWaitMs: CREATE_WAIT_MS,
    createCpuKilobytes: CREATE_CPU_KILOBYTES,
    direct: summarize(direct),
    cold: coldSummary,
    warm: warmSummary,
    mislabelled: { cold: coldMislabelled, warm: warmMislabelled },
    poolCounters: {
      cold: {
        warmStarts: coldStats.warmStarts,
        coldStarts: coldStats.coldStarts,
        created: coldStats.created,
        startP50Ms: coldStats.startMs.cold.p50Ms,
      },
      warm: {
        warmStarts: warmStats.warmStarts,
        coldStarts: warmStats.coldStarts,
        created: warmStats.created,
        startP50Ms: warmStats.startMs.warm.p50Ms,
      },
    },
    speedupMean: coldSummary.meanMs / warmSummary.meanMs,
    speedupP95: coldSummary.p95Ms / warmSummary.p95Ms,
  };
}
