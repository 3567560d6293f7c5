/**
 * Child Node processes of the bench suites (mock upstreams, gateways under test): started with
 * an IPC channel, tracked, and stopped together. A child reports `{ type: 'ready', url }` once
 * listening (or `{ type: 'failed', message }`), answers commands over IPC, and exits when the
 * channel closes (`exitOnDisconnect`), so a benchmark killed with SIGKILL leaves no servers
 * behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';

/** How long a child may take to listen. */
const START_TIMEOUT_MS = 20_000;
/** How much of a child's stderr is kept, for error messages. */
const STDERR_TAIL_BYTES = 4_096;

/** What a child reports once it has started, or failed to. */
export type StartReport = { type: 'ready'; url: string } | { type: 'failed'; message: string };

/** A child that reported `ready`. */
export interface StartedChild {
  readonly child: ChildProcess;
  /** The URL it reported. */
  readonly url: string;
  /** The end of what it wrote to stderr. */
  stderrTail(): string;
  /** Stops it (as `ChildGroup.closeAll` would); resolves once it has exited. */
  stop(): Promise<void>;
}

/** Starts, tracks and stops a suite's child processes. */
export class ChildGroup {
  readonly #children = new Set<ChildProcess>();
  readonly #exitGraceMs: number;

  /** `exitGraceMs`: how long a child may take to exit once asked, before SIGTERM, then SIGKILL. */
  constructor(exitGraceMs: number) {
    this.#exitGraceMs = exitGraceMs;
  }

  /**
   * Runs `node ARGS` in `cwd` (with an empty NODE_OPTIONS) and resolves once it reports
   * `ready`; rejects with `LABEL did not start: …` (and its stderr) when it fails, exits or
   * stays silent for 20 s.
   */
  start(label: string, args: readonly string[], cwd?: string): Promise<StartedChild> {
    const child = spawn(process.execPath, args, {
      ...(cwd === undefined ? {} : { cwd }),
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    this.#children.add(child);
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_TAIL_BYTES);
    });
    child.once('exit', () => this.#children.delete(child));
    const stderrTail = (): string => stderr.trim();

    return new Promise((resolve, reject) => {
      const fail = (reason: string): void => {
        cleanUp();
        void this.stop(child);
        const tail = stderrTail();
        reject(new Error(`${label} did not start: ${reason}${tail === '' ? '' : `\n${tail}`}`));
      };
      const onMessage = (message: StartReport): void => {
        if (message.type === 'ready') {
          cleanUp();
          resolve({ child, url: message.url, stderrTail, stop: () => this.stop(child) });
        } else if (message.type === 'failed') fail(message.message);
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        fail(`it exited (${signal ?? `code ${code}`})`);
      };
      const onError = (error: Error): void => fail(error.message);
      const timer = setTimeout(
        () => fail(`no answer within ${START_TIMEOUT_MS / 1_000} s`),
        START_TIMEOUT_MS,
      );
      const cleanUp = (): void => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        child.off('error', onError);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.once('error', onError);
    });
  }

  /** Asks one child to exit (closing its IPC channel), then SIGTERM, then SIGKILL. */
  stop(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    const graceMs = this.#exitGraceMs;
    return new Promise((resolve) => {
      const escalate = setTimeout(() => {
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), graceMs).unref();
      }, graceMs);
      child.once('exit', () => {
        clearTimeout(escalate);
        resolve();
      });
      if (child.connected) child.disconnect();
      else child.kill('SIGTERM');
    });
  }

  /** Stops every child still running; resolves once all have exited. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.#children].map((child) => this.stop(child)));
  }

  /** Process ids of the children still running. */
  pids(): number[] {
    return [...this.#children]
      .map((child) => child.pid)
      .filter((pid): pid is number => pid !== undefined);
  }

  /** SIGKILLs every child still running, synchronously (for `process.on('exit')`). */
  killAllNow(): void {
    for (const child of this.#children) child.kill('SIGKILL');
    this.#children.clear();
  }
}

/**
 * Sends `command` to `child` and resolves with the first message `accept` takes; rejects with
 * `LABEL did not answer 'TYPE' within N ms` after `timeoutMs`.
 */
export function askChild<Report, Answer extends Report>(
  child: ChildProcess,
  label: string,
  command: { readonly type: string },
  accept: (message: Report) => message is Answer,
  timeoutMs: number,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: Report): void => {
      if (!accept(message)) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(message);
    };
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`${label} did not answer '${command.type}' within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', onMessage);
    if (child.connected) child.send(command);
  });
}

/**
 * Stops every child of `group` on SIGINT / SIGTERM, kills them if this process exits, and
 * bounds the whole run to `budgetSeconds` (aborting `abort` in both cases). `suite` names the
 * benchmark in messages. Returns the undo function.
 */
export function guardChildren(
  group: Pick<ChildGroup, 'closeAll' | 'killAllNow'>,
  abort: AbortController,
  suite: string,
  budgetSeconds: number,
): () => void {
  const killOnExit = (): void => group.killAllNow();
  const onSignal = (signal: NodeJS.Signals): void => {
    console.error(`\n${signal}: stopping the ${suite} benchmark and its child processes`);
    abort.abort();
    void group.closeAll().finally(() => process.exit(130));
  };
  process.on('exit', killOnExit);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const watchdog = setTimeout(() => {
    console.error(`\nthe ${suite} benchmark did not finish within ${budgetSeconds} s: stopping`);
    abort.abort();
    void group.closeAll().finally(() => process.exit(1));
  }, budgetSeconds * 1_000);
  watchdog.unref();
  return () => {
    clearTimeout(watchdog);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', killOnExit);
  };
}

/**
 * In a child: exits on SIGINT, SIGTERM or when the parent's IPC channel closes, after
 * `close()` (the server, if any yet) settles or `closeTimeoutMs` passes. Returns the shut-down
 * function, for a `close` command or a failed start.
 */
export function exitOnDisconnect(
  close: () => Promise<unknown> | undefined,
  closeTimeoutMs: number,
): () => void {
  let closing = false;
  const shutDown = (): void => {
    if (closing) return;
    closing = true;
    setTimeout(() => process.exit(0), closeTimeoutMs).unref();
    const done = (): never => process.exit(0);
    const closed = close();
    if (closed === undefined) done();
    else closed.then(done, done);
  };
  process.once('SIGINT', shutDown);
  process.once('SIGTERM', shutDown);
  process.once('disconnect', shutDown);
  return shutDown;
}
