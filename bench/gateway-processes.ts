/**
 * The child processes of the gateway benchmark: the mock upstream and each system under test
 * run in their own Node process, started here and all stopped by `ProcessGroup.closeAll()`
 * (or killed at once by `killAllNow()` when the benchmark process exits).
 *
 * Every child has an IPC channel: it reports `{ type: 'ready', url }` once listening, and it
 * exits when the channel closes, so a benchmark killed with SIGKILL does not leave servers
 * behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { MockProviderStats } from '../src/mock-provider/index.js';
import type { TargetCommand, TargetReport, TargetRole } from './gateway-target.js';
import type { PortkeyInstall } from './portkey.js';

/** The virtual key of the `sluice-embedded` target. */
export const EMBEDDED_KEY = 'sk-sluice-bench-embedded-key';

/** How long a child may take to listen. */
const START_TIMEOUT_MS = 20_000;
/** How long a child may take to answer a command over IPC. */
const COMMAND_TIMEOUT_MS = 5_000;
/** How long a child may take to exit once asked, before SIGTERM, then SIGKILL. */
const EXIT_GRACE_MS = 3_000;
/** How much of a child's stderr is kept, for error messages. */
const STDERR_TAIL_BYTES = 4_096;

/** A server of the benchmark running in a child process. */
export interface ServerProcess {
  /** What runs in it, for messages. */
  readonly label: string;
  /** The URL it reported: the mock's base URL (ends in `/v1`), or an origin. */
  readonly url: string;
  readonly pid: number | undefined;
  /** The mock's counters (null for the other servers). */
  stats(): Promise<MockProviderStats | null>;
  /** Zeroes the mock's counters; resolves once the child has done it. */
  reset(): Promise<void>;
  /** Starts counting what the process allocates (false: it cannot, e.g. not a target script). */
  startAllocationCount(): Promise<boolean>;
  /** Bytes allocated since `startAllocationCount`, garbage included; null when not counted. */
  stopAllocationCount(): Promise<number | null>;
  /** The end of what the process wrote to stderr. */
  stderrTail(): string;
  /** Stops this process (as `ProcessGroup.closeAll` would); resolves once it has exited. */
  close(): Promise<void>;
}

/** Starts, tracks and stops the benchmark's child processes. */
export class ProcessGroup {
  readonly #children = new Set<ChildProcess>();

  /** Starts `gateway-target.js ROLE [UPSTREAM]` (`execArgv`: e.g. `--cpu-prof`). */
  startTarget(
    role: TargetRole,
    upstreamUrl?: string,
    execArgv: readonly string[] = [],
    extraArgs: readonly string[] = [],
  ): Promise<ServerProcess> {
    const script = fileURLToPath(new URL('./gateway-target.js', import.meta.url));
    const args = [
      ...execArgv,
      script,
      role,
      ...(upstreamUrl === undefined ? [] : [upstreamUrl]),
      ...extraArgs,
    ];
    return this.#start(role, args, process.cwd());
  }

  /**
   * Starts Portkey's server on a free port, forced onto 127.0.0.1 by a preloaded module
   * (it binds every interface and has no host option).
   */
  startPortkey(install: PortkeyInstall): Promise<ServerProcess> {
    const preload = new URL('./loopback-preload.js', import.meta.url).href;
    const args = ['--import', preload, install.serverScript, '--port=0', '--headless'];
    return this.#start(`Portkey ${install.version}`, args, install.folder);
  }

  #start(label: string, args: string[], cwd: string): Promise<ServerProcess> {
    const child = spawn(process.execPath, args, {
      cwd,
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
        this.#stop(child);
        const tail = stderrTail();
        reject(new Error(`${label} did not start: ${reason}${tail === '' ? '' : `\n${tail}`}`));
      };
      const onMessage = (message: TargetReport): void => {
        if (message.type === 'ready') {
          cleanUp();
          resolve(serverProcess(label, message.url, child, stderrTail, () => this.#stop(child)));
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

function serverProcess(
  label: string,
  url: string,
  child: ChildProcess,
  stderrTail: () => string,
  close: () => Promise<void>,
): ServerProcess {
  const send = (command: TargetCommand): void => {
    if (child.connected) child.send(command);
  };
  /** Sends `command` and resolves with the first report of type `type` that follows. */
  const ask = <Type extends TargetReport['type']>(
    command: TargetCommand,
    type: Type,
  ): Promise<Extract<TargetReport, { type: Type }>> =>
    new Promise((resolve, reject) => {
      const onMessage = (message: TargetReport): void => {
        if (message.type !== type) return;
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(message as Extract<TargetReport, { type: Type }>);
      };
      const timer = setTimeout(() => {
        child.off('message', onMessage);
        reject(
          new Error(`${label} did not answer '${command.type}' within ${COMMAND_TIMEOUT_MS} ms`),
        );
      }, COMMAND_TIMEOUT_MS);
      child.on('message', onMessage);
      send(command);
    });
  const stats = async (): Promise<MockProviderStats | null> =>
    (await ask({ type: 'stats' }, 'stats')).stats;
  return {
    label,
    url,
    pid: child.pid,
    stderrTail,
    close,
    stats,
    async reset() {
      send({ type: 'reset' });
      // The child handles its messages in order: once the stats come back, the reset is done.
      await stats();
    },
    async startAllocationCount() {
      return (await ask({ type: 'alloc-start' }, 'alloc-started')).started;
    },
    async stopAllocationCount() {
      return (await ask({ type: 'alloc-stop' }, 'alloc')).bytes;
    },
  };
}
