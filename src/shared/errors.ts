/**
 * The one base class for errors Sluice raises. `code` is stable and machine-readable;
 * `isRetryable` carries the decision so callers never re-derive it from messages.
 */
export class SluiceError extends Error {
  readonly code: string;
  readonly isRetryable: boolean;

  constructor(
    code: string,
    message: string,
    options: { cause?: unknown; isRetryable?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SluiceError';
    this.code = code;
    this.isRetryable = options.isRetryable ?? false;
  }
}

/**
 * Whether an error may be retried: only when it says so (`isRetryable === true` on a
 * `SluiceError`, or the same flag on another library's error, as AI SDK's `APICallError` has).
 * The decision travels on the error; it is never derived from the message.
 */
export function isRetryableError(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { isRetryable?: unknown }).isRetryable === true
  );
}

/** A configuration or argument that Sluice refuses, with what was expected. */
export class ConfigError extends SluiceError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('E_CONFIG', message, options);
    this.name = 'ConfigError';
  }
}
