/**
 * Small helpers shared by the parts of `sluice bench agent`: real waits and CPU work for the
 * simulated tools and resources, and table formatting.
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

/** Milliseconds for a table cell: µs below 1 ms, else ms. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  if (ms < 1) return `${(ms * 1_000).toFixed(ms < 0.01 ? 2 : 1)} µs`;
  return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
}
