import { SluiceError } from '../shared/errors.js';

/** One reason a tool's arguments were refused, at a path such as `filters[2].field`. */
export interface ArgumentIssue {
  /** Where in the arguments: `city`, `tags[1]`, `(root)` for the arguments object itself. */
  path: string;
  message: string;
}

/**
 * An error about one tool call. `code` tells what happened:
 * `E_TOOL_UNKNOWN` (no such tool), `E_TOOL_ARGUMENTS` (see `ToolArgumentsError`),
 * `E_TOOL_JSON` (arguments were not JSON), `E_TOOL_CALL` (a malformed tool call),
 * `E_TOOL_TIMEOUT` (an attempt ran past its timeout; retryable), `E_TOOL_FAILED` (the tool threw;
 * the tool's error is the `cause`, and `isRetryable` is carried over from it).
 */
export class ToolError extends SluiceError {
  /** The tool's name, as called. */
  readonly tool: string;

  constructor(
    code: string,
    tool: string,
    message: string,
    options: { cause?: unknown; isRetryable?: boolean } = {},
  ) {
    super(code, message, options);
    this.name = 'ToolError';
    this.tool = tool;
  }
}

/** The arguments do not match the tool's schema; the tool did not run. */
export class ToolArgumentsError extends ToolError {
  readonly issues: readonly ArgumentIssue[];

  constructor(tool: string, issues: readonly ArgumentIssue[]) {
    const detail = issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ');
    super('E_TOOL_ARGUMENTS', tool, `invalid arguments for tool '${tool}': ${detail}`);
    this.name = 'ToolArgumentsError';
    this.issues = issues;
  }
}
