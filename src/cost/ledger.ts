import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { SluiceError } from '../shared/errors.js';

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

/**
 * The append-only cost ledger: one row per answered request, written synchronously (so it is
 * on disk before the response completes). Several processes may share one file.
 */
export class Ledger {
  readonly path: string;
  readonly #database: Database.Database;
  readonly #insert: Database.Statement;

  constructor(options: LedgerOptions) {
    this.path = options.path;
    try {
      if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
      this.#database = new Database(options.path);
      this.#database.pragma('journal_mode = WAL');
      this.#database.pragma(`synchronous = ${options.durability === 'power' ? 'FULL' : 'NORMAL'}`);
      this.#database.pragma('busy_timeout = 5000');
      this.#database.exec(`
        CREATE TABLE IF NOT EXISTS ledger (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
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
    } catch (error) {
      throw new SluiceError(
        'E_LEDGER_OPEN',
        `cannot open the ledger at ${options.path}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    this.#insert = this.#database.prepare(
      `INSERT INTO ledger (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`,
    );
  }

  /** Appends one row; returns once SQLite has committed it. */
  append(entry: LedgerEntry): void {
    this.#insert.run(
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
    );
  }

  /** Totals for a scope between two instants (`from` included, `to` excluded). */
  summary(scope: Scope, from: number, to: number): SpendSummary {
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
    const { clause, values } = scopeClause(scope);
    const rows = this.#database
      .prepare(
        `SELECT CAST(time / ? AS INTEGER) AS slice, SUM(cost_nanos) AS cost
         FROM ledger WHERE time >= ? AND ${clause} GROUP BY slice`,
      )
      .all(sliceMs, from, ...values) as { slice: number; cost: number }[];
    return new Map(rows.map((row) => [row.slice, row.cost]));
  }

  /** Rows between two instants, oldest first, at most `limit`. */
  *rows(from: number, to: number, limit: number): IterableIterator<LedgerEntry & { seq: number }> {
    const statement = this.#database.prepare(
      `SELECT seq, ${COLUMNS.join(', ')} FROM ledger WHERE time >= ? AND time < ? ORDER BY seq LIMIT ?`,
    );
    for (const row of statement.iterate(from, to, limit) as IterableIterator<
      Record<string, unknown>
    >) {
      yield {
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
  }

  close(): void {
    if (this.#database.open) this.#database.close();
  }
}

export function createLedger(options: LedgerOptions): Ledger {
  return new Ledger(options);
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
