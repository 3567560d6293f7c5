import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqlite } from '../../src/shared/sqlite.js';

const folder = mkdtempSync(join(tmpdir(), 'sluice-sqlite-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** An error shaped as better-sqlite3 throws it when another connection holds the lock. */
function busy(): Error {
  return Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
}

describe('openSqlite', () => {
  it('retries the whole open while the database is busy, then succeeds', () => {
    let attempts = 0;
    const database = openSqlite(join(folder, 'a.db'), { timeoutMs: 50 }, (opened) => {
      attempts++;
      if (attempts < 3) throw busy();
      opened.exec('CREATE TABLE IF NOT EXISTS t (x)');
    });
    expect(attempts).toBe(3);
    expect(database.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 0 });
    database.close();
  });

  it('gives up once the retry window has passed, and never retries other errors', () => {
    let attempts = 0;
    const started = Date.now();
    expect(() =>
      openSqlite(join(folder, 'b.db'), { timeoutMs: 50, retryForMs: 150 }, () => {
        attempts++;
        throw busy();
      }),
    ).toThrow('database is locked');
    expect(attempts).toBeGreaterThan(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    attempts = 0;
    expect(() =>
      openSqlite(join(folder, 'c.db'), { timeoutMs: 50 }, () => {
        attempts++;
        throw new Error('no such table: x');
      }),
    ).toThrow('no such table');
    expect(attempts).toBe(1);
  });
});
