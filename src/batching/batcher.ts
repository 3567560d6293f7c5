/**
 * Micro-batching: calls that arrive close together for the same key are collected and sent as
 * one call, and each caller gets its own result back, in order. A batch is sealed when its
 * window ends (the window starts at its first item), when it holds `maxItems` items or when
 * its items weigh `maxWeight` (tokens, bytes, ...), whichever comes first.
 */
import { type Duration, parseDuration } from '../shared/duration.js';
import { ConfigError, SluiceError } from '../shared/errors.js';

/** Why a batch was sealed and sent. */
export type FlushReason = 'window' | 'size' | 'weight' | 'manual';

/**
 * What `run` gives back for one item: its output, or an `Error` instance that rejects only that
 * item's caller (so an `Output` that is itself an `Error` cannot be delivered).
 */
export type BatchItemResult<Output> = Output | Error;

/** Sends one batch: the inputs of one key, in the order they were added. */
export type BatchRunner<Input, Output> = (
  key: string,
  inputs: Input[],
) => Promise<ReadonlyArray<BatchItemResult<Output>>>;

/** Everything `createBatcher` accepts. */
export interface BatcherOptions<Input, Output> {
  /**
   * Sends one batch and returns one result per input, in the same order: the output, or an
   * `Error` for an input that failed alone. Throwing rejects every item of the batch.
   */
  run: BatchRunner<Input, Output>;
  /**
   * How long a batch stays open for more items, counted from its first item.
   * @default 5 (milliseconds)
   */
  window?: Duration;
  /**
   * Most items in one batch; a batch that reaches it is sent at once.
   * @default 64 (items)
   */
  maxItems?: number;
  /**
   * Most total weight in one batch; a batch that reaches it is sent at once, and an item that
   * would push a batch past it starts a new batch. An item heavier than this alone is sent alone.
   * @default Infinity (in the unit of the weights: tokens, bytes, ...)
   */
  maxWeight?: number;
  /**
   * Most items accepted and not yet settled (waiting in open batches or in batches being
   * run); `add` beyond it rejects with `E_BATCHER_FULL` (retryable).
   * @default 10_000 (items)
   */
  maxPending?: number;
  /**
   * Most batches run at the same time; sealed batches beyond it wait their turn, in order.
   * @default Infinity (batches)
   */
  concurrency?: number;
}

/** Counters since creation. */
export interface BatcherStats {
  /** Batches sent to `run`. */
  batches: number;
  /** Items sent to `run`. */
  items: number;
  /** `items / batches`, 0 before the first batch. */
  meanBatchSize: number;
  /** Batches sealed, by reason: window ended, `maxItems` reached, `maxWeight` reached, `flush()`/`close()`. */
  flushes: Record<FlushReason, number>;
  /** Batches whose `run` threw or returned the wrong number of results. */
  failedBatches: number;
  /** Items whose own result was an `Error`. */
  failedItems: number;
  /** `add` calls refused because `maxPending` items were already waiting. */
  rejected: number;
  /** Items accepted and not yet settled. */
  pending: number;
  /** Batches being run now. */
  running: number;
}

/** Collects calls per key into batches; see {@link createBatcher}. */
export interface Batcher<Input, Output> {
  /**
   * Adds one input to the open batch of `key` and resolves with its own result.
   * @param weight this item's share of `maxWeight` (a positive number); default 1.
   */
  add(key: string, input: Input, weight?: number): Promise<Output>;
  /** Seals every open batch now and resolves when every batch sent so far has settled. */
  flush(): Promise<void>;
  /** Refuses new items, sends what is pending, and resolves when everything has settled. */
  close(): Promise<void>;
  stats(): BatcherStats;
}

interface PendingItem<Input, Output> {
  input: Input;
  weight: number;
  resolve: (output: Output) => void;
  reject: (error: unknown) => void;
}

interface OpenBatch<Input, Output> {
  key: string;
  items: PendingItem<Input, Output>[];
  weight: number;
  timer: NodeJS.Timeout | undefined;
}

function positive(name: string, value: number, integer: boolean): number {
  const valid = integer
    ? Number.isSafeInteger(value) || value === Number.POSITIVE_INFINITY
    : typeof value === 'number' && !Number.isNaN(value);
  if (!valid || value <= 0) {
    throw new ConfigError(
      `${name} must be a positive ${integer ? 'integer' : 'number'}, got ${value}`,
    );
  }
  return value;
}

class MicroBatcher<Input, Output> implements Batcher<Input, Output> {
  readonly #run: BatchRunner<Input, Output>;
  readonly #windowMs: number;
  readonly #maxItems: number;
  readonly #maxWeight: number;
  readonly #maxPending: number;
  readonly #concurrency: number;
  readonly #open = new Map<string, OpenBatch<Input, Output>>();
  /** Sealed batches waiting for a free run slot, oldest first. */
  readonly #ready: OpenBatch<Input, Output>[] = [];
  /** Settles when each running batch has settled; `flush()` waits on them. */
  readonly #inFlight = new Set<Promise<void>>();
  #pending = 0;
  #closed = false;
  #stats = {
    batches: 0,
    items: 0,
    failedBatches: 0,
    failedItems: 0,
    rejected: 0,
    flushes: { window: 0, size: 0, weight: 0, manual: 0 } as Record<FlushReason, number>,
  };

  constructor(options: BatcherOptions<Input, Output>) {
    if (typeof options.run !== 'function')
      throw new ConfigError('createBatcher needs a run function');
    this.#run = options.run;
    this.#windowMs = parseDuration(options.window ?? 5, 'window');
    this.#maxItems = positive('maxItems', options.maxItems ?? 64, true);
    this.#maxWeight = positive('maxWeight', options.maxWeight ?? Number.POSITIVE_INFINITY, false);
    this.#maxPending = positive('maxPending', options.maxPending ?? 10_000, true);
    this.#concurrency = positive(
      'concurrency',
      options.concurrency ?? Number.POSITIVE_INFINITY,
      true,
    );
    if (!Number.isFinite(this.#maxPending)) {
      throw new ConfigError('maxPending must be finite: the batcher refuses to grow without bound');
    }
  }

  add(key: string, input: Input, weight = 1): Promise<Output> {
    if (this.#closed) {
      return Promise.reject(new SluiceError('E_BATCHER_CLOSED', 'the batcher is closed'));
    }
    if (!(typeof weight === 'number' && weight > 0 && Number.isFinite(weight))) {
      return Promise.reject(
        new ConfigError(`a batch item's weight must be a positive finite number, got ${weight}`),
      );
    }
    if (this.#pending >= this.#maxPending) {
      this.#stats.rejected++;
      return Promise.reject(
        new SluiceError(
          'E_BATCHER_FULL',
          `the batcher already holds ${this.#maxPending} pending items (maxPending); try again later`,
          { isRetryable: true },
        ),
      );
    }
    return new Promise<Output>((resolve, reject) => {
      this.#pending++;
      let batch = this.#open.get(key);
      if (batch !== undefined && batch.weight + weight > this.#maxWeight) {
        this.#seal(batch, 'weight');
        batch = undefined;
      }
      if (batch === undefined) {
        batch = { key, items: [], weight: 0, timer: undefined };
        this.#open.set(key, batch);
        const opened = batch;
        opened.timer = setTimeout(() => this.#seal(opened, 'window'), this.#windowMs);
      }
      batch.items.push({ input, weight, resolve, reject });
      batch.weight += weight;
      if (batch.items.length >= this.#maxItems) this.#seal(batch, 'size');
      else if (batch.weight >= this.#maxWeight) this.#seal(batch, 'weight');
    });
  }

  async flush(): Promise<void> {
    for (const batch of [...this.#open.values()]) this.#seal(batch, 'manual');
    // Batches may still be waiting for a run slot: wait until nothing is running or ready.
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }

  stats(): BatcherStats {
    const { batches, items } = this.#stats;
    return {
      ...this.#stats,
      flushes: { ...this.#stats.flushes },
      meanBatchSize: batches === 0 ? 0 : items / batches,
      pending: this.#pending,
      running: this.#inFlight.size,
    };
  }

  #seal(batch: OpenBatch<Input, Output>, reason: FlushReason): void {
    if (this.#open.get(batch.key) !== batch) return;
    this.#open.delete(batch.key);
    clearTimeout(batch.timer);
    this.#stats.flushes[reason]++;
    this.#ready.push(batch);
    this.#startReady();
  }

  #startReady(): void {
    while (this.#inFlight.size < this.#concurrency) {
      const batch = this.#ready.shift();
      if (batch === undefined) return;
      const running = this.#execute(batch).finally(() => {
        this.#inFlight.delete(running);
        this.#startReady();
      });
      this.#inFlight.add(running);
    }
  }

  async #execute(batch: OpenBatch<Input, Output>): Promise<void> {
    const { items } = batch;
    this.#stats.batches++;
    this.#stats.items += items.length;
    let results: ReadonlyArray<BatchItemResult<Output>>;
    try {
      results = await this.#run(
        batch.key,
        items.map((item) => item.input),
      );
      if (!Array.isArray(results) || results.length !== items.length) {
        const count = Array.isArray(results) ? results.length : typeof results;
        throw new SluiceError(
          'E_BATCH_RESULT_COUNT',
          `the batch run for key '${batch.key}' returned ${count} results for ${items.length} inputs; it must return exactly one result per input, in order`,
        );
      }
    } catch (error) {
      this.#stats.failedBatches++;
      this.#pending -= items.length;
      for (const item of items) item.reject(error);
      return;
    }
    this.#pending -= items.length;
    items.forEach((item, index) => {
      const result = results[index];
      if (result instanceof Error) {
        this.#stats.failedItems++;
        item.reject(result);
      } else {
        item.resolve(result as Output);
      }
    });
  }
}

/**
 * Creates a micro-batcher: `add(key, input, weight?)` joins the open batch of `key`, and a
 * sealed batch is sent with one `run(key, inputs)` call whose results go back to each caller in
 * order. Per-item `Error` results reject only their caller; a throwing `run` rejects the whole
 * batch; a wrong number of results rejects it with `E_BATCH_RESULT_COUNT`.
 */
export function createBatcher<Input, Output>(
  options: BatcherOptions<Input, Output>,
): Batcher<Input, Output> {
  return new MicroBatcher(options);
}
