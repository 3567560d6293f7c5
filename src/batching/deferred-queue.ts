/**
 * Deferral of non-urgent work. Low-priority requests are queued durably in SQLite and run
 * later, when they cost less:
 *
 * - `off-peak`: run by the caller's `execute` function inside a daily off-peak window, a few at
 *   a time, retried with exponential backoff;
 * - `batch-api`: submitted through the provider's Batch API (half price, answered within 24
 *   hours), one batch per model and endpoint, polled until done, mapped back by `custom_id`.
 *
 * Each result is stored with what it cost and what it would have cost at the normal price. The
 * queue survives restarts: items are persisted, and batches submitted before a restart are
 * polled after it. One process should run the scheduler (`tick` / `start`) for a given file;
 * any number may `enqueue` and `get`.
 */
import { randomUUID } from 'node:crypto';
import { type Clock, systemClock } from '../shared/clock.js';
import { type Duration, parseDuration } from '../shared/duration.js';
import { ConfigError, SluiceError } from '../shared/errors.js';
import { type HealthReporter, unreported } from '../shared/health.js';
import { positiveInteger } from '../shared/integers.js';
import {
  type BatchClient,
  type BatchEndpoint,
  type BatchOutputLine,
  type BatchRequestLine,
  FINAL_BATCH_STATUSES,
  type ProviderBatch,
  type ProviderBatchStatus,
} from './batch-api.js';
import {
  type BatchRow,
  type DeferredMode,
  type DeferredStatus,
  DeferredStore,
  type ItemRow,
  type Settlement,
} from './deferred-store.js';
import { createOffPeakSchedule, type OffPeakSchedule, type OffPeakWindow } from './off-peak.js';

export type { DeferredMode, DeferredStatus } from './deferred-store.js';

/** What a result cost: at the normal price, at the Batch API price, and (optionally) off-peak. */
export interface DeferredPrice {
  /** Cost at the normal price, integer nano-dollars. */
  nanos: number;
  /** Cost at the Batch API price (usually half), integer nano-dollars. */
  batchNanos: number;
  /** Cost when run in the off-peak window; `nanos` when the provider has no off-peak price. */
  offPeakNanos?: number;
}

/**
 * Prices one result from its `usage` (the response body's `usage`, as the provider sent it).
 * Injected by the caller (usually from the cost module's price table), so the queue does not
 * depend on it. Return undefined when the model has no known price.
 */
export type DeferredPriceFunction = (
  model: string,
  usage: unknown,
  context: { mode: DeferredMode; endpoint: string },
) => DeferredPrice | undefined;

/** One off-peak call to make. */
export interface DeferredCall {
  id: string;
  model: string;
  endpoint: BatchEndpoint;
  /** The request body, as enqueued. */
  body: Record<string, unknown>;
  /** 1 on the first try. */
  attempt: number;
}

/**
 * Runs one off-peak call and returns the response body (whose `usage` is priced). A thrown
 * error is retried unless its `isRetryable` is `false`.
 */
export type DeferredExecutor = (call: DeferredCall) => Promise<unknown>;

/** Everything `createDeferredQueue` accepts. */
export interface DeferredQueueOptions {
  /** SQLite file (created with its folder if missing), or `':memory:'` for a private one. */
  path: string;
  /** Runs `off-peak` items; needed to enqueue them. */
  execute?: DeferredExecutor;
  /** The off-peak window `off-peak` items run in, e.g. `{ start: '01:00', end: '06:00', timeZone: 'Europe/Paris' }`; needed to enqueue them. */
  offPeak?: OffPeakWindow;
  /** Submits `batch-api` items; needed to enqueue them. */
  batchClient?: BatchClient;
  /** Prices each result; without it no costs or savings are recorded. */
  price?: DeferredPriceFunction;
  /**
   * Off-peak items run at the same time.
   * @default 4 (calls)
   */
  concurrency?: number;
  /**
   * Tries per item (off-peak runs, or batch submissions) before it is marked failed.
   * @default 3 (attempts)
   */
  maxAttempts?: number;
  /**
   * Wait before the first retry; each later retry waits twice as long, up to `maxRetryDelay`.
   * @default '30s'
   */
  retryDelay?: Duration;
  /**
   * Longest wait between retries.
   * @default '1h'
   */
  maxRetryDelay?: Duration;
  /**
   * Most requests in one provider batch (OpenAI allows 50,000).
   * @default 5_000 (requests)
   */
  maxBatchRequests?: number;
  /**
   * Most bytes of JSONL in one provider batch (OpenAI allows 200 MB).
   * @default 100_000_000 (bytes)
   */
  maxBatchBytes?: number;
  /**
   * How often a submitted batch is polled.
   * @default '1m'
   */
  pollInterval?: Duration;
  /**
   * How long an item may wait in the queue before it is marked expired (per item with
   * `enqueue(..., { expireAfter })`). Items already submitted follow the provider's window.
   * @default '48h'
   */
  expireAfter?: Duration;
  /**
   * How long settled items (done, failed, expired) are kept for `get` before they are deleted.
   * @default '7d'
   */
  retainFor?: Duration;
  /**
   * Most items waiting or in flight; `enqueue` beyond it throws `E_DEFERRED_FULL`.
   * @default 100_000 (items)
   */
  maxQueued?: number;
  /**
   * Delete a batch's input, output and error files at the provider once it is settled.
   * @default true
   */
  deleteFiles?: boolean;
  /** Where the queue reads the time (off-peak window, backoff, expiry). @default the system clock */
  clock?: Clock;
  /** Told about errors of background ticks (`start`); a tick's own call rejects instead. */
  onError?: (error: unknown) => void;
  /** Told when writing the queue's SQLite file fails and when it works again. */
  health?: HealthReporter;
  /**
   * How long a write waits for another process's lock.
   * @default 1_000 (milliseconds)
   */
  busyTimeout?: Duration;
}

/** What `enqueue` takes besides the request. */
export interface EnqueueOptions {
  /** The model the request is for (the body's `model` is set to it when missing). */
  model: string;
  mode: DeferredMode;
  /** Higher runs first. @default 0 (an integer) */
  priority?: number;
  /** @default '/v1/chat/completions' */
  endpoint?: BatchEndpoint;
  /** Overrides the queue's `expireAfter` for this item. */
  expireAfter?: Duration;
}

/** A deferred item as `get` shows it. */
export interface DeferredItem {
  id: string;
  status: DeferredStatus;
  mode: DeferredMode;
  model: string;
  endpoint: string;
  priority: number;
  /** Milliseconds since the epoch. */
  createdAt: number;
  completedAt?: number;
  attempts: number;
  /** The provider batch it was submitted in. */
  batchId?: string;
  /** The response body, once done. */
  result?: unknown;
  /** Why it failed or expired, the last error before a retry, or why a done result has no price. */
  error?: string;
  /** What the result cost, integer nano-dollars. */
  costNanos?: number;
  /** What it would have cost at the normal price. */
  normalCostNanos?: number;
  /** `normalCostNanos - costNanos`. */
  savedNanos?: number;
}

/** What one scheduling pass did. */
export interface TickReport {
  /** Off-peak calls made. */
  ran: number;
  /** Items settled done (off-peak or from batches). */
  done: number;
  /** Items settled failed. */
  failed: number;
  /** Items put back for a retry. */
  retried: number;
  /** Items expired. */
  expired: number;
  /** Items handed to the provider in new batches. */
  submitted: number;
  /** Provider batches created. */
  batchesCreated: number;
  /** Provider batches polled. */
  batchesPolled: number;
  /** Provider batches whose items were settled. */
  batchesSettled: number;
  /** Whether the off-peak window was open during the pass. */
  offPeakOpen: boolean;
}

/** The queue's counters. */
export interface DeferredQueueStats {
  /** Items held, by status. */
  byStatus: Record<DeferredStatus, number>;
  /** Items held, by mode. */
  byMode: Record<DeferredMode, number>;
  /** Cost of the done items held, integer nano-dollars. */
  costNanos: number;
  /** What they would have cost at the normal price. */
  normalCostNanos: number;
  /** `normalCostNanos - costNanos`. */
  savedNanos: number;
  /** Provider batches submitted and not yet settled. */
  openBatches: number;
  /** Scheduling passes since the queue was opened. */
  ticks: number;
  /** Background passes that threw. */
  tickErrors: number;
}

/** A durable queue of deferred requests; see {@link createDeferredQueue}. */
export interface DeferredQueue {
  /** Queues a request and returns its id. Throws a `ConfigError` for a mode that is not set up. */
  enqueue(request: Record<string, unknown>, options: EnqueueOptions): string;
  /** The item's state, result and costs; undefined for an unknown (or purged) id. */
  get(id: string): DeferredItem | undefined;
  stats(): DeferredQueueStats;
  /**
   * One scheduling pass: expires stale items, polls submitted batches (settling finished ones),
   * submits due batch-api items (one bounded batch per model and endpoint), and, inside the
   * off-peak window, runs due off-peak items with the concurrency limit. Passes never overlap:
   * a call during a pass waits for it and returns its report.
   */
  tick(): Promise<TickReport>;
  /** Runs `tick` every `interval` (after the previous pass ends) until `stop`. @default '30s' */
  start(interval?: Duration): void;
  /** Stops the background passes and waits for the current one. */
  stop(): Promise<void>;
  /** Stops and closes the database. */
  close(): Promise<void>;
}

const ENDPOINTS: readonly BatchEndpoint[] = [
  '/v1/chat/completions',
  '/v1/embeddings',
  '/v1/responses',
  '/v1/completions',
];

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isRetryable(error: unknown): boolean {
  const flag = (error as { isRetryable?: unknown } | null)?.isRetryable;
  return flag !== false;
}

/** The usage of a response body, when it has one. */
function usageOf(body: unknown): unknown {
  return typeof body === 'object' && body !== null
    ? (body as { usage?: unknown }).usage
    : undefined;
}

/** Why a batch output line failed, in words. */
function lineError(line: BatchOutputLine): string {
  if (line.error?.message) return line.error.message;
  const body = line.response?.body as { error?: { message?: unknown } } | undefined;
  const message = body?.error?.message;
  const status = line.response?.status_code;
  if (typeof message === 'string') return `${status ?? 'error'}: ${message}`;
  return status === undefined ? 'the batch line failed' : `the batch line answered ${status}`;
}

class SqliteDeferredQueue implements DeferredQueue {
  readonly #store: DeferredStore;
  readonly #clock: Clock;
  readonly #execute: DeferredExecutor | undefined;
  readonly #schedule: OffPeakSchedule | undefined;
  readonly #client: BatchClient | undefined;
  readonly #price: DeferredPriceFunction | undefined;
  readonly #concurrency: number;
  readonly #maxAttempts: number;
  readonly #retryDelayMs: number;
  readonly #maxRetryDelayMs: number;
  readonly #maxBatchRequests: number;
  readonly #maxBatchBytes: number;
  readonly #pollIntervalMs: number;
  readonly #expireAfterMs: number;
  readonly #retainForMs: number;
  readonly #maxQueued: number;
  readonly #deleteFiles: boolean;
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #health: HealthReporter;
  #pass: Promise<TickReport> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  /** Set by `close()`: passes stop taking new work. */
  #closing = false;
  #closed = false;
  #ticks = 0;
  #tickErrors = 0;

  constructor(options: DeferredQueueOptions) {
    if (typeof options.path !== 'string' || options.path === '') {
      throw new ConfigError('createDeferredQueue needs a path (a SQLite file, or ":memory:")');
    }
    this.#clock = options.clock ?? systemClock;
    this.#execute = options.execute;
    this.#schedule =
      options.offPeak === undefined ? undefined : createOffPeakSchedule(options.offPeak);
    this.#client = options.batchClient;
    this.#price = options.price;
    this.#concurrency = positiveInteger(options.concurrency ?? 4, 'concurrency');
    this.#maxAttempts = positiveInteger(options.maxAttempts ?? 3, 'maxAttempts');
    this.#retryDelayMs = parseDuration(options.retryDelay ?? '30s', 'retryDelay');
    this.#maxRetryDelayMs = parseDuration(options.maxRetryDelay ?? '1h', 'maxRetryDelay');
    this.#maxBatchRequests = positiveInteger(options.maxBatchRequests ?? 5_000, 'maxBatchRequests');
    this.#maxBatchBytes = positiveInteger(options.maxBatchBytes ?? 100_000_000, 'maxBatchBytes');
    this.#pollIntervalMs = parseDuration(options.pollInterval ?? '1m', 'pollInterval');
    this.#expireAfterMs = parseDuration(options.expireAfter ?? '48h', 'expireAfter');
    this.#retainForMs = parseDuration(options.retainFor ?? '7d', 'retainFor');
    this.#maxQueued = positiveInteger(options.maxQueued ?? 100_000, 'maxQueued');
    this.#deleteFiles = options.deleteFiles ?? true;
    this.#onError = options.onError;
    this.#health = options.health ?? unreported;
    const busyTimeoutMs = parseDuration(options.busyTimeout ?? 1_000, 'busyTimeout');
    this.#store = new DeferredStore(options.path, busyTimeoutMs);
    this.#recover();
  }

  enqueue(request: Record<string, unknown>, options: EnqueueOptions): string {
    this.#assertOpen();
    const { model, mode } = options;
    if (typeof model !== 'string' || model === '') {
      throw new ConfigError('enqueue needs a non-empty model');
    }
    if (mode === 'off-peak') {
      if (this.#execute === undefined || this.#schedule === undefined) {
        throw new ConfigError(
          "mode 'off-peak' needs the queue's execute function and offPeak window",
        );
      }
    } else if (mode === 'batch-api') {
      if (this.#client === undefined) {
        throw new ConfigError("mode 'batch-api' needs the queue's batchClient");
      }
    } else {
      throw new ConfigError(`mode must be 'off-peak' or 'batch-api', got '${String(mode)}'`);
    }
    const endpoint = options.endpoint ?? '/v1/chat/completions';
    if (!ENDPOINTS.includes(endpoint)) {
      throw new ConfigError(`endpoint must be one of ${ENDPOINTS.join(', ')}; got '${endpoint}'`);
    }
    const priority = options.priority ?? 0;
    if (!Number.isSafeInteger(priority)) {
      throw new ConfigError(`priority must be an integer, got ${priority}`);
    }
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      throw new ConfigError('a deferred request must be a JSON object (the request body)');
    }
    if (request.stream === true) {
      throw new ConfigError('a streaming request cannot be deferred: nobody would read the stream');
    }
    if (request.model !== undefined && request.model !== model) {
      throw new ConfigError(
        `the request's model '${String(request.model)}' differs from the enqueued model '${model}'`,
      );
    }
    const body = request.model === undefined ? { ...request, model } : request;
    let json: string;
    try {
      json = JSON.stringify(body);
    } catch (error) {
      throw new ConfigError('a deferred request must be JSON-serialisable', { cause: error });
    }
    const expireAfterMs =
      options.expireAfter === undefined
        ? this.#expireAfterMs
        : parseDuration(options.expireAfter, 'expireAfter');
    if (this.#store.activeCount() >= this.#maxQueued) {
      throw new SluiceError(
        'E_DEFERRED_FULL',
        `the deferral queue already holds ${this.#maxQueued} unsettled items (maxQueued)`,
        { isRetryable: true },
      );
    }
    const now = this.#clock.now();
    const id = `deferred-${randomUUID()}`;
    try {
      this.#store.insert({
        id,
        created: now,
        mode,
        model,
        endpoint,
        priority,
        request: json,
        expires_at: now + expireAfterMs,
      });
    } catch (error) {
      this.#health.degraded('queueing a deferred request failed', error);
      throw new SluiceError(
        'E_DEFERRED_STORE',
        `the deferral queue cannot store the request: ${(error as Error).message}`,
        {
          cause: error,
          isRetryable: true,
        },
      );
    }
    this.#health.ok();
    return id;
  }

  get(id: string): DeferredItem | undefined {
    this.#assertOpen();
    const row = this.#store.get(id);
    if (row === undefined) return undefined;
    const item: DeferredItem = {
      id: row.id,
      status: row.status,
      mode: row.mode,
      model: row.model,
      endpoint: row.endpoint,
      priority: row.priority,
      createdAt: row.created,
      attempts: row.attempts,
    };
    if (row.completed_at !== null) item.completedAt = row.completed_at;
    if (row.batch_id !== null) item.batchId = row.batch_id;
    if (row.result !== null) item.result = JSON.parse(row.result);
    if (row.error !== null) item.error = row.error;
    if (row.cost_nanos !== null) item.costNanos = row.cost_nanos;
    if (row.normal_cost_nanos !== null) item.normalCostNanos = row.normal_cost_nanos;
    if (row.saved_nanos !== null) item.savedNanos = row.saved_nanos;
    return item;
  }

  stats(): DeferredQueueStats {
    this.#assertOpen();
    return { ...this.#store.totals(), ticks: this.#ticks, tickErrors: this.#tickErrors };
  }

  tick(): Promise<TickReport> {
    if (this.#closed) {
      return Promise.reject(new SluiceError('E_DEFERRED_CLOSED', 'the deferral queue is closed'));
    }
    if (this.#pass === undefined) {
      this.#pass = this.#runPass().finally(() => {
        this.#pass = undefined;
      });
    }
    return this.#pass;
  }

  start(interval: Duration = '30s'): void {
    this.#assertOpen();
    const intervalMs = parseDuration(interval, 'interval');
    if (this.#running) return;
    this.#running = true;
    const loop = (): void => {
      this.#timer = undefined;
      if (!this.#running) return;
      this.tick()
        .then(
          () => this.#health.ok(),
          (error: unknown) => {
            this.#tickErrors++;
            if (isSqliteError(error)) this.#health.degraded('a scheduling pass failed', error);
            this.#onError?.(error);
          },
        )
        .finally(() => {
          if (!this.#running) return;
          this.#timer = setTimeout(loop, intervalMs);
          this.#timer.unref();
        });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#pass?.catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closing = true;
    await this.stop();
    this.#closed = true;
    this.#store.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new SluiceError('E_DEFERRED_CLOSED', 'the deferral queue is closed');
  }

  /**
   * After a restart: off-peak items left running are queued again (or failed when out of
   * attempts), and items claimed by a submission that never got a batch id are queued again.
   */
  #recover(): void {
    const now = this.#clock.now();
    const { running, submissions } = this.#store.interrupted();
    this.#store.transaction(() => {
      for (const row of running) {
        if (row.attempts >= this.#maxAttempts) {
          this.#store.settle(
            row.id,
            { status: 'failed', error: `interrupted by a restart after ${row.attempts} attempts` },
            now,
          );
        } else {
          this.#store.requeue(row.id, 'interrupted by a restart', now, now);
        }
      }
      for (const row of submissions) this.#store.requeue(row.id, row.error, now, now);
    });
  }

  async #runPass(): Promise<TickReport> {
    this.#ticks++;
    const report: TickReport = {
      ran: 0,
      done: 0,
      failed: 0,
      retried: 0,
      expired: 0,
      submitted: 0,
      batchesCreated: 0,
      batchesPolled: 0,
      batchesSettled: 0,
      offPeakOpen: false,
    };
    const now = this.#clock.now();
    report.expired += this.#store.expireQueued(now);
    this.#store.purge(now - this.#retainForMs);
    await Promise.all([this.#batchPass(report), this.#offPeakPass(report)]);
    return report;
  }

  // ---- off-peak ----

  async #offPeakPass(report: TickReport): Promise<void> {
    const schedule = this.#schedule;
    const execute = this.#execute;
    if (schedule === undefined || execute === undefined) return;
    report.offPeakOpen = schedule.contains(this.#clock.now());
    if (!report.offPeakOpen) return;
    const worker = async (): Promise<void> => {
      for (;;) {
        if (this.#closing) return;
        const now = this.#clock.now();
        if (!schedule.contains(now)) return;
        const row = this.#store.claimOffPeak(now);
        if (row === undefined) return;
        await this.#runOne(row, execute, report);
      }
    };
    await Promise.all(Array.from({ length: this.#concurrency }, worker));
  }

  async #runOne(row: ItemRow, execute: DeferredExecutor, report: TickReport): Promise<void> {
    report.ran++;
    let body: unknown;
    try {
      body = await execute({
        id: row.id,
        model: row.model,
        endpoint: row.endpoint as BatchEndpoint,
        body: JSON.parse(row.request) as Record<string, unknown>,
        attempt: row.attempts,
      });
    } catch (error) {
      this.#retryOrFail(row, errorMessage(error), isRetryable(error), report);
      return;
    }
    const settlement = this.#doneSettlement(row, body, 'off-peak');
    this.#store.settle(row.id, settlement, this.#clock.now());
    if (settlement.status === 'done') report.done++;
    else report.failed++;
  }

  /** Queues an item again after a backoff, or fails it when out of attempts or not retryable. */
  #retryOrFail(row: ItemRow, error: string, retryable: boolean, report: TickReport): void {
    const now = this.#clock.now();
    if (!retryable || row.attempts >= this.#maxAttempts) {
      const reason = retryable ? `${error} (after ${row.attempts} attempts)` : error;
      this.#store.settle(row.id, { status: 'failed', error: reason }, now);
      report.failed++;
      return;
    }
    const delay = Math.min(this.#retryDelayMs * 2 ** (row.attempts - 1), this.#maxRetryDelayMs);
    this.#store.requeue(row.id, error, now + delay, now);
    report.retried++;
  }

  /** A done settlement with the result priced: batch price for batch-api, off-peak price else. */
  #doneSettlement(row: ItemRow, body: unknown, mode: DeferredMode): Settlement {
    let result: string;
    try {
      result = JSON.stringify(body ?? null);
    } catch (error) {
      return { status: 'failed', error: `the result is not JSON: ${errorMessage(error)}` };
    }
    const settlement: Settlement = { status: 'done', result };
    const usage = usageOf(body);
    if (this.#price === undefined || usage === undefined) return settlement;
    let price: DeferredPrice | undefined;
    try {
      price = this.#price(row.model, usage, { mode, endpoint: row.endpoint });
    } catch (error) {
      settlement.error = `could not price the result: ${errorMessage(error)}`;
      return settlement;
    }
    if (price === undefined) return settlement;
    const normal = price.nanos;
    const cost = mode === 'batch-api' ? price.batchNanos : (price.offPeakNanos ?? price.nanos);
    if (!Number.isSafeInteger(normal) || !Number.isSafeInteger(cost)) {
      settlement.error = `the price function returned non-integer nanos (${normal}, ${cost})`;
      return settlement;
    }
    settlement.costNanos = cost;
    settlement.normalCostNanos = normal;
    settlement.savedNanos = normal - cost;
    return settlement;
  }

  // ---- batch API ----

  async #batchPass(report: TickReport): Promise<void> {
    const client = this.#client;
    if (client === undefined) return;
    await this.#pollBatches(client, report);
    await this.#submitBatches(client, report);
  }

  async #submitBatches(client: BatchClient, report: TickReport): Promise<void> {
    for (const group of this.#store.batchGroups(this.#clock.now())) {
      // One bounded batch at a time, until the group has nothing due.
      for (;;) {
        if (this.#closing) return;
        const lines: BatchRequestLine[] = [];
        let bytes = 0;
        const claimed = this.#store.claimBatchItems(
          group.model,
          group.endpoint,
          this.#clock.now(),
          this.#maxBatchRequests,
          (row) => {
            const line: BatchRequestLine = {
              custom_id: row.id,
              method: 'POST',
              url: row.endpoint as BatchEndpoint,
              body: JSON.parse(row.request) as Record<string, unknown>,
            };
            const size = Buffer.byteLength(JSON.stringify(line)) + 1;
            // A single line larger than the limit still goes alone: the provider judges it.
            if (lines.length > 0 && bytes + size > this.#maxBatchBytes) return false;
            lines.push(line);
            bytes += size;
            return true;
          },
        );
        if (claimed.length === 0) break;
        let batch: ProviderBatch;
        try {
          batch = await client.submit(lines, {
            endpoint: group.endpoint as BatchEndpoint,
            metadata: { sluice_model: group.model },
          });
        } catch (error) {
          const message = `could not submit the batch: ${errorMessage(error)}`;
          this.#store.transaction(() => {
            for (const row of claimed) this.#retryOrFail(row, message, isRetryable(error), report);
          });
          break;
        }
        const now = this.#clock.now();
        this.#store.recordBatch(
          {
            id: batch.id,
            model: group.model,
            endpoint: group.endpoint,
            status: batch.status,
            inputFileId: batch.input_file_id,
          },
          claimed.map((row) => row.id),
          now,
        );
        report.submitted += claimed.length;
        report.batchesCreated++;
      }
    }
  }

  async #pollBatches(client: BatchClient, report: TickReport): Promise<void> {
    const due = this.#store.openBatches(this.#clock.now() - this.#pollIntervalMs);
    for (const row of due) {
      if (this.#closing) return;
      let batch: ProviderBatch;
      try {
        batch = await client.retrieveBatch(row.id);
      } catch (error) {
        report.batchesPolled++;
        if (isRetryable(error)) {
          // Try again at the next poll.
          this.#store.updateBatch(row.id, row.provider_status, 'open', this.#clock.now());
          continue;
        }
        // The provider does not know the batch (any more): its items go back to the queue.
        const message = `batch ${row.id} could not be read: ${errorMessage(error)}`;
        this.#store.transaction(() => {
          for (const item of this.#store.batchItems(row.id)) {
            this.#retryOrFail(item, message, true, report);
          }
          this.#store.updateBatch(row.id, row.provider_status, 'settled', this.#clock.now());
        });
        continue;
      }
      report.batchesPolled++;
      await this.#applyBatch(client, row, batch, report);
    }
  }

  async #applyBatch(
    client: BatchClient,
    row: BatchRow,
    batch: ProviderBatch,
    report: TickReport,
  ): Promise<void> {
    const status: ProviderBatchStatus = batch.status;
    if (!FINAL_BATCH_STATUSES.has(status)) {
      const now = this.#clock.now();
      this.#store.transaction(() => {
        if (status === 'in_progress' || status === 'finalizing') {
          this.#store.markBatchRunning(row.id, now);
        }
        this.#store.updateBatch(row.id, status, 'open', now);
      });
      return;
    }
    let lines: BatchOutputLine[] = [];
    if (status !== 'failed') {
      try {
        lines = await client.results(batch);
      } catch (error) {
        if (isRetryable(error)) {
          // Leave the batch open: the next poll reads the files again.
          this.#store.updateBatch(row.id, row.provider_status, 'open', this.#clock.now());
          return;
        }
        // The results cannot be read (gone, or malformed): the items go back to the queue.
        const message = `the results of batch ${row.id} could not be read: ${errorMessage(error)}`;
        this.#store.transaction(() => {
          for (const item of this.#store.batchItems(row.id)) {
            this.#retryOrFail(item, message, true, report);
          }
          this.#store.updateBatch(row.id, status, 'settled', this.#clock.now());
        });
        this.#onError?.(error);
        return;
      }
    }
    const byId = new Map<string, BatchOutputLine>();
    for (const line of lines) byId.set(line.custom_id, line);
    const batchError =
      batch.errors?.data
        ?.map((error) => error.message ?? error.code)
        .filter((message): message is string => typeof message === 'string')
        .join('; ') || `the batch ended ${status}`;
    const now = this.#clock.now();
    this.#store.transaction(() => {
      for (const item of this.#store.batchItems(row.id)) {
        const line = byId.get(item.id);
        const code = line?.response?.status_code;
        if (line !== undefined && code !== undefined && code >= 200 && code < 300 && !line.error) {
          const settlement = this.#doneSettlement(item, line.response?.body, 'batch-api');
          this.#store.settle(item.id, settlement, now);
          if (settlement.status === 'done') report.done++;
          else report.failed++;
        } else if (line !== undefined) {
          const retryable = code === 429 || (code !== undefined && code >= 500);
          if (line.error?.code === 'batch_expired') {
            this.#store.settle(item.id, { status: 'expired', error: lineError(line) }, now);
            report.expired++;
          } else {
            this.#retryOrFail(item, lineError(line), retryable, report);
          }
        } else if (status === 'expired') {
          this.#store.settle(item.id, { status: 'expired', error: batchError }, now);
          report.expired++;
        } else {
          const reason =
            status === 'completed'
              ? `batch ${row.id} completed without a line for this item`
              : batchError;
          this.#store.settle(item.id, { status: 'failed', error: reason }, now);
          report.failed++;
        }
      }
      this.#store.updateBatch(row.id, status, 'settled', now);
    });
    report.batchesSettled++;
    if (this.#deleteFiles) await this.#deleteBatchFiles(client, batch);
  }

  async #deleteBatchFiles(client: BatchClient, batch: ProviderBatch): Promise<void> {
    const files = [batch.input_file_id, batch.output_file_id, batch.error_file_id];
    await Promise.all(
      files
        .filter((file): file is string => typeof file === 'string' && file !== '')
        .map((file) =>
          client.deleteFile(file).catch(() => {
            // Best effort: a file left behind costs storage, not correctness.
          }),
        ),
    );
  }
}

/**
 * Opens (or creates) a durable deferral queue. `enqueue(request, { model, mode })` returns an
 * id; `tick()` (or `start(interval)`) schedules: off-peak items run inside the off-peak window
 * with `execute`, batch-api items go to the provider's Batch API through `batchClient`; `get(id)`
 * returns the status, result, cost and savings.
 */
export function createDeferredQueue(options: DeferredQueueOptions): DeferredQueue {
  return new SqliteDeferredQueue(options);
}

/** Whether `error` came from SQLite (the queue's file), not from a provider. */
function isSqliteError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_');
}
