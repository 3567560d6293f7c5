/**
 * The mock's Files and Batch API, in memory and bounded: uploaded JSONL files, batches over
 * them, and their output and error files. A batch is validated on its first poll and completes
 * once `batchDelayMs` has passed since it was created (with no delay, on that first poll); its
 * lines are answered with the same deterministic logic as `/v1/chat/completions` and
 * `/v1/embeddings`. Time comes from an injectable clock, so expiry can be tested without waiting.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../shared/clock.js';
import { answerChat } from './answers.js';
import { InvalidRequest, parseChatRequest, parseEmbeddingRequest, parseJson } from './requests.js';
import { chatCompletionBody, embeddingsBody, errorBody } from './responses.js';

/** Endpoints a mock batch may target. */
const BATCH_ENDPOINTS = ['/v1/chat/completions', '/v1/embeddings'] as const;
type MockBatchEndpoint = (typeof BATCH_ENDPOINTS)[number];

/** Most request lines in one batch, as OpenAI allows. */
export const MAX_BATCH_LINES = 50_000;
/** The completion window every batch gets: 24 hours. */
const COMPLETION_WINDOW_MS = 86_400_000;
/** Most validation errors reported for one input file. */
const MAX_REPORTED_ERRORS = 20;

type BatchStatus =
  | 'validating'
  | 'failed'
  | 'in_progress'
  | 'finalizing'
  | 'completed'
  | 'expired'
  | 'cancelling'
  | 'cancelled';

/** An answer the HTTP layer sends as an OpenAI error. */
export class BatchApiProblem {
  constructor(
    readonly status: number,
    readonly message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {}

  /** The OpenAI-shaped error body. */
  body(): string {
    return errorBody(this.message, 'invalid_request_error', this.code, this.param);
  }
}

/** Counters of the Batch API since creation or the last `reset()`. */
export interface MockBatchStats {
  /** Files uploaded with `POST /v1/files`. */
  fileUploads: number;
  /** File contents read with `GET /v1/files/{id}/content`. */
  fileDownloads: number;
  /** Batches created with `POST /v1/batches`. */
  batchesCreated: number;
  /** Polls with `GET /v1/batches/{id}`. */
  batchPolls: number;
  /** Batches that ended `completed`, `failed` (validation), `expired`, `cancelled`. */
  batchesCompleted: number;
  batchesFailed: number;
  batchesExpired: number;
  batchesCancelled: number;
  /** Request lines answered (successfully or with an error status). */
  batchRequests: number;
}

export function zeroBatchStats(): MockBatchStats {
  return {
    fileUploads: 0,
    fileDownloads: 0,
    batchesCreated: 0,
    batchPolls: 0,
    batchesCompleted: 0,
    batchesFailed: 0,
    batchesExpired: 0,
    batchesCancelled: 0,
    batchRequests: 0,
  };
}

interface StoredFile {
  id: string;
  filename: string;
  purpose: string;
  /** Unix seconds. */
  createdAt: number;
  content: Buffer;
}

/** One checked request line of an input file. */
interface RequestLine {
  customId: string;
  body: unknown;
}

interface BatchError {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

interface BatchRecord {
  id: string;
  endpoint: MockBatchEndpoint;
  inputFileId: string;
  status: BatchStatus;
  createdMs: number;
  metadata: Record<string, string> | null;
  /** The input, kept from creation until the batch ends. */
  input: Buffer | undefined;
  lines: RequestLine[] | undefined;
  model: string | null;
  times: Partial<
    Record<
      | 'in_progress_at'
      | 'finalizing_at'
      | 'completed_at'
      | 'failed_at'
      | 'expired_at'
      | 'cancelling_at'
      | 'cancelled_at',
      number
    >
  >;
  outputFileId: string | null;
  errorFileId: string | null;
  errors: BatchError[] | null;
  counts: { total: number; completed: number; failed: number };
  usage: { input: number; output: number };
}

/** Settings the store reads on every poll (they may change at run time). */
export interface BatchStoreSettings {
  batchDelayMs: number;
  /** Longest answer without `max_tokens`, as for `/v1/chat/completions`. */
  maxTokens: number;
}

/** What bounds the store: files and their bytes, and batches. */
export interface BatchStoreLimits {
  maxFiles: number;
  maxFileBytes: number;
  maxBatches: number;
  embeddingDimensions: number;
}

function randomId(prefix: string): string {
  return `${prefix}${randomBytes(12).toString('hex')}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function seconds(milliseconds: number): number {
  return Math.floor(milliseconds / 1_000);
}

/** One answered line: its status and body (JSON text), and token counts when it succeeded. */
interface LineAnswer {
  status: number;
  body: string;
  inputTokens: number;
  outputTokens: number;
}

/** Answers one batch line with the same logic as the synchronous routes. */
function answerLine(
  endpoint: MockBatchEndpoint,
  body: unknown,
  settings: BatchStoreSettings,
  embeddingDimensions: number,
): LineAnswer {
  const invalid = (problem: InvalidRequest): LineAnswer => ({
    status: 400,
    body: errorBody(problem.message, 'invalid_request_error', null, problem.param),
    inputTokens: 0,
    outputTokens: 0,
  });
  if (endpoint === '/v1/chat/completions') {
    const request = parseChatRequest(body);
    if (request instanceof InvalidRequest) return invalid(request);
    if (request.stream) {
      return invalid(new InvalidRequest('streaming is not supported in a batch', 'stream'));
    }
    const answer = answerChat(request, settings.maxTokens);
    return {
      status: 200,
      body: chatCompletionBody(answer),
      inputTokens: answer.usage.prompt_tokens,
      outputTokens: answer.usage.completion_tokens,
    };
  }
  const request = parseEmbeddingRequest(body);
  if (request instanceof InvalidRequest) return invalid(request);
  let tokens = 0;
  for (const input of request.inputs) tokens += input.tokens;
  return {
    status: 200,
    body: embeddingsBody(request, embeddingDimensions),
    inputTokens: tokens,
    outputTokens: 0,
  };
}

/** The in-memory Files and Batches APIs. */
export class MockBatchStore {
  readonly #clock: Clock;
  readonly #limits: BatchStoreLimits;
  readonly #settings: () => BatchStoreSettings;
  /** In upload order: the oldest is evicted first. */
  readonly #files = new Map<string, StoredFile>();
  /** In creation order: the oldest is evicted first. */
  readonly #batches = new Map<string, BatchRecord>();
  #fileBytes = 0;
  #stats = zeroBatchStats();

  constructor(clock: Clock, limits: BatchStoreLimits, settings: () => BatchStoreSettings) {
    this.#clock = clock;
    this.#limits = limits;
    this.#settings = settings;
  }

  stats(): MockBatchStats {
    return { ...this.#stats };
  }

  resetStats(): void {
    this.#stats = zeroBatchStats();
  }

  /** Stores an uploaded file; only `purpose: 'batch'` is accepted. */
  upload(purpose: string, filename: string, content: Buffer): string | BatchApiProblem {
    if (purpose !== 'batch') {
      return new BatchApiProblem(
        400,
        `the mock provider accepts only purpose 'batch', got '${purpose}'`,
        null,
        'purpose',
      );
    }
    if (content.length > this.#limits.maxFileBytes) {
      return new BatchApiProblem(
        413,
        `the file is larger than the ${this.#limits.maxFileBytes} bytes the mock stores`,
      );
    }
    this.#stats.fileUploads++;
    const file = this.#store('file-', filename, purpose, content);
    return this.#fileBody(file);
  }

  fileObject(id: string): string | BatchApiProblem {
    const file = this.#files.get(id);
    return file === undefined ? this.#noFile(id) : this.#fileBody(file);
  }

  fileContent(id: string): Buffer | BatchApiProblem {
    const file = this.#files.get(id);
    if (file === undefined) return this.#noFile(id);
    this.#stats.fileDownloads++;
    return file.content;
  }

  deleteFile(id: string): string | BatchApiProblem {
    const file = this.#files.get(id);
    if (file === undefined) return this.#noFile(id);
    this.#files.delete(id);
    this.#fileBytes -= file.content.length;
    return JSON.stringify({ id, object: 'file', deleted: true });
  }

  /** `POST /v1/batches`: checks the body and the input file; the lines are checked on the first poll. */
  create(body: unknown): string | BatchApiProblem {
    if (!isObject(body)) return new BatchApiProblem(400, 'the body must be a JSON object');
    const { input_file_id: inputFileId, endpoint, completion_window: window, metadata } = body;
    if (typeof inputFileId !== 'string' || inputFileId === '') {
      return new BatchApiProblem(400, "'input_file_id' must be a file id", null, 'input_file_id');
    }
    if (!BATCH_ENDPOINTS.includes(endpoint as MockBatchEndpoint)) {
      return new BatchApiProblem(
        400,
        `'endpoint' must be one of ${BATCH_ENDPOINTS.join(', ')} in the mock provider`,
        null,
        'endpoint',
      );
    }
    if (window !== '24h') {
      return new BatchApiProblem(
        400,
        "'completion_window' must be '24h'",
        null,
        'completion_window',
      );
    }
    if (
      metadata !== undefined &&
      metadata !== null &&
      (!isObject(metadata) ||
        Object.keys(metadata).length > 16 ||
        !Object.values(metadata).every((value) => typeof value === 'string'))
    ) {
      return new BatchApiProblem(
        400,
        "'metadata' must map at most 16 keys to strings",
        null,
        'metadata',
      );
    }
    const file = this.#files.get(inputFileId);
    if (file === undefined) return this.#noFile(inputFileId, 'input_file_id');
    if (file.purpose !== 'batch') {
      return new BatchApiProblem(400, `file ${inputFileId} was not uploaded with purpose 'batch'`);
    }
    this.#stats.batchesCreated++;
    const record: BatchRecord = {
      id: randomId('batch_'),
      endpoint: endpoint as MockBatchEndpoint,
      inputFileId,
      status: 'validating',
      createdMs: this.#clock.now(),
      metadata: isObject(metadata) ? (metadata as Record<string, string>) : null,
      input: file.content,
      lines: undefined,
      model: null,
      times: {},
      outputFileId: null,
      errorFileId: null,
      errors: null,
      counts: { total: 0, completed: 0, failed: 0 },
      usage: { input: 0, output: 0 },
    };
    this.#batches.set(record.id, record);
    this.#evictBatches();
    return this.#batchBody(record);
  }

  /** `GET /v1/batches/{id}`: moves the batch on as far as the time allows, then describes it. */
  retrieve(id: string): string | BatchApiProblem {
    const record = this.#batches.get(id);
    if (record === undefined) return this.#noBatch(id);
    this.#stats.batchPolls++;
    this.#advance(record);
    return this.#batchBody(record);
  }

  /** `POST /v1/batches/{id}/cancel`: a running batch goes `cancelling`, then `cancelled` on the next poll. */
  cancel(id: string): string | BatchApiProblem {
    const record = this.#batches.get(id);
    if (record === undefined) return this.#noBatch(id);
    if (record.status === 'validating' || record.status === 'in_progress') {
      record.status = 'cancelling';
      record.times.cancelling_at = seconds(this.#clock.now());
    } else if (record.status !== 'cancelling') {
      return new BatchApiProblem(
        400,
        `Cannot cancel a batch with status '${record.status}'.`,
        'invalid_batch_status',
      );
    }
    return this.#batchBody(record);
  }

  /** `GET /v1/batches`: the most recent first, `limit` of them (default 20, at most 100). */
  list(limit: number): string {
    const data = [...this.#batches.values()]
      .reverse()
      .slice(0, Math.min(Math.max(1, limit), 100))
      .map((record) => JSON.parse(this.#batchBody(record)) as unknown);
    const ids = data.map((batch) => (batch as { id: string }).id);
    return JSON.stringify({
      object: 'list',
      data,
      first_id: ids[0] ?? null,
      last_id: ids[ids.length - 1] ?? null,
      has_more: this.#batches.size > data.length,
    });
  }

  #advance(record: BatchRecord): void {
    const now = this.#clock.now();
    if (record.status === 'cancelling') {
      record.status = 'cancelled';
      record.times.cancelled_at = seconds(now);
      record.input = undefined;
      record.lines = undefined;
      this.#stats.batchesCancelled++;
      return;
    }
    if (record.status === 'validating') this.#validate(record, now);
    if (record.status !== 'in_progress') return;
    const { batchDelayMs } = this.#settings();
    const expiresMs = record.createdMs + COMPLETION_WINDOW_MS;
    if (record.createdMs + batchDelayMs <= expiresMs) {
      if (now >= record.createdMs + batchDelayMs) this.#complete(record, now);
    } else if (now >= expiresMs) {
      this.#expire(record, now);
    }
  }

  /** Checks every line; a bad file fails the whole batch, as OpenAI's validation does. */
  #validate(record: BatchRecord, now: number): void {
    const errors: BatchError[] = [];
    const lines: RequestLine[] = [];
    const seen = new Set<string>();
    let model: string | null = null;
    const text = record.input?.toString('utf8') ?? '';
    const rawLines = text.split('\n');
    rawLines.forEach((raw, index) => {
      if (raw.trim() === '' || errors.length >= MAX_REPORTED_ERRORS) return;
      const line = index + 1;
      const fail = (code: string, message: string, param: string | null = null) => {
        errors.push({ code, message, param, line });
      };
      const parsed = parseJson(raw);
      if (!isObject(parsed)) {
        fail('invalid_json_line', 'This line is not parseable as valid JSON.');
        return;
      }
      const { custom_id: customId, method, url, body } = parsed;
      if (typeof customId !== 'string' || customId === '') {
        fail('missing_required_parameter', "Each line needs a string 'custom_id'.", 'custom_id');
      } else if (seen.has(customId)) {
        fail(
          'duplicate_custom_id',
          `The custom_id '${customId}' appears more than once.`,
          'custom_id',
        );
      } else if (method !== 'POST') {
        fail('invalid_method', "Each line's 'method' must be 'POST'.", 'method');
      } else if (url !== record.endpoint) {
        fail(
          'mismatched_endpoint',
          `The line's url '${String(url)}' does not match the batch endpoint ${record.endpoint}.`,
          'url',
        );
      } else if (!isObject(body)) {
        fail('invalid_request', "Each line's 'body' must be a JSON object.", 'body');
      } else if (model !== null && body.model !== model) {
        fail(
          'mismatched_model',
          `Every line of a batch must use the same model; line ${line} uses '${String(body.model)}', earlier lines '${model}'.`,
          'body.model',
        );
      } else {
        if (typeof body.model === 'string') model ??= body.model;
        seen.add(customId);
        lines.push({ customId, body });
      }
    });
    if (errors.length === 0 && lines.length === 0) {
      errors.push({
        code: 'empty_file',
        message: 'The input file has no request lines.',
        param: null,
        line: null,
      });
    }
    if (errors.length === 0 && lines.length > MAX_BATCH_LINES) {
      errors.push({
        code: 'too_many_requests',
        message: `A batch may hold at most ${MAX_BATCH_LINES} requests; this file has ${lines.length}.`,
        param: null,
        line: null,
      });
    }
    record.input = undefined;
    record.model = model;
    record.counts.total = lines.length;
    if (errors.length > 0) {
      record.status = 'failed';
      record.errors = errors;
      record.times.failed_at = seconds(now);
      this.#stats.batchesFailed++;
      return;
    }
    record.lines = lines;
    record.status = 'in_progress';
    record.times.in_progress_at = seconds(now);
  }

  /** Answers every line and writes the output file (2xx lines) and the error file (the others). */
  #complete(record: BatchRecord, now: number): void {
    const settings = this.#settings();
    const output: string[] = [];
    const failed: string[] = [];
    for (const line of record.lines ?? []) {
      const answer = answerLine(
        record.endpoint,
        line.body,
        settings,
        this.#limits.embeddingDimensions,
      );
      this.#stats.batchRequests++;
      const entry = `{"id":${JSON.stringify(randomId('batch_req_'))},"custom_id":${JSON.stringify(line.customId)},"response":{"status_code":${answer.status},"request_id":${JSON.stringify(randomId('req_'))},"body":${answer.body}},"error":null}`;
      if (answer.status === 200) {
        output.push(entry);
        record.counts.completed++;
        record.usage.input += answer.inputTokens;
        record.usage.output += answer.outputTokens;
      } else {
        failed.push(entry);
        record.counts.failed++;
      }
    }
    record.lines = undefined;
    if (output.length > 0) record.outputFileId = this.#writeOutput(record, 'output', output);
    if (failed.length > 0) record.errorFileId = this.#writeOutput(record, 'error', failed);
    record.status = 'completed';
    record.times.finalizing_at = seconds(now);
    record.times.completed_at = seconds(now);
    this.#stats.batchesCompleted++;
  }

  /** The window ended before the batch ran: every line goes to the error file as `batch_expired`. */
  #expire(record: BatchRecord, now: number): void {
    const failed = (record.lines ?? []).map((line) =>
      JSON.stringify({
        id: randomId('batch_req_'),
        custom_id: line.customId,
        response: null,
        error: {
          code: 'batch_expired',
          message: 'This request could not be executed before the completion window expired.',
        },
      }),
    );
    record.counts.failed = failed.length;
    record.lines = undefined;
    if (failed.length > 0) record.errorFileId = this.#writeOutput(record, 'error', failed);
    record.status = 'expired';
    record.times.expired_at = seconds(now);
    this.#stats.batchesExpired++;
  }

  #writeOutput(record: BatchRecord, kind: 'output' | 'error', lines: string[]): string {
    const content = Buffer.from(`${lines.join('\n')}\n`);
    return this.#store('file-', `${record.id}_${kind}.jsonl`, 'batch_output', content).id;
  }

  #store(prefix: string, filename: string, purpose: string, content: Buffer): StoredFile {
    const file: StoredFile = {
      id: randomId(prefix),
      filename,
      purpose,
      createdAt: seconds(this.#clock.now()),
      content,
    };
    this.#files.set(file.id, file);
    this.#fileBytes += content.length;
    // Oldest first, but never the file just stored.
    for (const [id, old] of this.#files) {
      if (
        this.#files.size <= this.#limits.maxFiles &&
        this.#fileBytes <= this.#limits.maxFileBytes
      ) {
        break;
      }
      if (id === file.id) break;
      this.#files.delete(id);
      this.#fileBytes -= old.content.length;
    }
    return file;
  }

  #evictBatches(): void {
    for (const id of this.#batches.keys()) {
      if (this.#batches.size <= this.#limits.maxBatches) return;
      this.#batches.delete(id);
    }
  }

  #fileBody(file: StoredFile): string {
    return JSON.stringify({
      id: file.id,
      object: 'file',
      bytes: file.content.length,
      created_at: file.createdAt,
      filename: file.filename,
      purpose: file.purpose,
      status: 'processed',
      status_details: null,
      expires_at: null,
    });
  }

  #batchBody(record: BatchRecord): string {
    const created = seconds(record.createdMs);
    const { input, output } = record.usage;
    return JSON.stringify({
      id: record.id,
      object: 'batch',
      endpoint: record.endpoint,
      model: record.model,
      errors: record.errors === null ? null : { object: 'list', data: record.errors },
      input_file_id: record.inputFileId,
      completion_window: '24h',
      status: record.status,
      output_file_id: record.outputFileId,
      error_file_id: record.errorFileId,
      created_at: created,
      in_progress_at: record.times.in_progress_at ?? null,
      expires_at: seconds(record.createdMs + COMPLETION_WINDOW_MS),
      finalizing_at: record.times.finalizing_at ?? null,
      completed_at: record.times.completed_at ?? null,
      failed_at: record.times.failed_at ?? null,
      expired_at: record.times.expired_at ?? null,
      cancelling_at: record.times.cancelling_at ?? null,
      cancelled_at: record.times.cancelled_at ?? null,
      request_counts: record.counts,
      usage: {
        input_tokens: input,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: output,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: input + output,
      },
      metadata: record.metadata,
    });
  }

  #noFile(id: string, param: string | null = null): BatchApiProblem {
    return new BatchApiProblem(404, `No such File object: ${id}`, 'not_found', param);
  }

  #noBatch(id: string): BatchApiProblem {
    return new BatchApiProblem(404, `No batch found with id '${id}'.`, 'not_found');
  }
}
