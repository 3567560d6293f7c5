import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLedger, type Ledger, type LedgerEntry } from '../../src/cost/ledger.js';
import type { HealthReporter } from '../../src/shared/health.js';
import { deadPid, journalLine } from '../helpers/ledger-journal.js';
import { SmallDisk } from '../helpers/small-disk.js';

const entry: LedgerEntry = {
  requestId: 'request',
  time: Date.UTC(2026, 10, 22, 10),
  key: 'team-a',
  namespace: 'team-a',
  tags: ['eu'],
  route: 'chat',
  model: 'gpt-4o-mini',
  provider: 'openai',
  status: 200,
  cache: 'miss',
  inputTokens: 10,
  cachedInputTokens: 0,
  cacheWriteTokens: 0,
  outputTokens: 20,
  reasoningTokens: 0,
  costNanos: 1_000,
  avoidedNanos: 0,
  durationMs: 12.5,
};

const FROM = 0;
const TO = Number.MAX_SAFE_INTEGER;

/** A health reporter that remembers what it was told. */
function recorder(): HealthReporter & { events: string[] } {
  const events: string[] = [];
  return {
    events,
    ok() {
      if (events.at(-1) === 'degraded') events.push('ok');
    },
    degraded() {
      if (events.at(-1) !== 'degraded') events.push('degraded');
    },
  };
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((done) => setTimeout(done, 20));
  }
}

describe('ledger on a full disk', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const step of cleanup.splice(0).reverse()) step();
  });

  function disk(): SmallDisk {
    const small = SmallDisk.create(4 * 1024 * 1024);
    cleanup.push(() => small.close());
    return small;
  }

  function open(path: string, health?: HealthReporter): Ledger {
    const ledger = createLedger({
      path,
      retryInterval: 25,
      ...(health === undefined ? {} : { health }),
    });
    cleanup.push(() => ledger.close());
    return ledger;
  }

  it('keeps the rows SQLite refuses, never throws, and writes them when space returns', async () => {
    const small = disk();
    const path = join(small.directory, 'ledger.db');
    const health = recorder();
    const ledger = open(path, health);
    ledger.append({ ...entry, requestId: 'before' });
    expect(ledger.flush()).toBe(true);
    small.fill([{ file: path, table: 'ledger' }]);
    const rows = 3_000;
    for (let index = 0; index < rows; index++) {
      ledger.append({ ...entry, requestId: `full-${index}` });
    }
    // The flush timer ran against the full disk (an uncaught error there would fail the run).
    await new Promise((done) => setTimeout(done, 100));
    expect(ledger.flush()).toBe(false);
    expect(ledger.status()).toMatchObject({ failing: true, lostRows: 0 });
    expect(health.events).toEqual(['degraded']);
    small.free();
    await until(() => !ledger.status().failing);
    expect(ledger.summary('global', FROM, TO).requests).toBe(rows + 1);
    expect(ledger.status()).toMatchObject({ heldRows: 0, lostRows: 0 });
    expect(health.events).toEqual(['degraded', 'ok']);
  });

  // SQLite refuses rows while the journal still takes them (simulated: on a real full disk
  // the journal is full too).
  it('reads the journal back for rows past its memory bound', async () => {
    const small = SmallDisk.create(4 * 1024 * 1024, { simulate: true });
    cleanup.push(() => small.close());
    const path = join(small.directory, 'ledger.db');
    const ledger = createLedger({ path, retryInterval: 25, maxHeldRows: 10 });
    cleanup.push(() => ledger.close());
    ledger.append(entry);
    ledger.flush();
    small.fill([{ file: path, table: 'ledger' }]);
    for (let index = 0; index < 100; index++) ledger.append({ ...entry, requestId: `r${index}` });
    expect(ledger.status()).toMatchObject({ heldRows: 10, lostRows: 0 });
    small.free();
    await until(() => !ledger.status().failing);
    expect(ledger.summary('global', FROM, TO).requests).toBe(101);
  });

  it('opens on a full disk with orphan journals to import, and imports them when space returns', async () => {
    const small = disk();
    const path = join(small.directory, 'ledger.db');
    const first = createLedger({ path });
    first.append({ ...entry, requestId: 'first' });
    first.close();
    // A process that died left 2,000 rows in its journal.
    const orphanRows = 2_000;
    const pid = deadPid();
    const lines: string[] = [];
    for (let index = 0; index < orphanRows; index++) {
      lines.push(
        journalLine(`${pid}-orphan:${index}`, `orphan-${index}`, entry.time, [1, 0, 500, 0, 1]),
      );
    }
    writeFileSync(
      join(small.directory, `ledger.db.journal-${pid}-abcd1234`),
      `${lines.join('\n')}\n`,
    );
    small.fill([{ file: path, table: 'ledger' }]);
    const health = recorder();
    const ledger = open(path, health);
    expect(ledger.status().failing).toBe(true);
    ledger.append({ ...entry, requestId: 'while-full' });
    expect(health.events).toEqual(['degraded']);
    small.free();
    await until(() => !ledger.status().failing);
    expect(ledger.summary('global', FROM, TO).requests).toBe(orphanRows + 2);
    expect(readdirSync(small.directory).filter((name) => name.includes('abcd1234'))).toEqual([]);
    expect(health.events).toEqual(['degraded', 'ok']);
  });

  it('keeps a closing ledger’s refused rows in its journal for the next process', () => {
    const small = SmallDisk.create(4 * 1024 * 1024, { simulate: true });
    cleanup.push(() => small.close());
    const path = join(small.directory, 'ledger.db');
    const ledger = createLedger({ path });
    ledger.append(entry);
    ledger.flush();
    small.fill([{ file: path, table: 'ledger' }]);
    for (let index = 0; index < 50; index++) ledger.append({ ...entry, requestId: `r${index}` });
    ledger.close();
    small.free();
    const next = open(path);
    expect(next.summary('global', FROM, TO).requests).toBe(51);
  });
});
