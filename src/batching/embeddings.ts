/**
 * Merges concurrent `/v1/embeddings` requests into one upstream call. Requests are merged only
 * when everything that shapes the answer matches: model, `dimensions`, `encoding_format`,
 * `user`, and the kind of input (texts and token arrays cannot share one OpenAI request). Each
 * caller gets its own `data` (indexes from 0, in its own input order) and its share of `usage`.
 */
import type { Duration } from '../shared/duration.js';
import { ConfigError, SluiceError } from '../shared/errors.js';
import { type BatcherStats, createBatcher } from './batcher.js';

/** One embedding as the upstream sends it: floats, or a base64 string of float32s. */
export type Embedding = number[] | string;

/** Token counts in OpenAI's embeddings `usage` shape. */
export interface EmbeddingsUsage {
  prompt_tokens: number;
  total_tokens: number;
}

/** What the upstream answers for one call (OpenAI's embeddings body; other fields are ignored). */
export interface UpstreamEmbeddings {
  data: ReadonlyArray<{ embedding: Embedding; index: number }>;
  usage: EmbeddingsUsage;
  model?: string;
}

/** The parameters a merged call carries besides the inputs. */
export interface EmbedParameters {
  dimensions?: number;
  encoding_format?: 'float' | 'base64';
  user?: string;
}

/**
 * Calls the upstream once for a merged batch: `inputs` are all texts or all token arrays.
 * This is where the gateway plugs in its provider call.
 */
export type EmbedFunction = (
  model: string,
  inputs: string[] | number[][],
  parameters: EmbedParameters,
) => Promise<UpstreamEmbeddings>;

/** One caller's request, in OpenAI's body shape. */
export interface EmbeddingsRequest extends EmbedParameters {
  model: string;
  /** A text, texts, a token array, or token arrays; never empty. */
  input: string | string[] | number[] | number[][];
}

/** One caller's answer, in OpenAI's body shape. */
export interface EmbeddingsResponse {
  object: 'list';
  data: { object: 'embedding'; embedding: Embedding; index: number }[];
  model: string;
  usage: EmbeddingsUsage;
}

/** Everything `createEmbeddingsBatcher` accepts. */
export interface EmbeddingsBatcherOptions {
  /** The upstream call a merged batch is sent with. */
  embed: EmbedFunction;
  /**
   * How long a merged call waits for more requests, from its first input.
   * @default 5 (milliseconds)
   */
  window?: Duration;
  /**
   * Most inputs in one upstream call (OpenAI allows 2,048).
   * @default 2_048 (inputs)
   */
  maxInputs?: number;
  /**
   * Most estimated tokens in one upstream call (OpenAI allows 300,000).
   * @default 300_000 (tokens)
   */
  maxTokens?: number;
  /**
   * Most inputs waiting or in flight; beyond it `embed` rejects with `E_BATCHER_FULL`.
   * @default 20_000 (inputs)
   */
  maxPending?: number;
  /**
   * Most upstream calls at once.
   * @default Infinity (calls)
   */
  concurrency?: number;
  /**
   * Token estimate of one input, used for `maxTokens` and to split `usage`.
   * @default ceil(characters / 4) (at least 1) for a text, the length of a token array
   */
  estimateTokens?: (input: string | number[]) => number;
  /**
   * When a merged call fails with an error that is not marked retryable (`isRetryable` is not
   * `true`: a bad input, say), send each caller's inputs as a call of its own, so only the
   * caller at fault fails. Retryable errors (rate limits, outages) fail every merged caller.
   * @default true
   */
  isolateFailures?: boolean;
}

/** Batch counters; `items` count inputs, `batches` merged upstream calls. */
export interface EmbeddingsBatcherStats extends BatcherStats {
  /** Merged calls that failed and were retried as one call per caller. */
  fallbacks: number;
}

/** Merges concurrent embeddings requests; see {@link createEmbeddingsBatcher}. */
export interface EmbeddingsBatcher {
  /** Embeds one request's inputs, sharing an upstream call with concurrent requests. */
  embed(request: EmbeddingsRequest): Promise<EmbeddingsResponse>;
  /** Sends every waiting request now and waits for the calls in flight. */
  flush(): Promise<void>;
  /** Refuses new requests, sends the waiting ones and waits for them. */
  close(): Promise<void>;
  stats(): EmbeddingsBatcherStats;
}

/** One caller's request as the batches see it. */
interface Caller {
  /** The caller's token estimate of each input, in order. */
  estimates: number[];
}

interface InputItem {
  caller: Caller;
  /** Position within the caller's inputs. */
  position: number;
  input: string | number[];
  parameters: EmbedParameters;
  model: string;
}

interface InputResult {
  embedding: Embedding;
  /** Usage tokens charged to this item (the caller's share in this call sits on one of its items). */
  promptTokens: number;
  totalTokens: number;
  model: string;
}

/** The default estimate: ceil(characters / 4), at least 1, for text; the length of a token array. */
export function estimateEmbeddingTokens(input: string | number[]): number {
  return typeof input === 'string' ? Math.max(1, Math.ceil(input.length / 4)) : input.length;
}

/**
 * Splits an integer `total` across `weights` in proportion, as integers summing exactly to
 * `total` (largest remainder; ties go to the earlier share). All-zero weights split evenly.
 */
export function splitProportionally(total: number, weights: readonly number[]): number[] {
  if (weights.length === 0) return [];
  const sum = weights.reduce((accumulated, weight) => accumulated + weight, 0);
  const basis = sum > 0 ? weights : weights.map(() => 1);
  const basisSum = sum > 0 ? sum : weights.length;
  const shares = basis.map((weight) => Math.floor((total * weight) / basisSum));
  let left = total - shares.reduce((accumulated, share) => accumulated + share, 0);
  const order = basis
    .map((weight, index) => ({
      index,
      remainder: (total * weight) / basisSum - (shares[index] ?? 0),
    }))
    .sort((a, b) => b.remainder - a.remainder || a.index - b.index);
  for (let turn = 0; left > 0; turn = (turn + 1) % order.length, left--) {
    const index = order[turn]?.index ?? 0;
    shares[index] = (shares[index] ?? 0) + 1;
  }
  return shares;
}

function isTokenArray(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((token) => typeof token === 'number');
}

/** The request's inputs as a list, and their kind; throws a `ConfigError` for an empty or mixed input. */
function normalizeInputs(input: EmbeddingsRequest['input']): {
  inputs: (string | number[])[];
  kind: 'text' | 'tokens';
} {
  if (typeof input === 'string') return { inputs: [input], kind: 'text' };
  if (!Array.isArray(input) || input.length === 0) {
    throw new ConfigError('an embeddings input must be a non-empty string or array');
  }
  if (isTokenArray(input)) return { inputs: [input], kind: 'tokens' };
  if (input.every((item) => typeof item === 'string')) {
    return { inputs: input as string[], kind: 'text' };
  }
  if (input.every((item) => isTokenArray(item))) {
    return { inputs: input as number[][], kind: 'tokens' };
  }
  throw new ConfigError('an embeddings input must be texts or token arrays, not a mix');
}

/** Checks an upstream answer for `count` inputs and returns the embeddings in input order. */
function orderedEmbeddings(answer: UpstreamEmbeddings, count: number): Embedding[] {
  const data = answer?.data;
  if (!Array.isArray(data) || data.length !== count) {
    throw new SluiceError(
      'E_EMBEDDINGS_UPSTREAM',
      `the upstream returned ${Array.isArray(data) ? data.length : 'no'} embeddings for ${count} inputs`,
    );
  }
  const ordered: (Embedding | undefined)[] = new Array(count);
  for (const item of data) {
    const index = item?.index;
    if (!Number.isInteger(index) || index < 0 || index >= count || ordered[index] !== undefined) {
      throw new SluiceError(
        'E_EMBEDDINGS_UPSTREAM',
        `the upstream returned an embedding with a missing, repeated or out-of-range index (${String(index)})`,
      );
    }
    ordered[index] = item.embedding;
  }
  return ordered as Embedding[];
}

function isRetryable(error: unknown): boolean {
  return (error as { isRetryable?: unknown } | null)?.isRetryable === true;
}

function tokenCount(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new SluiceError('E_EMBEDDINGS_UPSTREAM', `the upstream usage.${name} is not a count`);
  }
  return value;
}

/**
 * Creates an embeddings batcher over `embed`: concurrent requests with the same model,
 * dimensions, encoding, user and input kind go upstream as one call (bounded by `maxInputs`
 * and `maxTokens`; a large request may span several calls). Each caller's `data[].index` runs
 * from 0 in its own order, and the upstream `usage` is split in proportion to each caller's
 * token estimate, in integers that add up exactly to the upstream total.
 */
export function createEmbeddingsBatcher(options: EmbeddingsBatcherOptions): EmbeddingsBatcher {
  if (typeof options.embed !== 'function') {
    throw new ConfigError('createEmbeddingsBatcher needs an embed function');
  }
  const estimate = options.estimateTokens ?? estimateEmbeddingTokens;
  const isolateFailures = options.isolateFailures ?? true;
  let fallbacks = 0;

  /** One upstream call for `items`; each caller's usage share sits on its first item. */
  const callUpstream = async (items: readonly InputItem[]): Promise<InputResult[]> => {
    const first = items[0];
    if (first === undefined) return [];
    const inputs = items.map((item) => item.input) as string[] | number[][];
    const answer = await options.embed(first.model, inputs, first.parameters);
    const embeddings = orderedEmbeddings(answer, items.length);
    const promptTokens = tokenCount(answer.usage?.prompt_tokens, 'prompt_tokens');
    const totalTokens = tokenCount(answer.usage?.total_tokens, 'total_tokens');
    const callers = new Map<Caller, { firstItem: number; weight: number }>();
    items.forEach((item, index) => {
      const share = callers.get(item.caller);
      const weight = item.caller.estimates[item.position] ?? 0;
      if (share === undefined) callers.set(item.caller, { firstItem: index, weight });
      else share.weight += weight;
    });
    const shares = [...callers.values()];
    const weights = shares.map((share) => share.weight);
    const promptShares = splitProportionally(promptTokens, weights);
    const totalShares = splitProportionally(totalTokens, weights);
    const charged = new Map<number, number>();
    shares.forEach((share, index) => {
      charged.set(share.firstItem, index);
    });
    const model = answer.model ?? first.model;
    return items.map((_item, index) => {
      const shareIndex = charged.get(index);
      return {
        embedding: embeddings[index] as Embedding,
        promptTokens: shareIndex === undefined ? 0 : (promptShares[shareIndex] ?? 0),
        totalTokens: shareIndex === undefined ? 0 : (totalShares[shareIndex] ?? 0),
        model,
      };
    });
  };

  const batcher = createBatcher<InputItem, InputResult>({
    window: options.window ?? 5,
    maxItems: options.maxInputs ?? 2_048,
    maxWeight: options.maxTokens ?? 300_000,
    maxPending: options.maxPending ?? 20_000,
    concurrency: options.concurrency ?? Number.POSITIVE_INFINITY,
    run: async (_key, items) => {
      try {
        return await callUpstream(items);
      } catch (error) {
        const callers = new Map<Caller, number[]>();
        items.forEach((item, index) => {
          const positions = callers.get(item.caller);
          if (positions === undefined) callers.set(item.caller, [index]);
          else positions.push(index);
        });
        // One caller, or an error the upstream says is worth retrying as it is: all share it.
        if (!isolateFailures || callers.size <= 1 || isRetryable(error)) throw error;
        // Fall back to one call per caller, so one caller's bad input fails only that caller.
        fallbacks++;
        const results: (InputResult | Error)[] = new Array(items.length);
        await Promise.all(
          [...callers.values()].map(async (positions) => {
            const own = positions.map((position) => items[position] as InputItem);
            try {
              const answers = await callUpstream(own);
              positions.forEach((position, index) => {
                results[position] = answers[index] as InputResult;
              });
            } catch (callerError) {
              const failure =
                callerError instanceof Error ? callerError : new Error(String(callerError));
              for (const position of positions) results[position] = failure;
            }
          }),
        );
        return results;
      }
    },
  });

  return {
    async embed(request) {
      if (typeof request?.model !== 'string' || request.model === '') {
        throw new ConfigError("an embeddings request needs a non-empty 'model'");
      }
      const { inputs, kind } = normalizeInputs(request.input);
      const parameters: EmbedParameters = {};
      if (request.dimensions !== undefined) parameters.dimensions = request.dimensions;
      if (request.encoding_format !== undefined) {
        parameters.encoding_format = request.encoding_format;
      }
      if (request.user !== undefined) parameters.user = request.user;
      const key = JSON.stringify([
        request.model,
        request.dimensions ?? null,
        request.encoding_format ?? 'float',
        request.user ?? null,
        kind,
      ]);
      const estimates = inputs.map((input) => Math.max(0, estimate(input)));
      const caller: Caller = { estimates };
      const results = await Promise.all(
        inputs.map((input, position) =>
          batcher.add(
            key,
            { caller, position, input, parameters, model: request.model },
            // The batcher needs a positive weight; a zero estimate still counts as a little.
            Math.max(estimates[position] ?? 0, Number.EPSILON),
          ),
        ),
      );
      let promptTokens = 0;
      let totalTokens = 0;
      const data = results.map((result, index) => {
        promptTokens += result.promptTokens;
        totalTokens += result.totalTokens;
        return { object: 'embedding' as const, embedding: result.embedding, index };
      });
      return {
        object: 'list',
        data,
        model: results[0]?.model ?? request.model,
        usage: { prompt_tokens: promptTokens, total_tokens: totalTokens },
      };
    },
    flush: () => batcher.flush(),
    close: () => batcher.close(),
    stats: () => ({ ...batcher.stats(), fallbacks }),
  };
}
