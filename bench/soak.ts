/**
 * `sluice bench soak [--json FILE] [--quick] [--duration S] [--rate N] [--bound SIZE]`: what
 * the gateway does to memory and disk when it runs for a while, in the configuration a user
 * gets (a virtual key, the SQLite L3 cache and the cost ledger on), and how long one hostile
 * request body holds up everyone else.
 *
 * Soak: each target is the Sluice gateway in its own process (`gateway-target.js
 * sluice-embedded`) in front of the mock provider (zero latency, its own process), sent
 * distinct chat completions (a ~1 KB user message, numbered, so every request is a miss that
 * L3 stores) at a fixed overall rate for the given time. Every second the benchmark reads the
 * gateway's RSS (`/proc`, Linux), the sizes of its SQLite files (main file and WAL) and the
 * time `/healthz` takes to answer. After the run it closes the gateway and counts the ledger's
 * rows: every request answered 200 must have one (spend lost = answered − rows).
 * - (a) `default bound`: `store.sqliteMaxBytes` left at its default (1 GiB), which no run of a
 *   few minutes reaches: the file grows as it did before the bound existed (the baseline);
 * - (b) `bound SIZE`: the same with `store.sqliteMaxBytes` at `--bound` (default 16 MB, 4 MB
 *   with `--quick`), which
 *   the run passes: the L3 file must stop growing near it.
 *
 * Hostile bodies: against (b)'s configuration, one request at a time of each kind below
 * (`bodyLimit` is 4 MiB by default), while a second connection asks `/healthz` in a loop; the
 * figure is the slowest `/healthz` answer while the hostile request was in flight, beside the
 * same figure for an ordinary small request (the baseline). A gateway that blocks its event
 * loop on a body shows it here as seconds.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { ConfigError } from '../src/shared/errors.js';
import { EMBEDDED_KEY, ProcessGroup, type ServerProcess } from './gateway-processes.js';
import { parseBenchArgs, positiveNumber } from './lib/args.js';
import { headerLine, machineEnvironment } from './lib/environment.js';
import { quantile } from './lib/stats.js';

const CHAT_PATH = '/v1/chat/completions';
const CONNECTIONS = 20;
const MIB = 1024 * 1024;

interface Settings {
  quick: boolean;
  durationSeconds: number;
  rate: number;
  boundBytes: number;
}

/** One second's reading of a soak run. */
interface Sample {
  second: number;
  rssBytes: number | null;
  l3Bytes: number;
  ledgerBytes: number;
  healthzMs: number | null;
}

interface SoakRow {
  label: string;
  sqliteMaxBytes: number | null;
  sent: number;
  answered: number;
  failed: number;
  ratePerSecond: number;
  ledgerRows: number;
  spendLost: number;
  rssStartBytes: number | null;
  rssMaxBytes: number | null;
  rssEndBytes: number | null;
  l3MaxBytes: number;
  l3EndBytes: number;
  ledgerEndBytes: number;
  healthzP99Ms: number | null;
  healthzMaxMs: number | null;
  samples: Sample[];
}

interface HostileRow {
  kind: string;
  bodyBytes: number;
  status: number;
  requestMs: number;
  slowestHealthzMs: number;
}

// ------------------------------------------------------------------ arguments

function settingsFrom(args: string[]): { settings: Settings; json: string | undefined } {
  const { json, quick, extra } = parseBenchArgs(args, ['duration', 'rate', 'bound']);
  const boundMb = positiveNumber('bound', extra.bound, 1_024) ?? (quick ? 4 : 16);
  if (boundMb < 1) throw new ConfigError('--bound is in MB and must be at least 1');
  return {
    json,
    settings: {
      quick,
      durationSeconds: positiveNumber('duration', extra.duration, 3_600) ?? (quick ? 10 : 120),
      rate: positiveNumber('rate', extra.rate, 10_000) ?? 200,
      boundBytes: Math.round(boundMb * MIB),
    },
  };
}

// ------------------------------------------------------------------ readings

function rssOf(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const status = statusText(pid);
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
    return match === null ? null : Number(match[1]) * 1024;
  } catch {
    return null;
  }
}

function statusText(pid: number): string {
  // Synchronous on purpose: one small /proc read a second.
  return readFileSync(`/proc/${pid}/status`, 'utf8');
}

/** Bytes of a SQLite database: the main file and its WAL. */
function sqliteBytes(path: string): number {
  let bytes = 0;
  for (const file of [path, `${path}-wal`]) {
    try {
      bytes += statSync(file).size;
    } catch {
      // not there (yet)
    }
  }
  return bytes;
}

async function healthzMs(origin: string): Promise<number | null> {
  const started = performance.now();
  try {
    const response = await fetch(`${origin}/healthz`, { signal: AbortSignal.timeout(30_000) });
    await response.arrayBuffer();
    return response.ok ? performance.now() - started : null;
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------ soak

/** A ~1 KB user message, different for every request. */
function soakBody(run: string, index: number): string {
  const filler = 'Summarise the build log and say which step failed first. '.repeat(16);
  return JSON.stringify({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: `${run} request ${index}: ${filler}` }],
  });
}

function ledgerRows(path: string): number {
  const database = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const row = database.prepare('SELECT COUNT(*) AS rows FROM ledger').get() as { rows: number };
    return row.rows;
  } finally {
    database.close();
  }
}

async function soak(
  group: ProcessGroup,
  upstream: ServerProcess,
  label: string,
  sqliteMaxBytes: number | null,
  settings: Settings,
): Promise<SoakRow> {
  const folder = mkdtempSync(join(tmpdir(), 'sluice-soak-'));
  try {
    const extra = sqliteMaxBytes === null ? [folder] : [folder, String(sqliteMaxBytes)];
    const gateway = await group.startTarget('sluice-embedded', upstream.url, [], extra);
    const samples: Sample[] = [];
    const sample = async (second: number): Promise<void> => {
      samples.push({
        second,
        rssBytes: rssOf(gateway.pid),
        l3Bytes: sqliteBytes(join(folder, 'sluice.db')),
        ledgerBytes: sqliteBytes(join(folder, 'ledger.db')),
        healthzMs: await healthzMs(gateway.url),
      });
    };
    await sample(0);
    const started = performance.now();
    let sampling = Promise.resolve();
    const timer = setInterval(() => {
      const second = Math.round((performance.now() - started) / 1_000);
      sampling = sampling.then(() => sample(second));
    }, 1_000);
    let counter = 0;
    const result = await new Promise<autocannon.Result>((resolve, reject) => {
      autocannon(
        {
          url: `${gateway.url}${CHAT_PATH}`,
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${EMBEDDED_KEY}`,
          },
          requests: [
            {
              setupRequest: (request: autocannon.Request) => ({
                ...request,
                body: soakBody(label, counter++),
              }),
            },
          ],
          connections: CONNECTIONS,
          overallRate: settings.rate,
          duration: settings.durationSeconds,
          timeout: 30,
        },
        (error, finished) => {
          if (error !== null && error !== undefined) reject(error);
          else resolve(finished);
        },
      );
    });
    clearInterval(timer);
    await sampling;
    await sample(Math.round((performance.now() - started) / 1_000));
    await gateway.close();
    const answered = result['2xx'];
    const rows = ledgerRows(join(folder, 'ledger.db'));
    const rss = samples.map((each) => each.rssBytes).filter((value) => value !== null);
    const healthz = samples.map((each) => each.healthzMs).filter((value) => value !== null);
    const last = samples.at(-1);
    return {
      label,
      sqliteMaxBytes,
      sent: result.requests.sent,
      answered,
      failed: result.non2xx + result.errors + result.timeouts,
      ratePerSecond: answered / settings.durationSeconds,
      ledgerRows: rows,
      spendLost: Math.max(0, answered - rows),
      rssStartBytes: samples[0]?.rssBytes ?? null,
      rssMaxBytes: rss.length === 0 ? null : Math.max(...rss),
      rssEndBytes: last?.rssBytes ?? null,
      l3MaxBytes: Math.max(...samples.map((each) => each.l3Bytes)),
      l3EndBytes: last?.l3Bytes ?? 0,
      ledgerEndBytes: sqliteBytes(join(folder, 'ledger.db')),
      healthzP99Ms: healthz.length === 0 ? null : quantile(healthz, 0.99),
      healthzMaxMs: healthz.length === 0 ? null : Math.max(...healthz),
      samples,
    };
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ hostile bodies

function chatWith(content: string): string {
  return JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] });
}

/** The hostile bodies, each just under the default 4 MiB `bodyLimit` where it can be. */
function hostileBodies(quick: boolean): { kind: string; body: string }[] {
  const size = quick ? 512 * 1024 : 3 * MIB;
  const letters = 'a'.repeat(size);
  const base64 = randomBytes(Math.floor((size * 3) / 4)).toString('base64');
  const hex = randomBytes(size / 2).toString('hex');
  const minified = 'function(a,b){return a+b*c[d]};var x=y.z(0);'.repeat(size / 45);
  const prose = 'The quick brown fox jumps over the lazy dog, and then it rests. '.repeat(
    size / 64,
  );
  return [
    { kind: 'ordinary small request (baseline)', body: chatWith('What is the capital of France?') },
    { kind: `prose, ${size / 1024} KB`, body: chatWith(prose) },
    { kind: `one letter, ${size / 1024} KB`, body: chatWith(letters) },
    { kind: `base64, ${size / 1024} KB`, body: chatWith(base64) },
    { kind: `hex, ${size / 1024} KB`, body: chatWith(hex) },
    { kind: `minified code, ${size / 1024} KB`, body: chatWith(minified) },
    {
      kind: `embeddings, one letter, ${size / 1024} KB`,
      body: JSON.stringify({ model: 'text-embedding-3-small', input: letters }),
    },
  ];
}

async function hostile(
  group: ProcessGroup,
  upstream: ServerProcess,
  settings: Settings,
): Promise<HostileRow[]> {
  const folder = mkdtempSync(join(tmpdir(), 'sluice-soak-hostile-'));
  try {
    const gateway = await group.startTarget(
      'sluice-embedded',
      upstream.url,
      [],
      [folder, String(settings.boundBytes)],
    );
    const rows: HostileRow[] = [];
    for (const { kind, body } of hostileBodies(settings.quick)) {
      const path = kind.startsWith('embeddings') ? '/v1/embeddings' : CHAT_PATH;
      let inFlight = true;
      let slowest = 0;
      const probe = (async () => {
        while (inFlight) {
          const ms = await healthzMs(gateway.url);
          slowest = Math.max(slowest, ms ?? 30_000);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })();
      const started = performance.now();
      const response = await fetch(`${gateway.url}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'cache-control': 'no-store',
          authorization: `Bearer ${EMBEDDED_KEY}`,
        },
        body,
        signal: AbortSignal.timeout(600_000),
      });
      await response.arrayBuffer();
      const requestMs = performance.now() - started;
      inFlight = false;
      await probe;
      rows.push({
        kind,
        bodyBytes: Buffer.byteLength(body),
        status: response.status,
        requestMs,
        slowestHealthzMs: slowest,
      });
    }
    await gateway.close();
    return rows;
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ report

function mb(bytes: number | null): string {
  return bytes === null ? '—' : `${(bytes / MIB).toFixed(1)} MB`;
}

function ms(value: number | null): string {
  return value === null ? '—' : `${value.toFixed(1)} ms`;
}

function printSoak(rows: readonly SoakRow[], settings: Settings): void {
  console.log(
    `\nSoak: distinct misses at ${settings.rate} req/s for ${settings.durationSeconds} s, ${CONNECTIONS} connections, embedded defaults (key, SQLite L3, ledger)\n`,
  );
  const header = [
    'target',
    'answered',
    'failed',
    'req/s',
    'ledger rows',
    'spend lost',
    'RSS start/max/end',
    'L3 max/end',
    'ledger',
    'healthz p99/max',
  ];
  const lines = rows.map((row) => [
    row.label,
    String(row.answered),
    String(row.failed),
    row.ratePerSecond.toFixed(0),
    String(row.ledgerRows),
    String(row.spendLost),
    `${mb(row.rssStartBytes)} / ${mb(row.rssMaxBytes)} / ${mb(row.rssEndBytes)}`,
    `${mb(row.l3MaxBytes)} / ${mb(row.l3EndBytes)}`,
    mb(row.ledgerEndBytes),
    `${ms(row.healthzP99Ms)} / ${ms(row.healthzMaxMs)}`,
  ]);
  printColumns(header, lines);
}

function printHostile(rows: readonly HostileRow[]): void {
  console.log(
    '\nHostile bodies: the slowest /healthz answer while one such request was in flight\n',
  );
  printColumns(
    ['body', 'bytes', 'status', 'request', 'slowest /healthz'],
    rows.map((row) => [
      row.kind,
      String(row.bodyBytes),
      String(row.status),
      ms(row.requestMs),
      ms(row.slowestHealthzMs),
    ]),
  );
}

function printColumns(header: readonly string[], lines: readonly string[][]): void {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => (line[column] ?? '').length)),
  );
  const format = (cells: readonly string[]): string =>
    cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ');
  console.log(format(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const line of lines) console.log(format(line));
}

// ------------------------------------------------------------------ main

export async function run(args: string[]): Promise<void> {
  const { settings, json } = settingsFrom(args);
  const environment = machineEnvironment();
  console.log(headerLine('soak', environment, settings.quick));
  const group = new ProcessGroup();
  const killOnExit = (): void => group.killAllNow();
  process.once('exit', killOnExit);
  try {
    const upstream = await group.startTarget('mock');
    const soakRows = [
      await soak(group, upstream, 'default bound', null, settings),
      await soak(
        group,
        upstream,
        `bound ${mb(settings.boundBytes)}`,
        settings.boundBytes,
        settings,
      ),
    ];
    printSoak(soakRows, settings);
    const hostileRows = await hostile(group, upstream, settings);
    printHostile(hostileRows);
    if (json !== undefined) {
      await writeFile(
        json,
        `${JSON.stringify({ suite: 'soak', environment, settings, soak: soakRows, hostile: hostileRows }, null, 2)}\n`,
      );
    }
  } finally {
    await group.closeAll();
    process.off('exit', killOnExit);
  }
}
