/**
 * The child processes of the gateway benchmark: the mock upstream and each system under test
 * run in their own Node process, started here and all stopped by `ProcessGroup.closeAll()`
 * (or killed at once by `killAllNow()` when the benchmark process exits); see
 * `lib/child-processes.ts`.
 */
import { fileURLToPath } from 'node:url';
import type { MockProviderStats } from '../src/mock-provider/index.js';
import type { TargetCommand, TargetReport, TargetRole } from './gateway-target.js';
import { askChild, ChildGroup, type StartedChild } from './lib/child-processes.js';
import type { PortkeyInstall } from './portkey.js';

/** The virtual key of the `sluice-embedded` target. */
export const EMBEDDED_KEY = 'sk-sluice-bench-embedded-key';

/** How long a child may take to answer a command over IPC. */
const COMMAND_TIMEOUT_MS = 5_000;
/** How long a child may take to exit once asked, before SIGTERM, then SIGKILL. */
const EXIT_GRACE_MS = 3_000;

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
export class ProcessGroup extends ChildGroup {
  constructor() {
    super(EXIT_GRACE_MS);
  }

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
    return this.#startServer(role, args, process.cwd());
  }

  /**
   * Starts Portkey's server on a free port, forced onto 127.0.0.1 by a preloaded module
   * (it binds every interface and has no host option).
   */
  startPortkey(install: PortkeyInstall): Promise<ServerProcess> {
    const preload = new URL('./loopback-preload.js', import.meta.url).href;
    const args = ['--import', preload, install.serverScript, '--port=0', '--headless'];
    return this.#startServer(`Portkey ${install.version}`, args, install.folder);
  }

  async #startServer(label: string, args: string[], cwd: string): Promise<ServerProcess> {
    return serverProcess(label, await this.start(label, args, cwd));
  }
}

function serverProcess(label: string, started: StartedChild): ServerProcess {
  const { child } = started;
  /** Sends `command` and resolves with the first report of type `type` that follows. */
  const ask = <Type extends TargetReport['type']>(
    command: TargetCommand,
    type: Type,
  ): Promise<Extract<TargetReport, { type: Type }>> =>
    askChild(
      child,
      label,
      command,
      (message: TargetReport): message is Extract<TargetReport, { type: Type }> =>
        message.type === type,
      COMMAND_TIMEOUT_MS,
    );
  const stats = async (): Promise<MockProviderStats | null> =>
    (await ask({ type: 'stats' }, 'stats')).stats;
  return {
    label,
    url: started.url,
    pid: child.pid,
    stderrTail: started.stderrTail,
    close: started.stop,
    stats,
    async reset() {
      if (child.connected) child.send({ type: 'reset' } satisfies TargetCommand);
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
