/**
 * `sluice bench gateway [--json FILE] [--quick] [--duration S] [--warmup S] [--requests N]
 * [--portkey VERSION] [--profile DIR] [--prompt-kb N] [--route named|wildcard]
 * [--bodies same|distinct]`: what the
 * Sluice gateway costs on top of an upstream, against a bare fastify + undici proxy (the floor)
 * and Portkey's open-source gateway, in one run on loopback against the mock provider at zero
 * latency.
 *
 * Targets, each sent the same non-streaming chat completion (a small one, or with `--prompt-kb`
 * a user message of N KB); Sluice's model is configured by name, so its requests are routed
 * (`--route wildcard`: passed through a wildcard, as runs before 2026-12-03 did). With
 * `--bodies distinct`, (a), (b), (c) and (e) send 10,000 different bodies in turn (the user
 * message numbered), more than the gateway's body memo holds, so that (c) pays what a real miss
 * with new bytes pays; (d) keeps its one body:
 * - (a) direct to the mock provider;
 * - (b) a bare fastify + undici pass-through proxy (`bare-proxy.ts`, 64 upstream connections,
 *   the same as Sluice's provider pool);
 * - (c) the Sluice gateway on the miss path: cache and metrics on, requests sent with
 *   `Cache-Control: no-store`;
 * - (d) the Sluice gateway on the hit path: the same request without cache-control, warmed;
 * - (e) Portkey's gateway (`@portkey-ai/gateway`), installed at run time into a folder under
 *   the OS temporary directory that later runs reuse; SKIPPED when it cannot be installed.
 *
 * Method:
 * - The mock and every system under test run in their own child process; the load generator
 *   runs in this one. Everything listens on 127.0.0.1.
 * - Correctness first: every target must answer 200 with the mock's body; (c) must say
 *   `x-sluice-cache: bypass`, (d) `hit`; the mock's counters must show one upstream call per
 *   request for (a), (b), (c), (e) and none for (d).
 * - Throughput: autocannon, 50 connections. Each target is warmed up by one run, then the
 *   measured time is split into rounds of about 1 s; every round runs every target once,
 *   starting one target further each round. A target's requests/s is the median of its round
 *   rates, and every ratio is the median over rounds of the same-round ratio, so a burst of
 *   other work on the machine does not land on one target only. Any error or non-2xx answer,
 *   or an upstream call count that does not match the target, makes the row INVALID.
 * - CPU/req: the CPU time of the process under test (for (a), the mock) per request over the
 *   throughput rounds, from `/proc` (Linux): a cost figure that other processes on the machine
 *   barely move, unlike requests/s.
 * - alloc/req: what the process under test allocates per request, garbage included, counted
 *   by V8's sampling heap profiler inside it (keeping the samples of collected objects) over
 *   10,000 requests (3,000 with `--quick`) at 50 connections, after the timed phases since
 *   sampling slows the process a little. Not for Portkey, whose process is not the benchmark's.
 *   It moves least from run to run: where a change's effect on requests/s is within the noise
 *   of a shared machine, this shows it.
 * - Latency: one keep-alive connection per target and one request at a time, each timed with
 *   `performance.now()` (autocannon only reports whole milliseconds), in interleaved rounds of
 *   100 requests whose order rotates. Added latency = the target's p50 (p99) minus the direct
 *   p50 (p99).
 * - CPU taken by other processes is measured (Linux) before the run and during every round,
 *   and printed. Rounds in which other processes took more than a quarter of a core are left
 *   out of the figures when at least half of the rounds are quiet: on a shared machine a burst
 *   of someone else's work must not read as a regression.
 */
import { writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { Client } from 'undici';
import { ConfigError } from '../src/shared/errors.js';
import { BARE_PROXY_CONNECTIONS } from './bare-proxy.js';
import { ForeignCpu, NOISY_CORES } from './foreign-cpu.js';
import {
  check,
  clientFor,
  emptyRow,
  LATENCY_ROUND_SIZE,
  type LatencyPhase,
  measureAllocation,
  measureLatency,
  measureThroughput,
  requestBodies,
  requestBody,
  type Settings,
  send,
  type Target,
  type TargetId,
  type TargetRow,
  type ThroughputPhase,
} from './gateway-measure.js';
import { ProcessGroup, type ServerProcess } from './gateway-processes.js';
import { formatRate, judge, printTable, printVerdicts } from './gateway-report.js';
import { parseBenchArgs, positiveNumber } from './lib/args.js';
import { guardChildren } from './lib/child-processes.js';
import { headerLine, machineEnvironment } from './lib/environment.js';
import { ensurePortkey, PORTKEY_CACHE_DIR, type PortkeyAvailability } from './portkey.js';

/** Concurrent connections of the throughput runs. */
const CONNECTIONS = 50;
/** Aimed length of one throughput round, seconds. */
const ROUND_SECONDS = 1;
const CHAT_PATH = '/v1/chat/completions';

// ------------------------------------------------------------------ arguments

function settingsFrom(args: string[]): { settings: Settings; json: string | undefined } {
  const { json, quick, extra } = parseBenchArgs(args, [
    'duration',
    'warmup',
    'requests',
    'portkey',
    'profile',
    'prompt-kb',
    'route',
    'bodies',
  ]);
  const route = extra.route ?? 'named';
  const bodies = extra.bodies ?? 'same';
  if (bodies !== 'same' && bodies !== 'distinct') {
    throw new ConfigError(`--bodies must be 'same' or 'distinct', got '${bodies}'`);
  }
  if (route !== 'named' && route !== 'wildcard') {
    throw new ConfigError(`--route must be 'named' or 'wildcard', got '${route}'`);
  }
  const promptKb =
    extra['prompt-kb'] === undefined ? 0 : positiveNumber('prompt-kb', extra['prompt-kb'], 1_024);
  if (promptKb !== undefined && !Number.isInteger(promptKb)) {
    throw new ConfigError('--prompt-kb must be a whole number of KB');
  }
  const requests = positiveNumber('requests', extra.requests, 1_000_000);
  if (requests !== undefined && (!Number.isInteger(requests) || requests < LATENCY_ROUND_SIZE)) {
    throw new ConfigError(`--requests must be a whole number of at least ${LATENCY_ROUND_SIZE}`);
  }
  const latencyRequests = requests ?? (quick ? 1_000 : 5_000);
  const durationSeconds = positiveNumber('duration', extra.duration, 600) ?? (quick ? 3 : 10);
  return {
    json,
    settings: {
      quick,
      connections: CONNECTIONS,
      warmupSeconds: positiveNumber('warmup', extra.warmup, 600) ?? (quick ? 1 : 3),
      durationSeconds,
      throughputRounds: Math.max(1, Math.round(durationSeconds / ROUND_SECONDS)),
      latencyRequests: Math.ceil(latencyRequests / LATENCY_ROUND_SIZE) * LATENCY_ROUND_SIZE,
      latencyWarmupRequests: quick ? 100 : 300,
      allocationRequests: quick ? 3_000 : 10_000,
      portkey: extra.portkey ?? 'latest',
      profileDir: extra.profile,
      promptKb: promptKb ?? 0,
      bodies,
      route,
    },
  };
}

// ------------------------------------------------------------------ servers

interface Servers {
  mock: ServerProcess;
  /** The targets that started, in order (a) to (e). */
  targets: Target[];
  /** Why Portkey is not among them, when it is not. */
  portkeySkipped: string | null;
  portkeyName: string;
  portkey: PortkeyAvailability;
}

/** Starts the mock, the bare proxy, Sluice and (when it can be installed) Portkey. */
async function startServers(
  group: ProcessGroup,
  settings: Settings,
  signal: AbortSignal,
): Promise<Servers> {
  const portkeyReady = ensurePortkey(settings.portkey, signal);
  const mock = await group.startTarget('mock');
  const mockUrl = new URL(mock.url);
  const profile =
    settings.profileDir === undefined
      ? []
      : ['--cpu-prof', `--cpu-prof-dir=${settings.profileDir}`];
  const [bare, sluice] = await Promise.all([
    group.startTarget('bare', mock.url),
    group.startTarget('sluice', mock.url, profile, [settings.route]),
  ]);
  const portkey = await portkeyReady;
  let portkeyServer: ServerProcess | undefined;
  let portkeySkipped: string | null = null;
  if (portkey.available) {
    const { install } = portkey;
    console.log(
      install.installed
        ? `Portkey gateway ${install.version} installed into ${install.folder}`
        : `Portkey gateway ${install.version} from ${install.folder} (installed by an earlier run; delete the folder to update)`,
    );
    try {
      portkeyServer = await group.startPortkey(install);
    } catch (error) {
      portkeySkipped = (error as Error).message.split('\n')[0] ?? 'it did not start';
    }
  } else {
    portkeySkipped = `Portkey could not be installed (${portkey.reason})`;
  }

  const json = { 'content-type': 'application/json' };
  const body = requestBody(settings.promptKb);
  // More than the gateway's body memo holds (4,096), sent in turn: each is new to it.
  const bodies =
    settings.bodies === 'distinct' ? requestBodies(settings.promptKb, 10_000) : undefined;
  const targets: Target[] = [
    {
      id: 'a',
      name: 'direct to the mock provider',
      origin: mockUrl.origin,
      pid: mock.pid,
      server: mock,
      path: `${mockUrl.pathname.replace(/\/+$/, '')}/chat/completions`,
      headers: json,
      body,
      bodies,
      upstreamCalls: 1,
      sluiceCache: undefined,
    },
    {
      id: 'b',
      name: 'bare fastify + undici proxy',
      origin: bare.url,
      pid: bare.pid,
      server: bare,
      path: CHAT_PATH,
      headers: json,
      body,
      bodies,
      upstreamCalls: 1,
      sluiceCache: undefined,
    },
    {
      id: 'c',
      name: 'Sluice, miss path (no-store)',
      origin: sluice.url,
      pid: sluice.pid,
      server: sluice,
      path: CHAT_PATH,
      headers: { ...json, 'cache-control': 'no-store' },
      body,
      bodies,
      upstreamCalls: 1,
      sluiceCache: 'bypass',
    },
    {
      id: 'd',
      name: 'Sluice, hit path',
      origin: sluice.url,
      pid: sluice.pid,
      server: sluice,
      path: CHAT_PATH,
      headers: json,
      body,
      upstreamCalls: 0,
      sluiceCache: 'hit',
    },
  ];
  const portkeyName = portkey.available
    ? `Portkey gateway ${portkey.install.version}`
    : 'Portkey gateway';
  if (portkeyServer !== undefined) {
    targets.push({
      id: 'e',
      name: portkeyName,
      origin: portkeyServer.url,
      pid: portkeyServer.pid,
      // Portkey's own server: it does not answer the benchmark's commands.
      server: undefined,
      path: CHAT_PATH,
      headers: {
        ...json,
        authorization: 'Bearer x',
        'x-portkey-provider': 'openai',
        'x-portkey-custom-host': mock.url,
      },
      body,
      bodies,
      upstreamCalls: 1,
      sluiceCache: undefined,
    });
  }
  return { mock, targets, portkeySkipped, portkeyName, portkey };
}

const cores = (value: number | null): string =>
  value === null ? 'n/a' : `${value.toFixed(2)} cores${value > NOISY_CORES ? ' (noisy)' : ''}`;

// ------------------------------------------------------------------ entry point

export async function run(args: string[]): Promise<void> {
  const { settings, json } = settingsFrom(args);
  const started = performance.now();
  const group = new ProcessGroup();
  const foreignCpu = new ForeignCpu(() => group.pids());
  const idle = foreignCpu.start();
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const environment = { ...machineEnvironment(), foreignCoresBeforeRun: foreignCpu.measure(idle) };
  console.log(headerLine('gateway', environment, settings.quick));
  const roundSeconds = settings.durationSeconds / settings.throughputRounds;
  console.log(
    `loopback, mock provider at zero latency; every server in its own process, autocannon and the latency loop in this one
throughput: ${CONNECTIONS} connections, ${settings.warmupSeconds} s warm-up per target, then ${settings.throughputRounds} interleaved rounds of ${roundSeconds.toFixed(1)} s per target; req/s = median of the rounds, ratios = median of same-round ratios, rounds with other processes above ${NOISY_CORES} cores left out if at least half are quiet
CPU/req: CPU time of the process under test per request in the rounds (for (a), the mock's), steady whatever else runs
alloc/req: what the process under test allocates per request, garbage included (V8's sampling heap profiler in it, keeping collected objects), over ${settings.allocationRequests.toLocaleString('en-US')} requests at ${CONNECTIONS} connections after the timed phases; the steadiest figure of all
latency: 1 connection, ${settings.latencyRequests.toLocaleString('en-US')} sequential requests per target timed with performance.now(), interleaved rounds of ${LATENCY_ROUND_SIZE}; added = p50 (p99) minus the direct p50 (p99)
other processes before the run: ${cores(environment.foreignCoresBeforeRun)}
Sluice's model: ${settings.route === 'named' ? 'configured by name, so every request is routed (--route named)' : 'a wildcard, planned once per model name (--route wildcard)'}
request: ${settings.promptKb === 0 ? 'a small chat completion (Say hello)' : `a chat completion whose user message is ${settings.promptKb} KB (--prompt-kb)`}${settings.bodies === 'distinct' ? '; (a) (b) (c) (e) send 10,000 distinct bodies in turn (--bodies distinct)' : ', the same body every time'}`,
  );

  const abort = new AbortController();
  const budgetSeconds = Math.round(
    300 +
      5 * (settings.warmupSeconds + settings.durationSeconds + 5 * settings.throughputRounds) +
      settings.latencyRequests * 0.05 +
      settings.allocationRequests * 0.004,
  );
  const unguard = guardChildren(group, abort, 'gateway', budgetSeconds);
  const clients = new Map<TargetId, Client>();
  const rows = new Map<TargetId, TargetRow>();
  let portkey: PortkeyAvailability = { available: false, reason: 'not tried' };
  let throughput: ThroughputPhase = { rounds: [] };
  let latency: LatencyPhase = { rounds: 0, usedRounds: 0, foreignCores: [] };
  try {
    const servers = await startServers(group, settings, abort.signal);
    const { mock, targets } = servers;
    portkey = servers.portkey;
    for (const target of targets) {
      rows.set(target.id, emptyRow(target.id, target.name));
      clients.set(target.id, clientFor(target));
    }
    if (servers.portkeySkipped !== null) {
      rows.set('e', emptyRow('e', servers.portkeyName, servers.portkeySkipped));
    }

    // Correctness: the direct answer is the reference every other target must return.
    const direct = await send(clients.get('a') as Client, targets[0] as Target);
    if (direct.status !== 200) {
      throw new Error(`the mock provider answered ${direct.status}: ${direct.text.slice(0, 200)}`);
    }
    const reference: unknown = JSON.parse(direct.text);
    const measured: Target[] = [];
    for (const target of targets) {
      const problems = await check(target, clients.get(target.id) as Client, mock, reference);
      const row = rows.get(target.id) as TargetRow;
      if (problems.length === 0) measured.push(target);
      else if (target.id === 'a') {
        throw new Error(`the direct target fails its check: ${problems.join('; ')}`);
      } else if (target.id === 'e') {
        row.skipped = `Portkey does not reach the mock correctly: ${problems.join('; ')}`;
      } else row.problems.push(...problems);
    }
    const ids = measured.map((target) => target.id);
    console.log(
      `checked: ${ids.map((id) => `(${id})`).join(' ')} answer 200 with the mock's body${ids.includes('c') ? ', (c) x-sluice-cache: bypass' : ''}${ids.includes('d') ? ', (d) hit' : ''}; upstream calls as expected`,
    );

    console.log(`throughput (req/s per round, in the order run):`);
    throughput = await measureThroughput(
      measured,
      rows,
      mock,
      settings,
      foreignCpu,
      abort.signal,
      (round, result) => {
        const figures = result.order.map((id) => {
          const rate = rows.get(id)?.roundRequestsPerSecond[round];
          return `(${id}) ${formatRate(rate)}`;
        });
        console.log(
          `  round ${round + 1}: ${figures.join('  ')}  — other processes ${cores(result.foreignCores)}`,
        );
      },
    );
    const usedRounds = throughput.rounds.filter((round) => round.used).length;
    if (usedRounds < throughput.rounds.length) {
      console.log(
        `  figures from the ${usedRounds} rounds in which other processes took at most ${NOISY_CORES} cores`,
      );
    } else if (throughput.rounds.some((round) => (round.foreignCores ?? 0) > NOISY_CORES)) {
      console.log('  figures from every round, noisy ones included (too few quiet rounds)');
    }
    latency = await measureLatency(measured, clients, rows, settings, foreignCpu, abort.signal);
    const noisy = latency.foreignCores.filter((value) => (value ?? 0) > NOISY_CORES).length;
    console.log(
      `latency: ${latency.rounds} rounds, ${noisy} of them noisy${noisy === 0 ? '' : latency.usedRounds < latency.rounds ? ` (left out: figures from ${latency.usedRounds} quiet rounds)` : ' (kept: too few quiet rounds)'}`,
    );
    await measureAllocation(measured, rows, settings, abort.signal);
    console.log(
      `allocations: ${settings.allocationRequests.toLocaleString('en-US')} requests per target, counted in the process under test`,
    );
  } finally {
    unguard();
    await Promise.allSettled([...clients.values()].map((client) => client.close()));
    await group.closeAll();
  }

  const ordered = (['a', 'b', 'c', 'd', 'e'] as const)
    .map((id) => rows.get(id))
    .filter((row): row is TargetRow => row !== undefined);
  const verdicts = judge(rows, throughput);
  printTable(ordered, throughput);
  printVerdicts(ordered, verdicts);
  const elapsed = (performance.now() - started) / 1_000;
  console.log(`\n${elapsed.toFixed(1)} s`);
  if (settings.profileDir !== undefined) {
    console.log(`CPU profile of the Sluice process written to ${settings.profileDir}`);
  }

  if (json !== undefined) {
    await writeFile(
      json,
      `${JSON.stringify(
        {
          suite: 'gateway',
          environment: {
            ...environment,
            portkey: portkey.available ? portkey.install.version : null,
            portkeyFolder: PORTKEY_CACHE_DIR,
          },
          settings: { ...settings, bareProxyConnections: BARE_PROXY_CONNECTIONS },
          elapsedSeconds: elapsed,
          throughput,
          latency,
          targets: ordered,
          verdicts,
        },
        null,
        2,
      )}\n`,
    );
    console.log(`figures written to ${json}`);
  }
}
