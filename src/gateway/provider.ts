/**
 * What an upstream answered: status, headers, and a body. For a streaming call the body is not
 * yet read; for a non-streaming call a provider may read it whole first and give it as `text`.
 */
export interface UpstreamResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Must be consumed or destroyed (already consumed, and empty, when `text` is set). */
  readonly body: UpstreamBody;
  /** The whole body, when the provider read it before answering (non-streaming calls). */
  readonly text?: string;
}

/** An upstream answer's body: undici's readable body, or anything that reads the same way. */
export interface UpstreamBody extends AsyncIterable<Uint8Array> {
  /** The rest of the body as UTF-8 text. */
  text(): Promise<string>;
  /** Stops reading and releases the connection. */
  destroy(error?: Error): unknown;
}

/** The body of an answer whose bytes were all read into `text`: stateless, so shared. */
export const CONSUMED_BODY: UpstreamBody = Object.freeze({
  text: () => Promise.resolve(''),
  destroy: () => undefined,
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {},
});

/**
 * A call to make upstream. `body` is already serialised JSON: a string, or the client's own
 * bytes when they are forwarded unchanged (no second encoding).
 */
export interface UpstreamCall {
  readonly body: string | Buffer;
  readonly signal?: AbortSignal;
  /** The gateway's request id, forwarded as `x-request-id`. */
  readonly requestId?: string;
  /** Trace context for the upstream (`traceparent`, `tracestate`), as flat name/value pairs. */
  readonly traceHeaders?: readonly string[];
  /**
   * The answer is an SSE stream: resolve at its headers with the body unread. Otherwise a
   * provider may resolve once the whole body is in, with `text` set.
   */
  readonly stream?: boolean;
}

/**
 * An upstream LLM API. Transport failures reject with an `HttpError` (502 unreachable, 504
 * timeout) whose `isRetryable` is set; any HTTP status resolves.
 */
export interface Provider {
  readonly name: string;
  /** The upstream's host name, for traces (`server.address`). */
  readonly host?: string;
  chatCompletions(call: UpstreamCall): Promise<UpstreamResponse>;
  embeddings(call: UpstreamCall): Promise<UpstreamResponse>;
  /** Closes connections once pending calls finish; calls still pending after `graceMs` are aborted. */
  close(graceMs?: number): Promise<void>;
}

const noop = (): void => {};
const never = (): boolean => false;
/** The deadline of a call that only undici's own timers bound: shared, it holds no state. */
const NO_DEADLINE = { signal: undefined, clear: noop, expired: never };

/** Below this, undici's coarse timers (500 ms ticks) are too imprecise for a timeout. */
const PRECISE_BELOW_MS = 10_000;

/**
 * A deadline for an upstream's response headers. Undici's own `headersTimeout` runs on a
 * coarse 500 ms clock (a 300 ms timeout fired after up to 850 ms), so timeouts under 10 s get
 * a native timer; longer ones keep undici's (at most 5% late) and cost nothing per request.
 * Pass `signal` to the request; call `clear()` once the headers are in.
 */
export function headersDeadline(
  timeoutMs: number,
  caller: AbortSignal | undefined,
): { signal: AbortSignal | undefined; clear(): void; expired(): boolean } {
  if (timeoutMs >= PRECISE_BELOW_MS) {
    return caller === undefined ? NO_DEADLINE : { signal: caller, clear: noop, expired: never };
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  timer.unref();
  const onAbort = () => controller.abort(caller?.reason);
  caller?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      caller?.removeEventListener('abort', onAbort);
    },
    expired: () => controller.signal.aborted && caller?.aborted !== true,
  };
}

/**
 * A provider's own headers (undici's flat name/value form) with the call's request id and trace
 * context after them; the same array when the call adds none.
 */
export function withCallHeaders(headers: readonly string[], call: UpstreamCall): string[] {
  const { requestId, traceHeaders } = call;
  // One array of the final length (`concat` spreads array arguments), not a copy grown by push.
  if (traceHeaders === undefined || traceHeaders.length === 0) {
    return requestId === undefined
      ? (headers as string[])
      : headers.concat('x-request-id', requestId);
  }
  return requestId === undefined
    ? headers.concat(traceHeaders)
    : headers.concat('x-request-id', requestId, traceHeaders);
}

/** The call's body as a value, for providers that rewrite the request. */
export function bodyOf(call: UpstreamCall): unknown {
  return JSON.parse(typeof call.body === 'string' ? call.body : call.body.toString('utf8'));
}
