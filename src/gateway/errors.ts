import { SluiceError } from '../shared/errors.js';
import { type Outcome, outcomeOfStatus } from '../telemetry/metrics.js';

/** OpenAI's error `type` values that Sluice answers with. */
export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_exceeded'
  | 'budget_exceeded'
  | 'upstream_error'
  | 'timeout'
  | 'server_error';

/** The body every error response carries, in OpenAI's shape. */
export interface ErrorBody {
  error: {
    message: string;
    type: string;
    code: string | null;
    param: string | null;
    [detail: string]: unknown;
  };
}

/**
 * An error that ends a request with an HTTP status and an OpenAI-shaped body. The message is
 * shown to the client, so it must never carry a secret or a stack.
 */
export class HttpError extends SluiceError {
  readonly status: number;
  readonly type: ErrorType;
  readonly param: string | null;
  readonly headers: Readonly<Record<string, string>>;
  /** Extra members of the error object (e.g. a budget's scope, limit and reset time). */
  readonly details: Readonly<Record<string, unknown>> | undefined;
  /** How long the upstream asked to wait before a retry (`retry-after`), in ms. */
  readonly retryAfterMs: number | undefined;
  /**
   * The failure came from the upstream (its answer, or the lack of one), not from the client's
   * request or Sluice: metrics and the dashboard count it as an upstream error.
   */
  readonly upstream: boolean;

  constructor(
    status: number,
    type: ErrorType,
    code: string,
    message: string,
    options: {
      param?: string | null;
      cause?: unknown;
      isRetryable?: boolean;
      headers?: Record<string, string>;
      details?: Record<string, unknown>;
      retryAfterMs?: number;
      upstream?: boolean;
    } = {},
  ) {
    super(code, message, options);
    this.name = 'HttpError';
    this.status = status;
    this.type = type;
    this.param = options.param ?? null;
    this.headers = options.headers ?? {};
    this.details = options.details;
    this.retryAfterMs = options.retryAfterMs;
    this.upstream = options.upstream ?? false;
  }

  toBody(): ErrorBody {
    return {
      error: {
        message: this.message,
        type: this.type,
        code: this.code,
        param: this.param,
        ...this.details,
      },
    };
  }
}

/**
 * How a request ended, for metrics and the dashboard: an upstream's failure is
 * `upstream_error` whatever its status (its 429 is not the client's); a failure after a 200 (a
 * stream cut) counts by the error's status; otherwise the status decides.
 */
export function outcomeOf(status: number, failure: HttpError | undefined): Outcome {
  if (failure === undefined) return outcomeOfStatus(status);
  if (failure.upstream) return 'upstream_error';
  return outcomeOfStatus(status < 400 ? failure.status : status);
}

export function invalidRequest(message: string, param: string | null = null): HttpError {
  return new HttpError(400, 'invalid_request_error', 'invalid_request_error', message, { param });
}

// The HTTP layer's own refusals (see http-edge.ts): answered before, or instead of, a route.

/** The request's headers or body did not arrive in time (`server.headersTimeout`, `server.bodyTimeout`). */
export function requestTimeout(headersTimeoutMs: number, bodyTimeoutMs: number): HttpError {
  return new HttpError(
    408,
    'invalid_request_error',
    'request_timeout',
    `the request did not arrive in time: its headers must arrive within ${headersTimeoutMs} ms and the whole request within ${bodyTimeoutMs} ms`,
  );
}

/** Request line and headers over Node's `maxHeaderSize` (16 KiB). */
export function headersTooLarge(): HttpError {
  return new HttpError(
    431,
    'invalid_request_error',
    'headers_too_large',
    'the request line and headers are too large',
  );
}

/** Not parseable as HTTP/1.1 (a bad request line, header or chunk; both Content-Length and chunked). */
export function malformedRequest(): HttpError {
  return new HttpError(
    400,
    'invalid_request_error',
    'malformed_request',
    'the request is not valid HTTP/1.1',
  );
}

/** A body over `server.bodyLimit`. */
export function requestTooLarge(bodyLimit: number): HttpError {
  return new HttpError(
    413,
    'invalid_request_error',
    'request_too_large',
    `the request body is too large: at most ${bodyLimit} bytes`,
  );
}

/** A request that reached a gateway which is shutting down (on a connection still open). */
export function shuttingDown(): HttpError {
  return new HttpError(503, 'server_error', 'shutting_down', 'the gateway is shutting down', {
    isRetryable: true,
  });
}

/**
 * A request body (or JSON carried in one of its strings, at `param`) nested deeper than `limit`
 * levels: refused before anything walks it.
 */
export function jsonTooDeep(limit: number, param: string | null = null): HttpError {
  const what = param === null ? 'the request body nests' : `${param}: the JSON nests`;
  return new HttpError(
    400,
    'invalid_request_error',
    'json_too_deep',
    `${what} objects and arrays deeper than ${limit} levels (the ${param === null ? 'body' : 'value'} itself is level 1)`,
    { param },
  );
}

/** Sluice errors of a SQLite file that cannot be written or opened (a full disk). */
const STORAGE_CODES: ReadonlySet<string> = new Set(['E_DEFERRED_STORE', 'E_LEDGER_UNAVAILABLE']);

/**
 * The 503 `storage_unavailable` for an error of a SQLite file the request needs (the deferral
 * queue refused it, the ledger could not be opened): the gateway keeps serving what does not
 * need the file, and this request may be retried once space returns. Undefined for any other
 * error.
 */
export function storageUnavailable(error: unknown): HttpError | undefined {
  if (!(error instanceof SluiceError) || !STORAGE_CODES.has(error.code)) return undefined;
  return new HttpError(503, 'server_error', 'storage_unavailable', error.message, {
    isRetryable: true,
    cause: error,
  });
}

/** Reached the upstream but failed to get an answer (refused, reset, DNS, TLS). */
export function upstreamUnreachable(provider: string, cause: unknown): HttpError {
  return new HttpError(
    502,
    'upstream_error',
    'upstream_error',
    `provider '${provider}' could not be reached`,
    { cause, isRetryable: true, upstream: true },
  );
}

export function upstreamTimeout(provider: string, timeoutMs: number, cause: unknown): HttpError {
  return new HttpError(
    504,
    'timeout',
    'timeout',
    `provider '${provider}' did not answer within ${timeoutMs} ms`,
    { cause, isRetryable: true, upstream: true },
  );
}

/** A non-streaming answer that stopped after its headers: a deployment failure, retried. */
export function answerCutOff(provider: string, cause: unknown): HttpError {
  return new HttpError(
    502,
    'upstream_error',
    'upstream_error',
    `provider '${provider}' cut its answer off`,
    { cause, isRetryable: true, upstream: true },
  );
}

/**
 * A 2xx answer whose body is not the protocol's response (cut short and closed cleanly, not
 * JSON, or JSON of the wrong shape): a deployment failure, retried and never stored.
 */
export function upstreamInvalidResponse(
  provider: string,
  problem: string,
  cause?: unknown,
): HttpError {
  return new HttpError(
    502,
    'upstream_error',
    'upstream_invalid_response',
    `provider '${provider}' answered 200 with an invalid response: ${problem}`,
    { cause, isRetryable: true, upstream: true },
  );
}

/**
 * A stream the upstream broke off after it began (connection closed or reset, a stall past the
 * timeout, or a clean end without `[DONE]`): it ends with this error event, never `[DONE]`.
 */
export function upstreamStreamCut(provider: string, how: string, cause?: unknown): HttpError {
  return new HttpError(
    502,
    'upstream_error',
    'upstream_stream_cut',
    `provider '${provider}' ${how}`,
    { cause, isRetryable: true, upstream: true },
  );
}

/**
 * Maps an upstream error response to one of ours with the same status. The upstream's own
 * message is kept when it is OpenAI-shaped; anything else is summarised, never echoed raw.
 */
export function upstreamStatusError(provider: string, status: number, bodyText: string): HttpError {
  let message = `provider '${provider}' answered ${status}`;
  let code: string = status === 429 ? 'rate_limit_exceeded' : 'upstream_error';
  let param: string | null = null;
  try {
    const parsed = JSON.parse(bodyText) as {
      error?: { message?: unknown; code?: unknown; param?: unknown };
    };
    const upstream = parsed.error;
    if (upstream !== undefined && typeof upstream.message === 'string') {
      message = `${message}: ${upstream.message.slice(0, 1_000)}`;
      if (typeof upstream.code === 'string') code = upstream.code;
      if (typeof upstream.param === 'string') param = upstream.param;
    }
  } catch {
    // Not JSON: keep the summary.
  }
  const type: ErrorType =
    status === 429
      ? 'rate_limit_exceeded'
      : status === 401 || status === 403
        ? 'authentication_error'
        : status === 404
          ? 'not_found_error'
          : status < 500
            ? 'invalid_request_error'
            : 'upstream_error';
  return new HttpError(status, type, code, message, {
    param,
    isRetryable: status === 429 || status >= 500,
    upstream: true,
  });
}
