import { SluiceError } from '../shared/errors.js';

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

export function invalidRequest(message: string, param: string | null = null): HttpError {
  return new HttpError(400, 'invalid_request_error', 'invalid_request_error', message, { param });
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

/** Reached the upstream but failed to get an answer (refused, reset, DNS, TLS). */
export function upstreamUnreachable(provider: string, cause: unknown): HttpError {
  return new HttpError(
    502,
    'upstream_error',
    'upstream_error',
    `provider '${provider}' could not be reached`,
    { cause, isRetryable: true },
  );
}

export function upstreamTimeout(provider: string, timeoutMs: number, cause: unknown): HttpError {
  return new HttpError(
    504,
    'timeout',
    'timeout',
    `provider '${provider}' did not answer within ${timeoutMs} ms`,
    { cause, isRetryable: true },
  );
}

/** A non-streaming answer that stopped after its headers: a deployment failure, retried. */
export function answerCutOff(provider: string, cause: unknown): HttpError {
  return new HttpError(
    502,
    'upstream_error',
    'upstream_error',
    `provider '${provider}' cut its answer off`,
    { cause, isRetryable: true },
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
  });
}
