import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Caller } from '../gateway/auth.js';
import type { ResponseSink } from '../gateway/completions.js';
import type { GatewayConfigFile } from '../gateway/config.js';
import { HttpError, upstreamTimeout, upstreamUnreachable } from '../gateway/errors.js';
import {
  bodyOf,
  type Provider,
  type UpstreamCall,
  type UpstreamResponse,
} from '../gateway/provider.js';
import { createSluice, type Sluice } from '../gateway/sluice.js';
import { SseParser } from '../gateway/sse.js';
import { parseChatBody, parseEmbeddingsBody } from '../gateway/validation.js';
import { preparePipeline } from './prepare.js';

/** The parts of the official `openai` client the adapter uses (v4 to v6). */
export interface OpenAIClientLike {
  baseURL: string;
  chat: {
    completions: {
      create(body: object, options?: RequestOptionsLike): PromiseLike<unknown> & AsResponse;
    };
  };
  embeddings: {
    create(body: object, options?: RequestOptionsLike): PromiseLike<unknown> & AsResponse;
  };
}

interface AsResponse {
  asResponse(): Promise<Response>;
}

interface RequestOptionsLike {
  signal?: AbortSignal | null;
  headers?: Record<string, string | null | undefined> | Headers | unknown;
}

interface APIErrorClass {
  generate(
    status: number | undefined,
    error: object | undefined,
    message: string | undefined,
    headers: Headers | undefined,
  ): Error;
}

export interface WrapOpenAIOptions {
  /**
   * The pipeline calls go through. By default one is built from `config`, with the wrapped
   * client itself as the provider of every model.
   */
  sluice?: Sluice;
  /**
   * Configuration of the default pipeline: `cache`, `store`, `budgets`, `cost`, `models`...
   * Providers default to the client (`name: 'client'`); models to every model on it.
   * @default { store: { sqlite: false }, cost: { ledger: false } }
   */
  config?: Partial<GatewayConfigFile>;
  /** Who the calls are attributed to (budgets, ledger, cache namespace). @default { name: 'in-process' } */
  caller?: { name: string; namespace?: string; tags?: string[] };
}

/**
 * The official `openai` client with `chat.completions.create` and `embeddings.create` going
 * through Sluice in-process: exact cache (streams replayed), coalescing, budgets and cost
 * accounting, with the gateway's semantics. Everything else on the client is untouched.
 *
 * Request controls are read from `options.headers` as the gateway reads HTTP headers
 * (`cache-control`, `x-sluice-cache-ttl`, `x-sluice-namespace`, `x-sluice-priority`).
 * Differences from the client: `create` returns a plain promise (with `withResponse()`),
 * and a stream is an async iterable with `controller` and `toReadableStream()`.
 */
export function wrapOpenAI<Client extends OpenAIClientLike>(
  client: Client,
  options: WrapOpenAIOptions = {},
): Client & {
  sluice: Sluice;
} {
  const chatCreate = client.chat.completions.create.bind(client.chat.completions);
  const embeddingsCreate = client.embeddings.create.bind(client.embeddings);
  const sluice =
    options.sluice ??
    createSluice(
      {
        store: { sqlite: false },
        cost: { ledger: false },
        ...options.config,
        providers: options.config?.providers ?? [
          { name: 'client', type: 'openai-compatible', baseUrl: client.baseURL },
        ],
        models: options.config?.models ?? [{ name: '*', provider: 'client' }],
      },
      { providers: [new ClientProvider('client', chatCreate, embeddingsCreate)] },
    );
  const caller: Caller = {
    name: options.caller?.name ?? 'in-process',
    namespace: options.caller?.namespace ?? options.caller?.name ?? 'in-process',
    models: undefined,
    tags: options.caller?.tags ?? [],
  };
  const errors = (client.constructor as unknown as { APIError?: APIErrorClass }).APIError;
  const toClientError = (error: unknown): unknown => {
    if (!(error instanceof HttpError) || errors === undefined) return error;
    // `generate` takes the whole response body ({ error: {...} }), as the client does.
    return errors.generate(error.status, error.toBody(), error.message, new Headers(error.headers));
  };

  const completionsCreate = (body: object, requestOptions: RequestOptionsLike = {}) =>
    withResponse(async () => {
      await preparePipeline(sluice);
      const validated = parseChatBody(body);
      const exchange = sluice.exchange(randomUUID(), 'chat', caller);
      const request = sluice.prepare(
        exchange,
        'chat',
        validated,
        controlsOf(requestOptions.headers),
      );
      if (!request.stream) {
        const answer = await sluice.service.json(request).catch((error: unknown) => {
          throw toClientError(error);
        });
        return { data: JSON.parse(answer.body) as unknown, headers: sluiceHeaders(exchange) };
      }
      const sink = new ChunkSink();
      const done = sluice.service.stream(request, sink);
      await sink.started;
      if (sink.failure !== undefined) {
        await done;
        throw toClientError(sink.failure);
      }
      void done;
      return { data: sink.stream(), headers: sluiceHeaders(exchange) };
    });

  const embeddingsCreateWrapped = (body: object, requestOptions: RequestOptionsLike = {}) =>
    withResponse(async () => {
      await preparePipeline(sluice);
      const validated = parseEmbeddingsBody(body);
      const exchange = sluice.exchange(randomUUID(), 'embeddings', caller);
      const request = sluice.prepare(
        exchange,
        'embeddings',
        validated,
        controlsOf(requestOptions.headers),
      );
      const answer = await sluice.service.json(request).catch((error: unknown) => {
        throw toClientError(error);
      });
      const parsed = JSON.parse(answer.body) as { data: { embedding: number[] | string }[] };
      // The client asks for base64 and decodes it; a caller that did not ask gets floats.
      if ((body as { encoding_format?: string }).encoding_format === undefined) {
        for (const item of parsed.data) {
          if (typeof item.embedding === 'string')
            item.embedding = decodeBase64Floats(item.embedding);
        }
      }
      return { data: parsed as unknown, headers: sluiceHeaders(exchange) };
    });

  const completions = Object.create(client.chat.completions) as object;
  Object.defineProperty(completions, 'create', { value: completionsCreate });
  const chat = Object.create(client.chat) as object;
  Object.defineProperty(chat, 'completions', { value: completions });
  const embeddings = Object.create(client.embeddings) as object;
  Object.defineProperty(embeddings, 'create', { value: embeddingsCreateWrapped });
  const wrapped = Object.create(client) as Client & { sluice: Sluice };
  Object.defineProperty(wrapped, 'chat', { value: chat });
  Object.defineProperty(wrapped, 'embeddings', { value: embeddings });
  Object.defineProperty(wrapped, 'sluice', { value: sluice });
  return wrapped;
}

function controlsOf(headers: RequestOptionsLike['headers']) {
  const read = (name: string): string | undefined => {
    if (headers instanceof Headers) return headers.get(name) ?? undefined;
    if (headers === null || typeof headers !== 'object') return undefined;
    for (const [key, value] of Object.entries(headers as Record<string, unknown>)) {
      if (key.toLowerCase() === name && typeof value === 'string') return value;
    }
    return undefined;
  };
  return {
    cacheControl: read('cache-control'),
    cacheTtl: read('x-sluice-cache-ttl'),
    namespace: read('x-sluice-namespace'),
    priority: read('x-sluice-priority'),
  };
}

function sluiceHeaders(exchange: { requestId: string; cache: string }): Headers {
  return new Headers({ 'x-request-id': exchange.requestId, 'x-sluice-cache': exchange.cache });
}

/** A promise of the data, with `withResponse()` giving `{ data, response }` like the client's. */
function withResponse<Data>(run: () => Promise<{ data: Data; headers: Headers }>) {
  const result = run();
  const data = result.then((value) => value.data) as Promise<Data> & {
    withResponse(): Promise<{ data: Data; response: Response }>;
  };
  data.withResponse = async () => {
    const { data: value, headers } = await result;
    return { data: value, response: new Response(null, { status: 200, headers }) };
  };
  return data;
}

function decodeBase64Floats(text: string): number[] {
  const bytes = Buffer.from(text, 'base64');
  const floats = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return Array.from(floats);
}

/**
 * The wrapped client as Sluice's provider: its own transport, retries and credentials carry
 * the misses. Its errors become upstream statuses (or 502/504), as over HTTP.
 */
class ClientProvider implements Provider {
  readonly name: string;
  readonly #chat: OpenAIClientLike['chat']['completions']['create'];
  readonly #embeddings: OpenAIClientLike['embeddings']['create'];

  constructor(
    name: string,
    chat: OpenAIClientLike['chat']['completions']['create'],
    embeddings: OpenAIClientLike['embeddings']['create'],
  ) {
    this.name = name;
    this.#chat = chat;
    this.#embeddings = embeddings;
  }

  chatCompletions(call: UpstreamCall): Promise<UpstreamResponse> {
    return this.#send(this.#chat, call);
  }

  embeddings(call: UpstreamCall): Promise<UpstreamResponse> {
    return this.#send(this.#embeddings, call);
  }

  async #send(
    create: OpenAIClientLike['embeddings']['create'],
    call: UpstreamCall,
  ): Promise<UpstreamResponse> {
    let response: Response;
    try {
      response = await create(bodyOf(call) as object, {
        signal: call.signal ?? null,
      }).asResponse();
    } catch (error) {
      const status = (error as { status?: unknown }).status;
      if (typeof status === 'number') {
        const body = JSON.stringify({
          error: (error as { error?: unknown }).error ?? { message: (error as Error).message },
        });
        const headers: Record<string, string> = {};
        (error as { headers?: Headers }).headers?.forEach((value, key) => {
          headers[key] = value;
        });
        return { status, headers, body: textReadable(body) };
      }
      if ((error as Error).name === 'APIConnectionTimeoutError')
        throw upstreamTimeout(this.name, 0, error);
      throw upstreamUnreachable(this.name, error);
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((value, key) => {
      headers[key] = value;
    });
    const body = (
      response.body === null
        ? textReadable('')
        : Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>)
    ) as Readable & { text(): Promise<string> };
    body.text ??= async () => {
      let text = '';
      for await (const chunk of body) text += String(chunk);
      return text;
    };
    return { status: response.status, headers, body };
  }

  async close(): Promise<void> {}
}

function textReadable(text: string): Readable & { text(): Promise<string> } {
  const stream = Readable.from([Buffer.from(text)]) as Readable & { text(): Promise<string> };
  stream.text = async () => text;
  return stream;
}

/** Receives the service's SSE output in memory and hands out chunk objects. */
class ChunkSink implements ResponseSink {
  statusCode = 200;
  headersSent = false;
  writableEnded = false;
  failure: HttpError | undefined;
  readonly started: Promise<void>;
  readonly #parser = new SseParser();
  readonly #queue: unknown[] = [];
  #error: unknown;
  #wake: (() => void) | undefined;
  #markStarted!: () => void;
  #closeListeners: (() => void)[] = [];
  #body = '';

  constructor() {
    this.started = new Promise((resolve) => {
      this.#markStarted = resolve;
    });
  }

  setHeader(): void {}

  flushHeaders(): void {
    this.headersSent = true;
    if (this.statusCode === 200) this.#markStarted();
  }

  write(chunk: string): boolean {
    if (this.statusCode !== 200) {
      this.#body += chunk;
      return true;
    }
    for (const event of this.#parser.push(Buffer.from(chunk))) {
      if (event.data === '[DONE]') continue;
      const parsed = JSON.parse(event.data) as { error?: { message?: string } };
      if (parsed.error !== undefined) {
        this.#error = new HttpError(
          502,
          'upstream_error',
          'upstream_stream_cut',
          parsed.error.message ?? 'stream failed',
        );
      } else this.#queue.push(parsed);
    }
    this.#wake?.();
    return true;
  }

  end(chunk?: string): void {
    if (chunk !== undefined) this.write(chunk);
    this.writableEnded = true;
    if (this.statusCode !== 200) {
      const body = JSON.parse(this.#body || '{}') as {
        error?: { message?: string; type?: string; code?: string };
      };
      this.failure = new HttpError(
        this.statusCode,
        'upstream_error',
        body.error?.code ?? 'upstream_error',
        body.error?.message ?? `failed with ${this.statusCode}`,
      );
      this.#markStarted();
    }
    this.#wake?.();
    for (const listener of this.#closeListeners.splice(0)) listener();
  }

  once(_event: 'close', listener: () => void): void {
    this.#closeListeners.push(listener);
  }

  /** The chunks as an async iterable, with the client's `controller` and `toReadableStream()`. */
  stream() {
    const sink = this;
    const controller = new AbortController();
    controller.signal.addEventListener('abort', () => {
      for (const listener of sink.#closeListeners.splice(0)) listener();
    });
    async function* chunks(): AsyncGenerator<unknown> {
      for (;;) {
        const next = sink.#queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (sink.#error !== undefined) throw sink.#error;
        if (sink.writableEnded) return;
        await new Promise<void>((resolve) => {
          sink.#wake = resolve;
        });
        sink.#wake = undefined;
      }
    }
    return {
      controller,
      [Symbol.asyncIterator]: chunks,
      toReadableStream(): ReadableStream<Uint8Array> {
        const iterator = chunks();
        const encoder = new TextEncoder();
        return new ReadableStream({
          async pull(stream) {
            const { value, done } = await iterator.next();
            if (done) stream.close();
            else stream.enqueue(encoder.encode(`${JSON.stringify(value)}\n`));
          },
        });
      },
    };
  }
}
