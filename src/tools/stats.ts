import { LatencyHistogram, type LatencySummary } from '../telemetry/latency.js';

/** What one tool did since the executor started. */
export interface ToolStats {
  /** Calls made (including refused ones). */
  calls: number;
  /** Calls answered from the cache (this process's or a shared tier). */
  cacheHits: number;
  /** Calls that joined an identical call already in flight (single-flight). */
  coalesced: number;
  /** Times the tool actually ran (each may hold several attempts). */
  executions: number;
  /** Retries after a retryable failure or a timeout. */
  retries: number;
  /** Attempts that ran past the tool's timeout. */
  timeouts: number;
  /** Executions that failed after their last attempt. */
  errors: number;
  /** Calls refused before running: arguments not matching the schema. */
  argumentErrors: number;
  /** (cacheHits + coalesced) / calls answered; 0 before the first call. */
  hitRatio: number;
  /** Sum of the tool's `volume(output)` (rows, bytes, ...): the work its results stand for. */
  volume: number;
  /** Execution time (all attempts and backoff), in milliseconds. */
  durationMs: Pick<LatencySummary, 'p50Ms' | 'p95Ms' | 'meanMs' | 'maxMs'>;
}

/** Mutable counters behind `ToolStats`; bounded (one histogram per registered tool). */
export class ToolCounters {
  calls = 0;
  cacheHits = 0;
  coalesced = 0;
  executions = 0;
  retries = 0;
  timeouts = 0;
  errors = 0;
  argumentErrors = 0;
  volume = 0;
  readonly durations = new LatencyHistogram();

  snapshot(): ToolStats {
    const answered = this.cacheHits + this.coalesced + this.executions;
    const summary = this.durations.summary();
    return {
      calls: this.calls,
      cacheHits: this.cacheHits,
      coalesced: this.coalesced,
      executions: this.executions,
      retries: this.retries,
      timeouts: this.timeouts,
      errors: this.errors,
      argumentErrors: this.argumentErrors,
      hitRatio: answered === 0 ? 0 : (this.cacheHits + this.coalesced) / answered,
      volume: this.volume,
      durationMs: {
        p50Ms: summary.p50Ms,
        p95Ms: summary.p95Ms,
        meanMs: summary.meanMs,
        maxMs: summary.maxMs,
      },
    };
  }
}
