import Database from 'better-sqlite3';

/** How long opening a database keeps retrying while another process holds it, by default. */
const OPEN_RETRY_MS = 10_000;

/** Whether `error` is SQLite saying another connection holds the lock it needs. */
export function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code === 'SQLITE_BUSY_SNAPSHOT';
}

/**
 * Whether `error` says the disk (or the database's size limit) is full, or that SQLite could
 * not write its files: the storage is unavailable for now, not misconfigured.
 */
export function isStorageFull(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string') return false;
  return (
    code === 'SQLITE_FULL' ||
    code === 'ENOSPC' ||
    code === 'EDQUOT' ||
    code.startsWith('SQLITE_IOERR')
  );
}

/**
 * Opens a database and runs `setup` on it (pragmas, schema), retrying the whole while another
 * process holds a lock. Several processes opening one file at once (replicas starting together)
 * can get SQLITE_BUSY without the busy timeout being honoured: switching to WAL, and a
 * schema statement upgrading its lock while another connection does the same, fail at once
 * rather than wait. Blocks the thread between attempts (this runs at start-up, not per request).
 */
export function openSqlite(
  path: string,
  options: { readonly timeoutMs: number; readonly retryForMs?: number },
  setup: (database: Database.Database) => void,
): Database.Database {
  const deadline = Date.now() + (options.retryForMs ?? OPEN_RETRY_MS);
  for (let attempt = 0; ; attempt++) {
    let database: Database.Database | undefined;
    try {
      database = new Database(path, { timeout: options.timeoutMs });
      setup(database);
      return database;
    } catch (error) {
      database?.close();
      if (!isBusy(error) || Date.now() >= deadline) throw error;
      sleepSync(Math.min(200, 10 * 2 ** attempt) * (0.5 + Math.random() / 2));
    }
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
