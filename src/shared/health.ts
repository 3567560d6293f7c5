/**
 * Where a dependency (a SQLite file, a Redis connection) says whether it works. The gateway
 * hands each dependency one reporter of its health registry (`telemetry/health.ts`); a module
 * used on its own gets none and reports nowhere. Both calls are cheap when nothing changes,
 * so they may be made on every operation.
 */
export interface HealthReporter {
  /** The last operation succeeded. */
  ok(): void;
  /** An operation failed; the dependency is degraded until the next `ok()`. */
  degraded(reason: string, error?: unknown): void;
}

/** A reporter that reports nowhere. */
export const unreported: HealthReporter = Object.freeze({
  ok() {},
  degraded() {},
});

/** A short description of a failure for a log line or `/healthz`: its code and message. */
export function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && !error.message.includes(code)
    ? `${code}: ${error.message}`
    : error.message;
}
