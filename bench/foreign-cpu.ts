/**
 * How much CPU other processes take while a benchmark runs: the machine's busy time (all
 * cores, from `os.cpus()`) minus the time of this process and of the benchmark's own child
 * processes (from `/proc/PID/stat`). Linux only for the children; elsewhere `measure` reports
 * null rather than a wrong figure.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';

/** Clock ticks per second of `/proc/PID/stat` times (USER_HZ: 100 on every Linux build). */
const TICKS_PER_SECOND = 100;

interface Snapshot {
  wallMs: number;
  machineBusyMs: number;
  ownMs: number | null;
}

/** CPU milliseconds of one process from `/proc/PID/stat` (utime + stime); null if unreadable. */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: fields are counted after its closing ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const userTicks = Number(fields[11]);
    const systemTicks = Number(fields[12]);
    if (!Number.isFinite(userTicks) || !Number.isFinite(systemTicks)) return null;
    return ((userTicks + systemTicks) * 1_000) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** Measures, over an interval, the cores other processes kept busy. */
export class ForeignCpu {
  readonly #pids: () => readonly number[];

  /** `pids`: the benchmark's child processes at the time of each snapshot. */
  constructor(pids: () => readonly number[]) {
    this.#pids = pids;
  }

  /** Starts an interval; pass the result to `measure`. */
  start(): Snapshot {
    return this.#snapshot();
  }

  /**
   * Cores used by other processes since `start` (0.5: half a core on average); null when the
   * benchmark's own CPU time cannot be read (not Linux). A child that exited in between makes
   * the figure an overestimate.
   */
  measure(start: Snapshot): number | null {
    const end = this.#snapshot();
    if (start.ownMs === null || end.ownMs === null) return null;
    const wallMs = end.wallMs - start.wallMs;
    if (wallMs <= 0) return null;
    const foreignMs = end.machineBusyMs - start.machineBusyMs - (end.ownMs - start.ownMs);
    return Math.max(0, foreignMs / wallMs);
  }

  #snapshot(): Snapshot {
    let machineBusyMs = 0;
    for (const { times } of os.cpus()) {
      machineBusyMs += times.user + times.nice + times.sys + times.irq;
    }
    let ownMs: number | null = null;
    if (process.platform === 'linux') {
      const usage = process.cpuUsage();
      ownMs = (usage.user + usage.system) / 1_000;
      for (const pid of this.#pids()) {
        const childMs = processCpuMs(pid);
        if (childMs === null) {
          ownMs = null;
          break;
        }
        ownMs += childMs;
      }
    }
    return { wallMs: performance.now(), machineBusyMs, ownMs };
  }
}

/** Cores taken by other processes above which a measurement round counts as noisy. */
export const NOISY_CORES = 0.25;

/**
 * Which rounds to keep: the quiet ones (other processes under `NOISY_CORES`) when there are
 * at least `minimum` of them, otherwise every round (the figures are then marked noisy).
 */
export function quietRounds(foreignCores: readonly (number | null)[], minimum: number): boolean[] {
  const quiet = foreignCores.map((cores) => cores !== null && cores <= NOISY_CORES);
  const count = quiet.filter(Boolean).length;
  return count >= minimum ? quiet : foreignCores.map(() => true);
}
