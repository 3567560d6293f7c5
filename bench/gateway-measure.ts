/**
 * The measurements of the gateway benchmark (see `gateway.ts` for the method): the correctness
 * check, throughput at 50 connections with autocannon in interleaved rounds, and latency at one
 * connection timed request by request.
 */
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import autocannon from 'autocannon';
import { Client } from 'undici';
import { type ForeignCpu, processCpuMs, quietRounds } from './foreign-cpu.js';
import type { ServerProcess } from './gateway-processes.js';
import { quantileOfSorted } from './lib/stats.js';

/**
 * The request every target is sent: a non-streaming chat completion, by default a small one
 * (`Say hello`); with `promptKb`, its user message is that many KB of words, as an agent's
 * long context would be.
 */
export function requestBody(promptKb = 0): string {
  let content = 'Say hello';
  if (promptKb > 0) {
    const words = ['budget', 'latency', 'cache', 'token', 'router', 'ledger', 'agent', 'window'];
    const parts: string[] = [];
    let length = 0;
    for (let index = 0; length < promptKb * 1024; index++) {
      const word = `${words[index % words.length]}${index % 97} `;
      parts.push(word);
      length += word.length;
    }
    content = parts.join('').slice(0, promptKb * 1024);
  }
  return JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] });
}

/**
 * `count` different requests like `requestBody(promptKb)` (the user message ends in its
 * number), for `--bodies distinct`: sent in turn, more of them than the gateway's body memo
 * holds, so every request is new to it, as a real miss is.
 */
export function requestBodies(promptKb: number, count: number): string[] {
  const base = JSON.parse(requestBody(promptKb)) as { messages: { content: string }[] };
  const content = base.messages[0]?.content ?? '';
  return Array.from({ length: count }, (_, index) =>
    JSON.stringify({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: `${content} (request ${index})` }],
    }),
  );
}

/** The body of a target's next request: its own, or the next of its distinct bodies. */
function nextBody(target: Target): string {
  const bodies = target.bodies;
  if (bodies === undefined || bodies.length === 0) return target.body;
  const cursor = bodyCursors.get(target) ?? 0;
  bodyCursors.set(target, cursor + 1);
  return bodies[cursor % bodies.length] as string;
}
const bodyCursors = new WeakMap<Target, number>();

/** Requests timed per target in one latency round (rounds interleave the targets). */
export const LATENCY_ROUND_SIZE = 100;
/** Requests per target in the correctness check. */
const CHECK_REQUESTS = 3;
/** Timeout of one request of the checks and the latency loop. */
const REQUEST_TIMEOUT_MS = 10_000;

/** How long, and how hard, the benchmark measures. */
export interface Settings {
  quick: boolean;
  /** Concurrent connections of the throughput runs. */
  connections: number;
  /** Seconds of the unmeasured autocannon run of each target before the rounds. */
  warmupSeconds: number;
  /** Measured seconds per target, split into `throughputRounds` rounds. */
  durationSeconds: number;
  /** Rounds of the throughput phase; each runs every target for `durationSeconds / rounds`. */
  throughputRounds: number;
  /** Requests timed one by one per target, at one connection. */
  latencyRequests: number;
  /** Untimed requests per target before the latency rounds. */
  latencyWarmupRequests: number;
  /** Requests per target whose allocations are counted, at `connections`. */
  allocationRequests: number;
  /** The Portkey version asked for (`latest` unless `--portkey`). */
  portkey: string;
  /** Where the Sluice process writes a `--cpu-prof` profile, if asked. */
  profileDir: string | undefined;
  /** KB of prompt in the request's user message (`--prompt-kb`); 0 for the small default. */
  promptKb: number;
  /** `same`: one body for every request; `distinct`: a new body each time except for (d). */
  bodies: 'same' | 'distinct';
  /** How Sluice's target configures the model (`--route`): by name (routed) or a wildcard. */
  route: 'named' | 'wildcard';
}

export type TargetId = 'a' | 'b' | 'c' | 'd' | 'e';

/** One system measured, and how to call it. */
export interface Target {
  id: TargetId;
  name: string;
  /** `http://127.0.0.1:PORT` */
  origin: string;
  path: string;
  headers: Record<string, string>;
  /** The request body (`requestBody`): of the checks, and of every request unless `bodies`. */
  body: string;
  /** With `--bodies distinct`: the bodies throughput and latency requests take in turn. */
  bodies?: readonly string[] | undefined;
  /** Upstream calls each request must cause: 1 through a pass-through, 0 on a cache hit. */
  upstreamCalls: 0 | 1;
  /** The `x-sluice-cache` header every answer must carry, for the Sluice targets. */
  sluiceCache: 'bypass' | 'hit' | undefined;
  /** The process serving the target (the mock for the direct target), for its CPU time. */
  pid: number | undefined;
  /** The same process, when it is one of the benchmark's own (not Portkey's): for allocations. */
  server: ServerProcess | undefined;
}

export interface LatencyFigures {
  samples: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
}

/** What was measured of one target. */
export interface TargetRow {
  id: TargetId;
  name: string;
  /** Why the target was not measured (Portkey not installable, ...); null when it was. */
  skipped: string | null;
  /** Median of the per-round rates. */
  requestsPerSecond: number | null;
  /** Requests/s of each throughput round; round r of every target ran back to back. */
  roundRequestsPerSecond: number[];
  /** Requests completed over all measured rounds. */
  measuredRequests: number;
  /** Upstream (mock) calls per request over all measured rounds. */
  upstreamCallsPerRequest: number | null;
  /**
   * CPU time of the target's own process per request over all measured rounds, microseconds
   * (Linux; null elsewhere): what the system costs, whatever else runs on the machine.
   */
  cpuMicrosecondsPerRequest: number | null;
  /**
   * Bytes the target's own process allocated per request, garbage included (V8's sampling heap
   * profiler); null for a process that cannot count (Portkey's).
   */
  allocatedBytesPerRequest: number | null;
  latency: LatencyFigures | null;
  /** p50 / p99 at one connection minus the direct target's. */
  addedP50Ms: number | null;
  addedP99Ms: number | null;
  /** Anything that makes the figures untrustworthy; a row with problems is INVALID. */
  problems: string[];
}

export function emptyRow(id: TargetId, name: string, skipped: string | null = null): TargetRow {
  return {
    id,
    name,
    skipped,
    requestsPerSecond: null,
    roundRequestsPerSecond: [],
    measuredRequests: 0,
    upstreamCallsPerRequest: null,
    cpuMicrosecondsPerRequest: null,
    allocatedBytesPerRequest: null,
    latency: null,
    addedP50Ms: null,
    addedP99Ms: null,
    problems: [],
  };
}

/** A request's outcome, as the checks and the latency loop read it. */
export interface Answer {
  status: number;
  sluiceCache: string | undefined;
  text: string;
}

/** One keep-alive connection to the target, for the checks and the latency loop. */
export function clientFor(target: Target): Client {
  return new Client(target.origin, {
    pipelining: 1,
    keepAliveTimeout: 60_000,
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
  });
}

export async function send(client: Client, target: Target, body = target.body): Promise<Answer> {
  const response = await client.request({
    method: 'POST',
    path: target.path,
    headers: target.headers,
    body,
  });
  const text = await response.body.text();
  const cache = response.headers['x-sluice-cache'];
  return {
    status: response.statusCode,
    sluiceCache: Array.isArray(cache) ? cache[0] : cache,
    text,
  };
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2;
};

/**
 * Throughput ratio of two rows: the median, over the rounds kept, of the ratio of their rates
 * in the same round, so that drift of the machine between rounds cancels out.
 */
export function pairedRatio(
  subject: TargetRow,
  baseline: TargetRow,
  phase: ThroughputPhase,
): number {
  const ratios: number[] = [];
  subject.roundRequestsPerSecond.forEach((rate, round) => {
    const other = baseline.roundRequestsPerSecond[round];
    if (phase.rounds[round]?.used === true && other !== undefined) ratios.push(rate / other);
  });
  return ratios.length === 0 ? Number.NaN : median(ratios);
}

// ------------------------------------------------------------------ correctness

/**
 * Sends a few requests to the target and returns what is wrong (empty when all is right):
 * status, body (the mock's, compared as JSON), `x-sluice-cache`, and upstream calls per
 * request. A hit target is warmed by one request first.
 */
export async function check(
  target: Target,
  client: Client,
  mock: ServerProcess,
  reference: unknown,
): Promise<string[]> {
  const problems: string[] = [];
  if (target.sluiceCache === 'hit') {
    const warm = await send(client, target);
    if (warm.status !== 200) problems.push(`warming request answered ${warm.status}`);
  }
  await mock.reset();
  for (let i = 0; i < CHECK_REQUESTS && problems.length === 0; i++) {
    const answer = await send(client, target);
    let body: unknown;
    try {
      body = JSON.parse(answer.text);
    } catch {
      body = undefined;
    }
    if (answer.status !== 200) {
      problems.push(`answered ${answer.status}: ${answer.text.slice(0, 200)}`);
    } else if (!isDeepStrictEqual(body, reference)) {
      problems.push(`the body is not the mock's: ${answer.text.slice(0, 200)}`);
    } else if (target.sluiceCache !== undefined && answer.sluiceCache !== target.sluiceCache) {
      problems.push(
        `x-sluice-cache: ${answer.sluiceCache ?? '(none)'}, expected ${target.sluiceCache}`,
      );
    }
  }
  const calls = (await mock.stats())?.chatCompletions ?? Number.NaN;
  const expected = CHECK_REQUESTS * target.upstreamCalls;
  if (problems.length === 0 && calls !== expected) {
    problems.push(
      `the mock saw ${calls} chat completions for ${CHECK_REQUESTS} requests, expected ${expected}`,
    );
  }
  return problems;
}

// ------------------------------------------------------------------ throughput

function autocannonRun(
  target: Target,
  settings: Settings,
  length: { duration: number } | { amount: number },
  signal: AbortSignal,
): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${target.origin}${target.path}`,
        method: 'POST',
        headers: target.headers,
        body: target.body,
        ...(target.bodies === undefined
          ? {}
          : {
              requests: [
                {
                  setupRequest: (request: autocannon.Request) => ({
                    ...request,
                    body: nextBody(target),
                  }),
                },
              ],
            }),
        connections: settings.connections,
        pipelining: 1,
        ...length,
        timeout: REQUEST_TIMEOUT_MS / 1_000,
      },
      (error, result) => {
        signal.removeEventListener('abort', stop);
        if (error !== null && error !== undefined) reject(error);
        else resolve(result);
      },
    );
    const stop = (): void => instance.stop();
    signal.addEventListener('abort', stop, { once: true });
  });
}

/** One throughput round: the order the targets ran in, and what other processes took. */
export interface ThroughputRound {
  order: TargetId[];
  /** Cores other processes kept busy during the round (null where it cannot be measured). */
  foreignCores: number | null;
  /** Whether the figures use this round (noisy rounds are left out when enough are quiet). */
  used: boolean;
}

/** The throughput phase: its rounds (each row holds its own rate of every round). */
export interface ThroughputPhase {
  rounds: ThroughputRound[];
}

/**
 * Warms every target up with one autocannon run, then measures them in rounds: each round runs
 * every target for `durationSeconds / throughputRounds`, starting one target further each
 * round. Rounds in which other processes took more than `NOISY_CORES` are left out of the
 * figures when at least half of the rounds are quiet. `onRound` is called after each round.
 */
export async function measureThroughput(
  targets: readonly Target[],
  rows: ReadonlyMap<TargetId, TargetRow>,
  mock: ServerProcess,
  settings: Settings,
  foreignCpu: ForeignCpu,
  signal: AbortSignal,
  onRound: (round: number, result: ThroughputRound) => void,
): Promise<ThroughputPhase> {
  const rounds: ThroughputRound[] = [];
  for (const target of targets) {
    if (signal.aborted) return { rounds };
    await autocannonRun(target, settings, { duration: settings.warmupSeconds }, signal);
  }
  const roundSeconds = settings.durationSeconds / settings.throughputRounds;
  const upstreamCalls = new Map(targets.map((target) => [target.id, 0]));
  const cpuMs = new Map<TargetId, number | null>(targets.map((target) => [target.id, 0]));
  for (let round = 0; round < settings.throughputRounds && !signal.aborted; round++) {
    const started = foreignCpu.start();
    const order: TargetId[] = [];
    for (let offset = 0; offset < targets.length; offset++) {
      const target = targets[(round + offset) % targets.length] as Target;
      const row = rows.get(target.id) as TargetRow;
      order.push(target.id);
      await mock.reset();
      const cpuBefore = target.pid === undefined ? null : processCpuMs(target.pid);
      const result = await autocannonRun(target, settings, { duration: roundSeconds }, signal);
      const cpuAfter = target.pid === undefined ? null : processCpuMs(target.pid);
      const cpuSoFar = cpuMs.get(target.id) ?? null;
      cpuMs.set(
        target.id,
        cpuSoFar === null || cpuBefore === null || cpuAfter === null
          ? null
          : cpuSoFar + cpuAfter - cpuBefore,
      );
      const calls = (await mock.stats())?.chatCompletions ?? Number.NaN;
      upstreamCalls.set(target.id, (upstreamCalls.get(target.id) ?? 0) + calls);
      row.measuredRequests += result.requests.total;
      row.roundRequestsPerSecond.push(result.requests.total / result.duration);
      if (result.errors > 0) {
        row.problems.push(
          `round ${round + 1}: ${result.errors} errors (${result.timeouts} timeouts)`,
        );
      }
      if (result.non2xx > 0) row.problems.push(`round ${round + 1}: ${result.non2xx} non-2xx`);
    }
    const finished: ThroughputRound = {
      order,
      foreignCores: foreignCpu.measure(started),
      used: true,
    };
    rounds.push(finished);
    onRound(round, finished);
  }
  const used = quietRounds(
    rounds.map((round) => round.foreignCores),
    Math.ceil(rounds.length / 2),
  );
  rounds.forEach((round, index) => {
    round.used = used[index] === true;
  });
  for (const target of targets) {
    const row = rows.get(target.id) as TargetRow;
    row.requestsPerSecond = median(row.roundRequestsPerSecond.filter((_, round) => used[round]));
    const calls = upstreamCalls.get(target.id) ?? 0;
    const completed = row.measuredRequests;
    row.upstreamCallsPerRequest = completed === 0 ? null : calls / completed;
    const cpu = cpuMs.get(target.id) ?? null;
    row.cpuMicrosecondsPerRequest =
      cpu === null || completed === 0 ? null : (cpu * 1_000) / completed;
    // Requests in flight when a run stops may reach the mock after the next reset: some slack.
    const slack = (2 * settings.connections * settings.throughputRounds) / Math.max(1, completed);
    const perRequest = row.upstreamCallsPerRequest ?? Number.NaN;
    if (!(Math.abs(perRequest - target.upstreamCalls) <= 0.01 + slack)) {
      row.problems.push(
        `${calls} upstream calls for ${completed} requests (expected ${target.upstreamCalls} per request)`,
      );
    }
  }
  return { rounds };
}

// ------------------------------------------------------------------ allocations

/**
 * What each target's process allocates per request, garbage included, counted by V8's sampling
 * heap profiler inside the process (told to keep the samples of collected objects) over
 * `allocationRequests` requests at `connections`: a cost figure that other work on the machine
 * does not move, unlike requests/s and, less, CPU/req. Run after the timed phases, since
 * sampling slows the process a little. A target whose process cannot count (Portkey's) keeps
 * null.
 */
export async function measureAllocation(
  targets: readonly Target[],
  rows: ReadonlyMap<TargetId, TargetRow>,
  settings: Settings,
  signal: AbortSignal,
): Promise<void> {
  for (const target of targets) {
    const server = target.server;
    if (signal.aborted) return;
    if (server === undefined || !(await server.startAllocationCount())) continue;
    let result: autocannon.Result;
    let bytes: number | null;
    try {
      result = await autocannonRun(
        target,
        settings,
        { amount: settings.allocationRequests },
        signal,
      );
    } finally {
      // Stopped whatever happened: a profiler left sampling would slow the process.
      bytes = await server.stopAllocationCount();
    }
    const row = rows.get(target.id) as TargetRow;
    const completed = result.requests.total;
    if (result.errors > 0 || result.non2xx > 0) {
      row.problems.push(
        `allocation run: ${result.errors} errors, ${result.non2xx} non-2xx of ${completed}`,
      );
    }
    row.allocatedBytesPerRequest = bytes === null || completed === 0 ? null : bytes / completed;
  }
}

// ------------------------------------------------------------------ latency at one connection

/** The latency phase: its rounds, and which of them the figures use. */
export interface LatencyPhase {
  rounds: number;
  /** Rounds whose samples the figures use (noisy ones are left out when enough are quiet). */
  usedRounds: number;
  /** Cores other processes kept busy during each round. */
  foreignCores: (number | null)[];
}

/**
 * Times `settings.latencyRequests` sequential requests per target over one keep-alive
 * connection each, in rounds of `LATENCY_ROUND_SIZE` whose target order rotates; fills each
 * row's `latency` and, against the direct target (a), `addedP50Ms` and `addedP99Ms`. Rounds in
 * which other processes took more than `NOISY_CORES` are left out when at least half are quiet.
 */
export async function measureLatency(
  targets: readonly Target[],
  clients: ReadonlyMap<TargetId, Client>,
  rows: ReadonlyMap<TargetId, TargetRow>,
  settings: Settings,
  foreignCpu: ForeignCpu,
  signal: AbortSignal,
): Promise<LatencyPhase> {
  const rounds = settings.latencyRequests / LATENCY_ROUND_SIZE;
  const samples = new Map(
    targets.map((target) => [target.id, new Float64Array(settings.latencyRequests)]),
  );
  const failures = new Map(targets.map((target) => [target.id, 0]));
  const timeOne = async (target: Target, client: Client): Promise<number> => {
    const body = nextBody(target);
    const started = performance.now();
    const answer = await send(client, target, body);
    const elapsed = performance.now() - started;
    const wrongCache =
      target.sluiceCache !== undefined && answer.sluiceCache !== target.sluiceCache;
    if (answer.status !== 200 || wrongCache) {
      failures.set(target.id, (failures.get(target.id) ?? 0) + 1);
    }
    return elapsed;
  };
  for (const target of targets) {
    const client = clients.get(target.id) as Client;
    for (let i = 0; i < settings.latencyWarmupRequests && !signal.aborted; i++) {
      await timeOne(target, client);
    }
  }
  const foreignCores: (number | null)[] = [];
  for (let round = 0; round < rounds && !signal.aborted; round++) {
    const started = foreignCpu.start();
    for (let offset = 0; offset < targets.length; offset++) {
      const target = targets[(round + offset) % targets.length] as Target;
      const client = clients.get(target.id) as Client;
      const into = samples.get(target.id) as Float64Array;
      for (let i = 0; i < LATENCY_ROUND_SIZE; i++) {
        into[round * LATENCY_ROUND_SIZE + i] = await timeOne(target, client);
      }
    }
    foreignCores.push(foreignCpu.measure(started));
  }
  const used = quietRounds(foreignCores, Math.ceil(rounds / 2));
  const usedRounds = used.filter(Boolean).length;
  for (const target of targets) {
    const row = rows.get(target.id) as TargetRow;
    const all = samples.get(target.id) as Float64Array;
    const kept = new Float64Array(usedRounds * LATENCY_ROUND_SIZE);
    let filled = 0;
    used.forEach((keep, round) => {
      if (!keep) return;
      kept.set(all.subarray(round * LATENCY_ROUND_SIZE, (round + 1) * LATENCY_ROUND_SIZE), filled);
      filled += LATENCY_ROUND_SIZE;
    });
    const sorted = kept.sort();
    let total = 0;
    for (const sample of sorted) total += sample;
    row.latency = {
      samples: sorted.length,
      meanMs: total / sorted.length,
      p50Ms: quantileOfSorted(sorted, 0.5),
      p99Ms: quantileOfSorted(sorted, 0.99),
    };
    const failed = failures.get(target.id) ?? 0;
    if (failed > 0) {
      row.problems.push(`${failed} timed requests failed or had the wrong cache header`);
    }
  }
  const direct = rows.get('a')?.latency;
  if (direct !== undefined && direct !== null) {
    for (const target of targets) {
      const row = rows.get(target.id) as TargetRow;
      if (target.id === 'a' || row.latency === null) continue;
      row.addedP50Ms = row.latency.p50Ms - direct.p50Ms;
      row.addedP99Ms = row.latency.p99Ms - direct.p99Ms;
    }
  }
  return { rounds: foreignCores.length, usedRounds, foreignCores };
}
