import { randomBytes } from 'node:crypto';
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { SluiceError } from '../shared/errors.js';
import { openSqlite } from '../shared/sqlite.js';

const require = createRequire(import.meta.url);

/** One answered request, as the ledger keeps it. Amounts in nano-dollars (1e-9 USD). */
export interface LedgerEntry {
  readonly requestId: string;
  /** Epoch milliseconds when the answer completed. */
  readonly time: number;
  /** The virtual key's name (`anonymous` when the gateway runs open). */
  readonly key: string;
  readonly namespace: string;
  /** Tags of the key, for `tag:` budgets. */
  readonly tags: readonly string[];
  readonly route: string;
  readonly model: string;
  readonly provider: string;
  readonly status: number;
  /** `hit`, `miss` or `bypass`. */
  readonly cache: string;
  readonly inputTokens: number;
  readonly cachedInputTokens: number;
  readonly cacheWriteTokens: number;
  readonly outputTokens: number;
  readonly reasoningTokens: number;
  /** What the request cost. */
  readonly costNanos: number;
  /** What a cache hit avoided paying (0 for misses). */
  readonly avoidedNanos: number;
  readonly durationMs: number;
}

/** A scope as budgets name them: `global`, `key:NAME`, `model:NAME`, `provider:NAME`, `tag:NAME`. */
export type Scope = string;

export interface SpendSummary {
  readonly requests: number;
  readonly hits: number;
  readonly costNanos: number;
  readonly avoidedNanos: number;
}

export interface LedgerOptions {
  /** SQLite file; the folder is created. `':memory:'` for tests. */
  path: string;
  /**
   * `'process'`: a row survives the gateway process being killed (WAL, synchronous=NORMAL);
   * `'power'`: it also survives a power loss (synchronous=FULL, an fsync per request).
   * @default 'process'
   */
  durability?: 'process' | 'power';
}

const COLUMNS = [
  'request_id',
  'time',
  'key',
  'namespace',
  'tags',
  'route',
  'model',
  'provider',
  'status',
  'cache',
  'input_tokens',
  'cached_input_tokens',
  'cache_write_tokens',
  'output_tokens',
  'reasoning_tokens',
  'cost_nanos',
  'avoided_nanos',
  'duration_ms',
] as const;

type Row = (string | number)[];

/** How long appended rows wait in the journal before one transaction moves them into SQLite. */
const FLUSH_DELAY_MS = 20;
const FLUSH_ROWS = 256;

/**
 * The append-only cost ledger: one row per answered request, several processes sharing one
 * SQLite file.
 *
 * Durability: `append` writes the row to this process's journal file with one `write` system
 * call before it returns (so before the response completes), which survives the process being
 * killed, as a WAL commit with `synchronous=NORMAL` would, at a tenth of its cost; rows move
 * from the journal into SQLite in one transaction every few milliseconds. A journal left by a
 * process that died is imported by the next process that opens the ledger. Every row carries
 * a unique entry id, so a journal imported twice never duplicates a row. With
 * `durability: 'power'`, rows go straight into SQLite with `synchronous=FULL` instead.
 */
export class Ledger {
  readonly path: string;
  readonly #database: Database.Database;
  readonly #insert: Database.Statement;
  readonly #checkpointer: Worker | undefined;
  readonly #journal: { fd: number; path: string; id: string } | undefined;
  readonly #transaction: (rows: readonly Row[]) => void;
  #pending: Row[] = [];
  #sequence = 0;
  #flushTimer: NodeJS.Timeout | undefined;

  constructor(options: LedgerOptions) {
    this.path = options.path;
    try {
      if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
      this.#database = openSqlite(options.path, { timeoutMs: 5_000 }, (database) => {
        database.pragma('journal_mode = WAL');
        database.pragma(`synchronous = ${options.durability === 'power' ? 'FULL' : 'NORMAL'}`);
        database.pragma('busy_timeout = 5000');
        // Checkpoints (copying the WAL into the database, with an fsync) would stall a request
        // every thousand rows; a worker thread runs them instead, off the event loop.
        if (options.path !== ':memory:') database.pragma('wal_autocheckpoint = 0');
        database.exec(`
          CREATE TABLE IF NOT EXISTS ledger (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            entry_id TEXT NOT NULL,
            request_id TEXT NOT NULL,
            time INTEGER NOT NULL,
            key TEXT NOT NULL,
            namespace TEXT NOT NULL,
            tags TEXT NOT NULL,
            route TEXT NOT NULL,
            model TEXT NOT NULL,
            provider TEXT NOT NULL,
            status INTEGER NOT NULL,
            cache TEXT NOT NULL,
            input_tokens INTEGER NOT NULL,
            cached_input_tokens INTEGER NOT NULL,
            cache_write_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            reasoning_tokens INTEGER NOT NULL,
            cost_nanos INTEGER NOT NULL,
            avoided_nanos INTEGER NOT NULL,
            duration_ms REAL NOT NULL
          );
          CREATE INDEX IF NOT EXISTS ledger_time ON ledger (time);
          CREATE TRIGGER IF NOT EXISTS ledger_append_only BEFORE UPDATE ON ledger
          BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
        `);
        const columns = database.pragma('table_info(ledger)') as { name: string }[];
        if (!columns.some((column) => column.name === 'entry_id')) {
          // A ledger written before entry ids: older rows keep a NULL id.
          database.exec('ALTER TABLE ledger ADD COLUMN entry_id TEXT');
        }
        database.exec('CREATE UNIQUE INDEX IF NOT EXISTS ledger_entry ON ledger (entry_id)');
      });
    } catch (error) {
      throw new SluiceError(
        'E_LEDGER_OPEN',
        `cannot open the ledger at ${options.path}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    const onDisk = options.path !== ':memory:';
    this.#checkpointer = onDisk ? startCheckpointer(options.path) : undefined;
    this.#insert = this.#database.prepare(
      `INSERT OR IGNORE INTO ledger (entry_id, ${COLUMNS.join(', ')}) VALUES (?, ${COLUMNS.map(() => '?').join(', ')})`,
    );
    this.#transaction = this.#database.transaction((rows: readonly Row[]) => {
      for (const row of rows) this.#insert.run(...row);
    });
    if (onDisk) this.#importOrphanJournals();
    const id = `${process.pid}-${randomBytes(4).toString('hex')}`;
    if (onDisk && options.durability !== 'power') {
      const path = `${options.path}.journal-${id}`;
      this.#journal = { fd: openSync(path, 'a'), path, id };
    } else {
      this.#journal = undefined;
    }
    this.#journalId = id;
  }

  readonly #journalId: string;

  /** Imports the journals of processes that died before moving their rows into SQLite. */
  #importOrphanJournals(): void {
    const directory = dirname(this.path);
    const prefix = `${basename(this.path)}.journal-`;
    for (const name of readdirSync(directory)) {
      if (!name.startsWith(prefix)) continue;
      const pid = Number(name.slice(prefix.length).split('-')[0]);
      if (pid === process.pid || isAlive(pid)) continue;
      const path = join(directory, name);
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        continue; // another process took it
      }
      const rows: Row[] = [];
      for (const line of text.split('\n')) {
        if (line === '') continue;
        try {
          rows.push(JSON.parse(line) as Row);
        } catch {
          // A line torn by the crash was never acknowledged: nothing to import.
        }
      }
      this.#transaction(rows);
      try {
        unlinkSync(path);
      } catch {
        // Already removed by another process importing it at the same time (no duplicates: entry ids).
      }
    }
  }

  /** Appends one row; returns once it is durable (see the class comment). */
  append(entry: LedgerEntry): void {
    const row: Row = [
      `${this.#journalId}:${this.#sequence++}`,
      entry.requestId,
      Math.round(entry.time),
      entry.key,
      entry.namespace,
      entry.tags.length === 0 ? ',' : `,${entry.tags.join(',')},`,
      entry.route,
      entry.model,
      entry.provider,
      entry.status,
      entry.cache,
      entry.inputTokens,
      entry.cachedInputTokens,
      entry.cacheWriteTokens,
      entry.outputTokens,
      entry.reasoningTokens,
      entry.costNanos,
      entry.avoidedNanos,
      entry.durationMs,
    ];
    const journal = this.#journal;
    if (journal === undefined) {
      this.#insert.run(...row);
      return;
    }
    writeSync(journal.fd, `${JSON.stringify(row)}\n`);
    this.#pending.push(row);
    if (this.#pending.length >= FLUSH_ROWS) this.flush();
    else if (this.#flushTimer === undefined) {
      this.#flushTimer = setTimeout(() => this.flush(), FLUSH_DELAY_MS);
      this.#flushTimer.unref();
    }
  }

  /** Moves journaled rows into SQLite now (reads call it first). */
  flush(): void {
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    const journal = this.#journal;
    if (journal === undefined || this.#pending.length === 0) return;
    this.#transaction(this.#pending);
    this.#pending = [];
    // Every journaled row is in SQLite: the journal starts over (same thread, no append between).
    ftruncateSync(journal.fd, 0);
  }

  /** Totals for a scope between two instants (`from` included, `to` excluded). */
  summary(scope: Scope, from: number, to: number): SpendSummary {
    this.flush();
    const { clause, values } = scopeClause(scope);
    const row = this.#database
      .prepare(
        `SELECT COUNT(*) AS requests, COALESCE(SUM(cache = 'hit'), 0) AS hits,
                COALESCE(SUM(cost_nanos), 0) AS cost, COALESCE(SUM(avoided_nanos), 0) AS avoided
         FROM ledger WHERE time >= ? AND time < ? AND ${clause}`,
      )
      .get(from, to, ...values) as {
      requests: number;
      hits: number;
      cost: number;
      avoided: number;
    };
    return {
      requests: row.requests,
      hits: row.hits,
      costNanos: row.cost,
      avoidedNanos: row.avoided,
    };
  }

  /** Totals grouped by `key`, `model` or `provider`. */
  grouped(
    dimension: 'key' | 'model' | 'provider',
    from: number,
    to: number,
  ): (SpendSummary & { name: string })[] {
    this.flush();
    const rows = this.#database
      .prepare(
        `SELECT ${dimension} AS name, COUNT(*) AS requests, COALESCE(SUM(cache = 'hit'), 0) AS hits,
                COALESCE(SUM(cost_nanos), 0) AS cost, COALESCE(SUM(avoided_nanos), 0) AS avoided
         FROM ledger WHERE time >= ? AND time < ? GROUP BY ${dimension} ORDER BY cost DESC`,
      )
      .all(from, to) as {
      name: string;
      requests: number;
      hits: number;
      cost: number;
      avoided: number;
    }[];
    return rows.map((row) => ({
      name: row.name,
      requests: row.requests,
      hits: row.hits,
      costNanos: row.cost,
      avoidedNanos: row.avoided,
    }));
  }

  /** Spend of a scope since `from`, grouped in slices of `sliceMs` (for restoring budgets). */
  spendBySlice(scope: Scope, from: number, sliceMs: number): Map<number, number> {
    this.flush();
    const { clause, values } = scopeClause(scope);
    const rows = this.#database
      .prepare(
        `SELECT CAST(time / ? AS INTEGER) AS slice, SUM(cost_nanos) AS cost
         FROM ledger WHERE time >= ? AND ${clause} GROUP BY slice`,
      )
      .all(sliceMs, from, ...values) as { slice: number; cost: number }[];
    return new Map(rows.map((row) => [row.slice, row.cost]));
  }

  /**
   * Rows between two instants, oldest first, at most `limit`. Read a page at a time, so the
   * connection is never held by an open cursor while the caller streams the rows out.
   */
  *rows(from: number, to: number, limit: number): IterableIterator<LedgerEntry & { seq: number }> {
    this.flush();
    const statement = this.#database.prepare(
      `SELECT seq, ${COLUMNS.join(', ')} FROM ledger WHERE time >= ? AND time < ? AND seq > ? ORDER BY seq LIMIT ?`,
    );
    let after = 0;
    let remaining = limit;
    while (remaining > 0) {
      const page = statement.all(from, to, after, Math.min(remaining, 1_000)) as Record<
        string,
        unknown
      >[];
      if (page.length === 0) return;
      remaining -= page.length;
      after = page[page.length - 1]?.seq as number;
      for (const row of page) yield toEntry(row);
    }
  }

  close(): void {
    if (this.#database.open) this.flush();
    const journal = this.#journal;
    if (journal !== undefined) {
      closeSync(journal.fd);
      try {
        unlinkSync(journal.path);
      } catch {
        // Already gone.
      }
    }
    if (this.#checkpointer !== undefined) void this.#checkpointer.terminate();
    if (this.#database.open) {
      if (this.#checkpointer !== undefined) this.#database.pragma('wal_checkpoint(PASSIVE)');
      this.#database.close();
    }
  }
}

export function createLedger(options: LedgerOptions): Ledger {
  return new Ledger(options);
}

/**
 * A worker thread with its own connection that checkpoints the WAL every half second
 * (PASSIVE: it never blocks the writer). It holds no reference on the event loop.
 */
function startCheckpointer(path: string): Worker {
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads');
     const Database = require(workerData.module);
     const database = new Database(workerData.path);
     database.pragma('busy_timeout = 1000');
     setInterval(() => {
       try { database.pragma('wal_checkpoint(PASSIVE)'); } catch {}
     }, 500);`,
    { eval: true, workerData: { path, module: require.resolve('better-sqlite3') } },
  );
  worker.unref();
  worker.on('error', () => {});
  return worker;
}

function toEntry(row: Record<string, unknown>): LedgerEntry & { seq: number } {
  return {
    seq: row.seq as number,
    requestId: row.request_id as string,
    time: row.time as number,
    key: row.key as string,
    namespace: row.namespace as string,
    tags: (row.tags as string).split(',').filter((tag) => tag !== ''),
    route: row.route as string,
    model: row.model as string,
    provider: row.provider as string,
    status: row.status as number,
    cache: row.cache as string,
    inputTokens: row.input_tokens as number,
    cachedInputTokens: row.cached_input_tokens as number,
    cacheWriteTokens: row.cache_write_tokens as number,
    outputTokens: row.output_tokens as number,
    reasoningTokens: row.reasoning_tokens as number,
    costNanos: row.cost_nanos as number,
    avoidedNanos: row.avoided_nanos as number,
    durationMs: row.duration_ms as number,
  };
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The SQL condition selecting a scope's rows. */
function scopeClause(scope: Scope): { clause: string; values: string[] } {
  if (scope === 'global') return { clause: '1 = 1', values: [] };
  const separator = scope.indexOf(':');
  const kind = scope.slice(0, separator);
  const name = scope.slice(separator + 1);
  switch (kind) {
    case 'key':
    case 'model':
    case 'provider':
      return { clause: `${kind} = ?`, values: [name] };
    case 'tag':
      return { clause: 'instr(tags, ?) > 0', values: [`,${name},`] };
    default:
      throw new SluiceError('E_SCOPE', `unknown scope '${scope}'`);
  }
}

/** CSV text of ledger rows, with a header line; fields quoted where needed. */
export function ledgerCsvHeader(): string {
  return `${['seq', ...COLUMNS].join(',')}\n`;
}

export function ledgerCsvLine(row: LedgerEntry & { seq: number }): string {
  const values = [
    row.seq,
    row.requestId,
    row.time,
    row.key,
    row.namespace,
    row.tags.join(' '),
    row.route,
    row.model,
    row.provider,
    row.status,
    row.cache,
    row.inputTokens,
    row.cachedInputTokens,
    row.cacheWriteTokens,
    row.outputTokens,
    row.reasoningTokens,
    row.costNanos,
    row.avoidedNanos,
    row.durationMs,
  ];
  return `${values.map(csvField).join(',')}\n`;
}

function csvField(value: string | number): string {
  const text = String(value);
  // Quote separators and quotes; prefix formula characters so a spreadsheet never runs them.
  const safe = /^[=+\-@\t\r]/.test(text) && typeof value === 'string' ? `'${text}` : text;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
