/**
 * A client for OpenAI's Batch API: upload a JSONL file of requests (`/v1/files`,
 * `purpose=batch`), create a batch over it (`/v1/batches`), poll it, and read the output and
 * error files back. Batched requests are billed at half the normal price and answered within
 * the completion window (24 hours). Every provider answer is checked with zod.
 */
import { randomBytes } from 'node:crypto';
import { type Dispatcher, request } from 'undici';
import { z } from 'zod';
import { type Duration, parseDuration } from '../shared/duration.js';
import { ConfigError, SluiceError } from '../shared/errors.js';

/** Endpoints a batch may target. */
export type BatchEndpoint =
  | '/v1/chat/completions'
  | '/v1/embeddings'
  | '/v1/responses'
  | '/v1/completions';

/** One request line of a batch input file. */
export interface BatchRequestLine {
  /** Unique within the batch; the output line carries it back. */
  custom_id: string;
  method: 'POST';
  url: BatchEndpoint;
  body: Record<string, unknown>;
}

/** The statuses a batch goes through. */
export const BATCH_STATUSES = [
  'validating',
  'failed',
  'in_progress',
  'finalizing',
  'completed',
  'expired',
  'cancelling',
  'cancelled',
] as const;

export type ProviderBatchStatus = (typeof BATCH_STATUSES)[number];

/** Statuses after which a batch no longer changes. */
export const FINAL_BATCH_STATUSES: ReadonlySet<ProviderBatchStatus> = new Set([
  'failed',
  'completed',
  'expired',
  'cancelled',
]);

const timestamp = z.number().nullish();

const batchSchema = z.object({
  id: z.string().min(1),
  object: z.literal('batch').optional(),
  endpoint: z.string(),
  input_file_id: z.string(),
  completion_window: z.string(),
  status: z.enum(BATCH_STATUSES),
  created_at: z.number(),
  output_file_id: z.string().nullish(),
  error_file_id: z.string().nullish(),
  errors: z
    .object({
      object: z.string().optional(),
      data: z
        .array(
          z.object({
            code: z.string().nullish(),
            message: z.string().nullish(),
            param: z.string().nullish(),
            line: z.number().nullish(),
          }),
        )
        .nullish(),
    })
    .nullish(),
  request_counts: z
    .object({ total: z.number(), completed: z.number(), failed: z.number() })
    .nullish(),
  in_progress_at: timestamp,
  expires_at: timestamp,
  finalizing_at: timestamp,
  completed_at: timestamp,
  failed_at: timestamp,
  expired_at: timestamp,
  cancelling_at: timestamp,
  cancelled_at: timestamp,
  metadata: z.record(z.string(), z.string()).nullish(),
});

/** A batch object as the provider describes it (the fields Sluice reads). */
export type ProviderBatch = z.infer<typeof batchSchema>;

const fileSchema = z.object({
  id: z.string().min(1),
  object: z.literal('file').optional(),
  bytes: z.number(),
  created_at: z.number(),
  filename: z.string(),
  purpose: z.string(),
});

/** A file object as the provider describes it. */
export type ProviderFile = z.infer<typeof fileSchema>;

const outputLineSchema = z.object({
  id: z.string().nullish(),
  custom_id: z.string(),
  response: z
    .object({
      status_code: z.number(),
      request_id: z.string().nullish(),
      body: z.unknown(),
    })
    .nullish(),
  error: z.object({ code: z.string().nullish(), message: z.string().nullish() }).nullish(),
});

/** One line of a batch output or error file. */
export type BatchOutputLine = z.infer<typeof outputLineSchema>;

const errorBodySchema = z.object({
  error: z.object({ message: z.string(), code: z.string().nullish() }),
});

/** A failed call to the Batch API: the HTTP status (when there was one) and whether to retry. */
export class BatchApiError extends SluiceError {
  /** The HTTP status of the provider's answer; undefined when none came (network error). */
  readonly status: number | undefined;

  constructor(
    code: string,
    message: string,
    options: { status?: number; cause?: unknown; isRetryable?: boolean } = {},
  ) {
    super(code, message, options);
    this.name = 'BatchApiError';
    this.status = options.status;
  }
}

/** Everything `createBatchClient` accepts. */
export interface BatchClientOptions {
  /** The provider's API root, ending in `/v1` (as an OpenAI client's `baseURL`). */
  baseUrl: string;
  /** Sent as `authorization: Bearer <apiKey>`; omit for an upstream that needs none. */
  apiKey?: string;
  /** Extra headers on every call (organization, project, ...). */
  headers?: Record<string, string>;
  /**
   * How long to wait for the headers, and then between body chunks, of one answer.
   * @default '60s'
   */
  timeout?: Duration;
  /**
   * Largest file download accepted (an output or error file); beyond it the read fails.
   * @default 268_435_456 (bytes, 256 MiB)
   */
  maxDownloadBytes?: number;
  /** The undici dispatcher (pool, agent, proxy) to send through. @default undici's global one */
  dispatcher?: Dispatcher;
}

/** What `createBatch` takes. */
export interface CreateBatchParams {
  inputFileId: string;
  endpoint: BatchEndpoint;
  /** @default '24h' (the only window OpenAI offers) */
  completionWindow?: '24h';
  /** Up to 16 string pairs stored with the batch. */
  metadata?: Record<string, string>;
}

/** Typed calls to a provider's Files and Batches APIs; see {@link createBatchClient}. */
export interface BatchClient {
  /** Uploads a file (`POST /v1/files`, multipart). @default purpose 'batch', filename 'batch.jsonl' */
  uploadFile(
    content: string | Uint8Array,
    options?: { filename?: string; purpose?: string },
  ): Promise<ProviderFile>;
  /** Reads a file's content as text (`GET /v1/files/{id}/content`). */
  fileContent(fileId: string): Promise<string>;
  /** Deletes a file (`DELETE /v1/files/{id}`). */
  deleteFile(fileId: string): Promise<void>;
  /** Creates a batch over an uploaded file (`POST /v1/batches`). */
  createBatch(params: CreateBatchParams): Promise<ProviderBatch>;
  /** Reads a batch's state (`GET /v1/batches/{id}`). */
  retrieveBatch(batchId: string): Promise<ProviderBatch>;
  /** Asks to cancel a batch (`POST /v1/batches/{id}/cancel`). */
  cancelBatch(batchId: string): Promise<ProviderBatch>;
  /**
   * Writes `lines` as JSONL, uploads them and creates a batch: the usual way in. All lines must
   * target `endpoint`.
   */
  submit(
    lines: readonly BatchRequestLine[],
    options: { endpoint: BatchEndpoint; metadata?: Record<string, string> },
  ): Promise<ProviderBatch>;
  /** Reads a finished batch's output and error files, parsed line by line. */
  results(batch: ProviderBatch): Promise<BatchOutputLine[]>;
}

function retryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** Splits JSONL text into checked output lines; throws `E_BATCH_API_RESPONSE` on a bad line. */
export function parseOutputLines(text: string, fileId: string): BatchOutputLine[] {
  const lines: BatchOutputLine[] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (error) {
      throw new BatchApiError(
        'E_BATCH_API_RESPONSE',
        `line ${index + 1} of batch file ${fileId} is not JSON`,
        { cause: error },
      );
    }
    const checked = outputLineSchema.safeParse(parsed);
    if (!checked.success) {
      throw new BatchApiError(
        'E_BATCH_API_RESPONSE',
        `line ${index + 1} of batch file ${fileId} is not a batch output line: ${checked.error.message}`,
      );
    }
    lines.push(checked.data);
  });
  return lines;
}

class HttpBatchClient implements BatchClient {
  readonly #base: string;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #maxDownloadBytes: number;
  readonly #dispatcher: Dispatcher | undefined;

  constructor(options: BatchClientOptions) {
    let base: URL;
    try {
      base = new URL(options.baseUrl);
    } catch (error) {
      throw new ConfigError(`baseUrl must be an absolute URL, got '${options.baseUrl}'`, {
        cause: error,
      });
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new ConfigError(`baseUrl must be http or https, got '${options.baseUrl}'`);
    }
    this.#base = options.baseUrl.replace(/\/+$/, '');
    this.#headers = { ...options.headers };
    if (options.apiKey !== undefined) this.#headers.authorization = `Bearer ${options.apiKey}`;
    this.#timeoutMs = parseDuration(options.timeout ?? '60s', 'timeout');
    this.#maxDownloadBytes = options.maxDownloadBytes ?? 268_435_456;
    if (!(this.#maxDownloadBytes > 0)) throw new ConfigError('maxDownloadBytes must be positive');
    this.#dispatcher = options.dispatcher;
  }

  async uploadFile(
    content: string | Uint8Array,
    options: { filename?: string; purpose?: string } = {},
  ): Promise<ProviderFile> {
    const boundary = `----sluice-${randomBytes(12).toString('hex')}`;
    const filename = (options.filename ?? 'batch.jsonl').replace(/["\r\n\\]/g, '_');
    const purpose = options.purpose ?? 'batch';
    const head =
      `--${boundary}\r\ncontent-disposition: form-data; name="purpose"\r\n\r\n${purpose}\r\n` +
      `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${filename}"\r\n` +
      'content-type: application/jsonl\r\n\r\n';
    const body = Buffer.concat([
      Buffer.from(head),
      typeof content === 'string' ? Buffer.from(content) : content,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const text = await this.#call('POST', '/files', {
      body,
      contentType: `multipart/form-data; boundary=${boundary}`,
    });
    return this.#parse(fileSchema, text, 'file');
  }

  fileContent(fileId: string): Promise<string> {
    return this.#call('GET', `/files/${encodeURIComponent(fileId)}/content`);
  }

  async deleteFile(fileId: string): Promise<void> {
    await this.#call('DELETE', `/files/${encodeURIComponent(fileId)}`);
  }

  async createBatch(params: CreateBatchParams): Promise<ProviderBatch> {
    const body: Record<string, unknown> = {
      input_file_id: params.inputFileId,
      endpoint: params.endpoint,
      completion_window: params.completionWindow ?? '24h',
    };
    if (params.metadata !== undefined) body.metadata = params.metadata;
    const text = await this.#call('POST', '/batches', {
      body: JSON.stringify(body),
      contentType: 'application/json',
    });
    return this.#parse(batchSchema, text, 'batch');
  }

  async retrieveBatch(batchId: string): Promise<ProviderBatch> {
    const text = await this.#call('GET', `/batches/${encodeURIComponent(batchId)}`);
    return this.#parse(batchSchema, text, 'batch');
  }

  async cancelBatch(batchId: string): Promise<ProviderBatch> {
    const text = await this.#call('POST', `/batches/${encodeURIComponent(batchId)}/cancel`);
    return this.#parse(batchSchema, text, 'batch');
  }

  async submit(
    lines: readonly BatchRequestLine[],
    options: { endpoint: BatchEndpoint; metadata?: Record<string, string> },
  ): Promise<ProviderBatch> {
    if (lines.length === 0) throw new ConfigError('a batch needs at least one request line');
    const seen = new Set<string>();
    for (const line of lines) {
      if (line.url !== options.endpoint) {
        throw new ConfigError(
          `every line of a batch must target ${options.endpoint}; '${line.custom_id}' targets ${line.url}`,
        );
      }
      if (seen.has(line.custom_id)) {
        throw new ConfigError(`custom_id '${line.custom_id}' appears twice in one batch`);
      }
      seen.add(line.custom_id);
    }
    const jsonl = `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`;
    const file = await this.uploadFile(jsonl);
    const params: CreateBatchParams = { inputFileId: file.id, endpoint: options.endpoint };
    if (options.metadata !== undefined) params.metadata = options.metadata;
    return this.createBatch(params);
  }

  async results(batch: ProviderBatch): Promise<BatchOutputLine[]> {
    const lines: BatchOutputLine[] = [];
    for (const fileId of [batch.output_file_id, batch.error_file_id]) {
      if (fileId === undefined || fileId === null || fileId === '') continue;
      lines.push(...parseOutputLines(await this.fileContent(fileId), fileId));
    }
    return lines;
  }

  #parse<T>(schema: z.ZodType<T>, text: string, what: string): T {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new BatchApiError('E_BATCH_API_RESPONSE', `the provider's ${what} answer is not JSON`, {
        cause: error,
      });
    }
    const checked = schema.safeParse(json);
    if (!checked.success) {
      throw new BatchApiError(
        'E_BATCH_API_RESPONSE',
        `the provider's ${what} answer does not look like an OpenAI ${what} object: ${checked.error.message}`,
      );
    }
    return checked.data;
  }

  /** Sends one call and returns its body as text; throws a `BatchApiError` on any failure. */
  async #call(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    payload?: { body: string | Buffer; contentType: string },
  ): Promise<string> {
    const headers: Record<string, string> = { ...this.#headers, accept: 'application/json' };
    if (payload !== undefined) headers['content-type'] = payload.contentType;
    const label = `${method} ${path}`;
    let response: Dispatcher.ResponseData;
    try {
      response = await request(`${this.#base}${path}`, {
        method,
        headers,
        body: payload?.body,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
        dispatcher: this.#dispatcher,
      });
    } catch (error) {
      throw new BatchApiError(
        'E_BATCH_API_NETWORK',
        `${label} failed before an answer came: ${(error as Error).message}`,
        { cause: error, isRetryable: true },
      );
    }
    let text: string;
    try {
      text = await this.#readText(response.body, label);
    } catch (error) {
      if (error instanceof BatchApiError) throw error;
      throw new BatchApiError(
        'E_BATCH_API_NETWORK',
        `${label}: the answer broke off: ${(error as Error).message}`,
        { cause: error, isRetryable: true, status: response.statusCode },
      );
    }
    const status = response.statusCode;
    if (status >= 200 && status < 300) return text;
    let reason = text.slice(0, 500);
    try {
      const parsed = errorBodySchema.safeParse(JSON.parse(text));
      if (parsed.success) reason = parsed.data.error.message;
    } catch {
      // Not JSON: keep the start of the text.
    }
    throw new BatchApiError('E_BATCH_API', `${label} answered ${status}: ${reason}`, {
      status,
      isRetryable: retryableStatus(status),
    });
  }

  async #readText(body: Dispatcher.ResponseData['body'], label: string): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > this.#maxDownloadBytes) {
        body.destroy();
        throw new BatchApiError(
          'E_BATCH_API_TOO_LARGE',
          `${label}: the answer is larger than ${this.#maxDownloadBytes} bytes (maxDownloadBytes)`,
        );
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }
}

/**
 * Creates a Batch API client for an OpenAI-compatible provider, sending with undici. Failures
 * throw a `BatchApiError`: `E_BATCH_API` for an error status (retryable for 408, 409, 429 and
 * 5xx), `E_BATCH_API_NETWORK` when no complete answer came (retryable), `E_BATCH_API_RESPONSE`
 * when the answer is not what OpenAI sends.
 */
export function createBatchClient(options: BatchClientOptions): BatchClient {
  return new HttpBatchClient(options);
}
