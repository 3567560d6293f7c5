import { existsSync } from 'node:fs';

/** Debian's Chromium, which `.ci/run` installs; `CHROMIUM_PATH` points elsewhere. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags for a headless Chromium on a machine without a sandbox, GPU or outside network. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * Whether a browser is installed. Under CI it must be (`.ci/run` installs it): a missing one
 * fails the run. Elsewhere the browser tests are skipped with a loud notice.
 */
export function browserAvailable(): boolean {
  if (existsSync(CHROMIUM_PATH)) return true;
  if (process.env.CI) {
    throw new Error(`Chromium is required under CI but ${CHROMIUM_PATH} does not exist`);
  }
  console.warn(
    `\n!!! Chromium is not installed at ${CHROMIUM_PATH}: browser tests are SKIPPED. apt-get install chromium, or set CHROMIUM_PATH. !!!\n`,
  );
  return false;
}
