/**
 * The cost tracker: what a request may cost at most (to reserve budget before it is sent) and
 * what it did cost (from the provider's usage), exact to the nano-dollar per request.
 *
 * A request's cost is Σ tokens_kind × pico_price_kind, summed in integer pico-dollars (BigInt,
 * so no overflow), then converted once to nano-dollars rounding half up. Unknown models are
 * never an error: they cost zero with `known: false`, and the caller decides whether to warn.
 */
import { ConfigError, SluiceError } from '../shared/errors.js';
import { positiveIntegerOrUndefined } from '../shared/integers.js';
import {
  type Nanos,
  PICOS_PER_NANO,
  picosToNanosCeil,
  picosToNanosHalfUp,
  safePicosToNanosHalfUp,
} from './money.js';
import {
  createPriceTable,
  type ModelPrice,
  type PriceTable,
  type PriceTableOptions,
} from './prices.js';
import {
  type CountOptions,
  createCountingBudget,
  DEFAULT_COUNTING_BURST_MS,
  getTokenizer,
  type Tokenizer,
  tokenizerForModel,
} from './tokens.js';
import { type NormalizedUsage, normalizeUsage, USAGE_ERROR_CODE, ZERO_USAGE } from './usage.js';

/** Output tokens assumed when neither the request nor the price table caps a response. */
export const DEFAULT_MAX_OUTPUT_TOKENS = 4_096;

export interface CostTrackerOptions extends PriceTableOptions {
  /**
   * Output tokens `estimate` assumes per choice when the request sets no `max_tokens` /
   * `max_completion_tokens` and the price table knows no output cap for the model, in tokens.
   * @default 4096
   */
  defaultMaxOutputTokens?: number;
  /**
   * Most time `estimate` spends counting prompt tokens exactly in one burst, in ms, shared by
   * every estimate of this tracker and refilled as the clock runs (see `createCountingBudget`):
   * past it, text not counted yet counts as its UTF-8 bytes, an upper bound. It keeps a long
   * prompt from holding the event loop; `false` counts exactly whatever it takes (pre-tokenizer
   * chunks over `LONG_CHUNK_CHARS` are still bounded by their bytes).
   * @default 10
   */
  countingBudgetMs?: number | false;
}

/** The parts of an OpenAI-shaped chat or embeddings request that an estimate reads. */
export interface EstimateRequest {
  /** Chat messages; their presence makes this a chat request. */
  messages?: readonly unknown[] | null;
  /** Tool definitions (counted as their JSON). */
  tools?: readonly unknown[] | null;
  /** Legacy function definitions (counted as their JSON). */
  functions?: readonly unknown[] | null;
  max_tokens?: number | null;
  /** Takes precedence over `max_tokens`; includes reasoning tokens. */
  max_completion_tokens?: number | null;
  /** Number of choices; each may produce up to the output cap. */
  n?: number | null;
  /** Embeddings input: text(s), or token arrays (counted by length). */
  input?: string | readonly string[] | readonly number[] | readonly (readonly number[])[] | null;
}

/** The upper bound of a request's cost, used to reserve budget before sending it. */
export interface CostEstimate {
  /** The model as asked for. */
  model: string;
  /** Whether the price table knows the model; when false, `maxCostNanos` is 0. */
  known: boolean;
  /** The table entry the model resolved to. */
  pricedAs: string | undefined;
  /** Prompt tokens: messages with per-message overhead, tools and images (estimates). */
  promptTokens: number;
  /**
   * False when part of the prompt was counted as an upper bound (its UTF-8 bytes: a chunk over
   * `LONG_CHUNK_CHARS`, or text left when the counting budget was spent): `promptTokens` may
   * then be several times the real count, fine for a reservation, not for refusing a prompt
   * as too long.
   */
  promptTokensExact: boolean;
  /**
   * Output tokens per choice: the request's `max_completion_tokens` / `max_tokens`, else the
   * model's output cap, else `defaultMaxOutputTokens`. 0 for embeddings.
   */
  maxOutputTokens: number;
  /** Choices requested (`n`). */
  choices: number;
  /**
   * promptTokens at the higher of the input and cache-write prices, plus maxOutputTokens ×
   * choices at the higher of the output and reasoning prices, rounded up to a nano-dollar.
   */
  maxCostNanos: Nanos;
}

/** A cost in nano-dollars, by kind of token. The parts always add up to `total`. */
export interface CostBreakdown {
  input: Nanos;
  cachedInput: Nanos;
  cacheWrite: Nanos;
  output: Nanos;
  reasoning: Nanos;
  total: Nanos;
}

/** What a finished request cost. */
export interface RequestCost {
  model: string;
  /** Whether the price table knows the model; when false, every amount is 0. */
  known: boolean;
  pricedAs: string | undefined;
  tokens: NormalizedUsage;
  nanos: CostBreakdown;
}

export interface CostTracker {
  /** The merged price table. */
  readonly prices: PriceTable;
  /** The resolved price of `model`, or undefined when unknown. */
  priceOf(model: string): ModelPrice | undefined;
  /**
   * The upper bound of `request`'s cost. Loads the model's encoding on first use (~200 ms,
   * once per encoding; see `warmUp`). Prompt tokens are exact for ordinary text, and an upper
   * bound (UTF-8 bytes) for chunks over `LONG_CHUNK_CHARS` and for text left when the
   * tracker's `countingBudgetMs` is spent. `price`, when given, is used instead of the table's
   * (a deployment's own price).
   */
  estimate(model: string, request: EstimateRequest, price?: ModelPrice): CostEstimate;
  /**
   * The exact cost of a finished request from the provider's usage object (any shape
   * `normalizeUsage` accepts). Throws `E_USAGE` for a malformed usage, never for an unknown
   * model. `price`, when given, is used instead of the table's (a deployment's own price).
   */
  cost(model: string, usage: unknown, price?: ModelPrice): RequestCost;
  /** The cost of an embeddings call: its usage object, or its input token count. */
  embeddingCost(model: string, usage: unknown): RequestCost;
  /**
   * Loads the encodings of `models` now (synchronously, ~200 ms per encoding), so the first
   * `estimate` does not pay for it. Without `models`, loads every encoding Sluice uses.
   */
  warmUp(models?: readonly string[]): void;
}

/** Creates a cost tracker. Throws a `ConfigError` for bad prices or a bad pricing file. */
export function createCostTracker(options: CostTrackerOptions = {}): CostTracker {
  const defaultMaxOutputTokens = options.defaultMaxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS;
  if (!Number.isSafeInteger(defaultMaxOutputTokens) || defaultMaxOutputTokens <= 0) {
    throw new ConfigError(
      `defaultMaxOutputTokens must be a positive integer number of tokens, got ${defaultMaxOutputTokens}`,
    );
  }
  const prices = createPriceTable(options);
  const budget =
    options.countingBudgetMs === false
      ? undefined
      : createCountingBudget({ burstMs: options.countingBudgetMs ?? DEFAULT_COUNTING_BURST_MS });

  const cost = (model: string, usage: unknown, given?: ModelPrice): RequestCost => {
    const tokens = normalizeUsage(usage);
    const price = given ?? prices.price(model);
    return {
      model,
      known: price !== undefined,
      pricedAs: price?.model,
      tokens,
      nanos: price === undefined ? zeroBreakdown() : costOf(price, tokens),
    };
  };

  return {
    prices,
    priceOf: (model) => prices.price(model),
    cost,
    embeddingCost(model, usage) {
      if (typeof usage !== 'number') return cost(model, usage);
      if (!Number.isSafeInteger(usage) || usage < 0) {
        throw new SluiceError(
          USAGE_ERROR_CODE,
          `embedding input tokens must be a non-negative integer, got ${usage}`,
        );
      }
      return cost(model, { ...ZERO_USAGE, inputTokens: usage });
    },
    estimate(model, request, given) {
      const price = given ?? prices.price(model);
      const tokenizer = tokenizerForModel(model);
      const input = request.input;
      const embedding =
        !Array.isArray(request.messages) && (typeof input === 'string' || Array.isArray(input));
      const counting = { budget, report: { exact: true } };
      const promptTokens = embedding
        ? countEmbeddingInput(tokenizer, input ?? [], counting)
        : tokenizer.countMessages(arrayOrEmpty(request.messages), counting) +
          tokenizer.countTools(arrayOrEmpty(request.tools), counting) +
          tokenizer.countTools(arrayOrEmpty(request.functions), counting);
      const maxOutputTokens = embedding
        ? 0
        : (positiveIntegerOrUndefined(request.max_completion_tokens) ??
          positiveIntegerOrUndefined(request.max_tokens) ??
          price?.maxOutputTokens ??
          defaultMaxOutputTokens);
      const choices = embedding ? 1 : (positiveIntegerOrUndefined(request.n) ?? 1);
      let maxCostNanos = 0;
      if (price !== undefined) {
        const rates = price.picoPerToken;
        const promptRate = BigInt(Math.max(rates.input, rates.cacheWrite));
        const outputRate = BigInt(Math.max(rates.output, rates.reasoning));
        maxCostNanos = picosToNanosCeil(
          BigInt(promptTokens) * promptRate + BigInt(maxOutputTokens * choices) * outputRate,
        );
      }
      return {
        model,
        known: price !== undefined,
        pricedAs: price?.model,
        promptTokens,
        promptTokensExact: counting.report.exact,
        maxOutputTokens,
        choices,
        maxCostNanos,
      };
    },
    warmUp(models) {
      if (models === undefined) {
        getTokenizer('o200k_base');
        getTokenizer('cl100k_base');
      } else {
        for (const model of models) tokenizerForModel(model);
      }
    },
  };
}

/**
 * Prices normalised usage at `price`: each kind's tokens × its pico price, summed exactly, then
 * rounded half up to nano-dollars. Each part is the rounded running total minus the previous
 * one, so the parts add up to `total` exactly and each is within one nano-dollar of its own
 * exact value.
 */
export function costOf(price: ModelPrice, tokens: NormalizedUsage): CostBreakdown {
  const rates = price.picoPerToken;
  const input = tokens.inputTokens * rates.input;
  const cachedInput = tokens.cachedInputTokens * rates.cachedInput;
  const cacheWrite = tokens.cacheWriteTokens * rates.cacheWrite;
  const output = tokens.outputTokens * rates.output;
  const reasoning = tokens.reasoningTokens * rates.reasoning;
  // In doubles while every amount and the rounded total are safe integers, which is every
  // real request (a million tokens at $1,000 per 1M tokens is 1e15 picos, under 2^53): products
  // and sums of safe integers are then exact. BigInt beyond that.
  const throughCached = input + cachedInput;
  const throughWrite = throughCached + cacheWrite;
  const throughOutput = throughWrite + output;
  const all = throughOutput + reasoning;
  if (
    isSafePicos(input) &&
    isSafePicos(cachedInput) &&
    isSafePicos(cacheWrite) &&
    isSafePicos(output) &&
    isSafePicos(reasoning) &&
    Number.isSafeInteger(all + PICOS_PER_NANO)
  ) {
    // Each part is the rounded running total minus the rounded total before it, so the parts
    // add up to the rounded total exactly.
    const afterInput = safePicosToNanosHalfUp(input);
    const afterCached = safePicosToNanosHalfUp(throughCached);
    const afterWrite = safePicosToNanosHalfUp(throughWrite);
    const afterOutput = safePicosToNanosHalfUp(throughOutput);
    const total = safePicosToNanosHalfUp(all);
    return {
      input: afterInput,
      cachedInput: afterCached - afterInput,
      cacheWrite: afterWrite - afterCached,
      output: afterOutput - afterWrite,
      reasoning: total - afterOutput,
      total,
    };
  }
  return bigCostOf(price, tokens);
}

function isSafePicos(value: number): boolean {
  return value >= 0 && Number.isSafeInteger(value);
}

/** `costOf` in BigInt pico-dollars, for amounts past what a double holds exactly. */
export function bigCostOf(price: ModelPrice, tokens: NormalizedUsage): CostBreakdown {
  const rates = price.picoPerToken;
  const picos = [
    BigInt(tokens.inputTokens) * BigInt(rates.input),
    BigInt(tokens.cachedInputTokens) * BigInt(rates.cachedInput),
    BigInt(tokens.cacheWriteTokens) * BigInt(rates.cacheWrite),
    BigInt(tokens.outputTokens) * BigInt(rates.output),
    BigInt(tokens.reasoningTokens) * BigInt(rates.reasoning),
  ] as const;
  let running = 0n;
  let previous = 0;
  const parts = picos.map((amount) => {
    running += amount;
    const rounded = picosToNanosHalfUp(running);
    const partNanos = rounded - previous;
    previous = rounded;
    return partNanos;
  });
  return {
    input: parts[0] ?? 0,
    cachedInput: parts[1] ?? 0,
    cacheWrite: parts[2] ?? 0,
    output: parts[3] ?? 0,
    reasoning: parts[4] ?? 0,
    total: previous,
  };
}

function zeroBreakdown(): CostBreakdown {
  return { input: 0, cachedInput: 0, cacheWrite: 0, output: 0, reasoning: 0, total: 0 };
}

function arrayOrEmpty(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

function countEmbeddingInput(
  tokenizer: Tokenizer,
  input: NonNullable<EstimateRequest['input']>,
  counting: CountOptions,
): number {
  if (typeof input === 'string') return tokenizer.count(input, counting);
  let total = 0;
  for (const item of input) {
    if (typeof item === 'string') total += tokenizer.count(item, counting);
    else if (typeof item === 'number') total += 1;
    else if (Array.isArray(item)) total += item.length;
  }
  return total;
}
