import { PassThrough, type Readable } from 'node:stream';
import { Pool } from 'undici';
import type { ProviderConfig } from '../config.js';
import {
  answerCutOff,
  type HttpError,
  invalidRequest,
  upstreamInvalidResponse,
  upstreamTimeout,
} from '../errors.js';
import {
  bodyOf,
  CONSUMED_BODY,
  headersDeadline,
  type Provider,
  type UpstreamCall,
  type UpstreamResponse,
  withCallHeaders,
} from '../provider.js';
import { SseParser } from '../sse.js';
import {
  fromAnthropicError,
  fromAnthropicResponse,
  StreamTranslator,
  toAnthropicRequest,
} from './anthropic-mapping.js';
import { closePool, transportError } from './transport.js';

export const ANTHROPIC_VERSION = '2023-06-01';

/**
 * Anthropic's Messages API behind the gateway's OpenAI-shaped contract: requests are mapped to
 * Messages, answers and streams back to chat completions (see anthropic-mapping.ts), so routes
 * and fallbacks can span providers.
 */
export class AnthropicProvider implements Provider {
  readonly name: string;
  readonly host: string;
  readonly #pool: Pool;
  readonly #basePath: string;
  /** Header names and values, flat (undici's array form). */
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
    const headers: Record<string, string> = {
      'anthropic-version': ANTHROPIC_VERSION,
      ...config.headers,
      'content-type': 'application/json',
    };
    if (config.apiKey !== undefined) headers['x-api-key'] = config.apiKey;
    this.#headers = Object.entries(headers).flat();
  }

  async chatCompletions(call: UpstreamCall): Promise<UpstreamResponse> {
    const body = bodyOf(call) as Record<string, unknown>;
    const model = String(body.model);
    const request = toAnthropicRequest(body, model);
    let response: Awaited<ReturnType<Pool['request']>>;
    const deadline = headersDeadline(this.#timeoutMs, call.signal);
    try {
      response = await this.#pool.request({
        method: 'POST',
        path: `${this.#basePath}/messages`,
        headers: withCallHeaders(this.#headers, call),
        body: JSON.stringify(request),
        signal: deadline.signal,
      });
    } catch (error) {
      if (deadline.expired()) throw upstreamTimeout(this.name, this.#timeoutMs, error);
      throw this.transportError(error);
    } finally {
      deadline.clear();
    }
    const headers = response.headers;
    if (response.statusCode < 200 || response.statusCode >= 300) {
      const text = await response.body.text().catch(() => '');
      return {
        status: response.statusCode,
        headers,
        body: CONSUMED_BODY,
        text: fromAnthropicError(text),
      };
    }
    if (request.stream !== true) {
      let text: string;
      try {
        text = await response.body.text();
      } catch (error) {
        // Reached, answered, then the body broke off: a cut answer, retried.
        throw answerCutOff(this.name, error);
      }
      const message = anthropicMessage(text, this.name);
      return {
        status: 200,
        headers,
        body: CONSUMED_BODY,
        text: JSON.stringify(fromAnthropicResponse(message, model)),
      };
    }
    return { status: 200, headers, body: translateStream(response.body, model) };
  }

  async embeddings(_call: UpstreamCall): Promise<UpstreamResponse> {
    throw invalidRequest(`provider '${this.name}' (Anthropic) has no embeddings endpoint`, 'model');
  }

  /** Maps an undici or socket failure to the gateway's 502/504. */
  transportError(error: unknown): HttpError {
    return transportError(this.name, this.#timeoutMs, error);
  }

  close(graceMs = 0): Promise<void> {
    return closePool(this.#pool, graceMs);
  }
}

export function anthropicProvider(config: ProviderConfig): AnthropicProvider {
  return new AnthropicProvider(config);
}

/**
 * A 2xx Messages answer, checked before it is translated (a translation of `{}` would look
 * like an empty chat completion): a JSON object whose `content` is an array of blocks.
 * Anything else is a retryable 502 `upstream_invalid_response`.
 */
function anthropicMessage(text: string, provider: string): Record<string, unknown> {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch (error) {
    throw upstreamInvalidResponse(provider, 'the body is not JSON (cut short?)', error);
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    throw upstreamInvalidResponse(provider, 'the body is not a JSON object');
  }
  const content = (message as { content?: unknown }).content;
  if (
    !Array.isArray(content) ||
    !content.every((block) => typeof block === 'object' && block !== null)
  ) {
    throw upstreamInvalidResponse(provider, 'no content blocks in the message');
  }
  return message as Record<string, unknown>;
}

type TextReadable = Readable & { text(): Promise<string> };

/** OpenAI SSE bytes from an Anthropic event stream, as they arrive. */
function translateStream(upstream: Readable, model: string): TextReadable {
  const output = new PassThrough() as PassThrough & { text(): Promise<string> };
  output.text = async () => {
    let text = '';
    for await (const chunk of output) text += String(chunk);
    return text;
  };
  const parser = new SseParser();
  const translator = new StreamTranslator(model);
  const forward = (events: { data: string }[]) => {
    let frames = '';
    for (const event of events) {
      for (const data of translator.translate(event.data)) frames += `data: ${data}\n\n`;
    }
    if (frames !== '') output.write(frames);
  };
  upstream.on('data', (chunk: Buffer) => forward(parser.push(chunk)));
  upstream.on('end', () => {
    forward(parser.end());
    output.end();
  });
  upstream.on('error', (error) => output.destroy(error));
  output.on('close', () => {
    if (!upstream.destroyed) upstream.destroy();
  });
  return output;
}
