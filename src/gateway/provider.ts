import type { Readable } from 'node:stream';

/** What an upstream answered: status, headers, and a body not yet read. */
export interface UpstreamResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Must be consumed or destroyed. */
  readonly body: Readable & { text(): Promise<string> };
}

/** A call to make upstream. `body` is already serialised JSON. */
export interface UpstreamCall {
  readonly body: string;
  readonly signal?: AbortSignal;
  /** The gateway's request id, forwarded as `x-request-id`. */
  readonly requestId?: string;
}

/**
 * An upstream LLM API. Transport failures reject with an `HttpError` (502 unreachable, 504
 * timeout) whose `isRetryable` is set; any HTTP status resolves.
 */
export interface Provider {
  readonly name: string;
  chatCompletions(call: UpstreamCall): Promise<UpstreamResponse>;
  embeddings(call: UpstreamCall): Promise<UpstreamResponse>;
  /** Closes connections once pending calls finish; calls still pending after `graceMs` are aborted. */
  close(graceMs?: number): Promise<void>;
}

/**
 * A deadline for an upstream's response headers, with a native timer (undici's own
 * `headersTimeout` runs on a coarse 500 ms clock, so a 300 ms timeout would fire after up to
 * 850 ms). Combine `signal` into the request; call `clear()` once the headers are in.
 */
export function headersDeadline(
  timeoutMs: number,
  caller: AbortSignal | undefined,
): { signal: AbortSignal; clear(): void; expired(): boolean } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  timer.unref();
  return {
    signal: caller === undefined ? controller.signal : AbortSignal.any([caller, controller.signal]),
    clear: () => clearTimeout(timer),
    expired: () => controller.signal.aborted,
  };
}
