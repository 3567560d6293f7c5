/**
 * Hedged requests (Dean & Barroso, "The Tail at Scale"): when an attempt has not completed after
 * `delayMs` (by default the deployment's observed p95 latency), a second attempt starts; the
 * first success wins and the others are aborted, each attempt having its own AbortSignal.
 * Hedging cuts tail latency for the price of at most `maxHedges` extra calls on the slowest
 * ~5% of requests. It does not retry: an attempt that fails before the next is due ends the
 * hedge with its error when nothing else is running (retries are `retry`'s job). When every
 * attempt fails, the first attempt's error is thrown.
 */
import { ConfigError, SluiceError } from '../shared/errors.js';
import { HEDGE_LOST_CODE } from './errors.js';

export interface HedgeContext {
  /** 0 for the original attempt, 1 for the first hedge, ... */
  readonly attempt: number;
  /** Aborted when another attempt wins or the caller aborts. */
  readonly signal: AbortSignal;
}

export interface HedgeOptions {
  /**
   * Wait this long for an attempt before starting the next one, in ms.
   * @default `stats.p95()`; without either, no hedge is started
   */
  delayMs?: number;
  /** Where the default delay comes from: the deployment's statistics. */
  stats?: { p95(): number | undefined };
  /** Extra attempts at most. @default 1 */
  maxHedges?: number;
  /** Aborts every attempt; the hedge rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called when a hedge attempt starts (for metrics). */
  onHedge?: (attempt: number) => void;
}

/** Runs `attempt`, hedging it as described in the module comment. */
export function hedge<T>(
  attempt: (context: HedgeContext) => Promise<T>,
  options: HedgeOptions = {},
): Promise<T> {
  const maxHedges = options.maxHedges ?? 1;
  if (!(Number.isSafeInteger(maxHedges) && maxHedges >= 0)) {
    throw new ConfigError(`maxHedges must be a non-negative integer, got ${maxHedges}`);
  }
  const delayMs = options.delayMs ?? options.stats?.p95();
  if (delayMs !== undefined && !(Number.isFinite(delayMs) && delayMs >= 0)) {
    throw new ConfigError(`delayMs must be a non-negative number of ms, got ${delayMs}`);
  }
  const maxAttempts = delayMs === undefined ? 1 : 1 + maxHedges;
  const { signal } = options;

  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const controllers: AbortController[] = [];
    const errors: unknown[] = [];
    let running = 0;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;

    const settle = (outcome: () => void) => {
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      outcome();
    };
    const abortOthers = (winner: number, reason: unknown) => {
      controllers.forEach((controller, index) => {
        if (index !== winner) controller.abort(reason);
      });
    };
    const onAbort = () => {
      if (settled) return;
      abortOthers(-1, signal?.reason);
      settle(() => reject(signal?.reason));
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    const launch = () => {
      timer = undefined;
      if (settled) return;
      const index = controllers.length;
      const controller = new AbortController();
      controllers.push(controller);
      running += 1;
      if (index > 0) options.onHedge?.(index);
      let call: Promise<T>;
      try {
        call = Promise.resolve(attempt({ attempt: index, signal: controller.signal }));
      } catch (error) {
        call = Promise.reject(error);
      }
      call.then(
        (value) => {
          running -= 1;
          if (settled) return;
          abortOthers(index, new SluiceError(HEDGE_LOST_CODE, `attempt ${index} answered first`));
          settle(() => resolve(value));
        },
        (error: unknown) => {
          running -= 1;
          if (settled) return;
          errors[index] = error;
          if (running > 0) return;
          // Every attempt started so far failed: the original attempt's error is the answer.
          settle(() => reject(errors[0]));
        },
      );
      if (controllers.length < maxAttempts) timer = setTimeout(launch, delayMs);
    };
    launch();
  });
}
