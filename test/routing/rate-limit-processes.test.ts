import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimiter, RateLimitError } from '../../src/routing/rate-limit.js';
import { redisAvailable, redisUrl } from '../helpers/redis.js';

const DB = 10;
const available = await redisAvailable();
const ROOT = join(import.meta.dirname, '../..');
const WORKER = join(import.meta.dirname, 'fixtures/rate-limit-worker.mjs');
/** The sources the worker runs, built, and what they build to. */
const SOURCES = ['routing/rate-limit.ts', 'routing/rate-limit-store.ts', 'shared/errors.ts'];
const BUILT = SOURCES.map((source) => join(ROOT, 'dist/src', source.replace(/\.ts$/, '.js')));

function modifiedAt(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

/**
 * The workers import the limiter from dist/. When dist/ is missing or older than the
 * sources, build the limiter's module graph with tsconfig.build.json's options: only these
 * files, so an unrelated file mid-edit elsewhere cannot break this test.
 */
function buildLimiter(): void {
  const newestSource = Math.max(
    ...[...SOURCES, 'shared/duration.ts', 'shared/emitter.ts'].map((source) =>
      modifiedAt(join(ROOT, 'src', source)),
    ),
  );
  if (Math.min(...BUILT.map(modifiedAt)) >= newestSource) return;
  const directory = mkdtempSync(join(tmpdir(), 'sluice-rate-limit-build-'));
  try {
    const config = join(directory, 'tsconfig.json');
    writeFileSync(
      config,
      JSON.stringify({
        extends: join(ROOT, 'tsconfig.build.json'),
        compilerOptions: { typeRoots: [join(ROOT, 'node_modules/@types')] },
        include: [],
        files: [join(ROOT, 'src/routing/rate-limit.ts')],
      }),
    );
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', config], {
      cwd: ROOT,
      stdio: 'pipe',
    });
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

interface Outcome {
  admitted: number;
  refused: number;
  errors: string[];
  storeFailures: number;
}

interface Worker {
  process: ChildProcess;
  /** Resolves with the worker's result line. */
  outcome: Promise<Outcome>;
}

/** Starts a worker and resolves once it is connected and waiting for `go`. */
function startWorker(arguments_: string[]): Promise<Worker> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, ...arguments_], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    let resolveOutcome: (outcome: Outcome) => void = () => {};
    let rejectOutcome: (error: Error) => void = () => {};
    const outcome = new Promise<Outcome>((done, fail) => {
      resolveOutcome = done;
      rejectOutcome = fail;
    });
    outcome.catch(() => {}); // awaited by the test when it matters
    const timer = setTimeout(() => reject(new Error(`worker did not start:\n${output}`)), 10_000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (/^ready$/m.test(output)) {
        clearTimeout(timer);
        resolve({ process: child, outcome });
      }
      const line = /^(\{.*\})$/m.exec(output)?.[1];
      if (line !== undefined) resolveOutcome(JSON.parse(line) as Outcome);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const error = new Error(`worker exited (${code ?? signal}):\n${output}`);
      reject(error);
      rejectOutcome(error);
    });
  });
}

function kill(worker: Worker): Promise<void> {
  const child = worker.process;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    child.once('exit', () => done());
    child.kill('SIGKILL');
  });
}

/** Starts `count` workers, then lets them all fire at once; resolves with their outcomes. */
async function race(count: number, arguments_: string[], started: Worker[]): Promise<Outcome[]> {
  const workers = await Promise.all(Array.from({ length: count }, () => startWorker(arguments_)));
  started.push(...workers);
  for (const worker of workers) worker.process.stdin?.write('go\n');
  return Promise.all(workers.map((worker) => worker.outcome));
}

describe.skipIf(!available)('rate limits across processes on one Redis', () => {
  const redis = new Redis(redisUrl(DB));
  const prefixes: string[] = [];
  const workers: Worker[] = [];

  function prefix(): string {
    const created = `rlproc-${randomUUID().slice(0, 12)}`;
    prefixes.push(created);
    return created;
  }

  beforeAll(() => {
    buildLimiter();
  }, 60_000);

  afterEach(async () => {
    await Promise.all(workers.splice(0).map(kill));
    for (const used of prefixes.splice(0)) {
      const keys = await redis.keys(`${used}:*`);
      if (keys.length > 0) await redis.del(...keys);
    }
  });

  afterAll(() => {
    redis.disconnect();
  });

  it('admits exactly requestsPerMinute in total: 3 processes x 40 concurrent attempts, limit 50', async () => {
    const shared = prefix();
    const outcomes = await race(3, ['rpm', redisUrl(DB), shared, '50', '40'], workers);
    for (const outcome of outcomes) {
      expect(outcome.errors).toEqual([]);
      expect(outcome.storeFailures).toBe(0); // every decision was Redis's, none a local fallback
    }
    const admitted = outcomes.reduce((sum, outcome) => sum + outcome.admitted, 0);
    const refused = outcomes.reduce((sum, outcome) => sum + outcome.refused, 0);
    expect(admitted).toBe(50);
    expect(refused).toBe(70);
    // Refusals were given back: the window holds exactly the admitted requests.
    expect(Number(await redis.get(`${shared}:rl:{key:*:shared}:rpm`))).toBe(50);
  });

  it('admits exactly maxConcurrent in total, keeps live slots and frees a dead process’s slots', async () => {
    const shared = prefix();
    const limiter = createRateLimiter({
      rules: [{ scope: 'key:shared', maxConcurrent: 6 }],
      redis: redisUrl(DB),
      prefix: shared,
      timeout: '5s',
      concurrencyLeaseTtl: '1500ms',
    });
    try {
      expect(await limiter.ready()).toBe(true);
      const subject = { key: 'shared', model: 'm' };
      // This process holds one slot throughout: its renewals keep the key alive, so the dead
      // workers' slots below must expire one by one.
      await limiter.acquire(subject);
      const outcomes = await race(3, ['slots', redisUrl(DB), shared, '6', '10'], workers);
      for (const outcome of outcomes) {
        expect(outcome.errors).toEqual([]);
        expect(outcome.storeFailures).toBe(0);
      }
      expect(outcomes.reduce((sum, outcome) => sum + outcome.admitted, 0)).toBe(5);

      // Longer than the 1.5 s lease: the live workers' renewals keep their slots.
      await new Promise((done) => setTimeout(done, 1_800));
      await expect(limiter.acquire(subject)).rejects.toBeInstanceOf(RateLimitError);

      await Promise.all(workers.splice(0).map(kill));
      const killedAt = performance.now();
      await expect(limiter.acquire(subject)).rejects.toBeInstanceOf(RateLimitError);
      // Nobody renews the dead workers' slots: they expire with their lease.
      await expect
        .poll(
          () =>
            limiter.acquire(subject).then(
              () => true,
              () => false,
            ),
          {
            timeout: 4_000,
            interval: 100,
          },
        )
        .toBe(true);
      expect(performance.now() - killedAt).toBeLessThan(3_000);
      for (let slot = 0; slot < 4; slot++) await limiter.acquire(subject);
      await expect(limiter.acquire(subject)).rejects.toBeInstanceOf(RateLimitError);
    } finally {
      await limiter.close();
    }
  });
});
