/**
 * Small helpers shared by the parts of `sluice bench agent`: real waits and CPU work for the
 * simulated tools and resources, a seeded generator, and latency summaries.
 */
import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';

/** A real timer wait (what an HTTP call or a process start costs the event loop: nothing). */
export function sleep(ms: number): Promise<void> {
  return delay(ms);
}

const CPU_BLOCK = Buffer.alloc(64 * 1024, 0x5a);

/** Deterministic CPU work: SHA-256 over `kilobytes` KB, in 64 KB blocks. Returns the digest. */
export function burnCpu(kilobytes: number): string {
  const hash = createHash('sha256');
  let left = kilobytes * 1024;
  while (left > 0) {
    const take = Math.min(left, CPU_BLOCK.length);
    hash.update(take === CPU_BLOCK.length ? CPU_BLOCK : CPU_BLOCK.subarray(0, take));
    left -= take;
  }
  return hash.digest('hex');
}

/** Seeded 32-bit PRNG (mulberry32): uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A distribution of durations, in milliseconds (nearest-rank percentiles). */
export interface DurationSummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  minMs: number;
  maxMs: number;
}

export function summarize(samples: readonly number[]): DurationSummary {
  const sorted = [...samples].sort((left, right) => left - right);
  const rank = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ??
    Number.NaN;
  return {
    count: sorted.length,
    meanMs: sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length),
    p50Ms: rank(0.5),
    p95Ms: rank(0.95),
    minMs: sorted[0] ?? Number.NaN,
    maxMs: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

/** Milliseconds for a table cell: µs below 1 ms, else ms. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  if (ms < 1) return `${(ms * 1_000).toFixed(ms < 0.01 ? 2 : 1)} µs`;
  return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
}
