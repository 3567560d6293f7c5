/**
 * The mock upstreams of the routing benchmark, each in its own child process
 * (`routing-upstream.js`), started here and all stopped by `UpstreamGroup.closeAll()` (or
 * killed at once by `killAllNow()` when the benchmark process exits).
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { MockProviderSettings, MockProviderStats } from '../src/mock-provider/index.js';
import { askChild, ChildGroup } from './lib/child-processes.js';
import type { UpstreamCommand, UpstreamReport } from './routing-upstream.js';

/** How long a child may take to answer a command over IPC. */
const COMMAND_TIMEOUT_MS = 5_000;
/** How long a child may take to exit once asked, before SIGTERM, then SIGKILL. */
const EXIT_GRACE_MS = 2_000;

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
  readonly #children = new ChildGroup(EXIT_GRACE_MS);

  /** Starts a mock upstream with `settings` in a child process. */
  async start(label: string, settings: MockProviderSettings): Promise<Upstream> {
    const script = fileURLToPath(new URL('./routing-upstream.js', import.meta.url));
    const started = await this.#children.start(`upstream ${label}`, [
      script,
      JSON.stringify(settings),
    ]);
    return upstream(label, started.url, started.child);
  }

  /** Stops every child still running; resolves once all have exited. */
  closeAll(): Promise<void> {
    return this.#children.closeAll();
  }

  /** SIGKILLs every child still running, synchronously (for `process.on('exit')`). */
  killAllNow(): void {
    this.#children.killAllNow();
  }
}

function upstream(label: string, url: string, child: ChildProcess): Upstream {
  // One command at a time: the child answers each with one stats message, in order.
  let queue: Promise<unknown> = Promise.resolve();
  const command = (type: UpstreamCommand['type']): Promise<MockProviderStats> => {
    const next = queue.then(async () => {
      const answer = await askChild(
        child,
        `upstream ${label}`,
        { type } satisfies UpstreamCommand,
        (message: UpstreamReport): message is Extract<UpstreamReport, { type: 'stats' }> =>
          message.type === 'stats',
        COMMAND_TIMEOUT_MS,
      );
      return answer.stats;
    });
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
