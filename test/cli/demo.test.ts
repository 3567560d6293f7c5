import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoGatewayConfig } from '../../src/cli/gateway-demo.js';
import { resolveConfig } from '../../src/gateway/config.js';
import { ensureBuilt } from '../helpers/build.js';
import { redisAvailable, redisUrl } from '../helpers/redis.js';

const DB = 7;
const available = await redisAvailable();

describe('the demo gateway configuration', () => {
  it('keeps every file it writes in the given folder', () => {
    const directory = join(tmpdir(), 'sluice-demo-config');
    const config = resolveConfig(demoGatewayConfig(directory, 'http://127.0.0.1:1/v1'));
    expect(config.store.sqlite).toBe(join(directory, 'sluice.db'));
    expect(config.cost.ledger).toBe(join(directory, 'ledger.db'));
  });
});

interface Run {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * `sluice demo` as a user runs it (the built CLI), in an empty current folder, with its own
 * empty temporary folder (TMPDIR) so the test sees every file it leaves behind.
 */
describe('sluice demo writes nothing outside a temporary folder it removes', () => {
  let cli = '';
  const folders: string[] = [];

  beforeAll(() => {
    cli = join(ensureBuilt(), 'cli/index.js');
  }, 180_000);

  afterEach(() => {
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });

  function emptyFolder(name: string): string {
    const folder = mkdtempSync(join(tmpdir(), `sluice-demo-test-${name}-`));
    folders.push(folder);
    return folder;
  }

  function run(args: string[], cwd: string, temporary: string): Run {
    const child = spawn(process.execPath, [cli, 'demo', ...args], {
      cwd,
      env: { ...process.env, TMPDIR: temporary, REDIS_URL: redisUrl(DB) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    return { child, output: () => output, exited };
  }

  it('the gateway demo: its ledger and cache stay out of the current folder', async () => {
    const cwd = emptyFolder('cwd');
    const temporary = emptyFolder('tmp');
    const demo = run(
      ['--sessions', '2', '--concurrency', '2', '--ttft-ms', '0', '--token-ms', '0'],
      cwd,
      temporary,
    );
    const { code } = await demo.exited;
    expect(code, demo.output()).toBe(0);
    expect(demo.output()).toContain('upstream calls avoided');
    expect(readdirSync(cwd)).toEqual([]);
    expect(readdirSync(temporary)).toEqual([]);
  }, 60_000);

  it('the gateway demo interrupted with Ctrl-C removes its temporary folder', async () => {
    const cwd = emptyFolder('cwd');
    const temporary = emptyFolder('tmp');
    // Long enough to be interrupted while it runs (400 sessions, one at a time).
    const demo = run(['--sessions', '400', '--concurrency', '1'], cwd, temporary);
    await expect
      .poll(() => demo.output(), { timeout: 30_000, interval: 50 })
      .toContain('1/2 straight to the upstream');
    expect(readdirSync(temporary)).toHaveLength(1);
    demo.child.kill('SIGINT');
    const { code } = await demo.exited;
    expect(code, demo.output()).toBe(130);
    expect(readdirSync(cwd)).toEqual([]);
    expect(readdirSync(temporary)).toEqual([]);
  }, 60_000);

  it.skipIf(!available)(
    'the cache demo: its L3 files stay out of the current folder',
    async () => {
      const cwd = emptyFolder('cwd');
      const temporary = emptyFolder('tmp');
      const demo = run(['cache'], cwd, temporary);
      const { code } = await demo.exited;
      expect(code, demo.output()).toBe(0);
      expect(demo.output()).toContain('Done:');
      expect(readdirSync(cwd)).toEqual([]);
      expect(readdirSync(temporary)).toEqual([]);
    },
    60_000,
  );
});
