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
import { type Duration, parseDuration } from '../shared/duration.js';
import { ConfigError, SluiceError } from '../shared/errors.js';
import { type HealthReporter, unreported } from '../shared/health.js';
import { isStorageFull, openSqlite } from '../shared/sqlite.js';

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
  /**
   * Most rows held in memory while they cannot be written into SQLite (a full disk). Rows
   * past it that are in the journal are read back from the journal when space returns; rows
   * that could not be journaled either are lost (counted in `status().lostRows`).
   * @default 100_000 (rows, about 50 MB)
   */
  maxHeldRows?: number;
  /** How often writing held rows is retried while SQLite refuses them. @default '1s' */
  retryInterval?: Duration;
  /** Told when writes fail and when they work again (the gateway's health registry). */
  health?: HealthReporter;
}

/** The ledger's write state (for `/healthz` and tests). */
export interface LedgerStatus {
  /** Whether the last write into SQLite failed (rows are held until one works). */
  readonly failing: boolean;
  /** Rows not yet in SQLite, held in memory. */
  readonly heldRows: number;
  /** Failed attempts to write into SQLite (or to open it) since start. */
  readonly writeErrors: number;
  /** Rows that could be written neither into SQLite nor into the journal, past `maxHeldRows`. */
  readonly lostRows: number;
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

/** Journals of ledgers open in this process: never imported as orphans. */
const openJournals = new Set<string>();

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
 *
 * A full disk never throws out of the ledger: rows SQLite refuses (or cannot even open the
 * file for) are held in memory (up to `maxHeldRows`) and stay in the journal, which is not
 * truncated until they are in SQLite; writing them is retried every `retryInterval`, and the
 * `health` reporter is told when writes fail and when they work again. A journal that cannot
 * be written either (the same full disk) leaves the row in memory only.
 */
export class Ledger {
  readonly path: string;
  readonly #onDisk: boolean;
  readonly #power: boolean;
  readonly #health: HealthReporter;
  readonly #maxHeldRows: number;
  readonly #retryMs: number;
  readonly #journalId: string;
  #database: Database.Database | undefined;
  #insert: Database.Statement | undefined;
  #transaction: ((rows: readonly Row[]) => void) | undefined;
  #checkpointer: Worker | undefined;
  #journal: { fd: number; path: string } | undefined;
  /** Bytes of whole lines in the journal (a torn write is cut back to it). */
  #journalBytes = 0;
  /** Rows not yet in SQLite, oldest first. */
  #pending: Row[] = [];
  /** Journaled rows left out of `#pending` (past `maxHeldRows`): re-read from the journal. */
  #dropped = false;
  /** Orphan journals not imported yet (the import failed). */
  #orphans = false;
  #failing = false;
  #writeErrors = 0;
  #lostRows = 0;
  #closed = false;
  #sequence = 0;
  #flushTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;

  constructor(options: LedgerOptions) {
    this.path = options.path;
    this.#onDisk = options.path !== ':memory:';
    this.#power = options.durability === 'power';
    this.#health = options.health ?? unreported;
    this.#maxHeldRows = options.maxHeldRows ?? 100_000;
    if (!Number.isInteger(this.#maxHeldRows) || this.#maxHeldRows < 1) {
      throw new ConfigError('ledger maxHeldRows must be a positive integer');
    }
    this.#retryMs = parseDuration(options.retryInterval ?? '1s', 'retryInterval');
    this.#journalId = `${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      this.#open();
    } catch (error) {
      // A full disk at start: the gateway starts, rows are held until the file can be opened.
      if (!isStorageFull(error)) throw openError(options.path, error);
      this.#fail('cannot open the ledger', error);
    }
    if (this.#onDisk && !this.#power) this.#openJournal();
  }

  #open(): Database.Database {
    const path = this.path;
    if (this.#onDisk) mkdirSync(dirname(path), { recursive: true });
    const database = openSqlite(path, { timeoutMs: 5_000 }, (database) => {
      database.pragma('journal_mode = WAL');
      database.pragma(`synchronous = ${this.#power ? 'FULL' : 'NORMAL'}`);
      database.pragma('busy_timeout = 5000');
      // Checkpoints (copying the WAL into the database, with an fsync) would stall a request
      // every thousand rows; a worker thread runs them instead, off the event loop.
      if (this.#onDisk) database.pragma('wal_autocheckpoint = 0');
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
    const insert = database.prepare(
      `INSERT OR IGNORE INTO ledger (entry_id, ${COLUMNS.join(', ')}) VALUES (?, ${COLUMNS.map(() => '?').join(', ')})`,
    );
    this.#insert = insert;
    this.#transaction = database.transaction((rows: readonly Row[]) => {
      for (const row of rows) insert.run(...row);
    });
    this.#database = database;
    if (this.#onDisk) {
      this.#checkpointer = startCheckpointer(path);
      this.#orphans = true;
      try {
        this.#importOrphanJournals();
      } catch (error) {
        // Left in place: imported by a later flush, once SQLite takes writes again.
        this.#fail('cannot import the journals of processes that died', error);
      }
    }
    return database;
  }

  #openJournal(): void {
    const path = `${this.path}.journal-${this.#journalId}`;
    try {
      this.#journal = { fd: openSync(path, 'a'), path };
      this.#journalBytes = 0;
      openJournals.add(path);
    } catch (error) {
      if (!isStorageFull(error) && this.#database !== undefined) throw openError(this.path, error);
      this.#writeErrors++;
      this.#health.degraded('cannot create the ledger journal', error);
    }
  }

  /** Imports the journals of processes that died before moving their rows into SQLite. */
  #importOrphanJournals(): void {
    const directory = dirname(this.path);
    const prefix = `${basename(this.path)}.journal-`;
    for (const name of readdirSync(directory)) {
      if (!name.startsWith(prefix)) continue;
      const path = join(directory, name);
      const pid = Number(name.slice(prefix.length).split('-')[0]);
      if (openJournals.has(path) || (pid !== process.pid && isAlive(pid))) continue;
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        continue; // another process took it
      }
      (this.#transaction as (rows: readonly Row[]) => void)(parseJournal(text));
      try {
        unlinkSync(path);
      } catch {
        // Already removed by another process importing it at the same time (no duplicates: entry ids).
      }
    }
    this.#orphans = false;
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
    if (!this.#onDisk || this.#power) {
      if (!this.#failing && this.#insert !== undefined) {
        try {
          this.#insert.run(...row);
          return;
        } catch (error) {
          this.#fail('the ledger write failed', error);
        }
      }
      this.#hold(row, false);
      return;
    }
    const journaled = this.#writeJournal(row);
    this.#hold(row, journaled);
    // While SQLite refuses writes, the retry timer moves the rows.
    if (this.#failing) return;
    // A row the journal did not take goes into SQLite at once.
    if (!journaled || this.#pending.length >= FLUSH_ROWS) this.flush();
    else if (this.#flushTimer === undefined) {
      this.#flushTimer = setTimeout(() => this.flush(), FLUSH_DELAY_MS);
      this.#flushTimer.unref();
    }
  }

  /** Writes one row to the journal; false when it cannot (no journal, a full disk). */
  #writeJournal(row: Row): boolean {
    const journal = this.#journal;
    if (journal === undefined) return false;
    const line = Buffer.from(`${JSON.stringify(row)}\n`);
    try {
      const written = writeSync(journal.fd, line);
      if (written === line.length) {
        this.#journalBytes += written;
        return true;
      }
      throw new SluiceError('E_LEDGER_JOURNAL', `short write to ${journal.path}`);
    } catch (error) {
      try {
        // A torn line would join the next one: cut the journal back to its whole lines.
        ftruncateSync(journal.fd, this.#journalBytes);
      } catch {
        // The import skips a torn line.
      }
      this.#writeErrors++;
      this.#health.degraded('the ledger journal write failed', error);
      return false;
    }
  }

  #hold(row: Row, journaled: boolean): void {
    if (this.#pending.length < this.#maxHeldRows) this.#pending.push(row);
    else if (journaled) this.#dropped = true;
    else {
      this.#lostRows++;
      this.#health.degraded(
        `ledger rows lost (${this.#lostRows}): more than ${this.#maxHeldRows} rows held`,
      );
    }
  }

  /**
   * Moves held rows into SQLite now (reads call it first). Never throws: returns false when
   * SQLite refused them (they stay held, and writing them is retried).
   */
  flush(): boolean {
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    if (this.#closed) return this.#pending.length === 0;
    if (!this.#failing && this.#pending.length === 0 && !this.#orphans) return true;
    try {
      if (this.#database === undefined) this.#open();
      const write = this.#transaction as (rows: readonly Row[]) => void;
      if (this.#orphans) this.#importOrphanJournals();
      if (this.#pending.length > 0) write(this.#pending);
      const journal = this.#journal;
      if (this.#dropped && journal !== undefined) {
        write(parseJournal(readFileSync(journal.path, 'utf8')));
      }
    } catch (error) {
      this.#fail('the ledger write failed', error);
      return false;
    }
    this.#pending = [];
    this.#dropped = false;
    const journal = this.#journal;
    if (journal !== undefined && this.#journalBytes > 0) {
      try {
        // Every journaled row is in SQLite: the journal starts over (same thread, no append between).
        ftruncateSync(journal.fd, 0);
        this.#journalBytes = 0;
      } catch {
        // Kept: importing it again duplicates nothing (entry ids).
      }
    }
    if (journal === undefined && this.#onDisk && !this.#power) this.#openJournal();
    if (this.#failing) {
      this.#failing = false;
      if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
    }
    // Nothing is held: whatever failed before, no row is at risk now.
    if (this.#journal !== undefined || !this.#onDisk || this.#power) this.#health.ok();
    return true;
  }

  #fail(reason: string, error: unknown): void {
    this.#writeErrors++;
    this.#failing = true;
    this.#health.degraded(reason, error);
    if (this.#retryTimer !== undefined || this.#closed) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.flush();
    }, this.#retryMs);
    this.#retryTimer.unref();
  }

  status(): LedgerStatus {
    return {
      failing: this.#failing,
      heldRows: this.#pending.length,
      writeErrors: this.#writeErrors,
      lostRows: this.#lostRows,
    };
  }

  /** The open database, after moving held rows into it (reads). */
  #read(): Database.Database {
    this.flush();
    if (this.#database === undefined) {
      throw new SluiceError(
        'E_LEDGER_UNAVAILABLE',
        `the ledger at ${this.path} cannot be opened (the disk is full?); its rows are held until it can`,
      );
    }
    return this.#database;
  }

  /** Totals for a scope between two instants (`from` included, `to` excluded). */
  summary(scope: Scope, from: number, to: number): SpendSummary {
    const database = this.#read();
    const { clause, values } = scopeClause(scope);
    const row = database
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
    const rows = this.#read()
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
    const database = this.#read();
    const { clause, values } = scopeClause(scope);
    const rows = database
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
    const statement = this.#read().prepare(
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
    if (this.#closed) return;
    const flushed = this.flush();
    this.#closed = true;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const journal = this.#journal;
    if (!flushed) {
      // Rows SQLite still refuses: into the journal (again: entry ids dedupe), which is kept
      // for the next process to import. Rows that cannot be journaled now are lost.
      let unsaved = 0;
      for (const row of this.#pending) if (!this.#writeJournal(row)) unsaved++;
      this.#lostRows += unsaved;
      if (unsaved > 0) this.#health.degraded(`ledger rows lost at close (${unsaved})`);
    }
    if (journal !== undefined) {
      closeSync(journal.fd);
      openJournals.delete(journal.path);
      if (flushed) {
        try {
          unlinkSync(journal.path);
        } catch {
          // Already gone.
        }
      }
    }
    if (this.#checkpointer !== undefined) void this.#checkpointer.terminate();
    const database = this.#database;
    if (database?.open === true) {
      try {
        if (this.#checkpointer !== undefined) database.pragma('wal_checkpoint(PASSIVE)');
      } catch {
        // A full disk: the next process checkpoints.
      }
      database.close();
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

function openError(path: string, error: unknown): SluiceError {
  return new SluiceError(
    'E_LEDGER_OPEN',
    `cannot open the ledger at ${path}: ${(error as Error).message}`,
    { cause: error },
  );
}

/** A journal's rows; a line torn by a crash was never acknowledged and is skipped. */
function parseJournal(text: string): Row[] {
  const rows: Row[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      rows.push(JSON.parse(line) as Row);
    } catch {
      // Torn: nothing to import.
    }
  }
  return rows;
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
