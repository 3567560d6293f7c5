import { type Cache, createCache } from '../cache/tiered-cache.js';
import type { Clock } from '../shared/clock.js';
import { type Duration, parseDuration } from '../shared/duration.js';
import { ConfigError, isRetryableError } from '../shared/errors.js';
import { abortableSleep } from '../shared/sleep.js';
import { withTimeout } from '../telemetry/latency.js';
import { CacheKeyBuilder, DEFAULT_VOLATILE_PARAMETERS } from './cache-key.js';
import { checkConcurrency, mapConcurrent } from './concurrency.js';
import { ToolArgumentsError, ToolError } from './errors.js';
import {
  formatToolError,
  formatToolResult,
  type OpenAIToolCall,
  parseToolArguments,
  type ToolMessage,
} from './openai.js';
import {
  backoffDelay,
  NO_RETRY,
  type RetryOptions,
  type RetryPolicy,
  resolveRetry,
} from './retry.js';
import { type CompiledSchema, compileSchema } from './schema.js';
import { ToolCounters, type ToolStats } from './stats.js';
import type { ToolDefinition } from './tool.js';

export interface ToolExecutorOptions {
  /**
   * Tools to register at once (more with `register`). Wrap each in `defineTool(...)` so its
   * `execute` input is typed from its zod schema.
   */
  tools?: readonly ToolDefinition<unknown, unknown>[];
  /**
   * Where results are cached. Give the application's tiered cache (with a Redis L2) to share
   * tool results across processes.
   * @default a private in-memory cache of 10 000 entries
   */
  cache?: Cache;
  /** Namespace of the cache the results live in; `false` for the cache's root. @default 'tools' */
  namespace?: string | false;
  /** How long a result is reused, unless the tool sets its own `ttl`. @default '10m' */
  ttl?: Duration;
  /** Limit per attempt, unless the tool sets its own; `false` for none. @default '30s' */
  timeout?: Duration | false;
  /** Retries of idempotent tools, unless the tool sets its own. @default { retries: 2, minDelay: '100ms', maxDelay: '5s', factor: 2 } */
  retry?: RetryOptions | false;
  /** Parameters left out of cache keys. @default DEFAULT_VOLATILE_PARAMETERS */
  volatileParameters?: readonly string[];
  /** Calls in flight at once in `executeAll` and `executeToolCalls`. @default 8 */
  concurrency?: number;
  /** Formats a result as a tool message's content. @default strings as-is, anything else as JSON */
  formatResult?(value: unknown, name: string): string;
  /** Formats an error as a tool message's content. @default `{"error":{"code","message"}}` */
  formatError?(error: unknown, name: string): string;
  /** Where durations are measured (and the private cache's time). @default `performance` time */
  clock?: Clock;
  /** Source of jitter for retry backoff, uniform in [0, 1). @default Math.random */
  random?: () => number;
}

/** One call for `executeAll`. */
export interface ToolCall {
  name: string;
  /** The arguments (validated against the tool's schema). @default {} */
  input?: unknown;
}

/** Where a successful answer came from. */
export type ToolResultSource = 'cache' | 'coalesced' | 'execution';

export type ToolCallResult =
  | { ok: true; name: string; value: unknown; source: ToolResultSource }
  | { ok: false; name: string; error: unknown };

export interface ExecuteOptions {
  /**
   * Cancels the call. An uncached tool's attempt is aborted; a cached call only stops
   * waiting (other callers may share its execution, which goes on and fills the cache).
   */
  signal?: AbortSignal;
}

export interface ExecuteAllOptions extends ExecuteOptions {
  /** @default the executor's `concurrency` */
  concurrency?: number;
}

/** A tool as OpenAI's `tools` request parameter describes it. */
export interface OpenAIToolDefinition {
  type: 'function';
  function: { name: string; description?: string; parameters: Record<string, unknown> };
}

export interface ToolExecutorStats {
  tools: Record<string, ToolStats>;
  /** Calls of tools that are not registered. */
  unknownCalls: number;
  /** Default calls in flight at once in `executeAll` and `executeToolCalls`. */
  concurrency: number;
  totals: {
    calls: number;
    cacheHits: number;
    coalesced: number;
    executions: number;
    errors: number;
    hitRatio: number;
  };
}

interface RegisteredTool {
  readonly name: string;
  readonly definition: ToolDefinition<unknown, unknown>;
  readonly schema: CompiledSchema;
  /** Undefined when results are never cached. */
  readonly keys: CacheKeyBuilder | undefined;
  readonly cacheOptions: { ttl: number; tags: readonly string[]; grace?: Duration | false };
  readonly timeoutMs: number;
  readonly retry: RetryPolicy;
  readonly counters: ToolCounters;
}

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const DEFAULT_RETRY: RetryPolicy = { retries: 2, minDelayMs: 100, maxDelayMs: 5_000, factor: 2 };
const preciseClock: Clock = { now: () => performance.timeOrigin + performance.now() };

function raceSignal<Value>(work: Promise<Value>, signal: AbortSignal): Promise<Value> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<Value>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Runs an agent's tools: checks arguments against each tool's schema before it runs, reuses
 * results through the tiered cache (per-tool TTL, volatile parameters left out of the key,
 * normalised arguments, single-flight for identical concurrent calls), bounds each attempt
 * with a timeout, retries idempotent tools with backoff, runs batches in parallel under a
 * limit with per-call error isolation, and keeps statistics per tool.
 */
export class ToolExecutor {
  readonly #tools = new Map<string, RegisteredTool>();
  readonly #cache: Cache;
  readonly #ownsCache: boolean;
  readonly #namespace: string;
  readonly #ttlMs: number;
  readonly #timeoutMs: number;
  readonly #retry: RetryPolicy;
  readonly #volatile: readonly string[];
  readonly #concurrency: number;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #formatResult: (value: unknown, name: string) => string;
  readonly #formatError: (error: unknown, name: string) => string;
  /**
   * Loads in flight per cache key (to tell a coalesced answer from a cache hit); an entry
   * lives as long as the cache's own in-flight load, so the map is bounded by concurrency.
   */
  readonly #flights = new Map<string, { executed: boolean }>();
  #unknownCalls = 0;

  constructor(options: ToolExecutorOptions = {}) {
    this.#clock = options.clock ?? preciseClock;
    this.#random = options.random ?? Math.random;
    this.#ttlMs = parseDuration(options.ttl ?? '10m', 'ttl', { allowInfinite: true });
    this.#timeoutMs =
      options.timeout === false
        ? Number.POSITIVE_INFINITY
        : parseDuration(options.timeout ?? '30s', 'timeout', { allowInfinite: true });
    this.#retry = resolveRetry(options.retry, DEFAULT_RETRY, 'retry');
    this.#volatile = options.volatileParameters ?? DEFAULT_VOLATILE_PARAMETERS;
    this.#concurrency = checkConcurrency(options.concurrency ?? 8, 'concurrency');
    this.#formatResult = options.formatResult ?? formatToolResult;
    this.#formatError = options.formatError ?? formatToolError;
    const namespace = options.namespace ?? 'tools';
    this.#namespace = namespace === false ? '' : namespace;
    this.#ownsCache = options.cache === undefined;
    const cache =
      options.cache ??
      createCache({
        l1: { maxEntries: 10_000 },
        ttl: this.#ttlMs,
        ...(options.clock === undefined ? {} : { clock: options.clock }),
      });
    this.#cache = namespace === false ? cache : cache.namespace(namespace);
    for (const tool of options.tools ?? []) this.register(tool);
  }

  /** Adds a tool. Refuses (with `ConfigError`) a duplicate name or a contradictory policy. */
  register<Input, Output>(tool: ToolDefinition<Input, Output>): this {
    const definition = tool as unknown as ToolDefinition<unknown, unknown>;
    const name = definition.name;
    if (typeof name !== 'string' || !TOOL_NAME.test(name)) {
      throw new ConfigError(
        `a tool name must be 1-64 letters, digits, '_' or '-', got '${String(name)}'`,
      );
    }
    if (this.#tools.has(name)) throw new ConfigError(`tool '${name}' is already registered`);
    if (typeof definition.execute !== 'function') {
      throw new ConfigError(`tool '${name}' needs an execute function`);
    }
    const sideEffects = definition.sideEffects === true;
    const idempotent = definition.idempotent ?? !sideEffects;
    if (
      sideEffects &&
      definition.ttl !== undefined &&
      definition.ttl !== false &&
      definition.ttl !== 0
    ) {
      throw new ConfigError(`tool '${name}' has side effects and is never cached: remove its ttl`);
    }
    if (!idempotent && definition.retry !== undefined && definition.retry !== false) {
      throw new ConfigError(
        `tool '${name}' is not idempotent and is never retried: set idempotent: true or remove retry`,
      );
    }
    const ttlMs =
      definition.ttl === undefined
        ? this.#ttlMs
        : definition.ttl === false
          ? 0
          : parseDuration(definition.ttl, `tools.${name}.ttl`, { allowInfinite: true });
    const cached = !sideEffects && ttlMs > 0;
    const timeoutMs =
      definition.timeout === undefined
        ? this.#timeoutMs
        : definition.timeout === false
          ? Number.POSITIVE_INFINITY
          : parseDuration(definition.timeout, `tools.${name}.timeout`, { allowInfinite: true });
    const cacheOptions: RegisteredTool['cacheOptions'] = {
      ttl: ttlMs,
      tags: [this.#tagFor(name), ...(definition.tags ?? [])],
    };
    if (definition.grace !== undefined) cacheOptions.grace = definition.grace;
    this.#tools.set(name, {
      name,
      definition,
      schema: compileSchema(name, definition.parameters),
      keys: cached
        ? new CacheKeyBuilder(
            name,
            definition.version ?? '1',
            definition.volatileParameters ?? this.#volatile,
            definition.normalize,
          )
        : undefined,
      cacheOptions,
      timeoutMs,
      retry: idempotent
        ? resolveRetry(definition.retry, this.#retry, `tools.${name}.retry`)
        : NO_RETRY,
      counters: new ToolCounters(),
    });
    return this;
  }

  has(name: string): boolean {
    return this.#tools.has(name);
  }

  /** Registered tools in OpenAI's `tools` request shape (JSON Schema parameters). */
  definitions(): OpenAIToolDefinition[] {
    return [...this.#tools.values()].map((tool) => {
      const fn: OpenAIToolDefinition['function'] = {
        name: tool.name,
        parameters: tool.schema.jsonSchema,
      };
      if (tool.definition.description !== undefined) fn.description = tool.definition.description;
      return { type: 'function', function: fn };
    });
  }

  /**
   * Runs one tool call and resolves with its result. Rejects with a `ToolError`:
   * `E_TOOL_UNKNOWN`, `E_TOOL_ARGUMENTS` (a `ToolArgumentsError`; the tool did not run),
   * `E_TOOL_TIMEOUT` or `E_TOOL_FAILED` (after retries), or with the signal's reason.
   */
  async execute<Output = unknown>(
    name: string,
    input: unknown = {},
    options: ExecuteOptions = {},
  ): Promise<Output> {
    const { value } = await this.#call(name, input, options.signal);
    return value as Output;
  }

  /**
   * Runs calls in parallel, at most `concurrency` at a time. Never rejects: each result is
   * `{ ok: true, value, source }` or `{ ok: false, error }`, in the order of `calls`.
   */
  executeAll(
    calls: readonly ToolCall[],
    options: ExecuteAllOptions = {},
  ): Promise<ToolCallResult[]> {
    const concurrency = checkConcurrency(options.concurrency ?? this.#concurrency, 'concurrency');
    return mapConcurrent(calls, concurrency, async (call): Promise<ToolCallResult> => {
      try {
        const { value, source } = await this.#call(call.name, call.input ?? {}, options.signal);
        return { ok: true, name: call.name, value, source };
      } catch (error) {
        return { ok: false, name: call.name, error };
      }
    });
  }

  /**
   * Answers an assistant message's OpenAI tool calls: one `tool` message per call, in order.
   * Never rejects: bad JSON arguments, unknown tools, invalid arguments, timeouts and tool
   * failures become error messages the model can read and act on.
   */
  executeToolCalls(
    toolCalls: readonly OpenAIToolCall[],
    options: ExecuteAllOptions = {},
  ): Promise<ToolMessage[]> {
    const concurrency = checkConcurrency(options.concurrency ?? this.#concurrency, 'concurrency');
    return mapConcurrent(toolCalls, concurrency, async (call): Promise<ToolMessage> => {
      const id = typeof call?.id === 'string' ? call.id : '';
      const name = typeof call?.function?.name === 'string' ? call.function.name : '';
      let content: string;
      try {
        if (call?.function === undefined || name === '') {
          throw new ToolError(
            'E_TOOL_CALL',
            name,
            'only function tool calls with a function name are supported',
          );
        }
        const input = parseToolArguments(name, call.function.arguments);
        const { value } = await this.#call(name, input, options.signal);
        content = this.#formatResult(value, name);
      } catch (error) {
        content = this.#safeFormatError(error, name);
      }
      return { role: 'tool', tool_call_id: id, content };
    });
  }

  /** Statistics per tool and in total. */
  stats(): ToolExecutorStats {
    const tools: Record<string, ToolStats> = {};
    const totals = { calls: 0, cacheHits: 0, coalesced: 0, executions: 0, errors: 0, hitRatio: 0 };
    for (const tool of this.#tools.values()) {
      const stats = tool.counters.snapshot();
      tools[tool.name] = stats;
      totals.calls += stats.calls;
      totals.cacheHits += stats.cacheHits;
      totals.coalesced += stats.coalesced;
      totals.executions += stats.executions;
      totals.errors += stats.errors;
    }
    const answered = totals.cacheHits + totals.coalesced + totals.executions;
    totals.hitRatio = answered === 0 ? 0 : (totals.cacheHits + totals.coalesced) / answered;
    return { tools, unknownCalls: this.#unknownCalls, concurrency: this.#concurrency, totals };
  }

  /** Drops every cached result of a tool (in every tier and process sharing the cache). */
  invalidate(name: string): Promise<void> {
    return this.#cache.invalidateTags([this.#tagFor(name)]);
  }

  /** Closes the private cache (a cache given in the options is left to its owner). */
  async close(): Promise<void> {
    if (this.#ownsCache) await this.#cache.close();
  }

  // ------------------------------------------------------------------------ internals

  #tagFor(name: string): string {
    return `tool:${this.#namespace}:${name}`;
  }

  #safeFormatError(error: unknown, name: string): string {
    try {
      return this.#formatError(error, name);
    } catch {
      return formatToolError(error);
    }
  }

  async #call(
    name: string,
    input: unknown,
    signal: AbortSignal | undefined,
  ): Promise<{ value: unknown; source: ToolResultSource }> {
    if (signal?.aborted) throw signal.reason;
    const tool = this.#tools.get(name);
    if (tool === undefined) {
      this.#unknownCalls++;
      const known = [...this.#tools.keys()].slice(0, 50).join(', ');
      throw new ToolError('E_TOOL_UNKNOWN', name, `unknown tool '${name}'; known tools: ${known}`);
    }
    const counters = tool.counters;
    counters.calls++;
    const parsed = await tool.schema.parse(input);
    if (!parsed.success) {
      counters.argumentErrors++;
      throw new ToolArgumentsError(name, parsed.issues);
    }
    const validInput = parsed.data;
    if (tool.keys === undefined) {
      return { value: await this.#run(tool, validInput, signal), source: 'execution' };
    }

    let key: string;
    try {
      key = tool.keys.key(validInput);
    } catch (error) {
      counters.argumentErrors++;
      throw error;
    }
    // Mirror the cache's single-flight grouping: callers arriving while a load of this key is
    // in flight share its promise, and learn from `flight` whether it ran the tool.
    let flight = this.#flights.get(key);
    const joined = flight !== undefined;
    if (flight === undefined) {
      flight = { executed: false };
      this.#flights.set(key, flight);
    }
    const shared = flight;
    let executedHere = false;
    const loading = this.#cache.getOrSet(
      key,
      async (context) => {
        executedHere = true;
        shared.executed = true;
        // Shared by every identical call: one caller's cancellation must not abort it.
        const value = await this.#run(tool, validInput, undefined);
        const definition = tool.definition;
        if (
          value === undefined ||
          (definition.shouldCache !== undefined && !definition.shouldCache(value))
        ) {
          context.skip();
        }
        return value;
      },
      tool.cacheOptions,
    );
    if (!joined) {
      loading
        .finally(() => {
          if (this.#flights.get(key) === shared) this.#flights.delete(key);
        })
        .catch(() => {});
    }
    let value: unknown;
    if (signal === undefined) {
      value = await loading;
    } else {
      loading.catch(() => {});
      value = await raceSignal(loading, signal);
    }
    if (executedHere) return { value, source: 'execution' };
    if (joined && shared.executed) {
      counters.coalesced++;
      return { value, source: 'coalesced' };
    }
    counters.cacheHits++;
    return { value, source: 'cache' };
  }

  /** Runs the tool with its timeout and retries; counts executions, failures and time. */
  async #run(
    tool: RegisteredTool,
    input: unknown,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const counters = tool.counters;
    counters.executions++;
    const started = this.#clock.now();
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const output = await this.#attempt(tool, input, attempt, signal);
          this.#addVolume(tool, output);
          return output;
        } catch (error) {
          if (signal?.aborted && error === signal.reason) throw error;
          const failure = this.#asToolError(tool, error);
          if (failure.code === 'E_TOOL_TIMEOUT') counters.timeouts++;
          const retryable =
            tool.definition.isRetryable === undefined
              ? failure.isRetryable
              : tool.definition.isRetryable(error);
          if (attempt > tool.retry.retries || !retryable) {
            counters.errors++;
            throw failure;
          }
          counters.retries++;
          await abortableSleep(backoffDelay(tool.retry, attempt, this.#random), signal);
        }
      }
    } finally {
      counters.durations.record(this.#clock.now() - started);
    }
  }

  async #attempt(
    tool: RegisteredTool,
    input: unknown,
    attempt: number,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    let attemptSignal: AbortSignal | undefined;
    const run = (abortSignal: AbortSignal): unknown => {
      attemptSignal = abortSignal;
      return tool.definition.execute(input, { name: tool.name, signal: abortSignal, attempt });
    };
    try {
      return await withTimeout(
        run,
        signal === undefined
          ? { timeoutMs: tool.timeoutMs }
          : { timeoutMs: tool.timeoutMs, signal },
      );
    } catch (error) {
      // Our deadline (not an E_TIMEOUT the tool raised itself): the attempt's signal carries it.
      if (attemptSignal?.aborted && attemptSignal.reason === error && !signal?.aborted) {
        throw new ToolError(
          'E_TOOL_TIMEOUT',
          tool.name,
          `tool '${tool.name}' took longer than ${tool.timeoutMs} ms (attempt ${attempt})`,
          { cause: error, isRetryable: true },
        );
      }
      throw error;
    }
  }

  #asToolError(tool: RegisteredTool, error: unknown): ToolError {
    if (error instanceof ToolError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new ToolError('E_TOOL_FAILED', tool.name, `tool '${tool.name}' failed: ${message}`, {
      cause: error,
      isRetryable: isRetryableError(error),
    });
  }

  #addVolume(tool: RegisteredTool, output: unknown): void {
    const measure = tool.definition.volume;
    if (measure === undefined) return;
    try {
      const volume = measure.call(tool.definition, output);
      if (Number.isFinite(volume)) tool.counters.volume += volume;
    } catch {
      // A faulty measure must not fail a call whose tool succeeded.
    }
  }
}

export function createToolExecutor(options: ToolExecutorOptions = {}): ToolExecutor {
  return new ToolExecutor(options);
}
