/**
 * `sluice bench routing [--json FILE] [--quick]`: what the router buys, against named baselines
 * in the same run.
 *
 * 1. Resilience (`routing-resilience.ts`): a flaky primary upstream (10 % 500s, 5 % hangs) and
 *    a healthy secondary, each a mock in its own child process; 1,000 requests per target
 *    (200 with `--quick`), concurrency 10, straight to the primary (the baseline) and through
 *    two Sluice gateways: a fallback chain and two deployments of one model, both with retries
 *    and circuit breakers. Target: Sluice succeeds on at least 99.5 % of requests where the
 *    direct success rate is about 85 %. Latency (p50, p90, p99, max) is reported for every
 *    target, failures included. A probe checks that a hung upstream becomes a 504 within the
 *    provider timeout (+ 100 ms).
 * 2. Cost (`routing-cost.ts`): 1,000 mixed requests (300 with `--quick`: chats, long documents,
 *    code with tools, reasoning; some with `x-sluice-min-quality`) through the `auto` alias
 *    over gpt-4.1-nano, gpt-4o-mini, gpt-4.1-mini and gpt-4.1, against sending every one to
 *    gpt-4.1 (the baseline); cost per 1,000 requests from the gateway's cost headers and its
 *    ledger. Target: no `auto` answer below the quality the request needs.
 *
 * Every child process is stopped at the end, on SIGINT / SIGTERM, and killed if this process
 * exits; the ledger's temporary folder is removed.
 */
import { writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { formatUsd } from '../src/cost/money.js';
import { parseBenchArgs } from './lib/args.js';
import { guardChildren } from './lib/child-processes.js';
import { headerLine, machineEnvironment } from './lib/environment.js';
import { CANDIDATES, type CostResult, measureCost, STRONGEST } from './routing-cost.js';
import { ms, percent, tableRow } from './routing-measure.js';
import { UpstreamGroup } from './routing-processes.js';
import {
  measureResilience,
  type ResilienceResult,
  type ResilienceSummary,
} from './routing-resilience.js';
import { WORKLOAD_KINDS } from './routing-workload.js';

/** Sluice's success rate target on the flaky upstream. */
const SUCCESS_TARGET = 0.995;
/** The direct success rate the injected faults imply (1 − 10 % − 5 %), and the tolerance. */
const DIRECT_EXPECTED = 0.85;
const DIRECT_TOLERANCE = 0.05;
/** How late a provider timeout may fire (timer and scheduling delays). */
const TIMEOUT_SLACK_MS = 100;
/** The whole run is stopped after this long (it normally takes well under a minute). */
const WATCHDOG_SECONDS = 300;

function verdict(pass: boolean, text: string): string {
  return `${pass ? 'PASS' : 'FAIL'}  ${text}`;
}

function failuresText(row: ResilienceSummary): string {
  const entries = Object.entries(row.failures).sort((left, right) => right[1] - left[1]);
  return entries.length === 0
    ? 'none'
    : entries.map(([outcome, count]) => `${outcome} × ${count}`).join(', ');
}

function printResilience(result: ResilienceResult): void {
  const { primary, secondary, routing } = result;
  console.log('');
  console.log('1. Resilience: a flaky primary upstream, direct and through Sluice');
  console.log(
    `   primary: ${percent(primary.error500Rate ?? 0)} 500s, ${percent(primary.timeoutRate ?? 0)} hangs (seed ${primary.seed}); secondary: healthy; both ${primary.ttftMs} ms to first token + ${primary.tokenMs} ms per token (${secondary.ttftMs}/${secondary.tokenMs} ms), each in a child process`,
  );
  console.log(
    `   ${result.requestsPerTarget} requests per target, concurrency ${result.concurrency}, ${result.rounds} interleaved rounds; provider timeout ${result.upstreamTimeoutMs} ms (direct: the same client timeout)`,
  );
  console.log(
    `   sluice: retries ${routing.retries.attempts} attempts (backoff ${routing.retries.baseDelay}..${routing.retries.maxDelay}), breaker ${routing.breaker.failures} failures / ${routing.breaker.window} (cooldown ${routing.breaker.cooldown}..${routing.breaker.maxCooldown}); cache off`,
  );
  console.log('   latency is over every request, failures included (a failure: time to its error)');
  const widths = [24, 9, 10, 10, 10, 10, 10, 13, 15, 10];
  console.log(
    tableRow(
      [
        'target',
        'requests',
        'success',
        'p50',
        'p90',
        'p99',
        'max',
        'primary/req',
        'secondary/req',
        'fallback',
      ],
      widths,
    ),
  );
  for (const row of result.rows) {
    console.log(
      tableRow(
        [
          row.label,
          String(row.requests),
          percent(row.successRate),
          ms(row.p50Ms),
          ms(row.p90Ms),
          ms(row.p99Ms),
          ms(row.maxMs),
          row.primaryCallsPerRequest.toFixed(3),
          row.secondaryCallsPerRequest.toFixed(3),
          String(row.fallbackAnswers),
        ],
        widths,
      ),
    );
  }
  for (const row of result.rows) console.log(`   failures, ${row.label}: ${failuresText(row)}`);
  const probe = result.timeoutProbe;
  const outcomes = Object.entries(probe.outcomes)
    .map(([outcome, count]) => `${outcome} × ${count}`)
    .join(', ');
  console.log(
    `   timeout probe: ${probe.requests} requests to an upstream that never answers, provider timeout ${probe.timeoutMs} ms, no retry: ${outcomes} after ${ms(probe.minMs)} .. ${ms(probe.maxMs)} (p50 ${ms(probe.p50Ms)})`,
  );
}

function dollarsPer1000(nanos: number, requests: number): string {
  return requests === 0 ? 'n/a' : `$${(nanos / requests / 1_000_000).toFixed(4)}`;
}

function printCost(result: CostResult): void {
  console.log('');
  console.log(`2. Cost: model auto vs always ${STRONGEST}`);
  console.log(
    `   ${result.requests} mixed requests, concurrency ${result.concurrency}, cache off; auto candidates: ${result.candidates.join(', ')} (quality by class: small 0.6, medium 0.75, large 0.9); zero-latency mock in a child process`,
  );
  console.log(`   answers of auto by model, and cost per 1,000 requests of each kind`);
  const models = [...CANDIDATES];
  const widths = [11, 9, 8, ...models.map((model) => Math.max(model.length + 2, 9)), 13, 13, 9];
  console.log(
    tableRow(
      ['kind', 'requests', 'stated', ...models, 'auto $/1k', `${STRONGEST} $/1k`, 'saved'],
      widths,
    ),
  );
  const line = (
    name: string,
    requests: number,
    stated: number,
    counts: Readonly<Record<string, number>>,
    autoNanos: number,
    strongestNanos: number,
  ): void => {
    console.log(
      tableRow(
        [
          name,
          String(requests),
          String(stated),
          ...models.map((model) => String(counts[model] ?? 0)),
          dollarsPer1000(autoNanos, requests),
          dollarsPer1000(strongestNanos, requests),
          strongestNanos === 0 ? 'n/a' : percent(1 - autoNanos / strongestNanos),
        ],
        widths,
      ),
    );
  };
  const totals: Record<string, number> = {};
  let stated = 0;
  for (const kind of WORKLOAD_KINDS) {
    const summary = result.byKind[kind];
    stated += summary.stated;
    for (const [model, count] of Object.entries(summary.models)) {
      totals[model] = (totals[model] ?? 0) + count;
    }
    line(
      kind,
      summary.requests,
      summary.stated,
      summary.models,
      summary.autoCostNanos,
      summary.strongestCostNanos,
    );
  }
  line('all', result.requests, stated, totals, result.autoCostNanos, result.strongestCostNanos);
  const ledger = (nanos: number | undefined) => (nanos === undefined ? 'n/a' : formatUsd(nanos));
  console.log(
    `   totals: auto $${formatUsd(result.autoCostNanos)} (ledger $${ledger(result.autoLedgerNanos)}), ${STRONGEST} $${formatUsd(result.strongestCostNanos)} (ledger $${ledger(result.strongestLedgerNanos)}); took ${result.elapsedSeconds.auto.toFixed(1)} s and ${result.elapsedSeconds.strongest.toFixed(1)} s`,
  );
  console.log(
    `   quality checks of ${result.requests - result.autoErrors} auto answers: ${result.violations} below the effective floor, ${result.strictViolations} below max(stated, complexity floor) (${result.strictFromLowerStatedFloor} of them: a stated minimum below the complexity floor), ${result.floorMismatches} announced floors differing from the expected one, ${result.relaxed} relaxed, ${result.fallbacks} answered by a fallback`,
  );
  for (const example of result.examples) console.log(`   ${example}`);
}

function verdicts(resilience: ResilienceResult, cost: CostResult): string[] {
  const lines: string[] = [];
  const direct = resilience.rows.find((row) => row.id === 'direct') as ResilienceSummary;
  const directValid = Math.abs(direct.successRate - DIRECT_EXPECTED) <= DIRECT_TOLERANCE;
  lines.push(
    verdict(
      directValid,
      `direct success ${percent(direct.successRate)} matches the injected faults (${percent(DIRECT_EXPECTED)} ± ${percent(DIRECT_TOLERANCE)}): the baseline is valid`,
    ),
  );
  for (const row of resilience.rows) {
    if (row.id === 'direct') continue;
    lines.push(
      verdict(
        row.successRate >= SUCCESS_TARGET,
        `${row.label}: ${percent(row.successRate)} success (target ≥ ${percent(SUCCESS_TARGET)}; direct ${percent(direct.successRate)}); p50 ${ms(row.p50Ms)} vs ${ms(direct.p50Ms)}, p99 ${ms(row.p99Ms)} vs ${ms(direct.p99Ms)} direct`,
      ),
    );
  }
  const probe = resilience.timeoutProbe;
  const probe504 = probe.outcomes['504'] ?? 0;
  lines.push(
    verdict(
      probe504 === probe.requests && probe.maxMs <= probe.timeoutMs + TIMEOUT_SLACK_MS,
      `a hung upstream becomes a 504 within the provider timeout + ${TIMEOUT_SLACK_MS} ms (${probe.timeoutMs} ms: ${probe504}/${probe.requests} 504s, slowest after ${ms(probe.maxMs)})`,
    ),
  );
  lines.push(
    verdict(
      cost.autoErrors === 0 && cost.strongestErrors === 0,
      `every cost request answered 200 (auto: ${cost.autoErrors} errors, ${STRONGEST}: ${cost.strongestErrors})`,
    ),
  );
  lines.push(
    verdict(
      cost.violations === 0,
      `auto: ${cost.violations} answers below the request's floor (stated minimum, else complexity floor) (target 0)`,
    ),
  );
  lines.push(
    verdict(
      cost.strictViolations === 0,
      `auto: ${cost.strictViolations} answers below max(stated minimum, complexity floor) (target 0)`,
    ),
  );
  lines.push(
    verdict(
      cost.floorMismatches === 0,
      `x-sluice-route announced the expected floor on ${cost.requests - cost.autoErrors - cost.floorMismatches} of ${cost.requests - cost.autoErrors} auto answers`,
    ),
  );
  const ledgerAgrees =
    cost.autoLedgerNanos === cost.autoCostNanos &&
    cost.strongestLedgerNanos === cost.strongestCostNanos;
  lines.push(
    verdict(ledgerAgrees, 'the ledger (GET /admin/spend) equals the sum of x-sluice-cost-usd'),
  );
  lines.push(
    `INFO  auto costs ${dollarsPer1000(cost.autoCostNanos, cost.requests)} per 1,000 requests, ${STRONGEST} ${dollarsPer1000(cost.strongestCostNanos, cost.requests)}: ${percent(cost.savingsShare)} saved`,
  );
  return lines;
}

export async function run(args: string[]): Promise<void> {
  const options = parseBenchArgs(args);
  const environment = machineEnvironment();
  console.log(headerLine('routing', environment, options.quick));
  const started = performance.now();
  const resilienceRequests = options.quick ? 200 : 1_000;
  const costRequests = options.quick ? 300 : 1_000;

  const group = new UpstreamGroup();
  const abort = new AbortController();
  const unguard = guardChildren(group, abort, 'routing', WATCHDOG_SECONDS);
  let resilience: ResilienceResult;
  let cost: CostResult;
  try {
    resilience = await measureResilience(group, resilienceRequests, abort.signal);
    printResilience(resilience);
    cost = await measureCost(group, costRequests, abort.signal);
    printCost(cost);
  } finally {
    unguard();
    await group.closeAll();
  }

  const lines = verdicts(resilience, cost);
  console.log('');
  for (const line of lines) console.log(line);
  const elapsed = (performance.now() - started) / 1_000;
  console.log(`\n${elapsed.toFixed(1)} s`);
  if (options.json !== undefined) {
    await writeFile(
      options.json,
      `${JSON.stringify(
        {
          suite: 'routing',
          environment,
          quick: options.quick,
          elapsedSeconds: elapsed,
          resilience,
          cost,
          verdicts: lines,
        },
        null,
        2,
      )}\n`,
    );
    console.log(`figures written to ${options.json}`);
  }
}
