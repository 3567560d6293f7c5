/**
 * Durable state of the deferral queue: one SQLite file in WAL mode with a table of deferred
 * items and a table of the provider batches they were submitted in. Every state change is one
 * statement or one transaction, so a crash leaves each item in a state the queue can resume.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { SluiceError } from '../shared/errors.js';
import { openSqlite } from '../shared/sqlite.js';

/** Where a deferred item is: waiting, handed to a provider batch, running, or settled. */
export type DeferredStatus = 'queued' | 'submitted' | 'running' | 'done' | 'failed' | 'expired';

/** How a deferred item runs: in the off-peak window, or through the provider's Batch API. */
export type DeferredMode = 'off-peak' | 'batch-api';

export const DEFERRED_STATUSES: readonly DeferredStatus[] = [
  'queued',
  'submitted',
  'running',
  'done',
  'failed',
  'expired',
];

/** One row of the items table. */
export interface ItemRow {
  id: string;
  created: number;
  updated: number;
  status: DeferredStatus;
  mode: DeferredMode;
  model: string;
  endpoint: string;
  priority: number;
  /** The request body, as JSON. */
  request: string;
  /** The response body, as JSON, once done. */
  result: string | null;
  error: string | null;
  attempts: number;
  next_attempt_at: number;
  expires_at: number;
  completed_at: number | null;
  /** What the result cost, at the price it was run at (batch or off-peak). */
  cost_nanos: number | null;
  /** What it would have cost at the normal price. */
  normal_cost_nanos: number | null;
  saved_nanos: number | null;
  /** The provider batch the item was submitted in. */
  batch_id: string | null;
}

/** One row of the batches table. */
export interface BatchRow {
  id: string;
  model: string;
  endpoint: string;
  /** `open` until the batch's items are settled. */
  state: 'open' | 'settled';
  provider_status: string;
  input_file_id: string;
  created: number;
  polled_at: number;
  items: number;
}

/** What settling one item writes. */
export interface Settlement {
  status: 'done' | 'failed' | 'expired';
  result?: string | null;
  error?: string | null;
  costNanos?: number | null;
  normalCostNanos?: number | null;
  savedNanos?: number | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sluice_deferred_items (
  id TEXT PRIMARY KEY,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued','submitted','running','done','failed','expired')),
  mode TEXT NOT NULL CHECK (mode IN ('off-peak','batch-api')),
  model TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  request TEXT NOT NULL,
  result TEXT,
  error TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  completed_at INTEGER,
  cost_nanos INTEGER,
  normal_cost_nanos INTEGER,
  saved_nanos INTEGER,
  batch_id TEXT
);
CREATE INDEX IF NOT EXISTS sluice_deferred_items_due
  ON sluice_deferred_items (status, mode, priority DESC, created);
CREATE INDEX IF NOT EXISTS sluice_deferred_items_batch ON sluice_deferred_items (batch_id);
CREATE INDEX IF NOT EXISTS sluice_deferred_items_completed ON sluice_deferred_items (completed_at);
CREATE TABLE IF NOT EXISTS sluice_deferred_batches (
  id TEXT PRIMARY KEY,
  model TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('open','settled')),
  provider_status TEXT NOT NULL,
  input_file_id TEXT NOT NULL,
  created INTEGER NOT NULL,
  polled_at INTEGER NOT NULL,
  items INTEGER NOT NULL
);
`;

/** Totals over the rows still held. */
export interface StoreTotals {
  byStatus: Record<DeferredStatus, number>;
  byMode: Record<DeferredMode, number>;
  costNanos: number;
  normalCostNanos: number;
  savedNanos: number;
  openBatches: number;
}

function prepare(db: Database.Database) {
  const table = 'sluice_deferred_items';
  return {
    insert: db.prepare(
      `INSERT INTO ${table} (id, created, updated, status, mode, model, endpoint, priority, request,
         attempts, next_attempt_at, expires_at)
       VALUES (@id, @created, @created, 'queued', @mode, @model, @endpoint, @priority, @request,
         0, @created, @expires_at)`,
    ),
    get: db.prepare(`SELECT * FROM ${table} WHERE id = ?`),
    active: db.prepare(
      `SELECT count(*) AS n FROM ${table} WHERE status IN ('queued','submitted','running')`,
    ),
    claimOffPeak: db.prepare(
      `UPDATE ${table} SET status = 'running', attempts = attempts + 1, updated = @now
       WHERE id = (SELECT id FROM ${table}
         WHERE status = 'queued' AND mode = 'off-peak' AND next_attempt_at <= @now AND expires_at > @now
         ORDER BY priority DESC, created, rowid LIMIT 1)
       RETURNING *`,
    ),
    batchGroups: db.prepare(
      `SELECT DISTINCT model, endpoint FROM ${table}
       WHERE status = 'queued' AND mode = 'batch-api' AND next_attempt_at <= @now AND expires_at > @now`,
    ),
    dueBatchItems: db.prepare(
      `SELECT * FROM ${table}
       WHERE status = 'queued' AND mode = 'batch-api' AND model = @model AND endpoint = @endpoint
         AND next_attempt_at <= @now AND expires_at > @now
       ORDER BY priority DESC, created, rowid LIMIT @limit`,
    ),
    claimForBatch: db.prepare(
      `UPDATE ${table} SET status = 'submitted', attempts = attempts + 1, batch_id = NULL, updated = @now
       WHERE id = @id AND status = 'queued'`,
    ),
    assignBatch: db.prepare(
      `UPDATE ${table} SET batch_id = @batch, updated = @now WHERE id = @id AND status = 'submitted'`,
    ),
    requeue: db.prepare(
      `UPDATE ${table} SET status = 'queued', batch_id = NULL, error = @error,
         next_attempt_at = @next, updated = @now
       WHERE id = @id`,
    ),
    settle: db.prepare(
      `UPDATE ${table} SET status = @status, result = @result, error = @error, cost_nanos = @cost,
         normal_cost_nanos = @normal, saved_nanos = @saved, completed_at = @now, updated = @now
       WHERE id = @id AND status NOT IN ('done','failed','expired')`,
    ),
    markRunning: db.prepare(
      `UPDATE ${table} SET status = 'running', updated = @now
       WHERE batch_id = @batch AND status = 'submitted'`,
    ),
    batchItems: db.prepare(
      `SELECT * FROM ${table} WHERE batch_id = ? AND status IN ('submitted','running')`,
    ),
    expireQueued: db.prepare(
      `UPDATE ${table} SET status = 'expired', completed_at = @now, updated = @now,
         error = coalesce(error || '; ', '') || 'not run before it expired'
       WHERE status = 'queued' AND expires_at <= @now`,
    ),
    interruptedRunning: db.prepare(
      `SELECT * FROM ${table} WHERE status = 'running' AND mode = 'off-peak'`,
    ),
    interruptedSubmissions: db.prepare(
      `SELECT * FROM ${table} WHERE status = 'submitted' AND batch_id IS NULL`,
    ),
    purgeItems: db.prepare(
      `DELETE FROM ${table} WHERE status IN ('done','failed','expired') AND completed_at < ?`,
    ),
    countByStatus: db.prepare(`SELECT status, count(*) AS n FROM ${table} GROUP BY status`),
    countByMode: db.prepare(`SELECT mode, count(*) AS n FROM ${table} GROUP BY mode`),
    costs: db.prepare(
      `SELECT coalesce(sum(cost_nanos), 0) AS cost, coalesce(sum(normal_cost_nanos), 0) AS normal,
         coalesce(sum(saved_nanos), 0) AS saved FROM ${table} WHERE status = 'done'`,
    ),
    insertBatch: db.prepare(
      `INSERT INTO sluice_deferred_batches
         (id, model, endpoint, state, provider_status, input_file_id, created, polled_at, items)
       VALUES (@id, @model, @endpoint, 'open', @status, @input, @now, @now, @items)`,
    ),
    openBatches: db.prepare(
      `SELECT * FROM sluice_deferred_batches WHERE state = 'open' AND polled_at <= @before
       ORDER BY created`,
    ),
    countOpenBatches: db.prepare(
      `SELECT count(*) AS n FROM sluice_deferred_batches WHERE state = 'open'`,
    ),
    updateBatch: db.prepare(
      `UPDATE sluice_deferred_batches SET provider_status = @status, polled_at = @now, state = @state
       WHERE id = @id`,
    ),
    purgeBatches: db.prepare(
      `DELETE FROM sluice_deferred_batches WHERE state = 'settled' AND polled_at < ?`,
    ),
  };
}

/** The SQLite side of the deferral queue. */
export class DeferredStore {
  readonly path: string;
  readonly #db: Database.Database;
  readonly #statements: ReturnType<typeof prepare>;

  constructor(path: string, busyTimeoutMs: number) {
    this.path = path === ':memory:' ? path : resolve(path);
    try {
      if (this.path !== ':memory:') mkdirSync(dirname(this.path), { recursive: true });
      this.#db = openSqlite(this.path, { timeoutMs: busyTimeoutMs }, (db) => {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        db.exec(SCHEMA);
      });
      this.#statements = prepare(this.#db);
    } catch (error) {
      throw new SluiceError(
        'E_DEFERRED_OPEN',
        `cannot open the deferral queue at ${this.path}: ${(error as Error).message}. Check that the file is a SQLite database, readable and writable.`,
        { cause: error },
      );
    }
  }

  insert(item: {
    id: string;
    created: number;
    mode: DeferredMode;
    model: string;
    endpoint: string;
    priority: number;
    request: string;
    expires_at: number;
  }): void {
    this.#statements.insert.run(item);
  }

  get(id: string): ItemRow | undefined {
    return this.#statements.get.get(id) as ItemRow | undefined;
  }

  activeCount(): number {
    return (this.#statements.active.get() as { n: number }).n;
  }

  /** Takes the next due off-peak item (highest priority, oldest first) and marks it running. */
  claimOffPeak(now: number): ItemRow | undefined {
    return this.#statements.claimOffPeak.get({ now }) as ItemRow | undefined;
  }

  /** The model and endpoint pairs with batch-api items due for submission. */
  batchGroups(now: number): { model: string; endpoint: string }[] {
    return this.#statements.batchGroups.all({ now }) as { model: string; endpoint: string }[];
  }

  /**
   * Takes up to `limit` due batch-api items of one group (highest priority, oldest first) and
   * marks them submitted without a batch: claimed, so no other pass takes them.
   */
  claimBatchItems(
    model: string,
    endpoint: string,
    now: number,
    limit: number,
    fits: (row: ItemRow) => boolean,
  ): ItemRow[] {
    return this.#db.transaction(() => {
      const rows = this.#statements.dueBatchItems.all({ model, endpoint, now, limit }) as ItemRow[];
      const claimed: ItemRow[] = [];
      for (const row of rows) {
        if (!fits(row)) break;
        this.#statements.claimForBatch.run({ id: row.id, now });
        claimed.push({ ...row, status: 'submitted', attempts: row.attempts + 1 });
      }
      return claimed;
    })();
  }

  /** Records a created provider batch and ties its items to it, in one transaction. */
  recordBatch(
    batch: { id: string; model: string; endpoint: string; status: string; inputFileId: string },
    itemIds: readonly string[],
    now: number,
  ): void {
    this.#db.transaction(() => {
      this.#statements.insertBatch.run({
        id: batch.id,
        model: batch.model,
        endpoint: batch.endpoint,
        status: batch.status,
        input: batch.inputFileId,
        now,
        items: itemIds.length,
      });
      for (const id of itemIds) this.#statements.assignBatch.run({ id, batch: batch.id, now });
    })();
  }

  /** Puts an item back in the queue, to be tried again at `next`. */
  requeue(id: string, error: string | null, next: number, now: number): void {
    this.#statements.requeue.run({ id, error, next, now });
  }

  /** Settles an item; an item already settled is left as it is. */
  settle(id: string, settlement: Settlement, now: number): void {
    this.#statements.settle.run({
      id,
      now,
      status: settlement.status,
      result: settlement.result ?? null,
      error: settlement.error ?? null,
      cost: settlement.costNanos ?? null,
      normal: settlement.normalCostNanos ?? null,
      saved: settlement.savedNanos ?? null,
    });
  }

  /** Runs several store changes in one transaction. */
  transaction(changes: () => void): void {
    this.#db.transaction(changes)();
  }

  markBatchRunning(batchId: string, now: number): void {
    this.#statements.markRunning.run({ batch: batchId, now });
  }

  /** The unsettled items of a provider batch. */
  batchItems(batchId: string): ItemRow[] {
    return this.#statements.batchItems.all(batchId) as ItemRow[];
  }

  /** Marks queued items past their expiry as expired; returns how many. */
  expireQueued(now: number): number {
    return this.#statements.expireQueued.run({ now }).changes;
  }

  /** Off-peak items left running and submissions left half-done by a stopped process. */
  interrupted(): { running: ItemRow[]; submissions: ItemRow[] } {
    return {
      running: this.#statements.interruptedRunning.all() as ItemRow[],
      submissions: this.#statements.interruptedSubmissions.all() as ItemRow[],
    };
  }

  /** Open batches last polled at or before `before`, oldest first. */
  openBatches(before: number): BatchRow[] {
    return this.#statements.openBatches.all({ before }) as BatchRow[];
  }

  updateBatch(id: string, providerStatus: string, state: 'open' | 'settled', now: number): void {
    this.#statements.updateBatch.run({ id, status: providerStatus, state, now });
  }

  /** Deletes settled items and batches older than `before`; returns the items deleted. */
  purge(before: number): number {
    const removed = this.#statements.purgeItems.run(before).changes;
    this.#statements.purgeBatches.run(before);
    return removed;
  }

  totals(): StoreTotals {
    const byStatus = Object.fromEntries(DEFERRED_STATUSES.map((status) => [status, 0])) as Record<
      DeferredStatus,
      number
    >;
    for (const row of this.#statements.countByStatus.all() as {
      status: DeferredStatus;
      n: number;
    }[]) {
      byStatus[row.status] = row.n;
    }
    const byMode: Record<DeferredMode, number> = { 'off-peak': 0, 'batch-api': 0 };
    for (const row of this.#statements.countByMode.all() as { mode: DeferredMode; n: number }[]) {
      byMode[row.mode] = row.n;
    }
    const costs = this.#statements.costs.get() as { cost: number; normal: number; saved: number };
    return {
      byStatus,
      byMode,
      costNanos: costs.cost,
      normalCostNanos: costs.normal,
      savedNanos: costs.saved,
      openBatches: (this.#statements.countOpenBatches.get() as { n: number }).n,
    };
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
