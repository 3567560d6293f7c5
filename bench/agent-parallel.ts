/**
 * Part 3 of `sluice bench agent`: N independent tool calls through `executeAll` with concurrency
 * N, against the same calls in sequence (concurrency 1, the named baseline), and against a bare
 * `Promise.all` of the same functions without the executor (its overhead).
 *
 * Each tool is an I/O wait (a real `WAIT_MS` timer, like an HTTP call) followed by a little CPU
 * (SHA-256 over `CPU_KILOBYTES`, like parsing the response). Uncached (`ttl: false`), so every
 * round runs every tool. Rounds alternate which variant goes first; after warm-up rounds, the
 * medians are compared. The CPU parts cannot overlap on one event loop, so the best possible
 * ratio is N·(wait + cpu) / (wait + N·cpu), printed beside the measured one.
 */
import { z } from 'zod';
import { createToolExecutor, defineTool, type ToolCall } from '../src/tools/index.js';
import { burnCpu, sleep } from './agent-timing.js';
import { type DurationSummary, summarize } from './lib/stats.js';

export const PARALLEL_TOOLS = 8;
export const WAIT_MS = 20;
export const CPU_KILOBYTES = 512;

export interface ParallelResult {
  tools: number;
  waitMs: number;
  cpuKilobytes: number;
  /** Median time of the CPU part of one tool, measured alone, ms. */
  cpuMs: number;
  rounds: number;
  /** `executeAll(calls, { concurrency: 1 })`. */
  sequential: DurationSummary;
  /** `executeAll(calls, { concurrency: N })`. */
  parallel: DurationSummary;
  /** `Promise.all` of the bare functions, no executor. */
  promiseAll: DurationSummary;
  /** Sequential p50 ÷ parallel p50. */
  speedup: number;
  /** N·(wait + cpu) ÷ (wait + N·cpu): the ratio if the waits overlapped perfectly. */
  idealSpeedup: number;
}

async function sourceWork(): Promise<string> {
  await sleep(WAIT_MS);
  return burnCpu(CPU_KILOBYTES);
}

export async function measureParallelTools(rounds: number): Promise<ParallelResult> {
  const cpuSamples: number[] = [];
  for (let index = 0; index < 30; index++) {
    const started = performance.now();
    burnCpu(CPU_KILOBYTES);
    cpuSamples.push(performance.now() - started);
  }
  const cpuMs = summarize(cpuSamples).p50Ms;

  const tools = Array.from({ length: PARALLEL_TOOLS }, (_, index) =>
    defineTool({
      name: `fetch_source_${index}`,
      description: 'Fetches and parses one independent source',
      parameters: z.object({ id: z.string() }),
      ttl: false,
      execute: () => sourceWork(),
    }),
  );
  const executor = createToolExecutor({ tools, concurrency: PARALLEL_TOOLS });
  const calls: ToolCall[] = tools.map((tool, index) => ({
    name: tool.name,
    input: { id: `source-${index}` },
  }));
  const variants = {
    sequential: async () => executor.executeAll(calls, { concurrency: 1 }),
    parallel: async () => executor.executeAll(calls, { concurrency: PARALLEL_TOOLS }),
    promiseAll: async () => Promise.all(calls.map(() => sourceWork())),
  };
  const names = Object.keys(variants) as (keyof typeof variants)[];
  const samples: Record<keyof typeof variants, number[]> = {
    sequential: [],
    parallel: [],
    promiseAll: [],
  };
  const warmUp = 2;
  try {
    for (let round = 0; round < warmUp + rounds; round++) {
      const order = round % 2 === 0 ? names : [...names].reverse();
      for (const name of order) {
        const started = performance.now();
        const results = await variants[name]();
        const elapsed = performance.now() - started;
        for (const result of results) {
          if (typeof result === 'object' && !result.ok) throw result.error;
        }
        if (round >= warmUp) samples[name].push(elapsed);
      }
    }
  } finally {
    await executor.close();
  }
  const sequential = summarize(samples.sequential);
  const parallel = summarize(samples.parallel);
  const n = PARALLEL_TOOLS;
  return {
    tools: n,
    waitMs: WAIT_MS,
    cpuKilobytes: CPU_KILOBYTES,
    cpuMs,
    rounds,
    sequential,
    parallel,
    promiseAll: summarize(samples.promiseAll),
    speedup: sequential.p50Ms / parallel.p50Ms,
    idealSpeedup: (n * (WAIT_MS + cpuMs)) / (WAIT_MS + n * cpuMs),
  };
}
