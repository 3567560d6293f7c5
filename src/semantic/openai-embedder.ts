import { Agent, request } from 'undici';
import { z } from 'zod';
import { type Duration, parseDuration } from '../shared/duration.js';
import { ConfigError, SluiceError } from '../shared/errors.js';
import { EmbedBatcher, type Embedder, normalize } from './embedder.js';

export interface OpenAIEmbedderOptions {
  /** The API root, e.g. `'https://api.openai.com/v1'`; `/embeddings` is appended. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer …` when set. */
  apiKey?: string;
  /** e.g. `'text-embedding-3-small'`. */
  model: string;
  /**
   * Vector length. Known for OpenAI's models; required for others. When set for a
   * `text-embedding-3-*` model it is also sent as `dimensions` (shortened embeddings).
   */
  dimensions?: number;
  /**
   * How long the first of several concurrent calls waits for others to join one request.
   * @default 5 (ms)
   */
  batchWindow?: number;
  /** Most texts in one request. @default 256 */
  maxBatch?: number;
  /** Longest a request may take. @default '10s' */
  timeout?: Duration;
}

const KNOWN_DIMENSIONS: Record<string, number> = {
  'text-embedding-3-small': 1536,
  'text-embedding-3-large': 3072,
  'text-embedding-ada-002': 1536,
};

const embeddingsResponse = z.object({
  data: z
    .array(
      z.object({
        index: z.number().int().nonnegative(),
        embedding: z.union([z.array(z.number()), z.string()]),
      }),
    )
    .min(1),
});

/**
 * An embedder on any OpenAI-compatible `POST /embeddings` endpoint (OpenAI, Azure, vLLM,
 * Ollama, Sluice's own gateway). Concurrent calls within `batchWindow` share one request;
 * vectors are L2-normalised.
 */
export function openAIEmbedder(options: OpenAIEmbedderOptions): Embedder {
  if (typeof options.baseUrl !== 'string' || options.baseUrl.length === 0) {
    throw new ConfigError('openAIEmbedder needs a baseUrl');
  }
  if (typeof options.model !== 'string' || options.model.length === 0) {
    throw new ConfigError('openAIEmbedder needs a model');
  }
  const dimensions = options.dimensions ?? KNOWN_DIMENSIONS[options.model];
  if (dimensions === undefined || !(dimensions > 0)) {
    throw new ConfigError(
      `openAIEmbedder needs dimensions for model '${options.model}' (the length of its vectors)`,
    );
  }
  const url = `${options.baseUrl.replace(/\/+$/, '')}/embeddings`;
  const timeoutMs = parseDuration(options.timeout ?? '10s', 'timeout');
  const sendDimensions =
    options.dimensions !== undefined && options.model.startsWith('text-embedding-3');
  const dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 8 });
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.apiKey !== undefined) headers.authorization = `Bearer ${options.apiKey}`;

  const call = async (texts: string[]): Promise<Float32Array[]> => {
    const body: Record<string, unknown> = {
      model: options.model,
      input: texts,
      encoding_format: 'float',
    };
    if (sendDimensions) body.dimensions = dimensions;
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(url, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        dispatcher,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
    } catch (error) {
      throw new SluiceError('E_EMBEDDER_REQUEST', `embedding request to ${url} failed`, {
        cause: error,
        isRetryable: true,
      });
    }
    const text = await response.body.text();
    if (response.statusCode !== 200) {
      throw new SluiceError(
        'E_EMBEDDER_REQUEST',
        `embedding request to ${url} answered ${response.statusCode}: ${text.slice(0, 200)}`,
        { isRetryable: response.statusCode === 429 || response.statusCode >= 500 },
      );
    }
    let parsed: z.infer<typeof embeddingsResponse>;
    try {
      parsed = embeddingsResponse.parse(JSON.parse(text));
    } catch (error) {
      throw new SluiceError('E_EMBEDDER_RESPONSE', `unexpected embeddings response from ${url}`, {
        cause: error,
      });
    }
    const vectors = new Array<Float32Array | undefined>(texts.length);
    for (const item of parsed.data) {
      const vector =
        typeof item.embedding === 'string'
          ? decodeBase64Floats(item.embedding)
          : Float32Array.from(item.embedding);
      if (vector.length !== dimensions || item.index >= texts.length) {
        throw new SluiceError(
          'E_EMBEDDER_RESPONSE',
          `embeddings response from ${url} has a vector of ${vector.length} floats at index ${item.index}; expected ${dimensions} floats for ${texts.length} inputs`,
        );
      }
      vectors[item.index] = normalize(vector);
    }
    return vectors.map((vector, index) => {
      if (vector === undefined) {
        throw new SluiceError(
          'E_EMBEDDER_RESPONSE',
          `embeddings response from ${url} lacks index ${index}`,
        );
      }
      return vector;
    });
  };

  const batcher = new EmbedBatcher(call, options.maxBatch ?? 256, options.batchWindow ?? 5);
  return {
    dimensions,
    id: `openai:${options.model}:${dimensions}`,
    embed: (texts) => batcher.embed(texts),
    close: () => dispatcher.close(),
  };
}

function decodeBase64Floats(text: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Float32Array(copy.buffer, 0, Math.floor(copy.byteLength / 4));
}
