/**
 * Phase 1 of `sluice bench routing`: success rate and latency against a flaky upstream, direct
 * and through Sluice's router (retries, fallbacks, circuit breakers, balancing).
 *
 * Two mock upstreams, each in its own child process: `primary` answers 10 % of requests with a
 * 500 and leaves 5 % hanging forever; `secondary` is healthy. Both answer after a time to first
 * token of 20 ms plus 0.5 ms per further token (about 30-40 ms for the answers here). Targets,
 * each sent the same small chat completion (`max_tokens` 32):
 * - `direct`: straight to the primary, with a client-side timeout equal to the gateway's
 *   provider timeout (a hung request fails there, as it would in an agent with that timeout);
 * - `sluice fallback`: the model on the primary, with a fallback chain to the same model on
 *   the secondary (a second configured model name);
 * - `sluice balanced`: the model listed on both providers (two deployments, weighted
 *   balancing, each the other's failover).
 * Both gateways: provider `timeout` 300 ms (a hang becomes a 504 in 300 ms), retries
 * `{ attempts: 2, baseDelay: 20ms, maxDelay: 200ms }`, breaker
 * `{ failures: 5, window: 10s, cooldown: 1s, maxCooldown: 4s }`; cache off. The gateways run in
 * this process, as does the load generator (concurrency 10 per target).
 * Requests go in interleaved rounds (each round runs every target once, the order rotating) so
 * that the upstreams' fault sequence and any drift of a shared machine fall on every target
 * alike. Latency is over every request, failed ones included (a failure's latency is the time
 * to its error). Upstream calls per request come from the mocks' own counters.
 * Then a timeout probe: 10 requests at once through a gateway whose only upstream never
 * answers (provider timeout 300 ms, no retry) measure how soon a hang becomes a 504.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { createGateway, type Gateway, type GatewayConfigFile } from '../src/gateway/index.js';
import type { MockProviderSettings } from '../src/mock-provider/index.js';
import { quantile } from './lib/stats.js';
import { runConcurrently } from './routing-measure.js';
import type { Upstream, UpstreamGroup } from './routing-processes.js';

/** The gateway's provider timeout, and the direct client's. */
export const UPSTREAM_TIMEOUT_MS = 300;
/** Requests in flight per target. */
export const RESILIENCE_CONCURRENCY = 10;
/** Requests per target per round. */
const ROUND_SIZE = 100;
/** Requests per target before measuring (JIT, connections, the breakers' steady state). */
const WARM_UP = 30;
/** A Sluice answer slower than this is counted as a client timeout (it would be a bug). */
const SLUICE_CLIENT_TIMEOUT_MS = 10_000;
const MODEL = 'gpt-4o-mini';

export const PRIMARY_SETTINGS: MockProviderSettings = {
  ttftMs: 20,
  tokenMs: 0.5,
  error500Rate: 0.1,
  timeoutRate: 0.05,
  seed: 7,
};
export const SECONDARY_SETTINGS: MockProviderSettings = { ttftMs: 20, tokenMs: 0.5, seed: 11 };

const ROUTING = {
  retries: { attempts: 2, baseDelay: '20ms', maxDelay: '200ms' },
  breaker: { failures: 5, window: '10s', cooldown: '1s', maxCooldown: '4s' },
};

export type ResilienceTargetId = 'direct' | 'sluice-fallback' | 'sluice-balanced' | 'timeout-probe';

export interface ResilienceRow {
  readonly id: ResilienceTargetId;
  readonly label: string;
  requests: number;
  succeeded: number;
  /** Failures by HTTP status or error code. */
  failures: Record<string, number>;
  /** Every request's latency, in ms (failures included). */
  latencies: number[];
  /** Answers that carried `x-sluice-fallback` (another deployment than the first choice). */
  fallbackAnswers: number;
  /** Calls the mocks received while this target ran. */
  primaryCalls: number;
  secondaryCalls: number;
}

export interface ResilienceSummary {
  readonly id: ResilienceTargetId;
  readonly label: string;
  readonly requests: number;
  readonly succeeded: number;
  readonly successRate: number;
  readonly failures: Readonly<Record<string, number>>;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly fallbackAnswers: number;
  readonly primaryCallsPerRequest: number;
  readonly secondaryCallsPerRequest: number;
}

/** How long the gateway takes to turn a hung upstream call into a 504. */
export interface TimeoutProbe {
  readonly requests: number;
  readonly timeoutMs: number;
  /** Answers by HTTP status or error code. */
  readonly outcomes: Readonly<Record<string, number>>;
  readonly minMs: number;
  readonly p50Ms: number;
  readonly maxMs: number;
}

export interface ResilienceResult {
  readonly requestsPerTarget: number;
  readonly rounds: number;
  readonly concurrency: number;
  readonly upstreamTimeoutMs: number;
  readonly primary: MockProviderSettings;
  readonly secondary: MockProviderSettings;
  readonly routing: typeof ROUTING;
  readonly rows: readonly ResilienceSummary[];
  readonly timeoutProbe: TimeoutProbe;
}

interface Target {
  readonly row: ResilienceRow;
  readonly pool: Pool;
  readonly gateway: Gateway | undefined;
}

function gatewayConfig(
  primary: Upstream,
  secondary: Upstream,
  layout: 'fallback' | 'balanced',
): GatewayConfigFile {
  return {
    server: { logLevel: 'silent' },
    store: { sqlite: false },
    cache: { enabled: false },
    cost: { ledger: false },
    providers: [
      {
        name: 'primary',
        type: 'openai-compatible',
        baseUrl: primary.url,
        timeout: UPSTREAM_TIMEOUT_MS,
      },
      {
        name: 'secondary',
        type: 'openai-compatible',
        baseUrl: secondary.url,
        timeout: UPSTREAM_TIMEOUT_MS,
      },
    ],
    models:
      layout === 'balanced'
        ? [
            { name: MODEL, provider: 'primary' },
            { name: MODEL, provider: 'secondary' },
          ]
        : [
            { name: MODEL, provider: 'primary' },
            { name: `${MODEL}-secondary`, provider: 'secondary', upstreamModel: MODEL },
          ],
    routing: {
      ...ROUTING,
      ...(layout === 'fallback' ? { fallbacks: { [MODEL]: [`${MODEL}-secondary`] } } : {}),
    },
  };
}

function emptyRow(id: ResilienceTargetId, label: string): ResilienceRow {
  return {
    id,
    label,
    requests: 0,
    succeeded: 0,
    failures: {},
    latencies: [],
    fallbackAnswers: 0,
    primaryCalls: 0,
    secondaryCalls: 0,
  };
}

function body(index: number): string {
  return JSON.stringify({
    model: MODEL,
    max_tokens: 32,
    messages: [{ role: 'user', content: `Status check ${index}: is the service up?` }],
  });
}

/** One request; records its outcome in the target's row when `row` is given. */
async function send(target: Target, index: number, row: ResilienceRow | undefined): Promise<void> {
  const started = performance.now();
  let outcome: string;
  let fallback = false;
  try {
    const response = await target.pool.request({
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
      body: body(index),
      ...(target.gateway === undefined ? { signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS) } : {}),
    });
    const text = await response.body.text();
    fallback = response.headers['x-sluice-fallback'] !== undefined;
    if (response.statusCode === 200) {
      const answer = JSON.parse(text) as { choices?: unknown[] };
      outcome = Array.isArray(answer.choices) && answer.choices.length > 0 ? 'ok' : 'bad-body';
    } else outcome = String(response.statusCode);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    outcome =
      (error as Error).name === 'TimeoutError' ||
      code === 'UND_ERR_HEADERS_TIMEOUT' ||
      code === 'UND_ERR_BODY_TIMEOUT'
        ? 'client-timeout'
        : typeof code === 'string'
          ? code
          : 'error';
  }
  const elapsed = performance.now() - started;
  if (row === undefined) return;
  row.requests += 1;
  row.latencies.push(elapsed);
  if (fallback) row.fallbackAnswers += 1;
  if (outcome === 'ok') row.succeeded += 1;
  else row.failures[outcome] = (row.failures[outcome] ?? 0) + 1;
}

export function summarize(row: ResilienceRow): ResilienceSummary {
  return {
    id: row.id,
    label: row.label,
    requests: row.requests,
    succeeded: row.succeeded,
    successRate: row.requests === 0 ? 0 : row.succeeded / row.requests,
    failures: row.failures,
    p50Ms: quantile(row.latencies, 0.5),
    p90Ms: quantile(row.latencies, 0.9),
    p99Ms: quantile(row.latencies, 0.99),
    maxMs: quantile(row.latencies, 1),
    fallbackAnswers: row.fallbackAnswers,
    primaryCallsPerRequest: row.requests === 0 ? 0 : row.primaryCalls / row.requests,
    secondaryCallsPerRequest: row.requests === 0 ? 0 : row.secondaryCalls / row.requests,
  };
}

/** Starts the two upstreams and the gateways, runs the rounds, and closes the gateways. */
export async function measureResilience(
  group: UpstreamGroup,
  requestsPerTarget: number,
  signal: AbortSignal,
): Promise<ResilienceResult> {
  const [primary, secondary] = await Promise.all([
    group.start('primary', PRIMARY_SETTINGS),
    group.start('secondary', SECONDARY_SETTINGS),
  ]);
  const targets: Target[] = [];
  try {
    targets.push({
      row: emptyRow('direct', 'direct to primary'),
      // The client timeout is a native timer (as in the OpenAI SDK): undici's own
      // headersTimeout runs on a coarse clock that overshoots short timeouts by up to a second.
      pool: new Pool(new URL(primary.url).origin, { connections: RESILIENCE_CONCURRENCY }),
      gateway: undefined,
    });
    for (const [id, label, layout] of [
      ['sluice-fallback', 'sluice fallback chain', 'fallback'],
      ['sluice-balanced', 'sluice 2 deployments', 'balanced'],
    ] as const) {
      const gateway = createGateway(gatewayConfig(primary, secondary, layout), { logger: false });
      const { url } = await gateway.listen({ host: '127.0.0.1', port: 0 });
      targets.push({
        row: emptyRow(id, label),
        pool: new Pool(url, {
          connections: RESILIENCE_CONCURRENCY,
          headersTimeout: SLUICE_CLIENT_TIMEOUT_MS,
          bodyTimeout: SLUICE_CLIENT_TIMEOUT_MS,
        }),
        gateway,
      });
    }

    for (const target of targets) {
      await runConcurrently(WARM_UP, RESILIENCE_CONCURRENCY, (index) =>
        send(target, 1_000_000 + index, undefined),
      );
    }
    const rounds = Math.ceil(requestsPerTarget / ROUND_SIZE);
    let sent = 0;
    for (let round = 0; round < rounds; round++) {
      signal.throwIfAborted();
      const size = Math.min(ROUND_SIZE, requestsPerTarget - sent);
      for (let turn = 0; turn < targets.length; turn++) {
        const target = targets[(round + turn) % targets.length] as Target;
        await Promise.all([primary.reset(), secondary.reset()]);
        await runConcurrently(size, RESILIENCE_CONCURRENCY, (index) =>
          send(target, sent + index, target.row),
        );
        const [primaryStats, secondaryStats] = await Promise.all([
          primary.stats(),
          secondary.stats(),
        ]);
        target.row.primaryCalls += primaryStats.chatCompletions;
        target.row.secondaryCalls += secondaryStats.chatCompletions;
      }
      sent += size;
    }
    const timeoutProbe = await probeTimeout(group);
    return {
      requestsPerTarget,
      rounds,
      concurrency: RESILIENCE_CONCURRENCY,
      upstreamTimeoutMs: UPSTREAM_TIMEOUT_MS,
      primary: PRIMARY_SETTINGS,
      secondary: SECONDARY_SETTINGS,
      routing: ROUTING,
      rows: targets.map((target) => summarize(target.row)),
      timeoutProbe,
    };
  } finally {
    await Promise.allSettled(targets.map((target) => target.pool.close()));
    await Promise.allSettled(targets.map((target) => target.gateway?.close()));
  }
}

/** Requests of the timeout probe (all in flight at once). */
const PROBE_REQUESTS = 10;

/**
 * Sends `PROBE_REQUESTS` requests at once through a gateway whose only upstream never answers
 * (provider timeout `UPSTREAM_TIMEOUT_MS`, no retry, no breaker in the way) and times each 504.
 */
async function probeTimeout(group: UpstreamGroup): Promise<TimeoutProbe> {
  const hanging = await group.start('hanging', { timeoutRate: 1, seed: 5 });
  const gateway = createGateway(
    {
      server: { logLevel: 'silent' },
      store: { sqlite: false },
      cache: { enabled: false },
      cost: { ledger: false },
      providers: [
        {
          name: 'hanging',
          type: 'openai-compatible',
          baseUrl: hanging.url,
          timeout: UPSTREAM_TIMEOUT_MS,
        },
      ],
      models: [{ name: MODEL, provider: 'hanging' }],
      routing: { retries: { attempts: 1 }, breaker: { failures: 1_000 } },
    },
    { logger: false },
  );
  const { url } = await gateway.listen({ host: '127.0.0.1', port: 0 });
  const pool = new Pool(url, {
    connections: PROBE_REQUESTS,
    headersTimeout: SLUICE_CLIENT_TIMEOUT_MS,
    bodyTimeout: SLUICE_CLIENT_TIMEOUT_MS,
  });
  const row = emptyRow('timeout-probe', 'timeout probe');
  try {
    const target: Target = { row, pool, gateway };
    await runConcurrently(PROBE_REQUESTS, PROBE_REQUESTS, (index) => send(target, index, row));
  } finally {
    await pool.close();
    await gateway.close();
  }
  return {
    requests: row.requests,
    timeoutMs: UPSTREAM_TIMEOUT_MS,
    outcomes: row.succeeded === 0 ? row.failures : { ...row.failures, '200': row.succeeded },
    minMs: quantile(row.latencies, 0),
    p50Ms: quantile(row.latencies, 0.5),
    maxMs: quantile(row.latencies, 1),
  };
}
