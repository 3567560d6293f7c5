import { Pool } from 'undici';
import type { ProviderConfig } from '../config.js';
import { type HttpError, upstreamTimeout } from '../errors.js';
import {
  headersDeadline,
  type Provider,
  type UpstreamCall,
  type UpstreamResponse,
  withCallHeaders,
} from '../provider.js';
import { closePool, transportError } from './transport.js';

/**
 * Any API that speaks OpenAI's chat completions and embeddings: OpenAI, vLLM, Ollama, Groq,
 * Together, OpenRouter, LM Studio... One keep-alive pool per provider, bounded by
 * `connections`.
 */
export class OpenAICompatibleProvider implements Provider {
  readonly name: string;
  readonly host: string;
  readonly #pool: Pool;
  readonly #basePath: string;
  /** Header names and values, flat (undici's array form: copied per call faster than an object). */
  readonly #headers: string[];
  readonly #timeoutMs: number;

  constructor(config: ProviderConfig) {
    this.name = config.name;
    const url = new URL(config.baseUrl);
    this.host = url.hostname;
    this.#basePath = url.pathname.replace(/\/+$/, '');
    this.#timeoutMs = config.timeoutMs;
    this.#pool = new Pool(url.origin, {
      connections: config.connections,
      keepAliveTimeout: 10_000,
      headersTimeout: config.timeoutMs,
      bodyTimeout: config.timeoutMs,
      connect: { timeout: Math.min(config.timeoutMs, 10_000) },
    });
    // Names lowercased, so a configured `Content-Type` is replaced, not sent twice.
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(config.headers)) headers[name.toLowerCase()] = value;
    headers['content-type'] = 'application/json';
    if (config.apiKey !== undefined) headers.authorization = `Bearer ${config.apiKey}`;
    this.#headers = Object.entries(headers).flat();
  }

  chatCompletions(call: UpstreamCall): Promise<UpstreamResponse> {
    return this.#post('/chat/completions', call);
  }

  embeddings(call: UpstreamCall): Promise<UpstreamResponse> {
    return this.#post('/embeddings', call);
  }

  async #post(path: string, call: UpstreamCall): Promise<UpstreamResponse> {
    const headers = withCallHeaders(this.#headers, call);
    const deadline = headersDeadline(this.#timeoutMs, call.signal);
    try {
      const response = await this.#pool.request({
        method: 'POST',
        path: this.#basePath + path,
        headers,
        body: call.body,
        signal: deadline.signal,
      });
      return { status: response.statusCode, headers: response.headers, body: response.body };
    } catch (error) {
      if (deadline.expired()) throw upstreamTimeout(this.name, this.#timeoutMs, error);
      throw this.transportError(error);
    } finally {
      deadline.clear();
    }
  }

  /** Maps an undici or socket failure to the gateway's 502/504. */
  transportError(error: unknown): HttpError {
    return transportError(this.name, this.#timeoutMs, error);
  }

  close(graceMs = 0): Promise<void> {
    return closePool(this.#pool, graceMs);
  }
}

export function openAICompatibleProvider(config: ProviderConfig): OpenAICompatibleProvider {
  return new OpenAICompatibleProvider(config);
}
