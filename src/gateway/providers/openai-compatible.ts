import { type Dispatcher, Pool } from 'undici';
import type { ProviderConfig } from '../config.js';
import { answerCutOff, type HttpError, upstreamTimeout } from '../errors.js';
import {
  CONSUMED_BODY,
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
  /** The two paths, joined to the base URL's path once rather than on every call. */
  readonly #chatPath: string;
  readonly #embeddingsPath: string;
  /** Header names and values, flat (undici's array form: copied per call faster than an object). */
  readonly #headers: string[];
  readonly #timeoutMs: number;

  constructor(config: ProviderConfig) {
    this.name = config.name;
    const url = new URL(config.baseUrl);
    this.host = url.hostname;
    const basePath = url.pathname.replace(/\/+$/, '');
    this.#chatPath = `${basePath}/chat/completions`;
    this.#embeddingsPath = `${basePath}/embeddings`;
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
    return this.#post(this.#chatPath, call);
  }

  embeddings(call: UpstreamCall): Promise<UpstreamResponse> {
    return this.#post(this.#embeddingsPath, call);
  }

  #post(path: string, call: UpstreamCall): Promise<UpstreamResponse> {
    return call.stream === true ? this.#postStream(path, call) : this.#postWhole(path, call);
  }

  /**
   * A non-streaming call through undici's dispatch API: the answer's chunks are collected by a
   * handler and the call resolves once the whole body is in, with `text` set. No readable
   * stream, async resource or event emitter per call (undici's `request()` builds all three).
   */
  #postWhole(path: string, call: UpstreamCall): Promise<UpstreamResponse> {
    return new Promise((resolve, reject) => {
      const handler = new WholeBodyHandler(this, call, resolve, reject);
      this.#pool.dispatch(
        {
          method: 'POST',
          path,
          headers: withCallHeaders(this.#headers, call),
          body: call.body,
        },
        handler,
      );
    });
  }

  /** A streaming call: resolves at the headers with undici's readable body. */
  async #postStream(path: string, call: UpstreamCall): Promise<UpstreamResponse> {
    const headers = withCallHeaders(this.#headers, call);
    const deadline = headersDeadline(this.#timeoutMs, call.signal);
    try {
      const response = await this.#pool.request({
        method: 'POST',
        path,
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

  /** How long the upstream may take to send its headers. */
  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  close(graceMs = 0): Promise<void> {
    return closePool(this.#pool, graceMs);
  }
}

type Controller = Parameters<NonNullable<Dispatcher.DispatchHandler['onRequestStart']>>[0];

/**
 * Collects one non-streaming answer. Before the headers, a failure is a transport error (502,
 * or 504 when the headers deadline passed); after them, a body cut off mid-way is a retryable
 * 502, like any answer that did not arrive whole.
 */
class WholeBodyHandler implements Dispatcher.DispatchHandler {
  readonly #provider: OpenAICompatibleProvider;
  readonly #signal: AbortSignal | undefined;
  readonly #resolve: (response: UpstreamResponse) => void;
  readonly #reject: (error: HttpError) => void;
  /** The headers deadline (its own timer only: the caller's signal is followed to the end). */
  readonly #deadline: ReturnType<typeof headersDeadline>;
  #status = 0;
  #headers: UpstreamResponse['headers'] = {};
  #chunks: Buffer[] = [];
  #length = 0;
  #controller: Controller | undefined;

  constructor(
    provider: OpenAICompatibleProvider,
    call: UpstreamCall,
    resolve: (response: UpstreamResponse) => void,
    reject: (error: HttpError) => void,
  ) {
    this.#provider = provider;
    this.#signal = call.signal;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#deadline = headersDeadline(provider.timeoutMs, undefined);
  }

  /** The abort listener (an EventTarget listener object): the caller's signal or the deadline fired. */
  handleEvent(): void {
    this.#controller?.abort(this.#signal?.reason ?? this.#deadline.signal?.reason);
  }

  onRequestStart(controller: Controller): void {
    this.#controller = controller;
    const signal = this.#signal;
    const deadline = this.#deadline.signal;
    if (signal?.aborted === true || deadline?.aborted === true) {
      this.handleEvent();
      return;
    }
    signal?.addEventListener('abort', this, { once: true });
    deadline?.addEventListener('abort', this, { once: true });
  }

  onResponseStart(
    _controller: Controller,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    this.#endDeadline();
    this.#status = statusCode;
    this.#headers = headers;
  }

  onResponseData(_controller: Controller, chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  onResponseEnd(): void {
    this.#signal?.removeEventListener('abort', this);
    const chunks = this.#chunks;
    const bytes = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, this.#length);
    this.#resolve({
      status: this.#status,
      headers: this.#headers,
      body: CONSUMED_BODY,
      text: bytes.toString('utf8'),
    });
  }

  onResponseError(_controller: Controller, error: Error): void {
    const expired = this.#deadline.expired();
    this.#endDeadline();
    this.#signal?.removeEventListener('abort', this);
    const provider = this.#provider;
    if (this.#status !== 0) {
      this.#reject(answerCutOff(provider.name, error));
    } else if (expired && this.#signal?.aborted !== true) {
      this.#reject(upstreamTimeout(provider.name, provider.timeoutMs, error));
    } else {
      this.#reject(provider.transportError(error));
    }
  }

  #endDeadline(): void {
    this.#deadline.signal?.removeEventListener('abort', this);
    this.#deadline.clear();
  }
}

export function openAICompatibleProvider(config: ProviderConfig): OpenAICompatibleProvider {
  return new OpenAICompatibleProvider(config);
}
