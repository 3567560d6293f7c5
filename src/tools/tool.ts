import type { Duration } from '../shared/duration.js';
import type { NormalizeOptions } from './cache-key.js';
import type { RetryOptions } from './retry.js';
import type { ToolParameters } from './schema.js';

/** What a running tool is told about its call. */
export interface ToolContext {
  /** The tool's name. */
  readonly name: string;
  /**
   * Aborted when the attempt times out or the caller cancels a call that is not shared
   * (uncached). Pass it to `fetch`, database drivers and child processes.
   */
  readonly signal: AbortSignal;
  /** 1 for the first attempt, 2 for the first retry, ... */
  readonly attempt: number;
}

/**
 * A tool: its schema, its code and how its results may be reused. Callbacks are methods so
 * a `ToolDefinition<{ city: string }>` fits where any tool is accepted.
 */
export interface ToolDefinition<Input = unknown, Output = unknown> {
  /** Unique name, as models call it: letters, digits, `_` and `-`, at most 64 characters. */
  name: string;
  /** What the tool does, for the model (`definitions()`). */
  description?: string;
  /** The arguments' schema: zod (its output is `Input`) or JSON Schema. */
  parameters: ToolParameters<Input>;
  /** Runs the tool on validated arguments. */
  execute(input: Input, context: ToolContext): Output | PromiseLike<Output>;
  /**
   * Part of the cache key: bump it when the tool's answers change so old results are not reused.
   * @default '1'
   */
  version?: string;
  /**
   * How long a result is reused; `false` or 0 for never (time-dependent answers such as a clock
   * or a random draw).
   * @default the executor's `ttl` ('10m')
   */
  ttl?: Duration | false;
  /** After `ttl`, how long a stale result may be served while one refresh runs. @default the cache's */
  grace?: Duration | false;
  /**
   * The tool changes something (sends, writes, charges): never cached, and never retried unless
   * `idempotent` is also set.
   * @default false
   */
  sideEffects?: boolean;
  /**
   * Running it twice has the effect of running it once; only idempotent tools are retried.
   * @default !sideEffects
   */
  idempotent?: boolean;
  /**
   * Parameters left out of the cache key (the tool still receives them). Replaces the
   * executor's list for this tool; `[]` keeps every parameter in the key.
   * @default the executor's `volatileParameters`
   */
  volatileParameters?: readonly string[];
  /** How equivalent arguments are made to share a key. @default only canonical ordering */
  normalize?: NormalizeOptions;
  /** Limit per attempt; the attempt's `signal` aborts at it. `false` for none. @default executor's ('30s') */
  timeout?: Duration | false;
  /** Retries for an idempotent tool; `false` for none. @default the executor's */
  retry?: RetryOptions | false;
  /** Overrides which errors are retried. @default the error's `isRetryable` flag; timeouts */
  isRetryable?(error: unknown): boolean;
  /** Whether a result may be cached (e.g. not an error payload). @default every defined result */
  shouldCache?(output: Output): boolean;
  /** Volume of work a result stands for (rows, bytes, GB), summed in `stats().volume`. */
  volume?(output: Output): number;
  /** Extra cache tags for `invalidateTags` on the underlying cache. */
  tags?: readonly string[];
}

/** Identity function that lets TypeScript infer `Input` from a zod schema. */
export function defineTool<Input, Output>(
  definition: ToolDefinition<Input, Output>,
): ToolDefinition<Input, Output> {
  return definition;
}
