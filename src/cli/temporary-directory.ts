import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Exit codes of a process ended by a signal, as shells report them. */
const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

/** The longest `onInterrupt` may take before the process exits anyway, ms. */
const INTERRUPT_CLEANUP_MS = 2_000;

export interface TemporaryDirectoryOptions {
  /** Extra cleanup on Ctrl-C or SIGTERM (e.g. Redis keys), bounded by 2 s, before the directory goes. */
  onInterrupt?: () => Promise<unknown>;
}

/**
 * Runs `task` with a fresh directory under the system's temporary folder (`os.tmpdir()`), so a
 * demo's SQLite files and ledger never land in the user's current folder. The directory is
 * removed when `task` settles, and also on Ctrl-C (SIGINT) or SIGTERM, after which the process
 * exits with 130 or 143.
 */
export async function withTemporaryDirectory<Result>(
  prefix: string,
  task: (directory: string) => Promise<Result>,
  options: TemporaryDirectoryOptions = {},
): Promise<Result> {
  const directory = mkdtempSync(join(tmpdir(), prefix));
  const remove = () => rmSync(directory, { recursive: true, force: true });
  let interrupted = false;
  const onSignal = (signal: keyof typeof SIGNAL_EXIT_CODES) => {
    if (interrupted) return;
    interrupted = true;
    const cleanup = options.onInterrupt?.().catch(() => {}) ?? Promise.resolve();
    const bound = new Promise((done) => setTimeout(done, INTERRUPT_CLEANUP_MS));
    void Promise.race([cleanup, bound]).finally(() => {
      remove();
      process.exit(SIGNAL_EXIT_CODES[signal]);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await task(directory);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    remove();
  }
}
