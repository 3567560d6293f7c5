/**
 * `sluice bench cache-ops [--json FILE] [--quick]`: the cost of single cache operations,
 * Sluice against the libraries a reader would otherwise reach for (lru-cache, bentocache,
 * bare ioredis / better-sqlite3), in one run.
 *
 * Timing method (hand-written, the same for both sides of every comparison):
 * - Every contender is a closure that runs its own loop over one library's API, so no hot
 *   loop is shared (and made polymorphic) between the libraries being compared.
 * - Fast operations (sync L1 gets and sets, awaited L1 hits) are timed per batch of
 *   operations; per-operation latency is the batch time divided by the batch size, and p99
 *   is not reported (it would only show timer noise and GC pauses).
 * - Operations that do I/O (Redis, SQLite) are timed one by one, which gives p50/p99.
 * - Contenders of one comparison are warmed up, then run in interleaved rounds (the order
 *   rotates every round) so JIT, GC and machine noise fall on all of them alike.
 *   ops/s is the median of the per-round rates, mean latency is total time / operations,
 *   `±` is the spread of the per-round rates, and every ratio is the median over rounds of
 *   the same-round ratio (paired, so drift of the machine between rounds cancels out).
 * - Each contender counts the outcomes it expects (hit / miss); a row whose hit ratio is not
 *   what the row claims is flagged INVALID rather than reported as a result.
 */
import { rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisDriver } from 'bentocache/drivers/redis';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import {
  type Cache,
  createCache,
  encodeEntry,
  jsonSerializer,
  MemoryTier,
  pingRedis,
  redisStore,
  type SqliteStore,
  sqliteStore,
} from '../src/cache/index.js';
import { coarseClock } from '../src/shared/clock.js';
import { parseBenchArgs } from './lib/args.js';
import { headerLine, type MachineEnvironment, machineEnvironment } from './lib/environment.js';
import { quantileOfSorted } from './lib/stats.js';

// ------------------------------------------------------------------ harness

type Runner =
  /** Runs `n` operations synchronously; returns how many had the expected outcome. */
  | { kind: 'sync-batch'; run: (n: number) => number }
  /** Runs `n` sequential awaited operations; returns how many had the expected outcome. */
  | { kind: 'async-batch'; run: (n: number) => Promise<number> }
  /** One operation, timed on its own; returns 1 when it had the expected outcome. */
  | { kind: 'sync-op'; run: () => number }
  | { kind: 'async-op'; run: () => Promise<number> };

interface Contender {
  name: string;
  /** What every operation should find; rows that do not are flagged INVALID. */
  expect: 'hit' | 'miss' | 'write';
  runner: Runner;
}

interface Row {
  name: string;
  mode: Runner['kind'];
  expect: Contender['expect'];
  ops: number;
  seconds: number;
  opsPerSec: number;
  meanNs: number;
  /** Only for rows timed one operation at a time (null otherwise). */
  p50Ns: number | null;
  p99Ns: number | null;
  /** (fastest round - slowest round) / median round, in percent. */
  spreadPct: number;
  /** Rate of each round; round r of every contender of a group ran back to back. */
  roundOpsPerSec: number[];
  /** Share of operations with the expected outcome (1 for writes). */
  expectedRatio: number;
  valid: boolean;
}

interface Comparison {
  subject: string;
  baseline: string;
  /**
   * 'ops': subject ops/s ÷ baseline ops/s. 'latency': subject mean ÷ baseline mean.
   * Both are paired per round (see `pairedRatio`).
   */
  metric: 'ops' | 'latency';
  /** PASS when ops ratio >= min (metric 'ops') or latency ratio <= max (metric 'latency'). */
  min?: number;
  max?: number;
}

interface ComparisonResult extends Comparison {
  ratio: number;
  /** For 'latency': subject p50 ÷ baseline p50, where both were timed per operation. */
  p50Ratio: number | null;
  verdict: 'PASS' | 'FAIL' | 'INFO' | 'INVALID';
}

interface GroupResult {
  id: string;
  title: string;
  baseline: string | null;
  notes: string[];
  rows: Row[];
  comparisons: ComparisonResult[];
}

interface Settings {
  quick: boolean;
  warmupMs: number;
  roundMs: number;
  rounds: number;
  syncBatch: number;
  asyncBatch: number;
}

const median = (sorted: readonly number[]): number => {
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2;
};

interface RoundResult {
  ops: number;
  ms: number;
  good: number;
}

/** Runs one contender for `budgetMs` (at least one batch/op). Per-op latencies go to `latencies`. */
async function runFor(
  runner: Runner,
  budgetMs: number,
  settings: Settings,
  latencies: number[] | undefined,
): Promise<RoundResult> {
  let ops = 0;
  let good = 0;
  const start = performance.now();
  const end = start + budgetMs;
  let now = start;
  switch (runner.kind) {
    case 'sync-batch': {
      const n = settings.syncBatch;
      do {
        good += runner.run(n);
        ops += n;
        now = performance.now();
      } while (now < end);
      break;
    }
    case 'async-batch': {
      const n = settings.asyncBatch;
      do {
        good += await runner.run(n);
        ops += n;
        now = performance.now();
      } while (now < end);
      break;
    }
    case 'sync-op': {
      do {
        good += runner.run();
        const after = performance.now();
        latencies?.push(after - now);
        now = after;
        ops++;
      } while (now < end);
      break;
    }
    case 'async-op': {
      do {
        good += await runner.run();
        const after = performance.now();
        latencies?.push(after - now);
        now = after;
        ops++;
      } while (now < end);
      break;
    }
  }
  return { ops, ms: now - start, good };
}

async function measureGroup(contenders: Contender[], settings: Settings): Promise<Row[]> {
  for (const contender of contenders) {
    await runFor(contender.runner, settings.warmupMs, settings, undefined);
  }
  const totals = contenders.map(() => ({
    ops: 0,
    ms: 0,
    good: 0,
    rounds: [] as number[],
    latencies: [] as number[],
  }));
  for (let round = 0; round < settings.rounds; round++) {
    for (let offset = 0; offset < contenders.length; offset++) {
      const index = (round + offset) % contenders.length;
      const contender = contenders[index] as Contender;
      const total = totals[index] as (typeof totals)[number];
      const perOp = contender.runner.kind === 'sync-op' || contender.runner.kind === 'async-op';
      const result = await runFor(
        contender.runner,
        settings.roundMs,
        settings,
        perOp ? total.latencies : undefined,
      );
      total.ops += result.ops;
      total.ms += result.ms;
      total.good += result.good;
      total.rounds.push((result.ops / result.ms) * 1_000);
    }
  }
  return contenders.map((contender, index) => {
    const total = totals[index] as (typeof totals)[number];
    const sortedRounds = [...total.rounds].sort((a, b) => a - b);
    const opsPerSec = median(sortedRounds);
    let p50Ns: number | null = null;
    let p99Ns: number | null = null;
    if (total.latencies.length > 0) {
      const sorted = Float64Array.from(total.latencies).sort();
      p50Ns = quantileOfSorted(sorted, 0.5) * 1e6;
      p99Ns = quantileOfSorted(sorted, 0.99) * 1e6;
    }
    const expectedRatio = contender.expect === 'write' ? 1 : total.good / total.ops;
    return {
      name: contender.name,
      mode: contender.runner.kind,
      expect: contender.expect,
      ops: total.ops,
      seconds: total.ms / 1_000,
      opsPerSec,
      meanNs: (total.ms * 1e6) / total.ops,
      p50Ns,
      p99Ns,
      spreadPct:
        (((sortedRounds[sortedRounds.length - 1] ?? 0) - (sortedRounds[0] ?? 0)) / opsPerSec) * 100,
      roundOpsPerSec: total.rounds,
      expectedRatio,
      valid: expectedRatio === 1,
    };
  });
}

/**
 * Throughput ratio of two rows of one group: the median over rounds of the ratio of their
 * rates in the same round. Rounds run back to back, so drift of the machine (frequency,
 * neighbours, idle wake-up latency) cancels out. For rows timed one operation at a time the
 * inverse is the ratio of their mean latencies.
 */
function pairedRatio(subject: Row, baseline: Row): number {
  const ratios = subject.roundOpsPerSec
    .map((rate, round) => rate / (baseline.roundOpsPerSec[round] ?? Number.NaN))
    .sort((a, b) => a - b);
  return median(ratios);
}

function compare(rows: Row[], comparisons: Comparison[]): ComparisonResult[] {
  return comparisons.map((comparison) => {
    const subject = rows.find((row) => row.name === comparison.subject);
    const baseline = rows.find((row) => row.name === comparison.baseline);
    if (subject === undefined || baseline === undefined) {
      throw new Error(
        `comparison names an unknown row: ${comparison.subject} / ${comparison.baseline}`,
      );
    }
    const ratio =
      comparison.metric === 'ops'
        ? pairedRatio(subject, baseline)
        : 1 / pairedRatio(subject, baseline);
    let verdict: ComparisonResult['verdict'] = 'INFO';
    if (!subject.valid || !baseline.valid) verdict = 'INVALID';
    else if (comparison.min !== undefined) verdict = ratio >= comparison.min ? 'PASS' : 'FAIL';
    else if (comparison.max !== undefined) verdict = ratio <= comparison.max ? 'PASS' : 'FAIL';
    const p50Ratio =
      comparison.metric === 'latency' && subject.p50Ns !== null && baseline.p50Ns !== null
        ? subject.p50Ns / baseline.p50Ns
        : null;
    return { ...comparison, ratio, p50Ratio, verdict };
  });
}

// ------------------------------------------------------------------ output

function formatRate(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function formatNs(ns: number | null): string {
  if (ns === null || Number.isNaN(ns)) return '—';
  if (ns < 1_000) return `${ns.toFixed(ns < 100 ? 1 : 0)} ns`;
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(ns < 10_000 ? 2 : 1)} µs`;
  return `${(ns / 1_000_000).toFixed(2)} ms`;
}

const NAME_WIDTH = 50;

function printGroup(group: GroupResult): void {
  console.log(`\n${group.id}. ${group.title}`);
  for (const note of group.notes) console.log(`   ${note}`);
  const baselineRow = group.rows.find((row) => row.name === group.baseline);
  const ratioHeader = baselineRow === undefined ? '' : `vs ${group.baseline}`;
  console.log(
    `   ${'contender'.padEnd(NAME_WIDTH)}${'ops/s'.padStart(13)}${'mean'.padStart(11)}${'p50'.padStart(11)}${'p99'.padStart(11)}${'±'.padStart(7)}  ${ratioHeader}`,
  );
  for (const row of group.rows) {
    const ratio =
      baselineRow === undefined
        ? ''
        : row === baselineRow
          ? 'baseline'
          : `${pairedRatio(row, baselineRow).toFixed(2)}x`;
    const flag = row.valid
      ? ''
      : `  INVALID: ${(row.expectedRatio * 100).toFixed(1)}% ${row.expect === 'hit' ? 'hits' : 'misses'}`;
    console.log(
      `   ${row.name.padEnd(NAME_WIDTH)}${formatRate(row.opsPerSec).padStart(13)}${formatNs(row.meanNs).padStart(11)}${formatNs(row.p50Ns).padStart(11)}${formatNs(row.p99Ns).padStart(11)}${`${row.spreadPct.toFixed(0)}%`.padStart(7)}  ${ratio}${flag}`,
    );
  }
  for (const result of group.comparisons) {
    const what =
      result.metric === 'ops'
        ? `${result.subject} ops/s ÷ ${result.baseline} ops/s = ${result.ratio.toFixed(2)}x`
        : `${result.subject} mean latency ÷ ${result.baseline} mean latency = ${result.ratio.toFixed(2)}x${result.p50Ratio === null ? '' : ` (p50: ${result.p50Ratio.toFixed(2)}x)`}`;
    const target =
      result.min !== undefined
        ? ` (target ≥ ${result.min}x)`
        : result.max !== undefined
          ? ` (target ≤ ${result.max}x)`
          : '';
    console.log(`   → ${what}${target}  ${result.verdict}`);
  }
}

// ------------------------------------------------------------------ data

/** A realistic ~1 KB value: an OpenAI-style chat completion. */
function makeCompletion(): Record<string, unknown> {
  return {
    id: 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG',
    object: 'chat.completion',
    created: 1_767_225_600,
    model: 'gpt-4o-mini-2024-07-18',
    system_fingerprint: 'fp_0ba0d124f1',
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content:
            'A tiered cache keeps hot entries in process memory (L1), shares them across ' +
            'instances through Redis (L2) and survives restarts with a local SQLite file (L3). ' +
            'Reads walk the tiers in order and promote what they find, so a value fetched from ' +
            'Redis once is served from memory afterwards. Writes go through every tier, and an ' +
            'invalidation bus tells the other processes to drop their in-memory copies. For LLM ' +
            'traffic, key the cache on the normalized request (model, messages, temperature) and ' +
            'set a TTL that matches how quickly the answers go stale.',
          refusal: null,
          annotations: [],
        },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: {
      prompt_tokens: 412,
      completion_tokens: 118,
      total_tokens: 530,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    },
    service_tier: 'default',
  };
}

function makeKeys(count: number, prefix = 'key'): string[] {
  const keys = new Array<string>(count);
  for (let i = 0; i < count; i++) keys[i] = `${prefix}:${i}`;
  return keys;
}

/** Deterministic pseudo-random indexes in [0, range); length is a power of two. */
function makeSequence(range: number, length = 1 << 20): Uint32Array {
  const sequence = new Uint32Array(length);
  let state = 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    // xorshift32
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    sequence[i] = (state >>> 0) % range;
  }
  return sequence;
}

/** A cursor over random keys: `next()` is one array read and one mask. */
class KeyCursor {
  private position = 0;
  private readonly mask: number;
  constructor(
    private readonly keys: readonly string[],
    private readonly sequence: Uint32Array,
  ) {
    this.mask = sequence.length - 1;
  }
  next(): string {
    const index = this.sequence[this.position] as number;
    this.position = (this.position + 1) & this.mask;
    return this.keys[index] as string;
  }
}

/** Cycles over keys in order (so a 1-entry L1 never holds the next one). */
class CyclicKeys {
  private position = 0;
  constructor(private readonly keys: readonly string[]) {}
  next(): string {
    const key = this.keys[this.position] as string;
    this.position = this.position + 1 === this.keys.length ? 0 : this.position + 1;
    return key;
  }
}

async function inChunks<Item>(
  items: readonly Item[],
  size: number,
  task: (item: Item) => Promise<unknown>,
): Promise<void> {
  for (let start = 0; start < items.length; start += size) {
    await Promise.all(items.slice(start, start + size).map(task));
  }
}

const DEFAULT_TTL_MS = 30 * 60_000;

// ------------------------------------------------------------------ environment

interface Environment extends MachineEnvironment {
  redis: string;
  redisAvailable: boolean;
}

function redactUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password !== '') parsed.password = '***';
  return parsed.toString();
}

function redisUrlForDb(base: string, db: number): string {
  const url = new URL(base);
  url.pathname = `/${db}`;
  return url.toString();
}

// ------------------------------------------------------------------ suite

interface Context {
  settings: Settings;
  value: Record<string, unknown>;
  redisUrl: string;
  redisAvailable: boolean;
  runPrefix: string;
  tmpFiles: string[];
  groups: GroupResult[];
}

async function group(
  context: Context,
  id: string,
  title: string,
  baseline: string | null,
  notes: string[],
  contenders: Contender[],
  comparisons: Comparison[],
): Promise<void> {
  const rows = await measureGroup(contenders, context.settings);
  const result: GroupResult = {
    id,
    title,
    baseline,
    notes,
    rows,
    comparisons: compare(rows, comparisons),
  };
  context.groups.push(result);
  printGroup(result);
}

function skipped(context: Context, id: string, title: string, reason: string): void {
  const result: GroupResult = {
    id,
    title,
    baseline: null,
    notes: [`SKIPPED: ${reason}`],
    rows: [],
    comparisons: [],
  };
  context.groups.push(result);
  printGroup(result);
}

function sqlitePath(context: Context, name: string): string {
  const path = join(os.tmpdir(), `${context.runPrefix.replace(/[^a-z0-9-]/gi, '-')}-${name}.db`);
  context.tmpFiles.push(path, `${path}-wal`, `${path}-shm`, `${path}-journal`);
  return path;
}

// ---------------------------------------------------------------- 1. L1 get (sync tier)

async function l1Get(context: Context, entries: number, ttl: boolean): Promise<void> {
  const { value } = context;
  const keys = makeKeys(entries);
  const sequence = makeSequence(entries);
  const now0 = Date.now();
  const expiresAt = ttl ? now0 + DEFAULT_TTL_MS : Number.POSITIVE_INFINITY;

  const tier = new MemoryTier<unknown>({ maxEntries: entries, policy: 'lru' });
  for (const key of keys) tier.set(key, value, 0, now0, expiresAt, expiresAt, undefined);
  const lru = new LRUCache<string, object>(
    ttl ? { max: entries, ttl: DEFAULT_TTL_MS } : { max: entries },
  );
  for (const key of keys) lru.set(key, value);

  const lruCursor = new KeyCursor(keys, sequence);
  const tierCursor = new KeyCursor(keys, sequence);
  const tierCursor2 = new KeyCursor(keys, sequence);
  const lruName = ttl ? 'lru-cache (ttl 30m)' : 'lru-cache';
  const contenders: Contender[] = [
    {
      name: lruName,
      expect: 'hit',
      runner: {
        kind: 'sync-batch',
        run: (n) => {
          let hits = 0;
          for (let i = 0; i < n; i++) if (lru.get(lruCursor.next()) !== undefined) hits++;
          return hits;
        },
      },
    },
  ];
  const perBatchName = ttl
    ? 'sluice MemoryTier (expiry 30m, now per batch)'
    : 'sluice MemoryTier (expiresAt Infinity)';
  contenders.push({ name: perBatchName, expect: 'hit', runner: tierGetBatch(tier, tierCursor) });
  const comparisons: Comparison[] = [
    { subject: perBatchName, baseline: lruName, metric: 'ops', min: 0.9 },
  ];
  if (!ttl) {
    // The W-TinyLFU policy (issue 3's candidate default) on the same keys.
    const tinyLfu = new MemoryTier<unknown>({ maxEntries: entries, policy: 'tinylfu' });
    for (const key of keys) tinyLfu.set(key, value, 0, now0, expiresAt, expiresAt, undefined);
    const tinyLfuName = 'sluice MemoryTier, tinylfu policy';
    contenders.push({
      name: tinyLfuName,
      expect: 'hit',
      runner: tierGetBatch(tinyLfu, new KeyCursor(keys, sequence)),
    });
    comparisons.push({ subject: tinyLfuName, baseline: lruName, metric: 'ops', min: 0.8 });
  }
  const notes = [
    `sync, batches of ${context.settings.syncBatch} random-key hits over ${entries.toLocaleString('en-US')} keys`,
  ];
  if (!ttl) {
    notes.push(
      'MemoryTier is passed a `now` read once per batch (with expiresAt Infinity it never matters)',
    );
  } else {
    const perOpName = 'sluice MemoryTier (expiry 30m, coarseClock.now() per op)';
    contenders.push({
      name: perOpName,
      expect: 'hit',
      runner: {
        kind: 'sync-batch',
        run: (n) => {
          let hits = 0;
          for (let i = 0; i < n; i++) {
            const value = tier.get(tierCursor2.next(), coarseClock.now());
            if (value !== undefined) hits++;
          }
          return hits;
        },
      },
    });
    comparisons.push({ subject: perOpName, baseline: lruName, metric: 'ops', min: 0.9 });
    notes.push(
      'lru-cache caches its clock reading until a 1 ms timer (ttlResolution) clears it, so in a ' +
        'synchronous loop it reads the clock about once; "now per batch" (one Date.now() per ' +
        `${context.settings.syncBatch} gets) is the equivalent for MemoryTier; "coarseClock.now() per op" is what cache.get() does (Date.now() at most once per ms)`,
    );
  }
  await group(
    context,
    ttl ? (entries >= 1_000_000 ? '1d' : '1c') : entries >= 1_000_000 ? '1b' : '1a',
    `L1 get (sync tier), ${entries.toLocaleString('en-US')} entries, ${ttl ? 'finite TTL' : 'no TTL'}`,
    lruName,
    notes,
    contenders,
    comparisons,
  );
}

// ---------------------------------------------------------------- bentocache helpers

type Bento = BentoCache<Record<string, ReturnType<typeof bentostore>>>;

function bentoL1(context: Context, maxItems: number, serialize: boolean, name: string): Bento {
  return new BentoCache({
    default: 'cache',
    prefix: `${context.runPrefix}:${name}`,
    stores: { cache: bentostore().useL1Layer(memoryDriver({ maxItems, serialize })) },
  });
}

function bentoL1L2(context: Context, maxItems: number, serialize: boolean, name: string): Bento {
  return new BentoCache({
    default: 'cache',
    prefix: `${context.runPrefix}:${name}`,
    stores: {
      cache: bentostore()
        .useL1Layer(memoryDriver({ maxItems, serialize }))
        .useL2Layer(redisDriver({ connection: new Redis(context.redisUrl) })),
    },
  });
}

function bentoGetBatch(bento: Bento, cursor: KeyCursor): Runner {
  return {
    kind: 'async-batch',
    run: async (n) => {
      let hits = 0;
      for (let i = 0; i < n; i++) {
        if ((await bento.get({ key: cursor.next() })) !== undefined) hits++;
      }
      return hits;
    },
  };
}

/** Sync hits on a MemoryTier, with `now` read once per batch. */
function tierGetBatch(tier: MemoryTier<unknown>, cursor: KeyCursor): Runner {
  return {
    kind: 'sync-batch',
    run: (n) => {
      const now = Date.now();
      let hits = 0;
      for (let i = 0; i < n; i++) if (tier.get(cursor.next(), now) !== undefined) hits++;
      return hits;
    },
  };
}

/** Sync writes of `value` into a MemoryTier with a 30-minute expiry. */
function tierSetBatch(tier: MemoryTier<unknown>, cursor: KeyCursor, value: unknown): Runner {
  return {
    kind: 'sync-batch',
    run: (n) => {
      const now = Date.now();
      const expiresAt = now + DEFAULT_TTL_MS;
      for (let i = 0; i < n; i++) {
        tier.set(cursor.next(), value, 0, now, expiresAt, expiresAt, undefined);
      }
      return n;
    },
  };
}

function sluiceGetBatch(cache: Cache, cursor: KeyCursor): Runner {
  return {
    kind: 'async-batch',
    run: async (n) => {
      let hits = 0;
      for (let i = 0; i < n; i++) {
        if ((await cache.get(cursor.next())) !== undefined) hits++;
      }
      return hits;
    },
  };
}

// ---------------------------------------------------------------- 2. tiered get, L1 hit

async function tieredL1Hit(context: Context): Promise<void> {
  const entries = 10_000;
  const keys = makeKeys(entries);
  const sequence = makeSequence(entries);
  const { value } = context;

  const sluice = createCache({ l1: { maxEntries: entries } });
  const bento = bentoL1(context, entries, true, 'bento-l1');
  const bentoRaw = bentoL1(context, entries, false, 'bento-l1-raw');
  for (const key of keys) {
    await sluice.set(key, value);
    await bento.set({ key, value });
    await bentoRaw.set({ key, value });
  }
  const sluiceName = 'sluice cache.get (L1 only)';
  const bentoName = 'bentocache get (memoryDriver default)';
  const bentoRawName = 'bentocache get (memoryDriver serialize:false)';
  await group(
    context,
    '2a',
    'Tiered get hitting L1, L1 only, 10,000 entries',
    bentoName,
    [
      `sequential awaits, batches of ${context.settings.asyncBatch}, random-key hits`,
      'bentocache serializes L1 entries by default (JSON.parse on every hit, returns a copy); serialize:false ' +
        'holds live objects like Sluice',
    ],
    [
      {
        name: bentoName,
        expect: 'hit',
        runner: bentoGetBatch(bento, new KeyCursor(keys, sequence)),
      },
      {
        name: bentoRawName,
        expect: 'hit',
        runner: bentoGetBatch(bentoRaw, new KeyCursor(keys, sequence)),
      },
      {
        name: sluiceName,
        expect: 'hit',
        runner: sluiceGetBatch(sluice, new KeyCursor(keys, sequence)),
      },
    ],
    [
      { subject: sluiceName, baseline: bentoName, metric: 'ops', min: 1.5 },
      { subject: sluiceName, baseline: bentoRawName, metric: 'ops', min: 1.5 },
    ],
  );
  await sluice.close();
  await bento.disconnectAll();
  await bentoRaw.disconnectAll();
}

async function tieredL1HitWithRedis(context: Context): Promise<void> {
  const entries = 10_000;
  const keys = makeKeys(entries);
  const sequence = makeSequence(entries);
  const { value } = context;

  const store = redisStore({ url: context.redisUrl, prefix: `${context.runPrefix}-l1l2` });
  const sluice = createCache({ l1: { maxEntries: entries }, l2: store });
  await sluice.ready(2_000);
  const bento = bentoL1L2(context, entries, true, 'bento-l1l2');
  const bentoRaw = bentoL1L2(context, entries, false, 'bento-l1l2-raw');
  await inChunks(keys, 50, async (key) => {
    await sluice.set(key, value);
    await bento.set({ key, value });
    await bentoRaw.set({ key, value });
  });
  const l2Errors = sluice.stats().tiers.l2?.errors ?? 0;
  const sluiceName = 'sluice cache.get (L1 + Redis L2)';
  const bentoName = 'bentocache get (memory + redis, default)';
  const bentoRawName = 'bentocache get (memory serialize:false + redis)';
  await group(
    context,
    '2b',
    'Tiered get hitting L1, L1 + Redis L2, 10,000 entries',
    bentoName,
    [
      `sequential awaits, batches of ${context.settings.asyncBatch}, random-key hits (Redis is not touched)`,
      `Sluice has its Redis invalidation bus on (the default); bentocache has no bus${l2Errors > 0 ? `; WARNING: ${l2Errors} Sluice L2 errors during setup` : ''}`,
    ],
    [
      {
        name: bentoName,
        expect: 'hit',
        runner: bentoGetBatch(bento, new KeyCursor(keys, sequence)),
      },
      {
        name: bentoRawName,
        expect: 'hit',
        runner: bentoGetBatch(bentoRaw, new KeyCursor(keys, sequence)),
      },
      {
        name: sluiceName,
        expect: 'hit',
        runner: sluiceGetBatch(sluice, new KeyCursor(keys, sequence)),
      },
    ],
    [
      { subject: sluiceName, baseline: bentoName, metric: 'ops', min: 1.5 },
      { subject: sluiceName, baseline: bentoRawName, metric: 'ops', min: 1.5 },
    ],
  );
  await store.clear();
  await sluice.close();
  await bento.clear();
  await bento.disconnectAll();
  await bentoRaw.clear();
  await bentoRaw.disconnectAll();
}

// ---------------------------------------------------------------- 3. L2 hit

async function l2Hit(context: Context): Promise<void> {
  const count = context.settings.quick ? 1_000 : 5_000;
  const keys = makeKeys(count);
  const { value } = context;

  const store = redisStore({ url: context.redisUrl, prefix: `${context.runPrefix}-l2` });
  const sluice = createCache({ l1: { maxEntries: 1 }, l2: store });
  await sluice.ready(2_000);
  await inChunks(keys, 50, (key) => sluice.set(key, value));
  const setupErrors = sluice.stats().tiers.l2?.errors ?? 0;

  // The bare baseline reads a value of exactly the size Sluice stores (header + serialized
  // JSON); it is the JSON text padded with spaces so it can also be parsed.
  const json = JSON.stringify(value);
  const storedSize = encodeEntry({
    value: jsonSerializer.serialize(value),
    createdAt: 0,
    expiresAt: 1,
    staleUntil: 1,
    tags: [],
  }).length;
  const payload = Buffer.from(json.padEnd(storedSize, ' '));
  const raw = new Redis(context.redisUrl);
  const rawKeys = makeKeys(count, `${context.runPrefix}:raw`);
  await inChunks(rawKeys, 200, (key) => raw.set(key, payload, 'PX', DEFAULT_TTL_MS));

  const sluiceKeys = new CyclicKeys(keys);
  const rawCursor = new CyclicKeys(rawKeys);
  const rawCursor2 = new CyclicKeys(rawKeys);
  const sluiceName = 'sluice cache.get (L1 miss → Redis hit)';
  const rawName = 'ioredis getBuffer';
  const rawParseName = 'ioredis getBuffer + JSON.parse';
  await group(
    context,
    '3',
    `L2 hit (Redis), value ${storedSize} B stored`,
    rawName,
    [
      `sequential awaits timed one by one; Sluice L1 holds 1 entry and ${count.toLocaleString('en-US')} keys are read in turn, so L1 always misses`,
      'Sluice does GET, decodes the entry, JSON-parses the value and promotes it to L1; the bare rows read the same number of bytes',
      `Redis ${redactUrl(context.redisUrl)}${setupErrors > 0 ? `; WARNING: ${setupErrors} Sluice L2 errors during setup` : ''}`,
    ],
    [
      {
        name: rawName,
        expect: 'hit',
        runner: {
          kind: 'async-op',
          run: async () => ((await raw.getBuffer(rawCursor.next())) === null ? 0 : 1),
        },
      },
      {
        name: rawParseName,
        expect: 'hit',
        runner: {
          kind: 'async-op',
          run: async () => {
            const buffer = await raw.getBuffer(rawCursor2.next());
            return buffer === null ? 0 : JSON.parse(buffer.toString()) === undefined ? 0 : 1;
          },
        },
      },
      {
        name: sluiceName,
        expect: 'hit',
        runner: {
          kind: 'async-op',
          run: async () => ((await sluice.get(sluiceKeys.next())) === undefined ? 0 : 1),
        },
      },
    ],
    [
      { subject: sluiceName, baseline: rawName, metric: 'latency', max: 1.5 },
      { subject: sluiceName, baseline: rawParseName, metric: 'latency' },
    ],
  );
  const stats = sluice.stats();
  if (stats.tiers.l2 !== undefined && stats.tiers.l2.errors > 0) {
    console.log(`   WARNING: ${stats.tiers.l2.errors} Sluice L2 errors while measuring`);
  }
  await store.clear();
  await sluice.close();
  await inChunks(rawKeys, 500, (key) => raw.unlink(key));
  raw.disconnect();
}

// ---------------------------------------------------------------- 4. L3 hit

async function l3Hit(context: Context): Promise<void> {
  const count = context.settings.quick ? 1_000 : 5_000;
  const keys = makeKeys(count);
  const { value } = context;

  const store: SqliteStore = sqliteStore({ path: sqlitePath(context, 'l3') });
  const sluice = createCache({ l1: { maxEntries: 1 }, l3: store });
  for (const key of keys) await sluice.set(key, value);
  // Same, but reads never rewrite accessed_at during the run: shows what those writes cost.
  const lazyStore: SqliteStore = sqliteStore({
    path: sqlitePath(context, 'l3-lazy'),
    accessResolution: '1h',
  });
  const lazy = createCache({ l1: { maxEntries: 1 }, l3: lazyStore });
  for (const key of keys) await lazy.set(key, value);

  const db = new Database(sqlitePath(context, 'bare'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID');
  const insert = db.prepare('INSERT INTO kv (key, value) VALUES (?, ?)');
  const payload = Buffer.from(JSON.stringify(value));
  db.transaction(() => {
    for (const key of keys) insert.run(key, payload);
  })();
  const select = db.prepare<[string], { value: Buffer }>('SELECT value FROM kv WHERE key = ?');

  const sluiceKeys = new CyclicKeys(keys);
  const lazyKeys = new CyclicKeys(keys);
  const bareKeys = new CyclicKeys(keys);
  const bareKeys2 = new CyclicKeys(keys);
  const sluiceName = 'sluice cache.get (L1 miss → SQLite hit)';
  const bareName = 'better-sqlite3 prepared SELECT';
  const bareParseName = 'better-sqlite3 SELECT + JSON.parse';
  const lazyName = 'sluice cache.get (same, accessResolution 1h)';
  await group(
    context,
    '4',
    'L3 hit (SQLite file in os.tmpdir(), WAL)',
    bareName,
    [
      `timed one by one; Sluice L1 holds 1 entry and ${count.toLocaleString('en-US')} keys are read in turn, no L2`,
      'the bare rows are synchronous calls (no await)',
      'by default a Sluice read also UPDATEs accessed_at when the row was last touched >= 1 s ago ' +
        '(accessResolution); the last row sets it to 1h so no read writes',
    ],
    [
      {
        name: bareName,
        expect: 'hit',
        runner: { kind: 'sync-op', run: () => (select.get(bareKeys.next()) === undefined ? 0 : 1) },
      },
      {
        name: bareParseName,
        expect: 'hit',
        runner: {
          kind: 'sync-op',
          run: () => {
            const row = select.get(bareKeys2.next());
            return row === undefined ? 0 : JSON.parse(row.value.toString()) === undefined ? 0 : 1;
          },
        },
      },
      {
        name: sluiceName,
        expect: 'hit',
        runner: {
          kind: 'async-op',
          run: async () => ((await sluice.get(sluiceKeys.next())) === undefined ? 0 : 1),
        },
      },
      {
        name: lazyName,
        expect: 'hit',
        runner: {
          kind: 'async-op',
          run: async () => ((await lazy.get(lazyKeys.next())) === undefined ? 0 : 1),
        },
      },
    ],
    [
      { subject: sluiceName, baseline: bareName, metric: 'latency' },
      { subject: sluiceName, baseline: bareParseName, metric: 'latency' },
      { subject: lazyName, baseline: bareParseName, metric: 'latency' },
    ],
  );
  await store.clear();
  await sluice.close();
  await lazyStore.clear();
  await lazy.close();
  db.close();
}

// ---------------------------------------------------------------- 5. miss

async function misses(context: Context): Promise<void> {
  const entries = 10_000;
  const { value } = context;
  const absent = makeKeys(1 << 16, 'absent');
  const sequence = makeSequence(absent.length);
  const present = makeKeys(entries);

  const l1Only = createCache({ l1: { maxEntries: entries } });
  for (const key of present) await l1Only.set(key, value);
  const bento = bentoL1(context, entries, true, 'bento-miss');
  for (const key of present) await bento.set({ key, value });
  const lru = new LRUCache<string, object>({ max: entries });
  for (const key of present) lru.set(key, value);
  const lruCursor = new KeyCursor(absent, sequence);
  // One closure literal per contender, so each hot loop keeps its own type feedback.
  const bentoCursor = new KeyCursor(absent, sequence);
  const sluiceCursor = new KeyCursor(absent, sequence);
  const contenders: Contender[] = [
    {
      name: 'lru-cache get (sync)',
      expect: 'miss',
      runner: {
        kind: 'sync-batch',
        run: (n) => {
          let missed = 0;
          for (let i = 0; i < n; i++) if (lru.get(lruCursor.next()) === undefined) missed++;
          return missed;
        },
      },
    },
    {
      name: 'bentocache get (memoryDriver default)',
      expect: 'miss',
      runner: {
        kind: 'async-batch',
        run: async (n) => {
          let missed = 0;
          for (let i = 0; i < n; i++) {
            if ((await bento.get({ key: bentoCursor.next() })) === undefined) missed++;
          }
          return missed;
        },
      },
    },
    {
      name: 'sluice cache.get (L1 only)',
      expect: 'miss',
      runner: {
        kind: 'async-batch',
        run: async (n) => {
          let missed = 0;
          for (let i = 0; i < n; i++) {
            if ((await l1Only.get(sluiceCursor.next())) === undefined) missed++;
          }
          return missed;
        },
      },
    },
  ];
  await group(
    context,
    '5a',
    'Miss (absent key), L1 only, 10,000 entries held',
    'bentocache get (memoryDriver default)',
    [`batches of ${context.settings.asyncBatch} (lru-cache: ${context.settings.syncBatch}, sync)`],
    contenders,
    [
      {
        subject: 'sluice cache.get (L1 only)',
        baseline: 'bentocache get (memoryDriver default)',
        metric: 'ops',
      },
      { subject: 'sluice cache.get (L1 only)', baseline: 'lru-cache get (sync)', metric: 'ops' },
    ],
  );
  await l1Only.close();
  await bento.disconnectAll();

  if (!context.redisAvailable) {
    skipped(context, '5b', 'Miss (absent key), L1 + Redis L2 + SQLite L3', 'Redis unreachable');
    return;
  }
  const store = redisStore({ url: context.redisUrl, prefix: `${context.runPrefix}-miss` });
  const l3 = sqliteStore({ path: sqlitePath(context, 'miss') });
  const tiered = createCache({ l1: { maxEntries: entries }, l2: store, l3 });
  await tiered.ready(2_000);
  for (const key of present.slice(0, 1_000)) await tiered.set(key, value);
  const cursor = new KeyCursor(absent, sequence);
  const name = 'sluice cache.get (L1 + L2 + L3 all miss)';
  await group(
    context,
    '5b',
    'Miss (absent key), L1 + Redis L2 + SQLite L3',
    null,
    ['timed one by one: one Redis GET and one SQLite SELECT per miss'],
    [
      {
        name,
        expect: 'miss',
        runner: {
          kind: 'async-op',
          run: async () => ((await tiered.get(cursor.next())) === undefined ? 1 : 0),
        },
      },
    ],
    [],
  );
  await store.clear();
  await l3.clear();
  await tiered.close();
}

// ---------------------------------------------------------------- 6. set and getOrSet

async function sets(context: Context): Promise<void> {
  const entries = 10_000;
  const keys = makeKeys(entries);
  const sequence = makeSequence(entries);
  const { value } = context;

  const sluice = createCache({ l1: { maxEntries: entries } });
  const tier = new MemoryTier<unknown>({ maxEntries: entries, policy: 'lru' });
  const tinyLfu = new MemoryTier<unknown>({ maxEntries: entries, policy: 'tinylfu' });
  const lru = new LRUCache<string, object>({ max: entries });
  const bento = bentoL1(context, entries, true, 'bento-set');
  const bentoRaw = bentoL1(context, entries, false, 'bento-set-raw');
  const lruCursor = new KeyCursor(keys, sequence);
  const tierCursor = new KeyCursor(keys, sequence);
  const tinyLfuCursor = new KeyCursor(keys, sequence);
  const sluiceCursor = new KeyCursor(keys, sequence);
  const bentoCursor = new KeyCursor(keys, sequence);
  const bentoRawCursor = new KeyCursor(keys, sequence);
  const bentoSet = (cache: Bento, cursor: KeyCursor): Runner => ({
    kind: 'async-batch',
    run: async (n) => {
      for (let i = 0; i < n; i++) await cache.set({ key: cursor.next(), value });
      return n;
    },
  });
  const sluiceName = 'sluice cache.set (L1 only)';
  await group(
    context,
    '6a',
    'set, L1 only, 10,000 keys (random keys; after warm-up, overwrites of held keys)',
    'lru-cache',
    [
      `lru-cache and MemoryTier are sync (batches of ${context.settings.syncBatch}); the async APIs are awaited one by one in batches of ${context.settings.asyncBatch}`,
    ],
    [
      {
        name: 'lru-cache',
        expect: 'write',
        runner: {
          kind: 'sync-batch',
          run: (n) => {
            for (let i = 0; i < n; i++) lru.set(lruCursor.next(), value);
            return n;
          },
        },
      },
      {
        name: 'sluice MemoryTier.set (sync tier)',
        expect: 'write',
        runner: tierSetBatch(tier, tierCursor, value),
      },
      {
        name: 'sluice MemoryTier.set, tinylfu policy',
        expect: 'write',
        runner: tierSetBatch(tinyLfu, tinyLfuCursor, value),
      },
      {
        name: 'bentocache set (memoryDriver default)',
        expect: 'write',
        runner: bentoSet(bento, bentoCursor),
      },
      {
        name: 'bentocache set (memoryDriver serialize:false)',
        expect: 'write',
        runner: bentoSet(bentoRaw, bentoRawCursor),
      },
      {
        name: sluiceName,
        expect: 'write',
        runner: {
          kind: 'async-batch',
          run: async (n) => {
            for (let i = 0; i < n; i++) await sluice.set(sluiceCursor.next(), value);
            return n;
          },
        },
      },
    ],
    [
      { subject: 'sluice MemoryTier.set (sync tier)', baseline: 'lru-cache', metric: 'ops' },
      {
        subject: 'sluice MemoryTier.set, tinylfu policy',
        baseline: 'lru-cache',
        metric: 'ops',
        min: 0.8,
      },
      { subject: sluiceName, baseline: 'lru-cache', metric: 'ops' },
      { subject: sluiceName, baseline: 'bentocache set (memoryDriver default)', metric: 'ops' },
      {
        subject: sluiceName,
        baseline: 'bentocache set (memoryDriver serialize:false)',
        metric: 'ops',
      },
    ],
  );

  // getOrSet, hit path: every key is present (the caches above are full after warm-up).
  for (const key of keys) {
    await sluice.set(key, value);
    await bento.set({ key, value });
    await bentoRaw.set({ key, value });
  }
  let factoryCalls = 0;
  const factory = () => {
    factoryCalls++;
    return value;
  };
  const bentoHits = (cache: Bento, cursor: KeyCursor): Runner => ({
    kind: 'async-batch',
    run: async (n) => {
      const before = factoryCalls;
      for (let i = 0; i < n; i++) await cache.getOrSet({ key: cursor.next(), factory });
      return n - (factoryCalls - before);
    },
  });
  const getOrSetCursor = new KeyCursor(keys, sequence);
  const getOrSetName = 'sluice cache.getOrSet (L1 only)';
  const bentoName = 'bentocache getOrSet (memoryDriver default)';
  const bentoRawName = 'bentocache getOrSet (memoryDriver serialize:false)';
  await group(
    context,
    '6b',
    'getOrSet hit path, L1 only, 10,000 entries',
    bentoName,
    [
      `sequential awaits, batches of ${context.settings.asyncBatch}, random-key hits (a factory call counts as a miss)`,
    ],
    [
      {
        name: bentoName,
        expect: 'hit',
        runner: bentoHits(bento, new KeyCursor(keys, sequence)),
      },
      {
        name: bentoRawName,
        expect: 'hit',
        runner: bentoHits(bentoRaw, new KeyCursor(keys, sequence)),
      },
      {
        name: getOrSetName,
        expect: 'hit',
        runner: {
          kind: 'async-batch',
          run: async (n) => {
            const before = factoryCalls;
            for (let i = 0; i < n; i++) await sluice.getOrSet(getOrSetCursor.next(), factory);
            return n - (factoryCalls - before);
          },
        },
      },
    ],
    [
      { subject: getOrSetName, baseline: bentoName, metric: 'ops' },
      { subject: getOrSetName, baseline: bentoRawName, metric: 'ops' },
    ],
  );
  await sluice.close();
  await bento.disconnectAll();
  await bentoRaw.disconnectAll();
}

async function setsWithRedis(context: Context): Promise<void> {
  const entries = 10_000;
  const keys = makeKeys(entries);
  const sequence = makeSequence(entries);
  const { value } = context;

  const busStore = redisStore({ url: context.redisUrl, prefix: `${context.runPrefix}-set-bus` });
  const withBus = createCache({ l1: { maxEntries: entries }, l2: busStore });
  const plainStore = redisStore({ url: context.redisUrl, prefix: `${context.runPrefix}-set` });
  const noBus = createCache({ l1: { maxEntries: entries }, l2: plainStore, bus: false });
  await Promise.all([withBus.ready(2_000), noBus.ready(2_000)]);
  const bento = bentoL1L2(context, entries, true, 'bento-set-l2');
  const bentoCursor = new KeyCursor(keys, sequence);
  const sluiceSet = (cache: Cache, cursor: KeyCursor): Runner => ({
    kind: 'async-op',
    run: async () => {
      await cache.set(cursor.next(), value);
      return 1;
    },
  });
  const bentoName = 'bentocache set (memory + redis, no bus)';
  const busName = 'sluice cache.set (L1 + Redis, bus on)';
  const noBusName = 'sluice cache.set (L1 + Redis, bus: false)';
  await group(
    context,
    '6c',
    'set, L1 + Redis L2, 10,000 keys',
    bentoName,
    [
      'timed one by one; each set awaits the Redis SET (Sluice publishes its bus message without awaiting it)',
      'compare bus:false with bentocache (no bus); "bus on" can measure faster on an otherwise idle machine ' +
        'because the looped-back pub/sub message keeps the event loop from sleeping between round trips ' +
        '(reproducible with bare ioredis SET + PUBLISH)',
    ],
    [
      {
        name: bentoName,
        expect: 'write',
        runner: {
          kind: 'async-op',
          run: async () => {
            await bento.set({ key: bentoCursor.next(), value });
            return 1;
          },
        },
      },
      { name: noBusName, expect: 'write', runner: sluiceSet(noBus, new KeyCursor(keys, sequence)) },
      { name: busName, expect: 'write', runner: sluiceSet(withBus, new KeyCursor(keys, sequence)) },
    ],
    [
      { subject: noBusName, baseline: bentoName, metric: 'ops' },
      { subject: busName, baseline: bentoName, metric: 'ops' },
    ],
  );
  const errors = (withBus.stats().tiers.l2?.errors ?? 0) + (noBus.stats().tiers.l2?.errors ?? 0);
  if (errors > 0) console.log(`   WARNING: ${errors} Sluice L2 errors while measuring`);
  await busStore.clear();
  await plainStore.clear();
  await withBus.close();
  await noBus.close();
  await bento.clear();
  await bento.disconnectAll();
}

// ------------------------------------------------------------------ entry point

async function removeLeftovers(url: string, prefix: string): Promise<number> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  let removed = 0;
  try {
    let cursor = '0';
    do {
      const [next, found] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
      if (found.length > 0) removed += await client.unlink(...found);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
  return removed;
}

export async function run(args: string[]): Promise<void> {
  const { json, quick } = parseBenchArgs(args);
  const settings: Settings = quick
    ? { quick, warmupMs: 30, roundMs: 40, rounds: 5, syncBatch: 1_000, asyncBatch: 200 }
    : { quick, warmupMs: 200, roundMs: 180, rounds: 7, syncBatch: 1_000, asyncBatch: 200 };
  const redisUrl = redisUrlForDb(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 15);
  const redisAvailable = await pingRedis(redisUrl);
  const environment: Environment = {
    ...machineEnvironment(),
    redis: redactUrl(redisUrl),
    redisAvailable,
  };
  const value = makeCompletion();
  const context: Context = {
    settings,
    value,
    redisUrl,
    redisAvailable,
    runPrefix: `sluice-bench-${process.pid}-${Date.now().toString(36)}`,
    tmpFiles: [],
    groups: [],
  };
  const started = performance.now();
  console.log(headerLine('cache-ops', environment, quick));
  console.log(
    `value: ${Buffer.byteLength(JSON.stringify(value))} B JSON (chat completion); ${settings.rounds} interleaved rounds of ${settings.roundMs} ms per contender after ${settings.warmupMs} ms warm-up; Redis ${environment.redis}${redisAvailable ? '' : ' UNREACHABLE (Redis groups skipped)'}`,
  );
  console.log(
    'ops/s: median of the per-round rates; mean: total time ÷ operations; p50/p99: only for rows timed per operation; ±: spread of the round rates; ratios: median over rounds of the same-round ratio',
  );

  try {
    await l1Get(context, 10_000, false);
    await l1Get(context, 1_000_000, false);
    await l1Get(context, 10_000, true);
    await l1Get(context, 1_000_000, true);
    await tieredL1Hit(context);
    if (redisAvailable) await tieredL1HitWithRedis(context);
    else skipped(context, '2b', 'Tiered get hitting L1, L1 + Redis L2', 'Redis unreachable');
    if (redisAvailable) await l2Hit(context);
    else skipped(context, '3', 'L2 hit (Redis)', 'Redis unreachable');
    await l3Hit(context);
    await misses(context);
    await sets(context);
    if (redisAvailable) await setsWithRedis(context);
    else skipped(context, '6c', 'set, L1 + Redis L2', 'Redis unreachable');
  } finally {
    if (redisAvailable) {
      const leftovers = await removeLeftovers(redisUrl, context.runPrefix);
      if (leftovers > 0) console.log(`\n(removed ${leftovers} leftover Redis keys)`);
    }
    for (const file of context.tmpFiles) rmSync(file, { force: true });
  }

  const targets = context.groups.flatMap((group) =>
    group.comparisons.filter((comparison) => comparison.verdict !== 'INFO'),
  );
  const passed = targets.filter((target) => target.verdict === 'PASS').length;
  const elapsed = (performance.now() - started) / 1_000;
  console.log(`\ntargets: ${passed}/${targets.length} PASS — ${elapsed.toFixed(1)} s`);

  if (json !== undefined) {
    await writeFile(
      json,
      `${JSON.stringify(
        {
          suite: 'cache-ops',
          environment,
          settings,
          elapsedSeconds: elapsed,
          groups: context.groups,
        },
        null,
        2,
      )}\n`,
    );
    console.log(`figures written to ${json}`);
  }
}
