/**
 * Part 2 of `sluice bench agent`: the tool executor's cache on a replayed agent workload.
 *
 * The workload is generated here, deterministically (fixed seed): an agent's tool
 * calls over ten tools, grouped in turns of 1–3 parallel calls (one assistant message each).
 * Arguments are drawn from Zipf distributions (s = 1) over each tool's values; every call also
 * carries the volatile parameters agents and frameworks add (`request_id`, `trace_id`,
 * `timestamp`), which differ on every call; a quarter of the search queries differ from an
 * earlier one only in case or surrounding spaces. Three tools have side effects (e-mail, ticket,
 * file write) and repeat the same arguments often: caching them would be a bug. `get_time` is
 * time-dependent (`ttl: false`).
 *
 * Each turn advances a `ManualClock` (the cache's clock) by `TURN_MS` of agent time, so the
 * tools' TTLs (1 minute to 1 hour) expire as they would over the session's ~25 minutes. Every
 * execution is a real timer wait of the tool's latency. Every answer is a pure function of the
 * call's non-volatile, normalised arguments (and of the agent time for `get_time`), so a cached
 * answer can be checked against the uncached run's answer to the same call.
 */
import { z } from 'zod';
import { createCache, ManualClock } from '../src/cache/index.js';
import { createRandom } from '../src/shared/random.js';
import {
  CacheKeyBuilder,
  createToolExecutor,
  DEFAULT_VOLATILE_PARAMETERS,
  defineTool,
  type NormalizeOptions,
  type ToolCall,
  type ToolDefinition,
  type ToolExecutorStats,
} from '../src/tools/index.js';
import { sleep } from './agent-timing.js';

/** Agent time between two turns (model latency + thinking), ms. */
export const TURN_MS = 5_000;
const START = Date.UTC(2026, 0, 5, 9, 0, 0);
const ZIPF_S = 1;

export const WORKLOAD_SEED = 0xa6e7_2026;

/** What the workload generator knows of a tool. */
interface ToolSpec {
  name: string;
  /** Share of the calls. */
  share: number;
  /** Real wait per execution, ms. */
  latencyMs: number;
  sideEffects: boolean;
  /** The tool's cache TTL when caching is on (side-effect tools: never cached). */
  ttl: string | false;
  normalize?: NormalizeOptions;
  /** Draws one call's arguments. */
  draw(draw: Draws, context: { turn: number; call: number; time: number }): Record<string, unknown>;
}

interface Draws {
  /** Zipf rank in 0..n−1 (0 the most frequent). */
  zipf(n: number): number;
  uniform(): number;
  hex(length: number): string;
}

const TOPICS = [
  'retry policy',
  'rate limits',
  'streaming responses',
  'tool calling',
  'token budgets',
  'prompt caching',
  'batch api',
  'embeddings',
  'fine tuning',
  'function schemas',
  'error codes',
  'webhooks',
  'pagination',
  'authentication',
  'timeouts',
  'model routing',
];
const ASPECTS = ['how to configure', 'limits of', 'examples of', 'troubleshooting', 'pricing of'];
const DIRECTORIES = ['src/cache', 'src/tools', 'src/gateway', 'src/context', 'test', 'docs'];
const FILES = ['index', 'options', 'errors', 'store', 'client', 'worker', 'stats', 'keys'];
const CITIES = [
  'Paris',
  'Lisbon',
  'Berlin',
  'Madrid',
  'Rome',
  'Vienna',
  'Prague',
  'Oslo',
  'Dublin',
  'Warsaw',
  'Athens',
  'Zurich',
  'Helsinki',
  'Brussels',
  'Porto',
  'Lyon',
  'Milan',
  'Munich',
  'Seville',
  'Krakow',
];
const CURRENCIES = ['USD', 'EUR', 'GBP', 'JPY', 'CHF', 'CAD'];
const TIMEZONES = ['Europe/Paris', 'UTC', 'America/New_York', 'Asia/Tokyo', 'Europe/London'];
const RECIPIENTS = ['ana', 'bo', 'chen', 'dara', 'eli', 'fay', 'gus', 'hana'];
const SUBJECTS = ['Your refund is on its way', 'We need one more detail', 'Ticket update'];
const TICKETS = [
  'Flaky test in cache suite',
  'Refund stuck in review',
  'Backfill missed a partition',
  'Timeouts from the EU region',
  'Docs: tool schema example is wrong',
  'Rate limit too low for batch jobs',
  'Gateway returns 502 on long streams',
  'Memory grows in the worker pool',
];

/** Ten tools: seven read-only (six cached), three with side effects. Shares sum to 1. */
const SPECS: readonly ToolSpec[] = [
  {
    name: 'search_docs',
    share: 0.2,
    latencyMs: 3,
    sideEffects: false,
    ttl: '1h',
    normalize: { trim: ['query'], lowercase: ['query'] },
    draw: (draw, { call }) => {
      const rank = draw.zipf(TOPICS.length * ASPECTS.length);
      const topic = TOPICS[rank % TOPICS.length] as string;
      const aspect = ASPECTS[Math.floor(rank / TOPICS.length)] as string;
      let query = `${aspect} ${topic}`;
      const variant = draw.uniform();
      if (variant < 0.12) query = `${query[0]?.toUpperCase()}${query.slice(1)}`;
      else if (variant < 0.25) query = ` ${query} `;
      return { query, limit: draw.uniform() < 0.85 ? 5 : 10, request_id: requestId(call) };
    },
  },
  {
    name: 'read_file',
    share: 0.15,
    latencyMs: 1,
    sideEffects: false,
    ttl: '2m',
    draw: (draw, { call }) => {
      const rank = draw.zipf(DIRECTORIES.length * FILES.length);
      const path = `${DIRECTORIES[rank % DIRECTORIES.length]}/${FILES[Math.floor(rank / DIRECTORIES.length)]}.ts`;
      return { path, request_id: requestId(call) };
    },
  },
  {
    name: 'lookup_order',
    share: 0.12,
    latencyMs: 2,
    sideEffects: false,
    ttl: '5m',
    draw: (draw) => ({
      order_id: `ORD-${58_213 + 37 * draw.zipf(120)}`,
      trace_id: draw.hex(16),
    }),
  },
  {
    name: 'get_user',
    share: 0.1,
    latencyMs: 2,
    sideEffects: false,
    ttl: '10m',
    draw: (draw, { call }) => ({
      user_id: `u_${1_000 + draw.zipf(80)}`,
      request_id: requestId(call),
    }),
  },
  {
    name: 'get_weather',
    share: 0.08,
    latencyMs: 3,
    sideEffects: false,
    ttl: '30m',
    normalize: { lowercase: ['city'] },
    draw: (draw, { time }) => ({
      city: CITIES[draw.zipf(CITIES.length)] as string,
      days: draw.uniform() < 0.7 ? 1 : 3,
      timestamp: new Date(time).toISOString(),
    }),
  },
  {
    name: 'fx_rate',
    share: 0.07,
    latencyMs: 2,
    sideEffects: false,
    ttl: '1m',
    draw: (draw, { time }) => {
      const rank = draw.zipf(CURRENCIES.length * (CURRENCIES.length - 1));
      const base = CURRENCIES[rank % CURRENCIES.length] as string;
      const others = CURRENCIES.filter((currency) => currency !== base);
      const quote = others[Math.floor(rank / CURRENCIES.length)] as string;
      return { base, quote, timestamp: new Date(time).toISOString() };
    },
  },
  {
    name: 'get_time',
    share: 0.05,
    latencyMs: 1,
    sideEffects: false,
    ttl: false,
    draw: (draw, { call }) => ({
      timezone: TIMEZONES[draw.zipf(TIMEZONES.length)] as string,
      request_id: requestId(call),
    }),
  },
  {
    name: 'send_email',
    share: 0.08,
    latencyMs: 3,
    sideEffects: true,
    ttl: false,
    draw: (draw, { call }) => {
      const subject = SUBJECTS[draw.zipf(SUBJECTS.length)] as string;
      return {
        to: `${RECIPIENTS[draw.zipf(RECIPIENTS.length)]}@example.org`,
        subject,
        body: `Hello, ${subject.toLowerCase()}. Reply to this e-mail with any question.`,
        request_id: requestId(call),
      };
    },
  },
  {
    name: 'create_ticket',
    share: 0.07,
    latencyMs: 3,
    sideEffects: true,
    ttl: false,
    draw: (draw, { call }) => {
      const rank = draw.zipf(TICKETS.length);
      return {
        title: TICKETS[rank] as string,
        priority: rank < 2 ? 'high' : 'normal',
        request_id: requestId(call),
      };
    },
  },
  {
    name: 'write_file',
    share: 0.08,
    latencyMs: 1,
    sideEffects: true,
    ttl: false,
    draw: (draw) => {
      const rank = draw.zipf(12);
      return { path: `notes/step-${rank}.md`, content: `# Step ${rank}\n\nDone.\n` };
    },
  },
];

function requestId(call: number): string {
  return `req-${call.toString(16).padStart(6, '0')}`;
}

export interface WorkloadCall extends ToolCall {
  name: string;
  input: Record<string, unknown>;
  turn: number;
}

export interface ToolWorkload {
  seed: number;
  calls: WorkloadCall[];
  /** Calls grouped by turn (one `executeAll` each). */
  turns: WorkloadCall[][];
  /** Agent time the workload spans, ms. */
  spanMs: number;
}

export interface ToolProfile {
  name: string;
  latencyMs: number;
  sideEffects: boolean;
  ttl: string | false;
  calls: number;
  /** Distinct cache keys (volatile parameters left out, normalised): what any cache must run. */
  distinctKeys: number;
  /** Distinct argument sets, every parameter counted. */
  distinctArguments: number;
}

/** Zipf(s) ranks 0..n−1 by inverse CDF; one table per n. */
function zipfSampler(random: () => number): (n: number) => number {
  const tables = new Map<number, Float64Array>();
  return (n) => {
    let cdf = tables.get(n);
    if (cdf === undefined) {
      cdf = new Float64Array(n);
      let sum = 0;
      for (let rank = 0; rank < n; rank++) {
        sum += 1 / (rank + 1) ** ZIPF_S;
        cdf[rank] = sum;
      }
      for (let rank = 0; rank < n; rank++) cdf[rank] = (cdf[rank] as number) / sum;
      tables.set(n, cdf);
    }
    const u = random();
    let low = 0;
    let high = n - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((cdf[middle] as number) < u) low = middle + 1;
      else high = middle;
    }
    return low;
  };
}

/** `calls` tool calls in turns of 1–3 (60% / 25% / 15%), deterministic for a seed. */
export function generateToolWorkload(calls: number, seed = WORKLOAD_SEED): ToolWorkload {
  const random = createRandom(seed);
  const draws: Draws = {
    zipf: zipfSampler(random),
    uniform: random,
    hex: (length) => {
      let text = '';
      while (text.length < length) text += Math.floor(random() * 16).toString(16);
      return text;
    },
  };
  const pickTool = (): ToolSpec => {
    let u = random();
    for (const spec of SPECS) {
      u -= spec.share;
      if (u < 0) return spec;
    }
    return SPECS[SPECS.length - 1] as ToolSpec;
  };
  const all: WorkloadCall[] = [];
  const turns: WorkloadCall[][] = [];
  while (all.length < calls) {
    const turn = turns.length;
    const u = random();
    const size = Math.min(calls - all.length, u < 0.6 ? 1 : u < 0.85 ? 2 : 3);
    const batch: WorkloadCall[] = [];
    for (let index = 0; index < size; index++) {
      const spec = pickTool();
      const input = spec.draw(draws, { turn, call: all.length, time: START + turn * TURN_MS });
      const call: WorkloadCall = { name: spec.name, input, turn };
      batch.push(call);
      all.push(call);
    }
    turns.push(batch);
  }
  return { seed, calls: all, turns, spanMs: turns.length * TURN_MS };
}

/** Per tool: calls, distinct keys and distinct argument sets of the workload. */
export function profileWorkload(workload: ToolWorkload): ToolProfile[] {
  return SPECS.map((spec) => {
    const keys = new CacheKeyBuilder(spec.name, '1', DEFAULT_VOLATILE_PARAMETERS, spec.normalize);
    const everything = new CacheKeyBuilder(spec.name, '1', [], undefined);
    const calls = workload.calls.filter((call) => call.name === spec.name);
    return {
      name: spec.name,
      latencyMs: spec.latencyMs,
      sideEffects: spec.sideEffects,
      ttl: spec.ttl,
      calls: calls.length,
      distinctKeys: new Set(calls.map((call) => keys.key(call.input))).size,
      distinctArguments: new Set(calls.map((call) => everything.key(call.input))).size,
    };
  });
}

// ------------------------------------------------------------------ the tools

/** How a contender caches. */
export interface ToolCacheContender {
  name: string;
  description: string;
  /** false: every tool `ttl: false` (the baseline executor). */
  caching: boolean;
  /** Every parameter in the key (`volatileParameters: []`, no normalisation). */
  keyAllArguments: boolean;
  /** The cache's `l1.maxEntries`. */
  maxEntries: number;
}

/** A stable digest of a string, for the simulated answers. */
function digest(text: string): string {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash = Math.imul(hash ^ text.charCodeAt(index), 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

/** The ten tools, executing with real waits and counting their executions in `executions`. */
function buildTools(
  contender: ToolCacheContender,
  clock: ManualClock,
  executions: Map<string, number>,
): ToolDefinition<unknown, unknown>[] {
  const spec = (name: string): ToolSpec => SPECS.find((entry) => entry.name === name) as ToolSpec;
  const run = async <Output>(name: string, answer: () => Output): Promise<Output> => {
    executions.set(name, (executions.get(name) ?? 0) + 1);
    await sleep(spec(name).latencyMs);
    return answer();
  };
  /** The cache policy of a read-only tool under this contender. */
  const policy = (
    name: string,
  ): Pick<ToolDefinition, 'ttl' | 'volatileParameters' | 'normalize'> => {
    const { ttl, normalize } = spec(name);
    if (!contender.caching) return { ttl: false };
    if (contender.keyAllArguments) return { ttl, volatileParameters: [] };
    return normalize === undefined ? { ttl } : { ttl, normalize };
  };
  const tools = [
    defineTool({
      name: 'search_docs',
      description: 'Searches the product documentation',
      parameters: z.object({
        query: z.string().min(1),
        limit: z.number().int().min(1).max(50).default(5),
        request_id: z.string(),
      }),
      ...policy('search_docs'),
      execute: ({ query, limit }) =>
        run('search_docs', () => {
          const normalized = query.trim().toLowerCase();
          return {
            query: normalized,
            hits: Array.from({ length: limit }, (_, rank) => ({
              doc: `docs/${digest(`${normalized}#${rank}`)}.md`,
              score: Number((1 - rank / (limit + 1)).toFixed(3)),
            })),
          };
        }),
    }),
    defineTool({
      name: 'read_file',
      description: 'Reads a file of the repository',
      parameters: z.object({ path: z.string(), request_id: z.string() }),
      ...policy('read_file'),
      execute: ({ path }) =>
        run('read_file', () => ({
          path,
          sha: digest(path),
          bytes: 200 + (digest(path).charCodeAt(0) % 50) * 100,
        })),
    }),
    defineTool({
      name: 'lookup_order',
      description: 'Looks an order up by id',
      parameters: z.object({ order_id: z.string().regex(/^ORD-\d+$/), trace_id: z.string() }),
      ...policy('lookup_order'),
      execute: ({ order_id }) =>
        run('lookup_order', () => ({
          order_id,
          status: ['shipped', 'delivered', 'refund_requested'][
            Number.parseInt(digest(order_id), 16) % 3
          ],
        })),
    }),
    defineTool({
      name: 'get_user',
      description: 'A user profile',
      parameters: z.object({ user_id: z.string(), request_id: z.string() }),
      ...policy('get_user'),
      execute: ({ user_id }) =>
        run('get_user', () => ({
          user_id,
          plan: Number.parseInt(digest(user_id), 16) % 2 === 0 ? 'pro' : 'free',
        })),
    }),
    defineTool({
      name: 'get_weather',
      description: 'Weather forecast for a city',
      parameters: z.object({
        city: z.string(),
        days: z.number().int().min(1).max(7).default(1),
        timestamp: z.string(),
      }),
      ...policy('get_weather'),
      execute: ({ city, days }) =>
        run('get_weather', () => ({
          city: city.toLowerCase(),
          forecast: Array.from({ length: days }, (_, day) => ({
            day,
            highC: 10 + (Number.parseInt(digest(`${city.toLowerCase()}${day}`), 16) % 15),
          })),
        })),
    }),
    defineTool({
      name: 'fx_rate',
      description: 'Exchange rate between two currencies',
      parameters: z.object({
        base: z.string().length(3),
        quote: z.string().length(3),
        timestamp: z.string(),
      }),
      ...policy('fx_rate'),
      execute: ({ base, quote }) =>
        run('fx_rate', () => ({
          base,
          quote,
          rate: Number((0.5 + (Number.parseInt(digest(base + quote), 16) % 1000) / 500).toFixed(4)),
        })),
    }),
    defineTool({
      name: 'get_time',
      description: 'The current time in a time zone',
      parameters: z.object({ timezone: z.string(), request_id: z.string() }),
      ttl: false,
      execute: ({ timezone }) =>
        run('get_time', () => ({ timezone, now: new Date(clock.now()).toISOString() })),
    }),
    defineTool({
      name: 'send_email',
      description: 'Sends an e-mail',
      parameters: z.object({
        to: z.email(),
        subject: z.string(),
        body: z.string(),
        request_id: z.string(),
      }),
      sideEffects: true,
      execute: ({ to }) => run('send_email', () => ({ status: 'sent', to })),
    }),
    defineTool({
      name: 'create_ticket',
      description: 'Opens a ticket in the tracker',
      parameters: z.object({
        title: z.string(),
        priority: z.enum(['normal', 'high']),
        request_id: z.string(),
      }),
      sideEffects: true,
      execute: ({ title, priority }) =>
        run('create_ticket', () => ({ status: 'created', title, priority })),
    }),
    defineTool({
      name: 'write_file',
      description: 'Writes a file',
      parameters: z.object({ path: z.string(), content: z.string() }),
      sideEffects: true,
      execute: ({ path, content }) =>
        run('write_file', () => ({ status: 'written', path, bytes: content.length })),
    }),
  ];
  return tools as unknown as ToolDefinition<unknown, unknown>[];
}

export interface ToolReplay {
  contender: ToolCacheContender;
  calls: number;
  /** Executions counted inside the tools, by tool. */
  executions: Record<string, number>;
  totalExecutions: number;
  /** The executor's own counters. */
  stats: ToolExecutorStats;
  /** Calls that failed (should be none). */
  errors: number;
  /** Each call's answer as JSON (or `error: …`), in call order. */
  answers: string[];
  /** Real time of the replay (tool waits included), ms. */
  wallMs: number;
}

/** Replays the workload turn by turn through a `createToolExecutor` with a real `createCache`. */
export async function replayToolWorkload(
  workload: ToolWorkload,
  contender: ToolCacheContender,
): Promise<ToolReplay> {
  const clock = new ManualClock(START);
  const cache = createCache({ l1: { maxEntries: contender.maxEntries }, clock });
  const executions = new Map<string, number>();
  const executor = createToolExecutor({
    tools: buildTools(contender, clock, executions),
    cache,
    concurrency: 8,
  });
  const answers: string[] = [];
  let errors = 0;
  const started = performance.now();
  try {
    for (const turn of workload.turns) {
      const results = await executor.executeAll(turn);
      for (const result of results) {
        if (result.ok) answers.push(JSON.stringify(result.value));
        else {
          errors += 1;
          answers.push(`error: ${(result.error as Error).message}`);
        }
      }
      clock.advance(TURN_MS);
    }
  } finally {
    await executor.close();
    await cache.close();
  }
  const wallMs = performance.now() - started;
  const counted: Record<string, number> = {};
  let totalExecutions = 0;
  for (const spec of SPECS) {
    const count = executions.get(spec.name) ?? 0;
    counted[spec.name] = count;
    totalExecutions += count;
  }
  return {
    contender,
    calls: workload.calls.length,
    executions: counted,
    totalExecutions,
    stats: executor.stats(),
    errors,
    answers,
    wallMs,
  };
}
