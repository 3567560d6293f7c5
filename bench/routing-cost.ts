/**
 * Phase 2 of `sluice bench routing`: what `model: auto` saves against always using the strongest
 * model, and whether right-sizing ever answers with a model below the quality a request needs.
 *
 * One gateway in this process, in front of one healthy zero-latency mock upstream in a child
 * process that answers any model name. Four models on it, priced and classed by the bundled
 * price table: gpt-4.1-nano (small, quality 0.6), gpt-4o-mini (small, 0.6), gpt-4.1-mini
 * (medium, 0.75), gpt-4.1 (large, 0.9); the alias `auto` has all four as candidates (no alias
 * floor, complexity on: the router's defaults). The cache is off, so every request is priced;
 * the ledger is a SQLite file in a temporary folder.
 *
 * The mixed workload (`routing-workload.ts`) is sent twice, concurrency 10: once as
 * `model: auto` (virtual key `auto`), once as `model: gpt-4.1` (virtual key `strongest`), each
 * request with its `x-sluice-min-quality` when it states one. Cost is the sum of the
 * `x-sluice-cost-usd` headers, checked against the ledger (`GET /admin/spend?by=key`).
 *
 * Every `auto` answer is checked: the answering model (the body's `model`, which the mock
 * echoes) has a quality (by its price-table class: small 0.6, medium 0.75, large 0.9) of at
 * least
 * - the effective floor: the request's `x-sluice-min-quality` when given (documented: it
 *   overrides), else the floor its complexity calls for (`estimateComplexity`, on the prompt's
 *   token count from the cost tracker, as the router counts it); a miss is a violation;
 * - the strict floor: the larger of the stated minimum and the complexity floor (reported
 *   separately: a stated minimum below the complexity floor lowers the effective floor by
 *   design).
 * The floor the gateway announces (`q>=` in `x-sluice-route`) must equal the effective floor.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { usdToNanos } from '../src/cost/money.js';
import { createCostTracker, type EstimateRequest } from '../src/cost/tracker.js';
import { createGateway, type Gateway } from '../src/gateway/index.js';
import { type ComplexityRequest, estimateComplexity } from '../src/routing/complexity.js';
import { DEFAULT_QUALITY_BY_CLASS } from '../src/routing/profiles.js';
import { runConcurrently } from './routing-measure.js';
import type { UpstreamGroup } from './routing-processes.js';
import {
  mixedWorkload,
  WORKLOAD_KINDS,
  type WorkloadKind,
  type WorkloadRequest,
} from './routing-workload.js';

export const CANDIDATES = ['gpt-4.1-nano', 'gpt-4o-mini', 'gpt-4.1-mini', 'gpt-4.1'] as const;
export const STRONGEST = 'gpt-4.1';
export const COST_CONCURRENCY = 10;
const AUTO_KEY = 'bench-auto-key-0123456789';
const STRONGEST_KEY = 'bench-strongest-key-0123456789';
const ADMIN_KEY = 'bench-admin-key-0123456789';
/** Violations described in the output and the JSON, at most. */
const EXAMPLES = 5;

/** How one `auto` request was answered and whether the answer met its floors. */
interface AutoOutcome {
  readonly kind: WorkloadKind;
  readonly answered: string;
  readonly quality: number;
  readonly stated: number | undefined;
  readonly complexityFloor: number;
  readonly effectiveFloor: number;
  readonly announcedFloor: number | undefined;
  readonly relaxed: boolean;
  readonly fallback: boolean;
}

interface Answer {
  readonly status: number;
  readonly costNanos: number;
  readonly model: string | undefined;
  readonly route: string | undefined;
  readonly fallback: boolean;
  readonly error: string | undefined;
}

export interface KindSummary {
  readonly requests: number;
  readonly stated: number;
  /** `auto` answers by answering model. */
  readonly models: Readonly<Record<string, number>>;
  readonly autoCostNanos: number;
  readonly strongestCostNanos: number;
}

export interface CostResult {
  readonly requests: number;
  readonly concurrency: number;
  readonly candidates: readonly string[];
  readonly strongest: string;
  readonly autoCostNanos: number;
  readonly strongestCostNanos: number;
  readonly autoLedgerNanos: number | undefined;
  readonly strongestLedgerNanos: number | undefined;
  readonly autoErrors: number;
  readonly strongestErrors: number;
  readonly savingsShare: number;
  readonly byKind: Readonly<Record<WorkloadKind, KindSummary>>;
  /** Answered below the effective floor (the stated minimum, else the complexity floor). */
  readonly violations: number;
  /** Answered below max(stated minimum, complexity floor). */
  readonly strictViolations: number;
  /** Of the strict violations, those where the stated minimum was below the complexity floor. */
  readonly strictFromLowerStatedFloor: number;
  /** `x-sluice-route` announced another floor than the effective one (or none). */
  readonly floorMismatches: number;
  readonly relaxed: number;
  readonly fallbacks: number;
  readonly examples: readonly string[];
  readonly elapsedSeconds: { readonly auto: number; readonly strongest: number };
}

const tracker = createCostTracker();

function qualityOf(model: string): number {
  const modelClass = tracker.priceOf(model)?.class;
  return modelClass === undefined ? 0.5 : DEFAULT_QUALITY_BY_CLASS[modelClass];
}

/** The complexity floor of a request, computed as the router does for the alias. */
function complexityFloor(body: Readonly<Record<string, unknown>>): number {
  const request = { ...body, model: 'auto' };
  const promptTokens = tracker.estimate(CANDIDATES[0], request as EstimateRequest).promptTokens;
  return estimateComplexity(request as ComplexityRequest, promptTokens).minQuality;
}

function announcedFloor(route: string | undefined): number | undefined {
  const match = route === undefined ? null : /\bq>=([0-9.]+)/.exec(route);
  return match === null ? undefined : Number(match[1]);
}

async function ask(
  pool: Pool,
  key: string,
  model: string,
  request: WorkloadRequest,
): Promise<Answer> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${key}`,
    'content-type': 'application/json',
    'cache-control': 'no-store',
  };
  if (request.minQuality !== undefined)
    headers['x-sluice-min-quality'] = String(request.minQuality);
  try {
    const response = await pool.request({
      method: 'POST',
      path: '/v1/chat/completions',
      headers,
      body: JSON.stringify({ ...request.body, model }),
    });
    const text = await response.body.text();
    const header = (name: string): string | undefined => {
      const value = response.headers[name];
      return typeof value === 'string' ? value : undefined;
    };
    const cost = header('x-sluice-cost-usd');
    let answered: string | undefined;
    if (response.statusCode === 200) answered = (JSON.parse(text) as { model?: string }).model;
    return {
      status: response.statusCode,
      costNanos: cost === undefined ? 0 : usdToNanos(cost),
      model: answered,
      route: header('x-sluice-route'),
      fallback: header('x-sluice-fallback') !== undefined,
      error: response.statusCode === 200 ? undefined : text.slice(0, 200),
    };
  } catch (error) {
    return {
      status: 0,
      costNanos: 0,
      model: undefined,
      route: undefined,
      fallback: false,
      error: (error as Error).message,
    };
  }
}

async function ledgerByKey(url: string): Promise<Map<string, number>> {
  const response = await fetch(`${url}/admin/spend?by=key`, {
    headers: { authorization: `Bearer ${ADMIN_KEY}` },
  });
  if (!response.ok) throw new Error(`GET /admin/spend answered ${response.status}`);
  const spend = (await response.json()) as { groups: { name: string; cost_usd: string }[] };
  return new Map(spend.groups.map((group) => [group.name, usdToNanos(group.cost_usd)]));
}

/** Runs the workload through `auto` and through the strongest model; checks every `auto` answer. */
export async function measureCost(
  group: UpstreamGroup,
  requests: number,
  signal: AbortSignal,
): Promise<CostResult> {
  const upstream = await group.start('pricing', { seed: 3 });
  const directory = mkdtempSync(join(tmpdir(), 'sluice-bench-routing-'));
  let gateway: Gateway | undefined;
  let pool: Pool | undefined;
  try {
    gateway = createGateway(
      {
        server: { logLevel: 'silent' },
        store: { sqlite: false },
        cache: { enabled: false },
        cost: { ledger: join(directory, 'ledger.db') },
        admin: { key: ADMIN_KEY },
        keys: [
          { name: 'auto', key: AUTO_KEY },
          { name: 'strongest', key: STRONGEST_KEY },
        ],
        providers: [{ name: 'mock', type: 'openai-compatible', baseUrl: upstream.url }],
        models: CANDIDATES.map((name) => ({ name, provider: 'mock' })),
        routing: { aliases: { auto: { candidates: [...CANDIDATES] } } },
      },
      { logger: false },
    );
    const { url } = await gateway.listen({ host: '127.0.0.1', port: 0 });
    const client = new Pool(url, { connections: COST_CONCURRENCY });
    pool = client;
    const workload = mixedWorkload(requests);
    const floors = workload.map((request) => complexityFloor(request.body));

    signal.throwIfAborted();
    let started = performance.now();
    const autoAnswers = await runConcurrently(requests, COST_CONCURRENCY, (index) =>
      ask(client, AUTO_KEY, 'auto', workload[index] as WorkloadRequest),
    );
    const autoSeconds = (performance.now() - started) / 1_000;
    signal.throwIfAborted();
    started = performance.now();
    const strongestAnswers = await runConcurrently(requests, COST_CONCURRENCY, (index) =>
      ask(client, STRONGEST_KEY, STRONGEST, workload[index] as WorkloadRequest),
    );
    const strongestSeconds = (performance.now() - started) / 1_000;
    let ledger: Map<string, number> | undefined;
    try {
      ledger = await ledgerByKey(url);
    } catch {
      ledger = undefined;
    }

    const byKind = Object.fromEntries(
      WORKLOAD_KINDS.map((kind) => [
        kind,
        { requests: 0, stated: 0, models: {}, autoCostNanos: 0, strongestCostNanos: 0 },
      ]),
    ) as Record<WorkloadKind, { -readonly [K in keyof KindSummary]: KindSummary[K] }>;
    const outcomes: AutoOutcome[] = [];
    const examples: string[] = [];
    let autoErrors = 0;
    let strongestErrors = 0;
    workload.forEach((request, index) => {
      const auto = autoAnswers[index] as Answer;
      const strongest = strongestAnswers[index] as Answer;
      const kind = byKind[request.kind];
      kind.requests += 1;
      if (request.minQuality !== undefined) kind.stated += 1;
      kind.autoCostNanos += auto.costNanos;
      kind.strongestCostNanos += strongest.costNanos;
      if (strongest.status !== 200) strongestErrors += 1;
      if (auto.status !== 200 || auto.model === undefined) {
        autoErrors += 1;
        if (examples.length < EXAMPLES) {
          examples.push(`#${index} ${request.kind}: auto answered ${auto.status} ${auto.error}`);
        }
        return;
      }
      const models = kind.models as Record<string, number>;
      models[auto.model] = (models[auto.model] ?? 0) + 1;
      const complexity = floors[index] as number;
      outcomes.push({
        kind: request.kind,
        answered: auto.model,
        quality: qualityOf(auto.model),
        stated: request.minQuality,
        complexityFloor: complexity,
        effectiveFloor: request.minQuality ?? complexity,
        announcedFloor: announcedFloor(auto.route),
        relaxed: auto.route?.includes(' relaxed=') === true,
        fallback: auto.fallback,
      });
      const outcome = outcomes[outcomes.length - 1] as AutoOutcome;
      if (outcome.quality < outcome.effectiveFloor && examples.length < EXAMPLES) {
        examples.push(
          `#${index} ${request.kind}: ${auto.model} (quality ${outcome.quality}) < floor ${outcome.effectiveFloor}; x-sluice-route: ${auto.route}`,
        );
      }
    });
    const autoCostNanos = autoAnswers.reduce((sum, answer) => sum + answer.costNanos, 0);
    const strongestCostNanos = strongestAnswers.reduce((sum, answer) => sum + answer.costNanos, 0);
    const strict = outcomes.filter((o) => o.quality < Math.max(o.stated ?? 0, o.complexityFloor));
    return {
      requests,
      concurrency: COST_CONCURRENCY,
      candidates: CANDIDATES,
      strongest: STRONGEST,
      autoCostNanos,
      strongestCostNanos,
      autoLedgerNanos: ledger?.get('auto'),
      strongestLedgerNanos: ledger?.get('strongest'),
      autoErrors,
      strongestErrors,
      savingsShare: strongestCostNanos === 0 ? 0 : 1 - autoCostNanos / strongestCostNanos,
      byKind,
      violations: outcomes.filter((o) => o.quality < o.effectiveFloor).length,
      strictViolations: strict.length,
      strictFromLowerStatedFloor: strict.filter(
        (o) => o.stated !== undefined && o.stated < o.complexityFloor,
      ).length,
      floorMismatches: outcomes.filter(
        (o) =>
          Math.abs((o.announcedFloor ?? 0) - Math.round(o.effectiveFloor * 1000) / 1000) > 1e-9,
      ).length,
      relaxed: outcomes.filter((o) => o.relaxed).length,
      fallbacks: outcomes.filter((o) => o.fallback).length,
      examples,
      elapsedSeconds: { auto: autoSeconds, strongest: strongestSeconds },
    };
  } finally {
    await pool?.close();
    await gateway?.close();
    rmSync(directory, { recursive: true, force: true });
  }
}
