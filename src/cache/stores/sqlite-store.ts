import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { type ByteSize, parseBytes } from '../../shared/bytes.js';
import { type Clock, systemClock } from '../../shared/clock.js';
import { type Duration, parseDuration } from '../../shared/duration.js';
import { ConfigError, SluiceError } from '../../shared/errors.js';
import { type HealthReporter, unreported } from '../../shared/health.js';
import { isBusy, openSqlite } from '../../shared/sqlite.js';
import type { StoredEntry } from '../entry.js';
import type { CacheStore, StoreContext, StoreUsage } from '../store.js';

export interface SqliteStoreOptions {
  /** Database file; created with its folder if missing. `':memory:'` for a private in-memory database. */
  path: string;
  /**
   * Namespace of this cache's rows, so several caches can share one file.
   * @default 'sluice'
   */
  prefix?: string;
  /** Most bytes of keys and values held; least recently used rows are evicted past it. @default Infinity */
  maxBytes?: number;
  /** Most rows held; least recently used rows are evicted past it. @default Infinity */
  maxRows?: number;
  /**
   * Most bytes of the database file in use: its pages that hold data, (page_count −
   * freelist_count) × page_size, so indexes, page slack and the other tables of a shared
   * file count too. Least recently used rows are evicted past it, and the pages they free are
   * reused, so the file stops growing at about this size (plus one write). The WAL beside it
   * is truncated to `walMaxBytes` after each checkpoint.
   * @default Infinity
   */
  maxFileBytes?: ByteSize;
  /**
   * Size the WAL file is truncated back to after a checkpoint (SQLite's `journal_size_limit`).
   * @default '64mb'
   */
  walMaxBytes?: ByteSize;
  /** Told when a write fails and when writes work again (the gateway's health registry). */
  health?: HealthReporter;
  /** How often expired rows are purged in the background. @default '1m' */
  purgeInterval?: Duration;
  /**
   * How long a write waits for another process's lock before giving up. better-sqlite3 is
   * synchronous, so this blocks the event loop: keep it short.
   * @default 50 (ms)
   */
  busyTimeout?: Duration;
  /** Access times are written at most this often per row (reads stay reads). @default '1s' */
  accessResolution?: Duration;
}

interface EntryRow {
  value: Buffer;
  created_at: number;
  expires_at: number;
  stale_until: number;
  tags: string | null;
  accessed_at: number;
}

interface EntryWrite {
  prefix: string;
  key: string;
  value: Uint8Array;
  createdAt: number;
  expiresAt: number;
  staleUntil: number;
  tags: string | null;
  size: number;
  accessedAt: number;
}

const DEFAULT_TAG_RETENTION_MS = 7 * 86_400_000;
const EVICTION_BATCH = 32;
const PURGE_BATCH = 500;
const MAX_PENDING_TOUCHES = 10_000;
/**
 * Eviction batches one write runs for the file bound: deleting rows frees their pages only
 * once a page empties, so a write evicts at most this many batches and the next goes on.
 */
const MAX_FILE_EVICTION_BATCHES = 16;

/** SQLite stores ±Infinity as REAL fine, but keep "never" explicit and comparable. */
const NEVER = Number.MAX_SAFE_INTEGER;
const toColumn = (time: number): number => (time === Number.POSITIVE_INFINITY ? NEVER : time);
const fromColumn = (time: number): number => (time >= NEVER ? Number.POSITIVE_INFINITY : time);

function openError(path: string, error: unknown): SluiceError {
  const reason = (error as Error).message;
  return new SluiceError(
    'E_L3_OPEN',
    `cannot open the SQLite cache at ${path}: ${reason}. Check that the file is a SQLite database, readable and writable, and not locked by another program.`,
    { cause: error },
  );
}

/**
 * The L3 tier: one SQLite file in WAL mode, bounded by bytes and/or rows with least
 * recently used eviction, expired rows purged in the background. Several processes may
 * share the file; byte and row totals are kept by triggers, so every process sees them.
 */
export class SqliteStore implements CacheStore {
  readonly kind = 'sqlite';
  readonly path: string;
  private readonly db: Database.Database;
  private readonly prefix: string;
  private readonly maxBytes: number;
  private readonly maxRows: number;
  private readonly maxFileBytes: number;
  private readonly pageSize: number;
  private readonly health: HealthReporter;
  private readonly accessResolutionMs: number;
  private readonly purgeTimer: NodeJS.Timeout | undefined;
  private clock: Clock = systemClock;
  private tagRetentionMs = DEFAULT_TAG_RETENTION_MS;
  private evictions = 0;
  private closed = false;
  /** Access times only order evictions: an unbounded store never writes them. */
  private readonly bounded: boolean;
  /** Rows read since the last flush, written in one transaction after the current tick. */
  private readonly touched = new Map<string, number>();
  private flushScheduled = false;
  private readonly flushTouches: () => void;
  private readonly statements: ReturnType<SqliteStore['prepare']>;
  /** Upsert and evict to the bounds in one transaction. */
  private readonly writeEntry: (row: EntryWrite) => void;

  constructor(options: SqliteStoreOptions) {
    if (typeof options.path !== 'string' || options.path.length === 0) {
      throw new ConfigError('sqliteStore needs a path');
    }
    this.path = options.path === ':memory:' ? ':memory:' : resolve(options.path);
    this.prefix = options.prefix ?? 'sluice';
    this.maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.maxRows = options.maxRows ?? Number.POSITIVE_INFINITY;
    if (!(this.maxBytes > 0) || !(this.maxRows > 0)) {
      throw new ConfigError('sqliteStore maxBytes and maxRows must be positive');
    }
    this.maxFileBytes =
      options.maxFileBytes === undefined
        ? Number.POSITIVE_INFINITY
        : parseBytes(options.maxFileBytes, 'maxFileBytes');
    if (!(this.maxFileBytes > 0))
      throw new ConfigError('sqliteStore maxFileBytes must be positive');
    const walMaxBytes = parseBytes(options.walMaxBytes ?? '64mb', 'walMaxBytes');
    this.health = options.health ?? unreported;
    this.bounded =
      Number.isFinite(this.maxBytes) ||
      Number.isFinite(this.maxRows) ||
      Number.isFinite(this.maxFileBytes);
    this.accessResolutionMs = parseDuration(options.accessResolution ?? '1s', 'accessResolution');
    const busyTimeoutMs = parseDuration(options.busyTimeout ?? 50, 'busyTimeout');
    const purgeIntervalMs = parseDuration(options.purgeInterval ?? '1m', 'purgeInterval');

    try {
      if (this.path !== ':memory:') mkdirSync(dirname(this.path), { recursive: true });
      this.db = openSqlite(this.path, { timeoutMs: busyTimeoutMs }, (db) => {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        db.pragma(`journal_size_limit = ${walMaxBytes}`);
        this.migrate(db);
      });
      this.pageSize = this.db.pragma('page_size', { simple: true }) as number;
      this.statements = this.prepare();
      const applyTouches = () => {
        for (const [key, time] of this.touched) this.statements.touch.run(time, this.prefix, key);
        this.touched.clear();
      };
      this.writeEntry = this.db.transaction((row: EntryWrite) => {
        applyTouches(); // evictions must see the reads that happened before this write
        this.statements.upsert.run(row);
        this.evictToBounds();
      });
      const writeTouches = this.db.transaction(applyTouches);
      this.flushTouches = () => {
        this.flushScheduled = false;
        if (this.closed || this.touched.size === 0) return;
        try {
          writeTouches();
        } catch {
          // Busy: access order is a hint; the next reads record it again.
          this.touched.clear();
        }
      };
    } catch (error) {
      throw openError(this.path, error);
    }
    if (purgeIntervalMs > 0) {
      this.purgeTimer = setInterval(() => {
        try {
          this.purgeExpired();
        } catch (error) {
          // A busy database skips one purge; the next interval tries again.
          if (!isBusy(error)) this.health.degraded('purging expired rows failed', error);
        }
      }, purgeIntervalMs);
      this.purgeTimer.unref();
    }
  }

  attach(context: StoreContext): void {
    this.clock = context.clock;
    this.tagRetentionMs = context.tagRetentionMs;
  }

  async get(key: string): Promise<StoredEntry | undefined> {
    this.assertOpen();
    const now = this.clock.now();
    const row = this.statements.get.get(this.prefix, key, now) as EntryRow | undefined;
    if (row === undefined) return undefined;
    if (this.bounded && now - row.accessed_at >= this.accessResolutionMs) this.touchLater(key, now);
    return {
      value: row.value,
      createdAt: row.created_at,
      expiresAt: fromColumn(row.expires_at),
      staleUntil: fromColumn(row.stale_until),
      tags: row.tags === null ? [] : (JSON.parse(row.tags) as string[]),
    };
  }

  async set(key: string, entry: StoredEntry): Promise<void> {
    this.assertOpen();
    const size = Buffer.byteLength(key) + entry.value.byteLength;
    this.write(this.writeEntry, {
      prefix: this.prefix,
      key,
      value: entry.value,
      createdAt: entry.createdAt,
      expiresAt: toColumn(entry.expiresAt),
      staleUntil: toColumn(entry.staleUntil),
      tags: entry.tags.length === 0 ? null : JSON.stringify(entry.tags),
      size,
      accessedAt: this.clock.now(),
    });
  }

  /** Runs a write, telling the health reporter whether it worked (busy is not a failure). */
  private write<Input>(change: (input: Input) => void, input: Input): void {
    try {
      change(input);
    } catch (error) {
      if (!isBusy(error)) this.health.degraded('a write failed', error);
      throw error;
    }
    this.health.ok();
  }

  async delete(key: string, olderThan = Number.POSITIVE_INFINITY): Promise<boolean> {
    this.assertOpen();
    let changes = 0;
    this.write(() => {
      changes = this.statements.delete.run(this.prefix, key, toColumn(olderThan)).changes;
    }, undefined);
    return changes > 0;
  }

  async clear(): Promise<void> {
    this.assertOpen();
    this.write(
      this.db.transaction(() => {
        this.statements.clearEntries.run(this.prefix);
        this.statements.clearTags.run(this.prefix);
      }),
      undefined,
    );
  }

  async tagTimes(tags: readonly string[]): Promise<Array<number | undefined>> {
    this.assertOpen();
    const horizon = this.clock.now() - this.tagRetentionMs;
    return tags.map((tag) => {
      const row = this.statements.tagTime.get(this.prefix, tag) as
        | { invalidated_at: number }
        | undefined;
      return row !== undefined && row.invalidated_at > horizon ? row.invalidated_at : undefined;
    });
  }

  async invalidateTags(tags: readonly string[], time: number): Promise<void> {
    this.assertOpen();
    this.write(
      this.db.transaction(() => {
        for (const tag of tags) this.statements.invalidateTag.run(this.prefix, tag, time);
      }),
      undefined,
    );
  }

  usage(): StoreUsage {
    if (this.closed) return { evictions: this.evictions };
    const meta = this.statements.meta.get() as { rows: number; bytes: number };
    return { entries: meta.rows, bytes: meta.bytes, evictions: this.evictions };
  }

  /** Deletes rows past their grace and tag records past retention; returns rows removed. */
  purgeExpired(): number {
    this.assertOpen();
    const now = this.clock.now();
    let removed = 0;
    for (;;) {
      const changes = this.statements.purge.run(now, PURGE_BATCH).changes;
      removed += changes;
      if (changes < PURGE_BATCH) break;
    }
    this.statements.purgeTags.run(now - this.tagRetentionMs);
    return removed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flushTouches();
    this.closed = true;
    if (this.purgeTimer !== undefined) clearInterval(this.purgeTimer);
    this.db.close();
  }

  private touchLater(key: string, now: number): void {
    if (this.touched.size >= MAX_PENDING_TOUCHES) return;
    this.touched.set(key, now);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushTouches);
    }
  }

  private evictToBounds(): void {
    const fileBounded = Number.isFinite(this.maxFileBytes);
    for (let fileBatches = 0; ; ) {
      const meta = this.statements.meta.get() as { rows: number; bytes: number };
      const overRows = meta.rows - this.maxRows;
      let over = overRows > 0 || meta.bytes > this.maxBytes;
      if (!over && fileBounded && fileBatches < MAX_FILE_EVICTION_BATCHES) {
        over = this.fileBytes() > this.maxFileBytes;
        if (over) fileBatches++;
      }
      if (!over) return;
      const batch =
        overRows > 0
          ? Math.min(EVICTION_BATCH, overRows)
          : meta.bytes > this.maxBytes
            ? 1
            : EVICTION_BATCH;
      const changes = this.statements.evict.run(batch).changes;
      this.evictions += changes;
      if (changes === 0) return;
    }
  }

  /** Bytes of the file's pages in use (inside a write, as that write leaves them). */
  private fileBytes(): number {
    const pages = this.statements.pageCount.get() as number;
    const free = this.statements.freelistCount.get() as number;
    return (pages - free) * this.pageSize;
  }

  private assertOpen(): void {
    if (this.closed)
      throw new SluiceError('E_L3_CLOSED', `the SQLite cache at ${this.path} is closed`);
  }

  private migrate(db: Database.Database): void {
    db.exec(`
      CREATE TABLE IF NOT EXISTS sluice_cache (
        prefix TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        stale_until REAL NOT NULL,
        tags TEXT,
        size INTEGER NOT NULL,
        accessed_at REAL NOT NULL,
        PRIMARY KEY (prefix, key)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS sluice_cache_stale ON sluice_cache (stale_until);
      CREATE INDEX IF NOT EXISTS sluice_cache_access ON sluice_cache (accessed_at);
      CREATE TABLE IF NOT EXISTS sluice_cache_tags (
        prefix TEXT NOT NULL,
        tag TEXT NOT NULL,
        invalidated_at REAL NOT NULL,
        PRIMARY KEY (prefix, tag)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS sluice_cache_meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        rows INTEGER NOT NULL,
        bytes INTEGER NOT NULL
      );
      INSERT OR IGNORE INTO sluice_cache_meta (id, rows, bytes) VALUES (1, 0, 0);
      CREATE TRIGGER IF NOT EXISTS sluice_cache_insert AFTER INSERT ON sluice_cache BEGIN
        UPDATE sluice_cache_meta SET rows = rows + 1, bytes = bytes + NEW.size WHERE id = 1;
      END;
      CREATE TRIGGER IF NOT EXISTS sluice_cache_delete AFTER DELETE ON sluice_cache BEGIN
        UPDATE sluice_cache_meta SET rows = rows - 1, bytes = bytes - OLD.size WHERE id = 1;
      END;
      CREATE TRIGGER IF NOT EXISTS sluice_cache_resize AFTER UPDATE OF size ON sluice_cache BEGIN
        UPDATE sluice_cache_meta SET bytes = bytes + NEW.size - OLD.size WHERE id = 1;
      END;
    `);
  }

  private prepare() {
    const db = this.db;
    return {
      get: db.prepare(
        `SELECT value, created_at, expires_at, stale_until, tags, accessed_at FROM sluice_cache
         WHERE prefix = ? AND key = ? AND stale_until > ?`,
      ),
      touch: db.prepare('UPDATE sluice_cache SET accessed_at = ? WHERE prefix = ? AND key = ?'),
      upsert: db.prepare(
        `INSERT INTO sluice_cache (prefix, key, value, created_at, expires_at, stale_until, tags, size, accessed_at)
         VALUES (@prefix, @key, @value, @createdAt, @expiresAt, @staleUntil, @tags, @size, @accessedAt)
         ON CONFLICT (prefix, key) DO UPDATE SET value = excluded.value, created_at = excluded.created_at,
           expires_at = excluded.expires_at, stale_until = excluded.stale_until, tags = excluded.tags,
           size = excluded.size, accessed_at = excluded.accessed_at`,
      ),
      delete: db.prepare(
        'DELETE FROM sluice_cache WHERE prefix = ? AND key = ? AND created_at <= ?',
      ),
      clearEntries: db.prepare('DELETE FROM sluice_cache WHERE prefix = ?'),
      clearTags: db.prepare('DELETE FROM sluice_cache_tags WHERE prefix = ?'),
      meta: db.prepare('SELECT rows, bytes FROM sluice_cache_meta WHERE id = 1'),
      pageCount: db.prepare('PRAGMA page_count').pluck(),
      freelistCount: db.prepare('PRAGMA freelist_count').pluck(),
      evict: db.prepare(
        `DELETE FROM sluice_cache WHERE (prefix, key) IN
           (SELECT prefix, key FROM sluice_cache ORDER BY accessed_at LIMIT ?)`,
      ),
      purge: db.prepare(
        `DELETE FROM sluice_cache WHERE (prefix, key) IN
           (SELECT prefix, key FROM sluice_cache WHERE stale_until <= ? LIMIT ?)`,
      ),
      tagTime: db.prepare(
        'SELECT invalidated_at FROM sluice_cache_tags WHERE prefix = ? AND tag = ?',
      ),
      invalidateTag: db.prepare(
        `INSERT INTO sluice_cache_tags (prefix, tag, invalidated_at) VALUES (?, ?, ?)
         ON CONFLICT (prefix, tag) DO UPDATE SET invalidated_at = max(invalidated_at, excluded.invalidated_at)`,
      ),
      purgeTags: db.prepare('DELETE FROM sluice_cache_tags WHERE invalidated_at <= ?'),
    };
  }
}

export function sqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(options);
}
