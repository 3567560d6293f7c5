import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HEDGE_LOST_CODE } from '../../src/routing/errors.js';
import { type HedgeContext, hedge } from '../../src/routing/hedge.js';
import { ProfileStats } from '../../src/routing/profiles.js';
import { ManualClock } from '../../src/shared/clock.js';

interface Script {
  /** When the attempt settles, in ms after it starts. */
  after: number;
  /** Resolve with this value, or reject with `error`. */
  value?: string;
  error?: Error;
}

/** Attempts that settle on fake timers as scripted, recording starts and aborts. */
function scripted(scripts: Script[]) {
  const started: number[] = [];
  const aborted: { attempt: number; reason: unknown }[] = [];
  const attempt = ({ attempt: index, signal }: HedgeContext) => {
    started.push(Date.now());
    const script = scripts[index] ?? { after: 0, value: 'default' };
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (script.error !== undefined) reject(script.error);
        else resolve(script.value ?? '');
      }, script.after);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        aborted.push({ attempt: index, reason: signal.reason });
        reject(signal.reason);
      });
    });
  };
  return { attempt, started, aborted };
}

let start = 0;
beforeEach(() => {
  vi.useFakeTimers();
  start = Date.now();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('hedge', () => {
  it('does not hedge an attempt that completes before the delay', async () => {
    const { attempt, started } = scripted([{ after: 80, value: 'first' }]);
    const result = hedge(attempt, { delayMs: 100 });
    await vi.advanceTimersByTimeAsync(80);
    await expect(result).resolves.toBe('first');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(started).toEqual([start]);
  });

  it('starts a hedge after the delay; the hedge wins and the original is aborted', async () => {
    const { attempt, started, aborted } = scripted([
      { after: 1_000, value: 'slow' },
      { after: 50, value: 'hedge' },
    ]);
    const hedges: number[] = [];
    const result = hedge(attempt, { delayMs: 100, onHedge: (n) => hedges.push(n) });
    await vi.advanceTimersByTimeAsync(99);
    expect(started).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(started).toEqual([start, start + 100]);
    await vi.advanceTimersByTimeAsync(50);
    await expect(result).resolves.toBe('hedge');
    expect(hedges).toEqual([1]);
    expect(aborted).toHaveLength(1);
    expect(aborted[0]?.attempt).toBe(0);
    expect(aborted[0]?.reason).toMatchObject({ code: HEDGE_LOST_CODE });
  });

  it('the original can still win after the hedge started; then the hedge is aborted', async () => {
    const { attempt, aborted } = scripted([
      { after: 150, value: 'original' },
      { after: 500, value: 'hedge' },
    ]);
    const result = hedge(attempt, { delayMs: 100 });
    await vi.advanceTimersByTimeAsync(150);
    await expect(result).resolves.toBe('original');
    expect(aborted.map((entry) => entry.attempt)).toEqual([1]);
  });

  it("when both fail, rejects with the first attempt's error, after both finished", async () => {
    const first = new Error('first failed');
    const second = new Error('hedge failed');
    const { attempt } = scripted([
      { after: 300, error: first },
      { after: 50, error: second },
    ]);
    let settled = false;
    const result = hedge(attempt, { delayMs: 100 }).finally(() => {
      settled = true;
    });
    result.catch(() => {});
    await vi.advanceTimersByTimeAsync(150); // the hedge has failed, the original still runs
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(150);
    await expect(result).rejects.toBe(first);
  });

  it('a failure before the delay ends the hedge at once (hedging does not retry)', async () => {
    const failure = new Error('400');
    const { attempt, started } = scripted([{ after: 30, error: failure }]);
    const result = hedge(attempt, { delayMs: 100 });
    result.catch(() => {});
    await vi.advanceTimersByTimeAsync(30);
    await expect(result).rejects.toBe(failure);
    await vi.advanceTimersByTimeAsync(500);
    expect(started).toHaveLength(1);
  });

  it("uses the deployment's observed p95 as the default delay; without one, never hedges", async () => {
    const stats = new ProfileStats({ clock: new ManualClock() });
    for (let latency = 1; latency <= 100; latency += 1)
      stats.record({ ok: true, latencyMs: latency });
    expect(stats.p95()).toBe(95);
    const { attempt, started } = scripted([
      { after: 1_000, value: 'slow' },
      { after: 10, value: 'hedge' },
    ]);
    const result = hedge(attempt, { stats });
    await vi.advanceTimersByTimeAsync(95);
    expect(started).toEqual([start, start + 95]);
    await vi.advanceTimersByTimeAsync(10);
    await expect(result).resolves.toBe('hedge');

    const unobserved = scripted([{ after: 1_000, value: 'only' }]);
    const alone = hedge(unobserved.attempt, { stats: new ProfileStats() });
    await vi.advanceTimersByTimeAsync(1_000);
    await expect(alone).resolves.toBe('only');
    expect(unobserved.started).toHaveLength(1);
  });

  it('starts up to maxHedges extra attempts, one per delay', async () => {
    const { attempt, started } = scripted([
      { after: 10_000, value: 'a' },
      { after: 10_000, value: 'b' },
      { after: 10, value: 'c' },
    ]);
    const result = hedge(attempt, { delayMs: 100, maxHedges: 2 });
    await vi.advanceTimersByTimeAsync(210);
    await expect(result).resolves.toBe('c');
    expect(started).toEqual([start, start + 100, start + 200]);
  });

  it("the caller's abort aborts every attempt and rejects with its reason", async () => {
    const controller = new AbortController();
    const { attempt, aborted } = scripted([
      { after: 1_000, value: 'a' },
      { after: 1_000, value: 'b' },
    ]);
    const result = hedge(attempt, { delayMs: 100, signal: controller.signal });
    result.catch(() => {});
    await vi.advanceTimersByTimeAsync(150);
    const reason = new Error('client closed');
    controller.abort(reason);
    await expect(result).rejects.toBe(reason);
    expect(aborted.map((entry) => entry.attempt).sort()).toEqual([0, 1]);
    await expect(hedge(attempt, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });
});
