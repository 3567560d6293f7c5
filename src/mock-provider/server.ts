import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Clock, systemClock } from '../shared/clock.js';
import { ConfigError } from '../shared/errors.js';
import { createRandom, type Random } from '../shared/random.js';
import { answerChat, MAX_ANSWER_WORDS } from './answers.js';
import { BatchApiProblem, type MockBatchStats, MockBatchStore } from './batches.js';
import {
  InvalidRequest,
  MAX_EMBEDDING_DIMENSIONS,
  parseChatRequest,
  parseEmbeddingRequest,
  parseJson,
} from './requests.js';
import {
  chatCompletionBody,
  chatCompletionFrames,
  choiceSteps,
  embeddingsBody,
  errorBody,
  MODEL_IDS,
  MODELS_BODY,
} from './responses.js';

/** Latency, length and fault settings; all of them can be changed at run time with `setOptions`. */
export interface MockProviderSettings {
  /**
   * Time to first token: how long a stream waits before its first chunk, and part of how long
   * a non-streamed answer (or an embeddings answer) takes. Overridden per request by the
   * `x-mock-ttft-ms` header.
   * @default 0 (milliseconds)
   */
  ttftMs?: number;
  /**
   * Latency per output token after the first: the gap between stream chunks, and
   * `tokenMs × (tokens − 1)` more for a non-streamed answer. Overridden per request by the
   * `x-mock-token-ms` header.
   * @default 0 (milliseconds)
   */
  tokenMs?: number;
  /**
   * Longest text answer when the request sets neither `max_tokens` nor
   * `max_completion_tokens`; the natural length of each answer is drawn between 8 and this cap.
   * At most 8,192.
   * @default 64 (words, one completion token each)
   */
  maxTokens?: number;
  /**
   * Share of chat and embeddings requests answered `429` with `retry-after: 1`.
   * @default 0 (a fraction from 0 to 1; the four rates together at most 1)
   */
  error429Rate?: number;
  /**
   * Share of chat and embeddings requests answered `500`.
   * @default 0 (a fraction from 0 to 1)
   */
  error500Rate?: number;
  /**
   * Share of chat and embeddings requests that hang forever: no status, no body, until the
   * client gives up or `close()` is called.
   * @default 0 (a fraction from 0 to 1)
   */
  timeoutRate?: number;
  /**
   * Share of chat and embeddings requests whose connection is destroyed midway: a stream after
   * about half its chunks (never `[DONE]`), a JSON answer after its headers and half its body.
   * @default 0 (a fraction from 0 to 1)
   */
  cutRate?: number;
  /**
   * Seed of the generator that draws faults by the rates above: the same seed and the same
   * sequence of requests give the same faults. Setting it with `setOptions` restarts the
   * sequence.
   * @default 1 (an integer)
   */
  seed?: number;
  /**
   * How long a Batch API batch takes, from its creation: polls before then see it
   * `in_progress`, the first poll after it completes it. With 0 the first poll completes it.
   * A delay past the 24-hour completion window makes the batch expire instead.
   * @default 0 (milliseconds)
   */
  batchDelayMs?: number;
}

/** Everything `createMockProvider` accepts. */
export interface MockProviderOptions extends MockProviderSettings {
  /**
   * When set, every request must carry `authorization: Bearer <apiKey>`, else `401`.
   * @default undefined (no check)
   */
  apiKey?: string;
  /**
   * Embedding dimension when the request has no `dimensions`.
   * @default 16 (numbers per vector)
   */
  embeddingDimensions?: number;
  /**
   * Largest request body accepted; larger bodies get `413`.
   * @default 16_777_216 (bytes, 16 MiB)
   */
  maxBodyBytes?: number;
  /**
   * Most files (uploads and batch outputs) kept in memory; the oldest go first.
   * @default 1_000 (files)
   */
  maxFiles?: number;
  /**
   * Most bytes of files kept in memory; the oldest go first.
   * @default 268_435_456 (bytes, 256 MiB)
   */
  maxFileBytes?: number;
  /**
   * Most batches kept in memory; the oldest go first.
   * @default 1_000 (batches)
   */
  maxBatches?: number;
  /**
   * Where batch timing (`batchDelayMs`, the 24-hour window, timestamps) reads the time.
   * @default the system clock
   */
  clock?: Clock;
}

/** A fault the mock can inject; `400` only on demand through the `x-mock-fault` header. */
export type MockFault = '429' | '500' | 'timeout' | 'cut' | '400';

const FAULTS: readonly MockFault[] = ['429', '500', 'timeout', 'cut', '400'];

/** Counters since creation or the last `reset()`. */
export interface MockProviderStats {
  /** Every HTTP request, whatever its route or outcome. */
  requests: number;
  /** Requests to `POST /v1/chat/completions`. */
  chatCompletions: number;
  /** Chat answers sent (or begun) as a stream, cut ones included. */
  streams: number;
  /** Requests to `POST /v1/embeddings`. */
  embeddings: number;
  /** Faults injected, by kind: `429`, `500`, `timeout`, `cut`, `400`. */
  faults: Record<string, number>;
}

/** An OpenAI-compatible upstream on a real socket, for tests, demos and benchmarks. */
export interface MockProvider {
  /**
   * Starts listening on `port` (default 0: a free port) and `host` (default `127.0.0.1`);
   * `url` is the base URL to give an OpenAI client, ending in `/v1`.
   */
  listen(port?: number, host?: string): Promise<{ url: string; port: number }>;
  /** Stops listening and destroys every connection, hung requests and open streams included. */
  close(): Promise<void>;
  stats(): MockProviderStats;
  /** Counters of the Files and Batch APIs (`/v1/files`, `/v1/batches`). */
  batchStats(): MockBatchStats;
  /** Zeroes the counters (the fault sequence goes on; `setOptions({ seed })` restarts it). */
  reset(): void;
  /** Changes latency, length or fault settings for the requests that follow. */
  setOptions(settings: MockProviderSettings): void;
}

const DEFAULT_SETTINGS: Required<MockProviderSettings> = {
  ttftMs: 0,
  tokenMs: 0,
  maxTokens: 64,
  error429Rate: 0,
  error500Rate: 0,
  timeoutRate: 0,
  cutRate: 0,
  seed: 1,
  batchDelayMs: 0,
};

/** Longest latency a request header may ask for: an hour. */
const MAX_HEADER_LATENCY_MS = 3_600_000;

const SSE_HEADERS: OutgoingHttpHeaders = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
};

function checkRange(name: string, value: number, min: number, max: number, integer: boolean) {
  const wrongKind = integer ? !Number.isSafeInteger(value) : !Number.isFinite(value);
  if (typeof value !== 'number' || wrongKind || value < min || value > max) {
    const kind = integer ? 'an integer' : 'a number';
    throw new ConfigError(`${name} must be ${kind} from ${min} to ${max}, got ${String(value)}`);
  }
}

/** Merges and checks settings; throws a `ConfigError` naming the first bad one. */
function mergeSettings(
  current: Required<MockProviderSettings>,
  changes: MockProviderSettings,
): Required<MockProviderSettings> {
  const merged = { ...current };
  for (const [key, value] of Object.entries(changes)) {
    if (value !== undefined && key in DEFAULT_SETTINGS) {
      merged[key as keyof MockProviderSettings] = value as number;
    }
  }
  checkRange('ttftMs', merged.ttftMs, 0, Number.MAX_SAFE_INTEGER, false);
  checkRange('tokenMs', merged.tokenMs, 0, Number.MAX_SAFE_INTEGER, false);
  checkRange('maxTokens', merged.maxTokens, 1, MAX_ANSWER_WORDS, true);
  checkRange('error429Rate', merged.error429Rate, 0, 1, false);
  checkRange('error500Rate', merged.error500Rate, 0, 1, false);
  checkRange('timeoutRate', merged.timeoutRate, 0, 1, false);
  checkRange('cutRate', merged.cutRate, 0, 1, false);
  checkRange('seed', merged.seed, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true);
  checkRange('batchDelayMs', merged.batchDelayMs, 0, Number.MAX_SAFE_INTEGER, false);
  const total = merged.error429Rate + merged.error500Rate + merged.timeoutRate + merged.cutRate;
  if (total > 1) {
    throw new ConfigError(`the fault rates add up to ${total}; together they must be at most 1`);
  }
  return merged;
}

function headerValue(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return (Array.isArray(value) ? value[0] : value)?.trim();
}

function zeroStats(): MockProviderStats {
  const faults: Record<string, number> = {};
  for (const fault of FAULTS) faults[fault] = 0;
  return { requests: 0, chatCompletions: 0, streams: 0, embeddings: 0, faults };
}

/** Per-request latency: the settings, or the `x-mock-ttft-ms` / `x-mock-token-ms` headers. */
interface Latency {
  ttftMs: number;
  tokenMs: number;
}

class MockProviderServer implements MockProvider {
  readonly #server: Server;
  readonly #apiKey: string | undefined;
  readonly #embeddingDimensions: number;
  readonly #maxBodyBytes: number;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #batchStore: MockBatchStore;
  #settings: Required<MockProviderSettings>;
  #random: Random;
  #faultTotal: number;
  #stats = zeroStats();

  constructor(options: MockProviderOptions) {
    this.#settings = mergeSettings(DEFAULT_SETTINGS, options);
    this.#random = createRandom(this.#settings.seed);
    this.#faultTotal = this.#faultRateTotal();
    if (options.apiKey !== undefined && (typeof options.apiKey !== 'string' || !options.apiKey)) {
      throw new ConfigError('apiKey must be a non-empty string');
    }
    this.#apiKey = options.apiKey;
    this.#embeddingDimensions = options.embeddingDimensions ?? 16;
    checkRange('embeddingDimensions', this.#embeddingDimensions, 1, MAX_EMBEDDING_DIMENSIONS, true);
    this.#maxBodyBytes = options.maxBodyBytes ?? 16_777_216;
    checkRange('maxBodyBytes', this.#maxBodyBytes, 1, Number.MAX_SAFE_INTEGER, true);
    const maxFiles = options.maxFiles ?? 1_000;
    checkRange('maxFiles', maxFiles, 1, Number.MAX_SAFE_INTEGER, true);
    const maxFileBytes = options.maxFileBytes ?? 268_435_456;
    checkRange('maxFileBytes', maxFileBytes, 1, Number.MAX_SAFE_INTEGER, true);
    const maxBatches = options.maxBatches ?? 1_000;
    checkRange('maxBatches', maxBatches, 1, Number.MAX_SAFE_INTEGER, true);
    this.#batchStore = new MockBatchStore(
      options.clock ?? systemClock,
      { maxFiles, maxFileBytes, maxBatches, embeddingDimensions: this.#embeddingDimensions },
      () => ({ batchDelayMs: this.#settings.batchDelayMs, maxTokens: this.#settings.maxTokens }),
    );
    this.#server = createServer((request, response) => this.#handle(request, response));
    this.#server.keepAliveTimeout = 5_000;
  }

  listen(port = 0, host = '127.0.0.1'): Promise<{ url: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        const bound = (this.#server.address() as AddressInfo).port;
        const urlHost = host.includes(':') ? `[${host}]` : host;
        resolve({ url: `http://${urlHost}:${bound}/v1`, port: bound });
      });
    });
  }

  close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    if (!this.#server.listening) {
      this.#server.closeAllConnections();
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      this.#server.close((error) => (error === undefined ? resolve() : reject(error)));
      this.#server.closeAllConnections();
    });
  }

  stats(): MockProviderStats {
    return { ...this.#stats, faults: { ...this.#stats.faults } };
  }

  batchStats(): MockBatchStats {
    return this.#batchStore.stats();
  }

  reset(): void {
    this.#stats = zeroStats();
    this.#batchStore.resetStats();
  }

  setOptions(settings: MockProviderSettings): void {
    this.#settings = mergeSettings(this.#settings, settings);
    this.#faultTotal = this.#faultRateTotal();
    if (settings.seed !== undefined) this.#random = createRandom(this.#settings.seed);
  }

  #faultRateTotal(): number {
    const { error429Rate, error500Rate, timeoutRate, cutRate } = this.#settings;
    return error429Rate + error500Rate + timeoutRate + cutRate;
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    this.#stats.requests++;
    try {
      this.#route(request, response);
    } catch {
      // A bug in the mock must not take the process down; answer like an upstream would.
      if (!response.headersSent)
        this.#sendError(response, 500, 'mock provider error', 'server_error');
      else response.destroy();
    }
  }

  #route(request: IncomingMessage, response: ServerResponse): void {
    const url = request.url ?? '/';
    const queryStart = url.indexOf('?');
    const path = queryStart === -1 ? url : url.slice(0, queryStart);
    const method = request.method ?? 'GET';
    if (this.#apiKey !== undefined && request.headers.authorization !== `Bearer ${this.#apiKey}`) {
      this.#sendError(response, 401, 'Incorrect API key provided.', 'invalid_request_error', {
        code: 'invalid_api_key',
      });
      return;
    }
    if (path === '/v1/chat/completions' || path === '/v1/embeddings') {
      if (method !== 'POST') {
        this.#sendError(
          response,
          405,
          `Method ${method} not allowed on ${path}; use POST`,
          'invalid_request_error',
          { headers: { allow: 'POST' } },
        );
        return;
      }
      const chat = path === '/v1/chat/completions';
      if (chat) this.#stats.chatCompletions++;
      else this.#stats.embeddings++;
      this.#readBody(request, response, (body) => {
        if (chat) this.#answerChat(request, response, body);
        else this.#answerEmbeddings(request, response, body);
      });
      return;
    }
    if (path.startsWith('/v1/files') || path.startsWith('/v1/batches')) {
      this.#routeBatchApi(request, response, method, path, url.slice(path.length));
      return;
    }
    if (method === 'GET' && path === '/v1/models') {
      this.#send(response, 200, MODELS_BODY);
      return;
    }
    if (method === 'GET' && path.startsWith('/v1/models/')) {
      const id = decodeURIComponent(path.slice('/v1/models/'.length));
      if (MODEL_IDS.includes(id)) {
        const model = { id, object: 'model', created: 1_700_000_000, owned_by: 'mock' };
        this.#send(response, 200, JSON.stringify(model));
        return;
      }
      this.#sendError(response, 404, `The model '${id}' does not exist`, 'invalid_request_error', {
        code: 'model_not_found',
        param: 'model',
      });
      return;
    }
    this.#sendError(response, 404, `Invalid URL (${method} ${path})`, 'invalid_request_error');
  }

  /**
   * The Files and Batch APIs: `POST /v1/files` (multipart), `GET /v1/files/{id}`,
   * `GET /v1/files/{id}/content`, `DELETE /v1/files/{id}`, `POST /v1/batches`,
   * `GET /v1/batches`, `GET /v1/batches/{id}`, `POST /v1/batches/{id}/cancel`. Only a fault
   * forced with `x-mock-fault` applies here; the fault rates do not.
   */
  #routeBatchApi(
    request: IncomingMessage,
    response: ServerResponse,
    method: string,
    path: string,
    query: string,
  ): void {
    if (headerValue(request, 'x-mock-fault') !== undefined) {
      if (this.#fault(request, response) === 'handled') return;
    }
    const store = this.#batchStore;
    const reply = (result: string | BatchApiProblem): void => {
      if (result instanceof BatchApiProblem) {
        this.#send(response, result.status, result.body());
      } else {
        this.#send(response, 200, result);
      }
    };
    const parts = path.split('/').slice(2).map(decodeURIComponent);
    const [collection, id, action] = parts;
    const allowed = (expected: string): boolean => {
      if (method === expected) return true;
      this.#sendError(
        response,
        405,
        `Method ${method} not allowed on ${path}; use ${expected}`,
        'invalid_request_error',
        { headers: { allow: expected } },
      );
      return false;
    };
    if (collection === 'files' && parts.length === 1) {
      if (!allowed('POST')) return;
      this.#readRaw(request, response, (body) => this.#uploadFile(request, response, body));
      return;
    }
    if (collection === 'files' && id !== undefined && parts.length === 2) {
      if (method === 'DELETE') reply(store.deleteFile(id));
      else if (allowed('GET')) reply(store.fileObject(id));
      return;
    }
    if (collection === 'files' && id !== undefined && action === 'content' && parts.length === 3) {
      if (!allowed('GET')) return;
      const content = store.fileContent(id);
      if (content instanceof BatchApiProblem) {
        reply(content);
        return;
      }
      response.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': content.length,
      });
      response.end(content);
      return;
    }
    if (collection === 'batches' && parts.length === 1) {
      if (method === 'GET') {
        const limit = Number(new URLSearchParams(query.replace(/^\?/, '')).get('limit') ?? 20);
        this.#send(response, 200, store.list(Number.isSafeInteger(limit) ? limit : 20));
        return;
      }
      if (!allowed('POST')) return;
      this.#readBody(request, response, (body) => {
        const parsed = this.#json(response, body);
        if (parsed !== undefined) reply(store.create(parsed));
      });
      return;
    }
    if (collection === 'batches' && id !== undefined && parts.length === 2) {
      if (allowed('GET')) reply(store.retrieve(id));
      return;
    }
    if (collection === 'batches' && id !== undefined && action === 'cancel' && parts.length === 3) {
      if (allowed('POST')) reply(store.cancel(id));
      return;
    }
    this.#sendError(response, 404, `Invalid URL (${method} ${path})`, 'invalid_request_error');
  }

  /** `POST /v1/files`: reads the multipart form (a `purpose` field and a `file` part). */
  #uploadFile(request: IncomingMessage, response: ServerResponse, body: Buffer): void {
    const contentType = headerValue(request, 'content-type') ?? '';
    if (!contentType.toLowerCase().startsWith('multipart/form-data')) {
      this.#sendError(
        response,
        400,
        'POST /v1/files needs a multipart/form-data body with purpose and file',
        'invalid_request_error',
      );
      return;
    }
    const fail = (message: string, param: string | undefined = undefined): void => {
      if (!response.headersSent) {
        this.#sendError(response, 400, message, 'invalid_request_error', { param });
      }
    };
    new Response(body, { headers: { 'content-type': contentType } })
      .formData()
      .then(async (form) => {
        const purpose = form.get('purpose');
        const file = form.get('file');
        if (typeof purpose !== 'string' || purpose === '') {
          fail("'purpose' is a required field", 'purpose');
          return;
        }
        if (file === null || typeof file === 'string') {
          fail("'file' must be a file part", 'file');
          return;
        }
        const content = Buffer.from(await file.arrayBuffer());
        const result = this.#batchStore.upload(purpose, file.name || 'upload.jsonl', content);
        if (result instanceof BatchApiProblem) this.#send(response, result.status, result.body());
        else this.#send(response, 200, result);
      })
      .catch(() => fail('the multipart body could not be parsed'));
  }

  /** Collects the body (refusing more than `maxBodyBytes`), then hands it on as text. */
  #readBody(request: IncomingMessage, response: ServerResponse, then: (body: string) => void) {
    this.#readRaw(request, response, (body) => then(body.toString()));
  }

  /** Collects the body (refusing more than `maxBodyBytes`), then hands it on as bytes. */
  #readRaw(request: IncomingMessage, response: ServerResponse, then: (body: Buffer) => void) {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= this.#maxBodyBytes) chunks.push(chunk);
    });
    request.on('error', () => {
      // The client went away mid-body: nothing to answer.
    });
    request.on('end', () => {
      if (size > this.#maxBodyBytes) {
        this.#sendError(
          response,
          413,
          `the request body is larger than ${this.#maxBodyBytes} bytes`,
          'invalid_request_error',
        );
        return;
      }
      try {
        then(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
      } catch {
        if (!response.headersSent)
          this.#sendError(response, 500, 'mock provider error', 'server_error');
        else response.destroy();
      }
    });
  }

  /**
   * The fault for this request: forced by `x-mock-fault`, else drawn by the rates. Answers
   * `429`, `500` and `400` itself, leaves a `timeout` unanswered, and then returns `handled`;
   * returns `cut` for the caller to apply, undefined when there is no fault.
   */
  #fault(request: IncomingMessage, response: ServerResponse): 'cut' | 'handled' | undefined {
    const forced = headerValue(request, 'x-mock-fault');
    let fault: MockFault | undefined;
    if (forced !== undefined) {
      if (!FAULTS.includes(forced as MockFault)) {
        this.#sendError(
          response,
          400,
          `x-mock-fault must be one of ${FAULTS.join(', ')}; got '${forced}'`,
          'invalid_request_error',
        );
        return 'handled';
      }
      fault = forced as MockFault;
    } else if (this.#faultTotal > 0) {
      const draw = this.#random();
      const { error429Rate, error500Rate, timeoutRate, cutRate } = this.#settings;
      if (draw < error429Rate) fault = '429';
      else if (draw < error429Rate + error500Rate) fault = '500';
      else if (draw < error429Rate + error500Rate + timeoutRate) fault = 'timeout';
      else if (draw < error429Rate + error500Rate + timeoutRate + cutRate) fault = 'cut';
    }
    if (fault === undefined || fault === 'cut') return fault;
    this.#stats.faults[fault] = (this.#stats.faults[fault] ?? 0) + 1;
    switch (fault) {
      case '429':
        this.#sendError(
          response,
          429,
          'Rate limit reached for requests (injected by the mock provider).',
          'requests',
          { code: 'rate_limit_exceeded', headers: { 'retry-after': '1' } },
        );
        break;
      case '500':
        this.#sendError(
          response,
          500,
          'The server had an error while processing your request (injected by the mock provider).',
          'server_error',
        );
        break;
      case '400':
        this.#sendError(
          response,
          400,
          'Invalid request (injected by the mock provider through x-mock-fault).',
          'invalid_request_error',
        );
        break;
      case 'timeout':
        // Never answer: the connection stays open until the client gives up or close().
        break;
    }
    return 'handled';
  }

  /** Latency for this request, from the headers or the settings; undefined after a 400. */
  #latency(request: IncomingMessage, response: ServerResponse): Latency | undefined {
    const latency: Latency = { ttftMs: this.#settings.ttftMs, tokenMs: this.#settings.tokenMs };
    for (const [header, key] of [
      ['x-mock-ttft-ms', 'ttftMs'],
      ['x-mock-token-ms', 'tokenMs'],
    ] as const) {
      const value = headerValue(request, header);
      if (value === undefined) continue;
      const milliseconds = value.trim() === '' ? Number.NaN : Number(value);
      if (!(milliseconds >= 0 && milliseconds <= MAX_HEADER_LATENCY_MS)) {
        this.#sendError(
          response,
          400,
          `${header} must be a number of milliseconds from 0 to ${MAX_HEADER_LATENCY_MS}; got '${value}'`,
          'invalid_request_error',
        );
        return undefined;
      }
      latency[key] = milliseconds;
    }
    return latency;
  }

  /** Parses the JSON body; answers 400 and returns undefined when it is not JSON. */
  #json(response: ServerResponse, body: string): unknown {
    const parsed = parseJson(body);
    if (parsed === undefined) {
      this.#sendError(
        response,
        400,
        'We could not parse the JSON body of your request. The body must be valid JSON.',
        'invalid_request_error',
      );
    }
    return parsed;
  }

  #answerChat(request: IncomingMessage, response: ServerResponse, body: string): void {
    const latency = this.#latency(request, response);
    if (latency === undefined) return;
    const fault = this.#fault(request, response);
    if (fault === 'handled') return;
    const parsed = this.#json(response, body);
    if (parsed === undefined) return;
    const chatRequest = parseChatRequest(parsed);
    if (chatRequest instanceof InvalidRequest) {
      this.#sendInvalid(response, chatRequest);
      return;
    }
    const answer = answerChat(chatRequest, this.#settings.maxTokens);
    const cut = fault === 'cut';
    if (cut) this.#stats.faults.cut = (this.#stats.faults.cut ?? 0) + 1;
    if (chatRequest.stream) {
      this.#stats.streams++;
      const frames = chatCompletionFrames(answer, chatRequest.includeUsage, !cut);
      this.#stream(response, frames, latency, cut);
      return;
    }
    const steps = Math.max(...answer.choices.map(choiceSteps));
    const delay = latency.ttftMs + latency.tokenMs * (steps - 1);
    this.#after(response, delay, () => this.#send(response, 200, chatCompletionBody(answer), cut));
  }

  #answerEmbeddings(request: IncomingMessage, response: ServerResponse, body: string): void {
    const latency = this.#latency(request, response);
    if (latency === undefined) return;
    const fault = this.#fault(request, response);
    if (fault === 'handled') return;
    const parsed = this.#json(response, body);
    if (parsed === undefined) return;
    const embeddingRequest = parseEmbeddingRequest(parsed);
    if (embeddingRequest instanceof InvalidRequest) {
      this.#sendInvalid(response, embeddingRequest);
      return;
    }
    const cut = fault === 'cut';
    if (cut) this.#stats.faults.cut = (this.#stats.faults.cut ?? 0) + 1;
    const answer = embeddingsBody(embeddingRequest, this.#embeddingDimensions);
    this.#after(response, latency.ttftMs, () => this.#send(response, 200, answer, cut));
  }

  /**
   * Streams SSE frames: the first after the time to first token, each next one after the
   * token latency. Without latency everything goes out in one write. A cut stream sends about
   * half its frames, then destroys the connection.
   */
  #stream(response: ServerResponse, frames: string[], latency: Latency, cut: boolean): void {
    const count = cut ? Math.max(1, Math.ceil(frames.length / 2)) : frames.length;
    if (latency.ttftMs === 0 && latency.tokenMs === 0) {
      if (cut) {
        response.writeHead(200, SSE_HEADERS);
        response.write(frames.slice(0, count).join(''), () => response.destroy());
        return;
      }
      const body = frames.join('');
      response.writeHead(200, { ...SSE_HEADERS, 'content-length': Buffer.byteLength(body) });
      response.end(body);
      return;
    }
    response.writeHead(200, SSE_HEADERS);
    response.flushHeaders();
    let next = 0;
    const step = (): void => {
      if (response.destroyed) return;
      // Without a token latency, everything after the first token goes out at once.
      const end = latency.tokenMs === 0 ? count : next + 1;
      const chunk = frames.slice(next, end).join('');
      next = end;
      if (next < count) {
        response.write(chunk);
        this.#after(response, latency.tokenMs, step);
      } else if (cut) {
        response.write(chunk, () => response.destroy());
      } else {
        response.end(chunk);
      }
    };
    this.#after(response, latency.ttftMs, step);
  }

  /**
   * Runs `action` after `delay` ms: at once when the delay is 0 (no timer on the fast path),
   * else on a timer that `close()` and a closed connection cancel.
   */
  #after(response: ServerResponse, delay: number, action: () => void): void {
    if (delay <= 0) {
      action();
      return;
    }
    const cancel = (): void => {
      clearTimeout(timer);
      this.#timers.delete(timer);
    };
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      response.off('close', cancel);
      if (!response.destroyed) action();
    }, delay);
    this.#timers.add(timer);
    response.once('close', cancel);
  }

  /** Sends a JSON body with its length; `cut` sends the headers and half the body, then resets. */
  #send(
    response: ServerResponse,
    status: number,
    body: string,
    cut = false,
    headers: OutgoingHttpHeaders = {},
  ): void {
    response.writeHead(status, {
      ...headers,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    if (!cut) {
      response.end(body);
      return;
    }
    response.write(body.slice(0, Math.floor(body.length / 2)), () => response.destroy());
  }

  #sendError(
    response: ServerResponse,
    status: number,
    message: string,
    type: string,
    details: { code?: string; param?: string; headers?: OutgoingHttpHeaders } = {},
  ): void {
    const body = errorBody(message, type, details.code, details.param);
    this.#send(response, status, body, false, details.headers);
  }

  #sendInvalid(response: ServerResponse, problem: InvalidRequest): void {
    this.#sendError(response, 400, problem.message, 'invalid_request_error', {
      param: problem.param ?? undefined,
    });
  }
}

/**
 * Creates an OpenAI-compatible mock upstream (`/v1/chat/completions`, `/v1/embeddings`,
 * `/v1/models`, and the Files and Batch APIs under `/v1/files` and `/v1/batches`) with
 * deterministic answers, adjustable latency and seeded fault injection.
 * Per request, the `x-mock-fault` header (`429`, `500`, `timeout`, `cut`, `400`) forces a
 * fault and `x-mock-ttft-ms` / `x-mock-token-ms` set the latency. Call `listen()` to start it.
 */
export function createMockProvider(options: MockProviderOptions = {}): MockProvider {
  return new MockProviderServer(options);
}
