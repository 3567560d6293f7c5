import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The checkout's root. */
export const ROOT = join(import.meta.dirname, '../..');

/** The latest modification time of any file under `directory`. */
function newestSource(directory: string): number {
  let newest = 0;
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Builds `dist/` when it is missing or older than `src/`, for tests that run the package in
 * a child process as a user would. Returns the path of `dist/src`.
 */
export function ensureBuilt(): string {
  const marker = join(ROOT, 'dist/src/index.js');
  if (!existsSync(marker) || newestSource(join(ROOT, 'src')) > statSync(marker).mtimeMs) {
    // tsc emits even when it reports type errors; the check below is what matters.
    spawnSync(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      { cwd: ROOT, stdio: 'inherit' },
    );
    if (!existsSync(marker)) throw new Error(`the build did not produce ${marker}`);
  }
  return join(ROOT, 'dist/src');
}
