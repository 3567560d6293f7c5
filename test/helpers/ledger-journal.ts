import { execFileSync } from 'node:child_process';

/** The pid of a process that has exited (its journal is an orphan to import). */
export function deadPid(): number {
  return Number(
    execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).toString(),
  );
}

/**
 * One line of a ledger journal, as a ledger writes it: a chat miss answered 200 for key
 * `team-a` by openai's gpt-4o-mini. `figures` are the row's last five columns.
 */
export function journalLine(
  id: string,
  requestId: string,
  time: number,
  figures: readonly [number, number, number, number, number],
): string {
  return JSON.stringify([
    id,
    requestId,
    time,
    'team-a',
    'team-a',
    ',',
    'chat',
    'gpt-4o-mini',
    'openai',
    200,
    'miss',
    1,
    0,
    0,
    ...figures,
  ]);
}
