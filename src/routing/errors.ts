/**
 * Errors the routing layer raises, and how it reads the errors it is given: the decision to retry
 * or to count a failure is read from the error object (`isRetryable`, `status`, `retryAfterMs`,
 * `code`), never from its message.
 */
import { isRetryableError, SluiceError } from '../shared/errors.js';

/** No deployment can serve the request: every candidate was rejected by a hard constraint. */
export const NO_ROUTE_CODE = 'E_NO_ROUTE';
/** The request names neither a configured model nor an alias. */
export const UNKNOWN_MODEL_CODE = 'E_UNKNOWN_MODEL';
/** A circuit breaker refused the call. */
export const CIRCUIT_OPEN_CODE = 'E_CIRCUIT_OPEN';
/** A retry loop ran out of its total time budget. */
export const DEADLINE_CODE = 'E_DEADLINE';
/** A hedged attempt was aborted because another attempt answered first. */
export const HEDGE_LOST_CODE = 'E_HEDGE_LOST';

/** The request cannot be routed; `explain` says why (ASCII, for logs and headers). */
export class NoRouteError extends SluiceError {
  readonly requested: string;
  readonly explain: string;

  constructor(code: string, requested: string, explain: string, message: string) {
    super(code, message);
    this.name = 'NoRouteError';
    this.requested = requested;
    this.explain = explain;
  }
}

/**
 * A deployment's circuit is open. Retryable: another deployment (or this one after
 * `retryAfterMs`) may answer.
 */
export class CircuitOpenError extends SluiceError {
  readonly deployment: string;
  /** Milliseconds until the breaker admits a probe. */
  readonly retryAfterMs: number;

  constructor(deployment: string, retryAfterMs: number) {
    super(CIRCUIT_OPEN_CODE, `circuit for deployment '${deployment}' is open`, {
      isRetryable: true,
    });
    this.name = 'CircuitOpenError';
    this.deployment = deployment;
    this.retryAfterMs = retryAfterMs;
  }
}

/** A retry loop's total deadline passed; `cause` is the last attempt's error, if any. */
export class DeadlineExceededError extends SluiceError {
  readonly deadlineMs: number;
  readonly attempts: number;

  constructor(deadlineMs: number, attempts: number, cause: unknown) {
    super(DEADLINE_CODE, `gave up after ${attempts} attempt(s): deadline of ${deadlineMs} ms`, {
      cause,
    });
    this.name = 'DeadlineExceededError';
    this.deadlineMs = deadlineMs;
    this.attempts = attempts;
  }
}

/** What routing reads from an error. Every field is optional: errors come from anywhere. */
interface ErrorFields {
  isRetryable?: unknown;
  retryAfterMs?: unknown;
  status?: unknown;
  statusCode?: unknown;
  code?: unknown;
  name?: unknown;
}

function fields(error: unknown): ErrorFields {
  return typeof error === 'object' && error !== null ? (error as ErrorFields) : {};
}

/** `isRetryableError` (true only when `error.isRetryable === true`) lives in `shared/errors`. */
export { isRetryableError };

/**
 * The error's `retryAfterMs` (e.g. parsed from a `retry-after` header) when it is a finite,
 * non-negative number; otherwise undefined.
 */
export function retryAfterOf(error: unknown): number | undefined {
  const value = fields(error).retryAfterMs;
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** The HTTP status the error carries (`status` or `statusCode`), if any. */
export function statusOf(error: unknown): number | undefined {
  const { status, statusCode } = fields(error);
  if (typeof status === 'number') return status;
  return typeof statusCode === 'number' ? statusCode : undefined;
}

/** Node and undici codes of transport failures: the upstream never answered. */
const TRANSPORT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'timeout',
]);

/**
 * Whether an error is evidence that a deployment is unhealthy, which is what a circuit breaker
 * counts: a 5xx, 408 or 429 status; otherwise `isRetryable === true`; otherwise a timeout or
 * connection failure (by `code`, or a `TimeoutError`). Other 4xx statuses are the client's
 * fault and never count, whatever else the error says.
 */
export function isDeploymentFailure(error: unknown): boolean {
  const status = statusOf(error);
  if (status !== undefined && status >= 400 && status < 500) {
    return status === 408 || status === 429;
  }
  if (status !== undefined && status >= 500) return true;
  const { code, name } = fields(error);
  if (isRetryableError(error)) return true;
  if (typeof code === 'string' && TRANSPORT_CODES.has(code)) return true;
  return name === 'TimeoutError';
}
