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

/** A configuration or argument that Sluice refuses, with what was expected. */
export class ConfigError extends SluiceError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('E_CONFIG', message, options);
    this.name = 'ConfigError';
  }
}
