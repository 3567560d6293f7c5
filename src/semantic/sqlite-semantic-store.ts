import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { type Duration, parseDuration } from '../shared/duration.js';
import { ConfigError, SluiceError } from '../shared/errors.js';
import { openSqlite } from '../shared/sqlite.js';
import {
  bytesToVector,
  fromStoredTime,
  type LoadedEntry,
  type PersistedEntry,
  type SemanticStore,
  toStoredTime,
  vectorToBytes,
} from './semantic-store.js';

export interface SqliteSemanticStoreOptions {
  /** Database file (may be the same file as the tiered cache's `sqliteStore`); created with its folder if missing. */
  path: string;
  /** Namespace of this cache's rows, so several semantic caches can share one file. @default 'sluice' */
  prefix?: string;
  /** How long a write waits for another process's lock (blocks the event loop). @default 50 (ms) */
  busyTimeout?: Duration;
}

interface EntryRow {
  id: string;
  scope_key: string;
  namespace: string;
  text: string;
  vector: Buffer;
  response_hash: string;
  created_at: number;
  expires_at: number;
  body: Buffer;
}

/**
 * Semantic entries in two SQLite tables (entries; reference-counted responses), in WAL mode
 * so several processes on one machine can share the file. Each process learns of the others'
 * new entries at its next start (SQLite has no bus); use `redisSemanticStore` for live sharing.
 */
export class SqliteSemanticStore implements SemanticStore {
  readonly kind = 'sqlite';
  readonly path: string;
  private readonly db: Database.Database;
  private readonly prefix: string;
  private readonly statements: ReturnType<SqliteSemanticStore['prepare']>;
  private readonly putTransaction: (entry: PersistedEntry, response: Uint8Array) => void;
  private readonly deleteTransaction: (ids: readonly string[]) => void;
  private closed = false;

  constructor(options: SqliteSemanticStoreOptions) {
    if (typeof options.path !== 'string' || options.path.length === 0) {
      throw new ConfigError('sqliteSemanticStore needs a path');
    }
    this.path = options.path === ':memory:' ? ':memory:' : resolve(options.path);
    this.prefix = options.prefix ?? 'sluice';
    const busyTimeoutMs = parseDuration(options.busyTimeout ?? 50, 'busyTimeout');
    try {
      if (this.path !== ':memory:') mkdirSync(dirname(this.path), { recursive: true });
      this.db = openSqlite(this.path, { timeoutMs: busyTimeoutMs }, (db) => {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        this.migrate(db);
      });
      this.statements = this.prepare();
    } catch (error) {
      throw new SluiceError(
        'E_SEMANTIC_STORE_OPEN',
        `cannot open the semantic store at ${this.path}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    this.putTransaction = this.db.transaction((entry: PersistedEntry, response: Uint8Array) => {
      const inserted = this.statements.insertEntry.run({
        prefix: this.prefix,
        id: entry.id,
        scopeKey: entry.scopeKey,
        namespace: entry.namespace,
        text: entry.text,
        vector: vectorToBytes(entry.vector),
        responseHash: entry.responseHash,
        createdAt: entry.createdAt,
        expiresAt: toStoredTime(entry.expiresAt),
      }).changes;
      if (inserted > 0) {
        this.statements.addReference.run(this.prefix, entry.responseHash, Buffer.from(response));
      }
    });
    this.deleteTransaction = this.db.transaction((ids: readonly string[]) => {
      for (const id of ids) this.deleteOne(id);
    });
  }

  async put(entry: PersistedEntry, response: Uint8Array): Promise<void> {
    this.assertOpen();
    this.putTransaction(entry, response);
  }

  async get(ids: readonly string[]): Promise<LoadedEntry[]> {
    this.assertOpen();
    const found: LoadedEntry[] = [];
    for (const id of ids) {
      const row = this.statements.getEntry.get(this.prefix, id) as EntryRow | undefined;
      if (row !== undefined) found.push(fromRow(row));
    }
    return found;
  }

  async loadAll(now: number, limit: number): Promise<LoadedEntry[]> {
    this.assertOpen();
    const expired = this.statements.expiredIds.all(this.prefix, now) as Array<{ id: string }>;
    if (expired.length > 0) this.deleteTransaction(expired.map((row) => row.id));
    const rows = this.statements.newest.all(this.prefix, limit) as EntryRow[];
    return rows.reverse().map(fromRow);
  }

  async delete(ids: readonly string[]): Promise<void> {
    this.assertOpen();
    if (ids.length > 0) this.deleteTransaction(ids);
  }

  async clear(): Promise<void> {
    this.assertOpen();
    this.db.transaction(() => {
      this.statements.clearEntries.run(this.prefix);
      this.statements.clearResponses.run(this.prefix);
    })();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private deleteOne(id: string): void {
    const row = this.statements.entryHash.get(this.prefix, id) as
      | { response_hash: string }
      | undefined;
    if (row === undefined) return;
    this.statements.deleteEntry.run(this.prefix, id);
    this.statements.dropReference.run(this.prefix, row.response_hash);
    this.statements.deleteUnreferenced.run(this.prefix, row.response_hash);
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new SluiceError(
        'E_SEMANTIC_STORE_CLOSED',
        `the semantic store at ${this.path} is closed`,
      );
    }
  }

  private migrate(db: Database.Database): void {
    db.exec(`
      CREATE TABLE IF NOT EXISTS sluice_semantic_entries (
        prefix TEXT NOT NULL,
        id TEXT NOT NULL,
        scope_key TEXT NOT NULL,
        namespace TEXT NOT NULL,
        text TEXT NOT NULL,
        vector BLOB NOT NULL,
        response_hash TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (prefix, id)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS sluice_semantic_entries_created ON sluice_semantic_entries (prefix, created_at);
      CREATE INDEX IF NOT EXISTS sluice_semantic_entries_expires ON sluice_semantic_entries (prefix, expires_at);
      CREATE TABLE IF NOT EXISTS sluice_semantic_responses (
        prefix TEXT NOT NULL,
        hash TEXT NOT NULL,
        body BLOB NOT NULL,
        refs INTEGER NOT NULL,
        PRIMARY KEY (prefix, hash)
      ) WITHOUT ROWID;
    `);
  }

  private prepare() {
    const db = this.db;
    const select = `SELECT e.id, e.scope_key, e.namespace, e.text, e.vector, e.response_hash,
        e.created_at, e.expires_at, r.body
      FROM sluice_semantic_entries e
      JOIN sluice_semantic_responses r ON r.prefix = e.prefix AND r.hash = e.response_hash`;
    return {
      insertEntry: db.prepare(
        `INSERT OR IGNORE INTO sluice_semantic_entries
           (prefix, id, scope_key, namespace, text, vector, response_hash, created_at, expires_at)
         VALUES (@prefix, @id, @scopeKey, @namespace, @text, @vector, @responseHash, @createdAt, @expiresAt)`,
      ),
      addReference: db.prepare(
        `INSERT INTO sluice_semantic_responses (prefix, hash, body, refs) VALUES (?, ?, ?, 1)
         ON CONFLICT (prefix, hash) DO UPDATE SET refs = refs + 1`,
      ),
      getEntry: db.prepare(`${select} WHERE e.prefix = ? AND e.id = ?`),
      newest: db.prepare(`${select} WHERE e.prefix = ? ORDER BY e.created_at DESC LIMIT ?`),
      expiredIds: db.prepare(
        'SELECT id FROM sluice_semantic_entries WHERE prefix = ? AND expires_at <= ?',
      ),
      entryHash: db.prepare(
        'SELECT response_hash FROM sluice_semantic_entries WHERE prefix = ? AND id = ?',
      ),
      deleteEntry: db.prepare('DELETE FROM sluice_semantic_entries WHERE prefix = ? AND id = ?'),
      dropReference: db.prepare(
        'UPDATE sluice_semantic_responses SET refs = refs - 1 WHERE prefix = ? AND hash = ?',
      ),
      deleteUnreferenced: db.prepare(
        'DELETE FROM sluice_semantic_responses WHERE prefix = ? AND hash = ? AND refs <= 0',
      ),
      clearEntries: db.prepare('DELETE FROM sluice_semantic_entries WHERE prefix = ?'),
      clearResponses: db.prepare('DELETE FROM sluice_semantic_responses WHERE prefix = ?'),
    };
  }
}

function fromRow(row: EntryRow): LoadedEntry {
  return {
    id: row.id,
    scopeKey: row.scope_key,
    namespace: row.namespace,
    text: row.text,
    vector: bytesToVector(row.vector),
    responseHash: row.response_hash,
    createdAt: row.created_at,
    expiresAt: fromStoredTime(row.expires_at),
    response: row.body,
  };
}

export function sqliteSemanticStore(options: SqliteSemanticStoreOptions): SqliteSemanticStore {
  return new SqliteSemanticStore(options);
}
