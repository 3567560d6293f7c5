/** Where the suites find their data sets (traces, paraphrase pairs): the shared data directory. */
import { statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../../src/shared/errors.js';

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The shared data directory holding `folder` (e.g. `traces`, `semantic`): `$SLUICE_DATA_DIR`,
 * else the first `<dir>/../shared/data` above the working directory that has it. Throws a
 * `ConfigError` naming `what` (e.g. `trace data`) and the places searched when there is none.
 */
export function findDataDir(folder: string, what: string): string {
  const fromEnv = process.env.SLUICE_DATA_DIR;
  if (fromEnv !== undefined && fromEnv !== '') {
    const dir = resolve(fromEnv);
    if (!isDir(join(dir, folder))) {
      throw new ConfigError(
        `SLUICE_DATA_DIR=${fromEnv}: no ${folder}/ directory in ${dir} (expected the shared data directory)`,
      );
    }
    return dir;
  }
  const searched: string[] = [];
  let dir = process.cwd();
  for (;;) {
    const candidate = resolve(dir, '..', 'shared', 'data');
    if (!searched.includes(join(candidate, folder))) searched.push(join(candidate, folder));
    if (isDir(join(candidate, folder))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new ConfigError(
    `${what} not found: set SLUICE_DATA_DIR to the shared data directory (the one holding ${folder}/), or run from inside a checkout that has shared/data beside it. Looked in:\n  ${searched.join('\n  ')}`,
  );
}
