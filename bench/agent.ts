/**
 * `sluice bench agent [--json FILE] [--quick] [--sessions DIR]`: Sluice's agent toolkit on
 * replayed agent work, each part against a named baseline in the same run.
 *
 * 1. Context manager (`sluice/context`) on the replayed sessions of
 *    test/context/fixtures/sessions, at 0.75×, 1× and 1.5× each session's budget: tokens sent
 *    over the session against the full history and a keep-last window in the same budget; the
 *    planted facts still in the prompt at the requests that needed them; prefix reuse and input
 *    cost under OpenAI prompt caching. See agent-context.ts.
 * 2. Tool cache (`createToolExecutor` with a real `createCache`) on a generated workload of 500
 *    calls over ten tools: executions avoided against the same executor with caching off, and
 *    against a cache keyed on every argument; side-effect tools never cached; every answer
 *    checked against the uncached run. See agent-tools.ts.
 * 3. Parallel tools: 8 independent calls through `executeAll`, concurrency 8 against 1.
 *    See agent-parallel.ts.
 * 4. Warm pools (`createWarmPool`): warm against cold acquire, for a resource that takes
 *    ~30 ms to create. See agent-pool.ts.
 *
 * Parts 1 and 2 are deterministic (token counts, call counts); parts 3 and 4 are timings on a
 * shared machine, reported as medians / means and p95 over repeated rounds.
 */
import { writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import {
  CONTEXT_STRATEGIES,
  type ContextStrategy,
  findSessionsDir,
  loadSessions,
  replaySessionCase,
  type SessionCase,
} from './agent-context.js';
import { measureParallelTools, type ParallelResult } from './agent-parallel.js';
import { measureWarmPool, type PoolResult } from './agent-pool.js';
import { formatMs } from './agent-timing.js';
import {
  generateToolWorkload,
  profileWorkload,
  replayToolWorkload,
  type ToolCacheContender,
  type ToolReplay,
  TURN_MS,
  WORKLOAD_SEED,
} from './agent-tools.js';
import { parseBenchArgs } from './lib/args.js';
import { headerLine, machineEnvironment } from './lib/environment.js';

/** Budgets as multiples of each session's own `budgetTokens`. */
const BUDGET_FACTORS = [0.75, 1, 1.5] as const;
const TOOL_CALLS = 500;
const TARGET_FACT_SHARE = 0.9;
const TARGET_PARALLEL_SPEEDUP = 3;
const TARGET_WARM_SPEEDUP = 10;

interface Check {
  name: string;
  verdict: 'PASS' | 'FAIL' | 'INFO';
  detail: string;
}

// ------------------------------------------------------------------ formatting

const integer = (value: number): string => Math.round(value).toLocaleString('en-US');
const percent = (value: number, digits = 1): string =>
  Number.isFinite(value) ? `${(value * 100).toFixed(digits)}%` : '—';
/** A change against a reference, `−41.8%`. */
const change = (value: number, reference: number): string => {
  if (reference === 0) return '—';
  const delta = value / reference - 1;
  return `${delta < 0 ? '−' : '+'}${Math.abs(delta * 100).toFixed(1)}%`;
};
const usd = (value: number): string => `$${value.toFixed(value < 0.1 ? 4 : 3)}`;
const times = (value: number): string => {
  if (!Number.isFinite(value)) return '—';
  return value >= 100 ? `${integer(value)}×` : `${value.toFixed(1)}×`;
};

/** A table: first column left-aligned, the others right-aligned, widths from the content. */
function printTable(headers: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    `   ${cells
      .map((cell, column) =>
        column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart((widths[column] ?? 0) + 2),
      )
      .join('')}`;
  console.log(line(headers));
  for (const row of rows) console.log(line(row));
}

function record(checks: Check[], check: Check): void {
  checks.push(check);
  console.log(`   ${check.verdict.padEnd(4)}  ${check.name}: ${check.detail}`);
}

// ------------------------------------------------------------------ 1. context manager

interface ContextTotals {
  budgetLabel: string;
  requests: number;
  factsNeeded: number;
  byStrategy: Record<
    ContextStrategy,
    {
      tokensSent: number;
      overBudget: number;
      factsSurvived: number;
      prefixTokens: number;
      prefixBaseTokens: number;
      appendOnlyTurns: number;
      inputUsd: number;
    }
  >;
}

function contextTotals(cases: readonly SessionCase[], budgetLabel: string): ContextTotals {
  const totals: ContextTotals = {
    budgetLabel,
    requests: 0,
    factsNeeded: 0,
    byStrategy: {} as ContextTotals['byStrategy'],
  };
  for (const strategy of CONTEXT_STRATEGIES) {
    totals.byStrategy[strategy] = {
      tokensSent: 0,
      overBudget: 0,
      factsSurvived: 0,
      prefixTokens: 0,
      prefixBaseTokens: 0,
      appendOnlyTurns: 0,
      inputUsd: 0,
    };
  }
  for (const entry of cases) {
    totals.requests += entry.requests;
    totals.factsNeeded += entry.factsNeeded;
    for (const strategy of CONTEXT_STRATEGIES) {
      const sum = totals.byStrategy[strategy];
      const outcome = entry.outcomes[strategy];
      sum.tokensSent += outcome.tokensSent;
      sum.overBudget += outcome.overBudget;
      sum.factsSurvived += outcome.factsSurvived;
      sum.prefixTokens += outcome.prefixTokens;
      sum.prefixBaseTokens += outcome.prefixBaseTokens;
      sum.appendOnlyTurns += outcome.appendOnlyTurns;
      sum.inputUsd += outcome.inputUsd;
    }
  }
  return totals;
}

function runContextPart(
  sessionsDir: string,
  checks: Check[],
): { cases: SessionCase[]; totals: ContextTotals[] } {
  const sessions = loadSessions(sessionsDir);
  const factors = BUDGET_FACTORS.map((factor) => `${factor}×`).join(', ');
  console.log(
    `\n1. Context manager: ${sessions.length} replayed agent sessions (${sessionsDir}), budgets ${factors} each session's own`,
  );
  console.log(
    "   A request before each assistant message that follows a user or tool message. full: the whole history; keep-last (baseline): system messages + the newest messages that fit the budget, tool exchanges whole; sluice: createContextManager({ model, maxTokens: budget }).fitSync(history), no summarizer. Tokens: the session model's tokenizer, OpenAI's chat accounting.",
  );
  const cases: SessionCase[] = [];
  const totals: ContextTotals[] = [];
  for (const factor of BUDGET_FACTORS) {
    const label = `${factor}×`;
    const atBudget = sessions.map((session) =>
      replaySessionCase(session, Math.round(session.budgetTokens * factor), label),
    );
    cases.push(...atBudget);
    totals.push(contextTotals(atBudget, label));
  }
  const caseLabel = (entry: SessionCase): string =>
    `${entry.session} @ ${integer(entry.budget)} (${entry.budgetLabel})`;
  const totalLabel = (total: ContextTotals): string => `total @ ${total.budgetLabel}`;

  console.log(
    '\n 1a. Tokens sent over the session, and planted facts in the prompt at the requests that needed them',
  );
  const tokenRows: string[][] = [];
  for (const total of totals) {
    for (const entry of cases.filter((item) => item.budgetLabel === total.budgetLabel)) {
      const { full, sluice } = entry.outcomes;
      const keepLast = entry.outcomes['keep-last'];
      tokenRows.push([
        caseLabel(entry),
        String(entry.requests),
        integer(full.tokensSent),
        `${full.overBudget}/${entry.requests}`,
        integer(keepLast.tokensSent),
        integer(sluice.tokensSent),
        change(sluice.tokensSent, full.tokensSent),
        `${keepLast.factsSurvived}/${entry.factsNeeded}`,
        `${sluice.factsSurvived}/${entry.factsNeeded}`,
        sluice.factsLost.join(' ') || '—',
      ]);
    }
    const { full, sluice } = total.byStrategy;
    const keepLast = total.byStrategy['keep-last'];
    tokenRows.push([
      totalLabel(total),
      String(total.requests),
      integer(full.tokensSent),
      `${full.overBudget}/${total.requests}`,
      integer(keepLast.tokensSent),
      integer(sluice.tokensSent),
      change(sluice.tokensSent, full.tokensSent),
      `${percent(keepLast.factsSurvived / total.factsNeeded, 0)} (${keepLast.factsSurvived}/${total.factsNeeded})`,
      `${percent(sluice.factsSurvived / total.factsNeeded, 0)} (${sluice.factsSurvived}/${total.factsNeeded})`,
      '',
    ]);
  }
  printTable(
    [
      'session @ budget',
      'reqs',
      'full',
      'full > budget',
      'keep-last',
      'sluice',
      'sluice vs full',
      'facts keep-last',
      'facts sluice',
      'lost by sluice',
    ],
    tokenRows,
  );

  console.log(
    "\n 1b. Prefix reuse (tokens of the leading messages identical to the previous request's prompt ÷ tokens sent, from the 2nd request) and input cost with OpenAI prompt caching (a shared prefix of ≥ 1,024 tokens, in steps of 128, billed at the model's cached-input price; the cache assumed warm between requests)",
  );
  const prefixShare = (value: { prefixTokens: number; prefixBaseTokens: number }): string =>
    percent(value.prefixTokens / value.prefixBaseTokens);
  const prefixRows: string[][] = [];
  for (const total of totals) {
    for (const entry of cases.filter((item) => item.budgetLabel === total.budgetLabel)) {
      const { full, sluice } = entry.outcomes;
      const keepLast = entry.outcomes['keep-last'];
      prefixRows.push([
        caseLabel(entry),
        prefixShare(full),
        prefixShare(keepLast),
        prefixShare(sluice),
        `${sluice.appendOnlyTurns}/${entry.requests - 1}`,
        usd(full.inputUsd),
        usd(keepLast.inputUsd),
        usd(sluice.inputUsd),
        change(sluice.inputUsd, full.inputUsd),
        change(sluice.inputUsd, keepLast.inputUsd),
      ]);
    }
    const { full, sluice } = total.byStrategy;
    const keepLast = total.byStrategy['keep-last'];
    prefixRows.push([
      totalLabel(total),
      prefixShare(full),
      prefixShare(keepLast),
      prefixShare(sluice),
      `${sluice.appendOnlyTurns}/${total.requests - cases.filter((item) => item.budgetLabel === total.budgetLabel).length}`,
      usd(full.inputUsd),
      usd(keepLast.inputUsd),
      usd(sluice.inputUsd),
      change(sluice.inputUsd, full.inputUsd),
      change(sluice.inputUsd, keepLast.inputUsd),
    ]);
  }
  printTable(
    [
      'session @ budget',
      'reuse full',
      'keep-last',
      'sluice',
      'sluice append-only',
      'input $ full',
      'keep-last',
      'sluice',
      'sluice vs full',
      'vs keep-last',
    ],
    prefixRows,
  );
  console.log(
    '   full outgrows the working budget in every session (column "full > budget": its requests over the budget); it only appends, so its prefix reuse is the ceiling. It is the baseline for tokens sent, not a prompt that fits.',
  );

  console.log('\n   checks:');
  for (const total of totals) {
    const { full, sluice } = total.byStrategy;
    const keepLast = total.byStrategy['keep-last'];
    record(checks, {
      name: `context @ ${total.budgetLabel}: sluice sends fewer tokens than the full history`,
      verdict: sluice.tokensSent < full.tokensSent ? 'PASS' : 'FAIL',
      detail: `${integer(sluice.tokensSent)} vs ${integer(full.tokensSent)} (${change(sluice.tokensSent, full.tokensSent)}; keep-last ${change(keepLast.tokensSent, full.tokensSent)})`,
    });
    const share = sluice.factsSurvived / total.factsNeeded;
    record(checks, {
      name: `context @ ${total.budgetLabel}: ≥ ${percent(TARGET_FACT_SHARE, 0)} of planted facts in the prompt when needed`,
      verdict: share >= TARGET_FACT_SHARE ? 'PASS' : 'FAIL',
      detail: `sluice ${percent(share)} (${sluice.factsSurvived}/${total.factsNeeded}), keep-last ${percent(keepLast.factsSurvived / total.factsNeeded)} (${keepLast.factsSurvived}/${total.factsNeeded})`,
    });
    record(checks, {
      name: `context @ ${total.budgetLabel}: every sluice prompt within the budget`,
      verdict: sluice.overBudget === 0 ? 'PASS' : 'FAIL',
      detail: `${sluice.overBudget} of ${total.requests} over`,
    });
    const ours = sluice.prefixTokens / sluice.prefixBaseTokens;
    const theirs = keepLast.prefixTokens / keepLast.prefixBaseTokens;
    record(checks, {
      name: `context @ ${total.budgetLabel}: sluice reuses more of the previous prompt than keep-last`,
      verdict: ours > theirs ? 'PASS' : 'FAIL',
      detail: `${percent(ours)} vs ${percent(theirs)}; input cost with prompt caching ${usd(sluice.inputUsd)} vs keep-last ${usd(keepLast.inputUsd)}, full ${usd(full.inputUsd)}`,
    });
  }
  return { cases, totals };
}

// ------------------------------------------------------------------ 2. tool cache

const CONTENDERS: readonly ToolCacheContender[] = [
  {
    name: 'no cache (baseline)',
    description: 'the same executor and tools, every tool ttl: false',
    caching: false,
    keyAllArguments: false,
    maxEntries: 1_024,
  },
  {
    name: 'key = every argument',
    description: 'cache on, volatileParameters: [] and no normalisation (a naive memo)',
    caching: true,
    keyAllArguments: true,
    maxEntries: 1_024,
  },
  {
    name: 'sluice (l1 1,024)',
    description: "the tools' TTLs, default volatile parameters, normalisation",
    caching: true,
    keyAllArguments: false,
    maxEntries: 1_024,
  },
  {
    name: 'sluice (l1 32)',
    description: 'the same with a small L1 (W-TinyLFU eviction)',
    caching: true,
    keyAllArguments: false,
    maxEntries: 32,
  },
];

interface ToolPartResult {
  workload: { seed: number; calls: number; turns: number; spanMinutes: number };
  profile: ReturnType<typeof profileWorkload>;
  replays: Array<Omit<ToolReplay, 'answers'> & { answersMatchingBaseline: number }>;
}

async function runToolPart(checks: Check[]): Promise<ToolPartResult> {
  const workload = generateToolWorkload(TOOL_CALLS, WORKLOAD_SEED);
  const profile = profileWorkload(workload);
  const spanMinutes = workload.spanMs / 60_000;
  console.log(
    `\n2. Tool cache: ${workload.calls.length} calls in ${workload.turns.length} turns (1–3 parallel calls each, executeAll) over ${profile.length} tools; generated, seed 0x${WORKLOAD_SEED.toString(16)}: Zipf (s = 1) arguments, a volatile request_id / trace_id / timestamp on every call, 25% of the search queries re-cased or padded; ${TURN_MS / 1_000} s of agent time per turn on the cache's ManualClock (${spanMinutes.toFixed(0)} min: TTLs expire); each execution a real 1–3 ms wait`,
  );
  const replays: ToolReplay[] = [];
  for (const contender of CONTENDERS) replays.push(await replayToolWorkload(workload, contender));
  const baseline = replays[0] as ToolReplay;
  const sluice = replays[2] as ToolReplay;
  const matching = (replay: ToolReplay): number =>
    replay.answers.filter((answer, index) => answer === baseline.answers[index]).length;

  console.log(`\n 2a. Per tool: the workload, and the ${sluice.contender.name} replay`);
  const cacheable = profile.filter((tool) => !tool.sideEffects && tool.ttl !== false);
  const ceiling = cacheable.reduce((sum, tool) => sum + tool.calls - tool.distinctKeys, 0);
  printTable(
    [
      'tool',
      'calls',
      'distinct keys',
      'distinct args',
      'ttl',
      'side effects',
      'executions',
      'cache hits',
      'coalesced',
      'avoided',
    ],
    [
      ...profile.map((tool) => {
        const stats = sluice.stats.tools[tool.name];
        const executions = sluice.executions[tool.name] ?? 0;
        return [
          tool.name,
          String(tool.calls),
          String(tool.distinctKeys),
          String(tool.distinctArguments),
          tool.sideEffects ? 'never' : tool.ttl === false ? 'false' : tool.ttl,
          tool.sideEffects ? 'yes' : '',
          String(executions),
          String(stats?.cacheHits ?? 0),
          String(stats?.coalesced ?? 0),
          percent((tool.calls - executions) / tool.calls, 0),
        ];
      }),
      [
        'all',
        String(workload.calls.length),
        String(profile.reduce((sum, tool) => sum + tool.distinctKeys, 0)),
        String(profile.reduce((sum, tool) => sum + tool.distinctArguments, 0)),
        '',
        String(
          profile.filter((tool) => tool.sideEffects).reduce((sum, tool) => sum + tool.calls, 0),
        ),
        String(sluice.totalExecutions),
        String(sluice.stats.totals.cacheHits),
        String(sluice.stats.totals.coalesced),
        percent((workload.calls.length - sluice.totalExecutions) / workload.calls.length),
      ],
    ],
  );
  console.log(
    `   distinct keys: volatile parameters left out, normalised (what a cache that never expires must still run); distinct args: every parameter. Ceiling for the cached tools with TTLs that never expire: ${ceiling} calls avoidable.`,
  );

  console.log('\n 2b. Contenders (the same workload, each with its own createCache)');
  const sideEffectTools = profile.filter((tool) => tool.sideEffects).map((tool) => tool.name);
  const sideEffectCalls = profile
    .filter((tool) => tool.sideEffects)
    .reduce((sum, tool) => sum + tool.calls, 0);
  const sideEffectExecutions = (replay: ToolReplay): number =>
    sideEffectTools.reduce((sum, name) => sum + (replay.executions[name] ?? 0), 0);
  const sideEffectReused = (replay: ToolReplay): number =>
    sideEffectTools.reduce((sum, name) => {
      const stats = replay.stats.tools[name];
      return sum + (stats?.cacheHits ?? 0) + (stats?.coalesced ?? 0);
    }, 0);
  printTable(
    [
      'contender',
      'executions',
      'avoided',
      'vs baseline',
      'cache hits',
      'coalesced',
      'side-effect runs',
      'answers = uncached',
      'errors',
      'wall',
    ],
    replays.map((replay) => [
      replay.contender.name,
      String(replay.totalExecutions),
      `${replay.calls - replay.totalExecutions} (${percent((replay.calls - replay.totalExecutions) / replay.calls)})`,
      change(replay.totalExecutions, baseline.totalExecutions),
      String(replay.stats.totals.cacheHits),
      String(replay.stats.totals.coalesced),
      `${sideEffectExecutions(replay)}/${sideEffectCalls}`,
      `${matching(replay)}/${replay.calls}`,
      String(replay.errors),
      formatMs(replay.wallMs),
    ]),
  );
  for (const contender of CONTENDERS) console.log(`   ${contender.name}: ${contender.description}`);
  console.log(
    "   executions: counted inside the tools; side-effect runs: executions of send_email, create_ticket, write_file ÷ their calls; answers = uncached: answers identical to the baseline run's answer to the same call; wall: real time (tool waits included, info only)",
  );

  console.log('\n   checks:');
  const avoided = sluice.calls - sluice.totalExecutions;
  record(checks, {
    name: 'tools: the tool cache avoids executions against the uncached executor',
    verdict: avoided > 0 && baseline.totalExecutions === baseline.calls ? 'PASS' : 'FAIL',
    detail: `${sluice.contender.name} ran ${sluice.totalExecutions} of ${sluice.calls} calls (${avoided} avoided, ${percent(avoided / sluice.calls)}; ${percent(avoided / ceiling)} of the ${ceiling} a never-expiring cache could); baseline ran ${baseline.totalExecutions}`,
  });
  const leaks = replays.filter(
    (replay) => sideEffectExecutions(replay) !== sideEffectCalls || sideEffectReused(replay) !== 0,
  );
  record(checks, {
    name: 'tools: side-effect tools never cached (every contender)',
    verdict: leaks.length === 0 ? 'PASS' : 'FAIL',
    detail:
      leaks.length === 0
        ? `${sideEffectCalls} side-effect calls, ${sideEffectCalls} executions and 0 cache hits or coalesced answers in each of ${replays.length} runs`
        : `reused in: ${leaks.map((replay) => replay.contender.name).join(', ')}`,
  });
  const wrong = replays.filter((replay) => matching(replay) !== replay.calls || replay.errors > 0);
  record(checks, {
    name: 'tools: every cached answer identical to the uncached run',
    verdict: wrong.length === 0 ? 'PASS' : 'FAIL',
    detail:
      wrong.length === 0
        ? `${replays.length - 1} cached runs × ${sluice.calls} calls`
        : wrong
            .map((replay) => `${replay.contender.name} ${matching(replay)}/${replay.calls}`)
            .join(', '),
  });
  const naive = replays[1] as ToolReplay;
  record(checks, {
    name: 'tools: volatile parameters out of the key (vs key = every argument)',
    verdict: 'INFO',
    detail: `${naive.calls - naive.totalExecutions} avoided with every argument in the key, ${avoided} with Sluice's keys`,
  });

  return {
    workload: {
      seed: WORKLOAD_SEED,
      calls: workload.calls.length,
      turns: workload.turns.length,
      spanMinutes,
    },
    profile,
    replays: replays.map((replay) => {
      const { answers, ...rest } = replay;
      return { ...rest, answersMatchingBaseline: matching(replay) };
    }),
  };
}

// ------------------------------------------------------------------ 3. parallel tools

async function runParallelPart(quick: boolean, checks: Check[]): Promise<ParallelResult> {
  const result = await measureParallelTools(quick ? 5 : 20);
  console.log(
    `\n3. Parallel tools: ${result.tools} independent calls, each a ${result.waitMs} ms timer + SHA-256 over ${result.cpuKilobytes} KB (${formatMs(result.cpuMs)} CPU), uncached; ${result.rounds} rounds after 2 warm-up, variants alternating`,
  );
  const row = (name: string, summary: ParallelResult['sequential']): string[] => [
    name,
    formatMs(summary.p50Ms),
    formatMs(summary.meanMs),
    formatMs(summary.minMs),
    formatMs(summary.maxMs),
    times(result.sequential.p50Ms / summary.p50Ms),
  ];
  printTable(
    ['variant', 'p50', 'mean', 'min', 'max', 'speed-up (p50)'],
    [
      row('sequential: executeAll, concurrency 1 (baseline)', result.sequential),
      row(`parallel: executeAll, concurrency ${result.tools}`, result.parallel),
      row('bare Promise.all, no executor (reference)', result.promiseAll),
    ],
  );
  console.log(
    `   ideal speed-up with the CPU parts serialised on one event loop: ${result.tools}·(wait + cpu) ÷ (wait + ${result.tools}·cpu) = ${times(result.idealSpeedup)}`,
  );
  console.log('\n   checks:');
  record(checks, {
    name: `parallel: ${result.tools} tools ≥ ${TARGET_PARALLEL_SPEEDUP}× faster with concurrency ${result.tools} than in sequence`,
    verdict: result.speedup >= TARGET_PARALLEL_SPEEDUP ? 'PASS' : 'FAIL',
    detail: `${times(result.speedup)} (p50 ${formatMs(result.sequential.p50Ms)} → ${formatMs(result.parallel.p50Ms)}; ideal ${times(result.idealSpeedup)})`,
  });
  return result;
}

// ------------------------------------------------------------------ 4. warm pools

async function runPoolPart(quick: boolean, checks: Check[]): Promise<PoolResult> {
  const coldSamples = quick ? 10 : 40;
  const warmSamples = quick ? 500 : 5_000;
  const result = await measureWarmPool(coldSamples, warmSamples);
  console.log(
    `\n4. Warm pool: a resource whose creation is a ${result.createWaitMs} ms timer + SHA-256 over ${result.createCpuKilobytes} KB; acquire timed by the caller`,
  );
  const row = (name: string, summary: PoolResult['cold']): string[] => [
    name,
    String(summary.count),
    formatMs(summary.meanMs),
    formatMs(summary.p50Ms),
    formatMs(summary.p95Ms),
    formatMs(summary.maxMs),
  ];
  printTable(
    ['acquire', 'samples', 'mean', 'p50', 'p95', 'max'],
    [
      row('create directly, no pool (baseline)', result.direct),
      row('cold: pool with nothing idle (min 0)', result.cold),
      row('warm: pre-warmed pool (min 4, ready())', result.warm),
    ],
  );
  const { cold, warm } = result.poolCounters;
  console.log(
    `   pool counters: cold pool ${cold.coldStarts} cold / ${cold.warmStarts} warm starts, ${cold.created} created, startMs p50 ${formatMs(cold.startP50Ms)}; warm pool ${warm.warmStarts} warm / ${warm.coldStarts} cold starts, ${warm.created} created, startMs p50 ${warm.startP50Ms} ms (warm-up acquires included; the pools time with Date.now, 1 ms resolution)`,
  );
  console.log('\n   checks:');
  const labelled = result.mislabelled.cold === 0 && result.mislabelled.warm === 0;
  record(checks, {
    name: `pool: warm acquire ≥ ${TARGET_WARM_SPEEDUP}× faster than cold (mean and p95)`,
    verdict:
      labelled &&
      result.speedupMean >= TARGET_WARM_SPEEDUP &&
      result.speedupP95 >= TARGET_WARM_SPEEDUP
        ? 'PASS'
        : 'FAIL',
    detail: `mean ${formatMs(result.cold.meanMs)} → ${formatMs(result.warm.meanMs)} (${times(result.speedupMean)}), p95 ${formatMs(result.cold.p95Ms)} → ${formatMs(result.warm.p95Ms)} (${times(result.speedupP95)})${labelled ? '' : `; leases mislabelled: ${result.mislabelled.cold} cold, ${result.mislabelled.warm} warm`}`,
  });
  return result;
}

// ------------------------------------------------------------------ suite

export async function run(args: string[]): Promise<void> {
  const { json, quick, extra } = parseBenchArgs(args, ['sessions']);
  const sessionsDir = findSessionsDir(extra.sessions);
  const environment = machineEnvironment();
  const started = performance.now();
  console.log(headerLine('agent', environment, quick));
  const checks: Check[] = [];

  const context = runContextPart(sessionsDir, checks);
  const tools = await runToolPart(checks);
  const parallel = await runParallelPart(quick, checks);
  const pool = await runPoolPart(quick, checks);

  const targets = checks.filter((check) => check.verdict !== 'INFO');
  const passed = targets.filter((check) => check.verdict === 'PASS').length;
  const elapsed = (performance.now() - started) / 1_000;
  console.log(`\ntargets: ${passed}/${targets.length} PASS — ${elapsed.toFixed(1)} s`);
  const failed = targets.filter((check) => check.verdict === 'FAIL');
  for (const check of failed) console.log(`   FAIL  ${check.name}`);

  if (json !== undefined) {
    await writeFile(
      json,
      `${JSON.stringify(
        {
          suite: 'agent',
          environment,
          settings: {
            quick,
            sessionsDir,
            budgetFactors: BUDGET_FACTORS,
            toolCalls: TOOL_CALLS,
            workloadSeed: WORKLOAD_SEED,
            targets: {
              factShare: TARGET_FACT_SHARE,
              parallelSpeedup: TARGET_PARALLEL_SPEEDUP,
              warmSpeedup: TARGET_WARM_SPEEDUP,
            },
          },
          elapsedSeconds: elapsed,
          context,
          tools,
          parallel,
          pool,
          checks,
        },
        null,
        2,
      )}\n`,
    );
    console.log(`figures written to ${json}`);
  }
}
