import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createLedger,
  type LedgerEntry,
  ledgerCsvHeader,
  ledgerCsvLine,
} from '../../src/cost/ledger.js';
import { deadPid, journalLine } from '../helpers/ledger-journal.js';

const entry: LedgerEntry = {
  requestId: 'request-1',
  time: Date.UTC(2026, 10, 22, 10),
  key: 'team-a',
  namespace: 'team-a',
  tags: ['batch', 'eu'],
  route: 'chat',
  model: 'gpt-4o-mini',
  provider: 'openai',
  status: 200,
  cache: 'miss',
  inputTokens: 10,
  cachedInputTokens: 2,
  cacheWriteTokens: 0,
  outputTokens: 20,
  reasoningTokens: 0,
  costNanos: 1_234,
  avoidedNanos: 0,
  durationMs: 12.5,
};

function directory(): string {
  return mkdtempSync(join(tmpdir(), 'sluice-ledger-'));
}

describe('ledger', () => {
  it('summarises by scope and window, groups, and exports rows', () => {
    const ledger = createLedger({ path: join(directory(), 'ledger.db') });
    ledger.append(entry);
    ledger.append({
      ...entry,
      requestId: 'request-2',
      key: 'team-b',
      tags: [],
      cache: 'hit',
      costNanos: 0,
      avoidedNanos: 1_234,
    });
    ledger.append({
      ...entry,
      requestId: 'request-3',
      time: entry.time + 86_400_000,
      costNanos: 5,
    });
    const day = [entry.time - 1, entry.time + 1_000];
    expect(ledger.summary('global', day[0] as number, day[1] as number)).toEqual({
      requests: 2,
      hits: 1,
      costNanos: 1_234,
      avoidedNanos: 1_234,
    });
    expect(ledger.summary('tag:eu', 0, Number.MAX_SAFE_INTEGER).costNanos).toBe(1_239);
    expect(ledger.summary('key:team-b', 0, Number.MAX_SAFE_INTEGER).requests).toBe(1);
    expect(
      ledger
        .grouped('key', 0, Number.MAX_SAFE_INTEGER)
        .map((group) => [group.name, group.costNanos]),
    ).toEqual([
      ['team-a', 1_239],
      ['team-b', 0],
    ]);
    const rows = [...ledger.rows(0, Number.MAX_SAFE_INTEGER, 10)];
    expect(rows.map((row) => row.requestId)).toEqual(['request-1', 'request-2', 'request-3']);
    expect(rows[0]).toMatchObject({ ...entry, seq: 1 });
    expect([...ledger.rows(0, Number.MAX_SAFE_INTEGER, 2)]).toHaveLength(2);
    ledger.close();
  });

  it('refuses updates: the ledger is append-only', () => {
    const path = join(directory(), 'ledger.db');
    const ledger = createLedger({ path, durability: 'power' });
    ledger.append(entry);
    ledger.close();
    const output = execFileSync(
      process.execPath,
      [
        '-e',
        `const D = require('better-sqlite3'); const d = new D(${JSON.stringify(path)});
         try { d.prepare('UPDATE ledger SET cost_nanos = 0').run(); console.log('updated'); }
         catch (e) { console.log(e.message); }`,
      ],
      { cwd: join(import.meta.dirname, '../..') },
    ).toString();
    expect(output).toMatch(/append-only/);
  });

  it('imports the journal of a process that died, once, skipping a torn last line', () => {
    const folder = directory();
    const path = join(folder, 'ledger.db');
    createLedger({ path }).close();
    const journal = join(folder, `ledger.db.journal-${deadPid()}-abcd1234`);
    const row = (id: string, requestId: string) =>
      journalLine(id, requestId, entry.time, [2, 0, 777, 0, 3.5]);
    writeFileSync(
      journal,
      `${row('dead:0', 'lost-1')}\n${row('dead:1', 'lost-2')}\n["dead:2","tor`,
    );
    const first = createLedger({ path });
    expect([...first.rows(0, Number.MAX_SAFE_INTEGER, 10)].map((item) => item.requestId)).toEqual([
      'lost-1',
      'lost-2',
    ]);
    expect(existsSync(journal)).toBe(false);
    first.close();
    // Imported twice (two processes racing): entry ids keep it to one row each.
    writeFileSync(journal, `${row('dead:0', 'lost-1')}\n`);
    const second = createLedger({ path });
    expect(second.summary('global', 0, Number.MAX_SAFE_INTEGER)).toMatchObject({
      requests: 2,
      costNanos: 1_554,
    });
    second.close();
  });

  it('leaves no journal behind on close, and keeps rows across reopening', () => {
    const folder = directory();
    const path = join(folder, 'ledger.db');
    const ledger = createLedger({ path });
    for (let index = 0; index < 300; index++) ledger.append({ ...entry, requestId: `r${index}` });
    ledger.close();
    expect(readdirSync(folder).filter((name) => name.includes('journal'))).toEqual([]);
    const reopened = createLedger({ path });
    expect(reopened.summary('global', 0, Number.MAX_SAFE_INTEGER).requests).toBe(300);
    reopened.close();
  });

  it('writes CSV that a spreadsheet cannot execute', () => {
    const line = ledgerCsvLine({ ...entry, seq: 7, key: '=HYPERLINK("x")', requestId: 'a,b' });
    expect(ledgerCsvHeader()).toMatch(/^seq,request_id,time,key,/);
    expect(line).toContain(`"'=HYPERLINK(""x"")"`);
    expect(line).toContain('"a,b"');
  });
});
