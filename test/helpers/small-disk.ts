import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/** A SQLite table whose inserts a simulated full disk refuses. */
export interface RefusedTable {
  readonly file: string;
  readonly table: string;
}

/**
 * A folder on a size-limited tmpfs, where the test can mount one (root, `mount` allowed), so
 * that a full disk is a real `ENOSPC` / `SQLITE_FULL`. Elsewhere a plain temporary folder,
 * where `fill` simulates the full disk with a trigger that refuses inserts into the given
 * tables (SQLite's own error path for a failed write; journals stay writable then).
 * `SLUICE_TEST_SIMULATED_DISK=1` forces the simulation.
 */
export class SmallDisk {
  #filler: string | undefined;
  readonly #triggers: RefusedTable[] = [];

  private constructor(
    readonly directory: string,
    /** Whether the folder is a real size-limited file system. */
    readonly real: boolean,
  ) {}

  /** `simulate`: refuse inserts with a trigger even where a tmpfs could be mounted. */
  static create(sizeBytes: number, options: { simulate?: boolean } = {}): SmallDisk {
    const directory = mkdtempSync(join(tmpdir(), 'sluice-disk-'));
    const simulate = options.simulate === true || process.env.SLUICE_TEST_SIMULATED_DISK === '1';
    if (!simulate && process.getuid?.() === 0) {
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', directory], {
          stdio: 'ignore',
        });
        return new SmallDisk(directory, true);
      } catch {
        // Not allowed here (a container without CAP_SYS_ADMIN): simulate.
      }
    }
    return new SmallDisk(directory, false);
  }

  /** Fills the disk (or refuses inserts into `tables` when the disk is simulated). */
  fill(tables: readonly RefusedTable[] = []): void {
    if (!this.real) {
      for (const target of tables) {
        const database = new Database(target.file);
        database.exec(
          `CREATE TRIGGER IF NOT EXISTS small_disk_full BEFORE INSERT ON ${target.table}
           BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`,
        );
        database.close();
        this.#triggers.push(target);
      }
      return;
    }
    const filler = join(this.directory, `filler-${this.#filler === undefined ? 0 : 1}`);
    this.#filler = filler;
    const fd = openSync(filler, 'a');
    try {
      for (const size of [1 << 20, 1 << 16, 4096, 512, 1]) {
        const chunk = Buffer.alloc(size, 1);
        for (;;) {
          try {
            if (writeSync(fd, chunk) < size) break;
          } catch {
            break;
          }
        }
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Space returns. */
  free(): void {
    if (this.#filler !== undefined) unlinkSync(this.#filler);
    this.#filler = undefined;
    for (const target of this.#triggers.splice(0)) {
      const database = new Database(target.file);
      database.exec('DROP TRIGGER IF EXISTS small_disk_full');
      database.close();
    }
  }

  close(): void {
    if (this.real) {
      try {
        execFileSync('umount', ['-l', this.directory], { stdio: 'ignore' });
      } catch {
        // Left mounted: removed with the machine's tmp.
      }
    }
    rmSync(this.directory, { recursive: true, force: true });
  }
}
