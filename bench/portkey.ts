/**
 * Portkey's open-source gateway (`@portkey-ai/gateway`), a named baseline of the gateway
 * benchmark. It is not a dependency of Sluice: the benchmark installs it at run time into a
 * folder under the OS temporary directory, and reuses that install on later runs.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';

/** The package, and where its installs are kept between runs. */
export const PORTKEY_PACKAGE = '@portkey-ai/gateway';
export const PORTKEY_CACHE_DIR = join(os.tmpdir(), 'sluice-bench-portkey');

/** How long `npm install` may take, offline retries included. */
const INSTALL_TIMEOUT_MS = 240_000;

/** A usable install: the version and the server script to run with `node`. */
export interface PortkeyInstall {
  version: string;
  /** The package's `bin`: a Node server, `--port=N` and `--headless` are its only flags. */
  serverScript: string;
  /** The install folder (its `node_modules` is there); run the server from it. */
  folder: string;
  /** True when this run installed it, false when an earlier run's install was reused. */
  installed: boolean;
}

/** The result of `ensurePortkey`: an install, or why there is none. */
export type PortkeyAvailability =
  | { available: true; install: PortkeyInstall }
  | { available: false; reason: string };

interface PackageManifest {
  version?: unknown;
  bin?: unknown;
}

async function readInstall(folder: string): Promise<PortkeyInstall | undefined> {
  const packageFolder = join(folder, 'node_modules', ...PORTKEY_PACKAGE.split('/'));
  let manifest: PackageManifest;
  try {
    manifest = JSON.parse(await readFile(join(packageFolder, 'package.json'), 'utf8'));
  } catch {
    return undefined;
  }
  const bin =
    typeof manifest.bin === 'string'
      ? manifest.bin
      : typeof manifest.bin === 'object' && manifest.bin !== null
        ? Object.values(manifest.bin).find((value) => typeof value === 'string')
        : undefined;
  if (typeof bin !== 'string' || typeof manifest.version !== 'string') return undefined;
  const serverScript = join(packageFolder, bin);
  if (!existsSync(serverScript)) return undefined;
  return { version: manifest.version, serverScript, folder, installed: false };
}

/**
 * The gist of npm's error output: its error code and the first line of the message, e.g.
 * `ECONNREFUSED: FetchError: request to https://registry.npmjs.org/... failed`.
 */
function npmErrorSummary(stderr: string): string {
  const lines = stderr
    .split('\n')
    .filter((line) => line.startsWith('npm error'))
    .map((line) => line.slice('npm error'.length));
  const code = lines.find((line) => line.startsWith(' code '))?.slice(' code '.length);
  const message = lines.find(
    (line) =>
      line.startsWith(' ') &&
      !line.startsWith('  ') &&
      !/^ (code|syscall|errno) /.test(line) &&
      !/complete log|behind a proxy/.test(line),
  );
  return [code, message?.trim()]
    .filter((part) => part !== undefined && part !== '')
    .join(': ')
    .slice(0, 240);
}

function npmInstall(folder: string, spec: string, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      'npm',
      [
        'install',
        '--prefix',
        folder,
        spec,
        '--no-audit',
        '--no-fund',
        '--ignore-scripts',
        '--no-save',
        '--loglevel=error',
        '--fetch-retries=1',
      ],
      {
        cwd: folder,
        timeout: INSTALL_TIMEOUT_MS,
        killSignal: 'SIGKILL',
        maxBuffer: 16 * 1024 * 1024,
        ...(signal === undefined ? {} : { signal }),
      },
      (error, _stdout, stderr) => {
        if (error === null) {
          resolve();
          return;
        }
        const why = error.killed
          ? `timed out after ${INSTALL_TIMEOUT_MS / 1_000} s`
          : npmErrorSummary(stderr) || error.message;
        reject(new Error(`npm install ${spec} failed: ${why}`));
      },
    );
  });
}

/**
 * Finds the install kept by an earlier run, or installs `version` (default: the latest) with
 * npm into a staging folder that replaces the kept one once complete, so an interrupted
 * install is never reused. Never throws: no network, no npm, or a broken package give a reason.
 * `signal` stops a running install.
 */
export async function ensurePortkey(
  version = 'latest',
  signal?: AbortSignal,
): Promise<PortkeyAvailability> {
  const kept = await readInstall(PORTKEY_CACHE_DIR);
  if (kept !== undefined && (version === 'latest' || version === kept.version)) {
    return { available: true, install: kept };
  }
  const staging = `${PORTKEY_CACHE_DIR}.staging-${process.pid}`;
  try {
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true });
    await writeFile(
      join(staging, 'package.json'),
      `${JSON.stringify({ name: 'sluice-bench-portkey', private: true }, null, 2)}\n`,
    );
    await npmInstall(staging, `${PORTKEY_PACKAGE}@${version}`, signal);
    if ((await readInstall(staging)) === undefined) {
      throw new Error(`npm installed ${PORTKEY_PACKAGE}@${version} but it has no server script`);
    }
    await rm(PORTKEY_CACHE_DIR, { recursive: true, force: true });
    await rename(staging, PORTKEY_CACHE_DIR);
    const install = await readInstall(PORTKEY_CACHE_DIR);
    if (install === undefined) throw new Error(`the install in ${PORTKEY_CACHE_DIR} is incomplete`);
    return { available: true, install: { ...install, installed: true } };
  } catch (error) {
    await rm(staging, { recursive: true, force: true }).catch(() => {});
    return { available: false, reason: (error as Error).message };
  }
}
