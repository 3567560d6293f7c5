import { describeFailure, type HealthReporter } from '../shared/health.js';

export type HealthStatus = 'ok' | 'degraded';

/** One dependency's state, as `/healthz` shows it. */
export interface DependencyHealth {
  readonly status: HealthStatus;
  /** When the dependency entered this state (ISO 8601). */
  readonly since: string;
  /** Why it is degraded (the latest failure); absent when ok. */
  readonly reason?: string;
  /** Failures reported since the process started. */
  readonly errors: number;
}

export interface HealthSnapshot {
  /** `degraded` when any dependency is. */
  readonly status: HealthStatus;
  readonly dependencies: Readonly<Record<string, DependencyHealth>>;
}

export interface HealthRegistryOptions {
  /** Where transitions are logged. @default nowhere */
  log?: (level: 'warn', message: string, fields: Record<string, unknown>) => void;
  /**
   * Log window of one dependency, in ms: at most two lines per window (an outage's start and
   * end are logged at once); a dependency that flaps more logs its state at the end of the
   * window, with the number of transitions not logged.
   * @default 10_000 (ms)
   */
  logIntervalMs?: number;
  /** Epoch milliseconds (tests). @default Date.now */
  now?: () => number;
}

/** Log lines one dependency may write per window before its transitions are summarised. */
const LINES_PER_WINDOW = 2;

interface Dependency {
  status: HealthStatus;
  since: number;
  reason: string | undefined;
  errors: number;
  /** The state the last log line announced. */
  logged: HealthStatus;
  /** Start of the current log window, and the lines logged in it. */
  windowStart: number;
  linesInWindow: number;
  /** Transitions not logged yet (inside the log interval). */
  unlogged: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * The health of the gateway's dependencies (SQLite files, Redis connections). Each reports
 * ok/degraded through its `HealthReporter`; a change of state is logged once (a warning on
 * entering and on leaving a degraded state, at most one line per dependency per
 * `logIntervalMs`), and `/healthz` and the metrics read `snapshot()`.
 */
export class HealthRegistry {
  readonly #dependencies = new Map<string, Dependency>();
  readonly #log: NonNullable<HealthRegistryOptions['log']>;
  readonly #logIntervalMs: number;
  readonly #now: () => number;

  constructor(options: HealthRegistryOptions = {}) {
    this.#log = options.log ?? (() => {});
    this.#logIntervalMs = options.logIntervalMs ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** The reporter of dependency `name` (one per name; it starts ok). */
  dependency(name: string): HealthReporter {
    let dependency = this.#dependencies.get(name);
    if (dependency === undefined) {
      dependency = {
        status: 'ok',
        since: this.#now(),
        reason: undefined,
        errors: 0,
        logged: 'ok',
        windowStart: Number.NEGATIVE_INFINITY,
        linesInWindow: 0,
        unlogged: 0,
        timer: undefined,
      };
      this.#dependencies.set(name, dependency);
    }
    const state = dependency;
    return {
      ok: () => {
        if (state.status === 'ok') return;
        state.status = 'ok';
        state.since = this.#now();
        state.reason = undefined;
        this.#changed(name, state);
      },
      degraded: (reason, error) => {
        state.errors++;
        state.reason = error === undefined ? reason : `${reason}: ${describeFailure(error)}`;
        if (state.status === 'degraded') return;
        state.status = 'degraded';
        state.since = this.#now();
        this.#changed(name, state);
      },
    };
  }

  snapshot(): HealthSnapshot {
    const dependencies: Record<string, DependencyHealth> = {};
    let status: HealthStatus = 'ok';
    for (const [name, dependency] of this.#dependencies) {
      if (dependency.status === 'degraded') status = 'degraded';
      dependencies[name] = {
        status: dependency.status,
        since: new Date(dependency.since).toISOString(),
        ...(dependency.reason === undefined ? {} : { reason: dependency.reason }),
        errors: dependency.errors,
      };
    }
    return { status, dependencies };
  }

  /** Stops pending log timers (the gateway's close). */
  close(): void {
    for (const dependency of this.#dependencies.values()) {
      if (dependency.timer !== undefined) clearTimeout(dependency.timer);
      dependency.timer = undefined;
    }
  }

  #changed(name: string, dependency: Dependency): void {
    dependency.unlogged++;
    const now = this.#now();
    if (now - dependency.windowStart >= this.#logIntervalMs) {
      dependency.windowStart = now;
      dependency.linesInWindow = 0;
    }
    if (dependency.linesInWindow < LINES_PER_WINDOW && dependency.timer === undefined) {
      this.#announce(name, dependency);
      return;
    }
    if (dependency.timer !== undefined) return;
    const wait = dependency.windowStart + this.#logIntervalMs - now;
    dependency.timer = setTimeout(
      () => {
        dependency.timer = undefined;
        dependency.windowStart = this.#now();
        dependency.linesInWindow = 0;
        if (dependency.status !== dependency.logged) this.#announce(name, dependency);
        else dependency.unlogged = 0;
      },
      Math.max(0, wait),
    );
    dependency.timer.unref();
  }

  #announce(name: string, dependency: Dependency): void {
    const flapped = dependency.unlogged - 1;
    dependency.unlogged = 0;
    dependency.logged = dependency.status;
    dependency.linesInWindow++;
    const fields = {
      dependency: name,
      status: dependency.status,
      ...(dependency.reason === undefined ? {} : { reason: dependency.reason }),
      errors: dependency.errors,
      ...(flapped > 0 ? { transitionsNotLogged: flapped } : {}),
    };
    this.#log(
      'warn',
      dependency.status === 'degraded'
        ? `${name} is degraded: ${dependency.reason ?? 'failing'}`
        : `${name} recovered`,
      fields,
    );
  }
}
