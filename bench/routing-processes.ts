/**
 * The mock upstreams of the routing benchmark, each in its own child process
 * (`routing-upstream.js`), started here and all stopped by `UpstreamGroup.closeAll()` (or
 * killed at once by `killAllNow()` when the benchmark process exits).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { MockProviderSettings, MockProviderStats } from '../src/mock-provider/index.js';
import type { UpstreamCommand, UpstreamReport } from './routing-upstream.js';

/** How long a child may take to listen. */
const START_TIMEOUT_MS = 20_000;
/** How long a child may take to answer a command over IPC. */
const COMMAND_TIMEOUT_MS = 5_000;
/** How long a child may take to exit once asked, before SIGTERM, then SIGKILL. */
const EXIT_GRACE_MS = 2_000;
/** How much of a child's stderr is kept, for error messages. */
const STDERR_TAIL_BYTES = 4_096;

/** A mock upstream running in a child process. */
export interface Upstream {
  /** What it is, for messages: `primary`, `secondary`. */
  readonly label: string;
  /** The mock's base URL, ending in `/v1`. */
  readonly url: string;
  readonly pid: number | undefined;
  /** The mock's counters. */
  stats(): Promise<MockProviderStats>;
  /** Zeroes the mock's counters; resolves once the child has done it. */
  reset(): Promise<void>;
}

/** Starts, tracks and stops the benchmark's mock upstreams. */
export class UpstreamGroup {
  readonly #children = new Set<ChildProcess>();

  /** Starts a mock upstream with `settings` in a child process. */
  start(label: string, settings: MockProviderSettings): Promise<Upstream> {
    const script = fileURLToPath(new URL('./routing-upstream.js', import.meta.url));
    const child = spawn(process.execPath, [script, JSON.stringify(settings)], {
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

    return new Promise((resolve, reject) => {
      const fail = (reason: string): void => {
        cleanUp();
        void this.#stop(child);
        const tail = stderr.trim();
        reject(new Error(`upstream ${label} did not start: ${reason}${tail ? `\n${tail}` : ''}`));
      };
      const onMessage = (message: UpstreamReport): void => {
        if (message.type === 'ready') {
          cleanUp();
          resolve(upstream(label, message.url, child));
        } else if (message.type === 'failed') fail(message.message);
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
        fail(`it exited (${signal ?? `code ${code}`})`);
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
  #stop(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const escalate = setTimeout(() => {
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), EXIT_GRACE_MS).unref();
      }, EXIT_GRACE_MS);
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
    await Promise.all([...this.#children].map((child) => this.#stop(child)));
  }

  /** SIGKILLs every child still running, synchronously (for `process.on('exit')`). */
  killAllNow(): void {
    for (const child of this.#children) child.kill('SIGKILL');
    this.#children.clear();
  }
}

function upstream(label: string, url: string, child: ChildProcess): Upstream {
  // One command at a time: the child answers each with one stats message, in order.
  let queue: Promise<unknown> = Promise.resolve();
  const command = (type: UpstreamCommand['type']): Promise<MockProviderStats> => {
    const next = queue.then(
      () =>
        new Promise<MockProviderStats>((resolve, reject) => {
          const onMessage = (message: UpstreamReport): void => {
            if (message.type !== 'stats') return;
            clearTimeout(timer);
            child.off('message', onMessage);
            resolve(message.stats);
          };
          const timer = setTimeout(() => {
            child.off('message', onMessage);
            reject(
              new Error(`upstream ${label} did not answer '${type}' in ${COMMAND_TIMEOUT_MS} ms`),
            );
          }, COMMAND_TIMEOUT_MS);
          child.on('message', onMessage);
          if (child.connected) child.send({ type } satisfies UpstreamCommand);
        }),
    );
    queue = next.catch(() => undefined);
    return next;
  };
  return {
    label,
    url,
    pid: child.pid,
    stats: () => command('stats'),
    reset: async () => {
      await command('reset');
    },
  };
}
