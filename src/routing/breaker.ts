/**
 * A circuit breaker per deployment.
 *
 * - `closed`: calls flow; failures are counted in a rolling window (ten buckets, O(1) memory).
 *   It opens after `failureThreshold` failures within `window`, or, with `failureRatio`, once
 *   at least `minimumCalls` calls in the window failed at that ratio.
 * - `open`: calls are refused for a cooldown that doubles on each consecutive open
 *   (`cooldown` × `cooldownMultiplier`^(opens − 1), capped at `maxCooldown`).
 * - `half-open`: after the cooldown, `halfOpenProbes` calls are admitted; once that many
 *   succeed the breaker closes (and the cooldown resets), and any counted failure reopens it.
 *
 * Only failures that say the deployment is unhealthy count (`isDeploymentFailure`: 5xx, 408,
 * 429, `isRetryable`, timeouts, connection errors); any other error (a 400) means the
 * deployment answered, and counts as a success. In half-open any success counts towards
 * closing, including one from a call admitted before the circuit opened: it is evidence of
 * health all the same. All time comes from the injected clock.
 */
import { type Clock, systemClock } from '../shared/clock.js';
import { type Duration, parseDuration } from '../shared/duration.js';
import { Emitter } from '../shared/emitter.js';
import { ConfigError } from '../shared/errors.js';
import { positiveInteger } from '../shared/integers.js';
import { isDeploymentFailure } from './errors.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Failures within `window` that open the circuit. @default 5 */
  failureThreshold?: number;
  /** The rolling window failures are counted in. @default '30s' */
  window?: Duration;
  /**
   * Also open when this share of the calls in `window` failed (0..1], once `minimumCalls` were
   * made. @default undefined (off)
   */
  failureRatio?: number;
  /** Calls in the window before `failureRatio` applies. @default 10 */
  minimumCalls?: number;
  /** How long the first open lasts. @default '10s' */
  cooldown?: Duration;
  /** Growth of the cooldown on each consecutive open (≥ 1). @default 2 */
  cooldownMultiplier?: number;
  /** The longest cooldown. @default '5m' */
  maxCooldown?: Duration;
  /** Calls admitted in half-open; that many successes close the circuit. @default 1 */
  halfOpenProbes?: number;
  /**
   * A probe that has not reported (`onSuccess`, `onFailure`, `release`) after this long frees its
   * half-open slot, so a lost probe cannot wedge the circuit. @default '30s'
   */
  probeTimeout?: Duration;
  /** Which errors count as failures. @default isDeploymentFailure */
  isFailure?: (error: unknown) => boolean;
  /** @default the system clock */
  clock?: Clock;
}

/** A breaker moved from one state to another. */
export interface BreakerStateChange {
  /** The breaker's name (the deployment id). */
  readonly name: string;
  readonly from: BreakerState;
  readonly to: BreakerState;
  /** Clock time of the change. */
  readonly at: number;
  /** When `to` is `open`: how long it stays open, in ms. */
  readonly cooldownMs: number | undefined;
}

export interface BreakerEvents {
  'state-change': BreakerStateChange;
}

export interface BreakerSnapshot {
  readonly state: BreakerState;
  /** Failures in the rolling window (closed state). */
  readonly failures: number;
  /** Calls in the rolling window (closed state). */
  readonly calls: number;
  /** Consecutive opens since the circuit last closed. */
  readonly consecutiveOpens: number;
  /** Milliseconds until a probe is admitted (0 unless open). */
  readonly retryAfterMs: number;
}

const BUCKETS = 10;

export class CircuitBreaker {
  readonly name: string;
  readonly events = new Emitter<BreakerEvents>();
  readonly #clock: Clock;
  readonly #threshold: number;
  readonly #ratio: number | undefined;
  readonly #minimumCalls: number;
  readonly #bucketMs: number;
  readonly #cooldownMs: number;
  readonly #multiplier: number;
  readonly #maxCooldownMs: number;
  readonly #probes: number;
  readonly #probeTimeoutMs: number;
  readonly #isFailure: (error: unknown) => boolean;
  readonly #bucketEpoch = new Float64Array(BUCKETS).fill(-1);
  readonly #bucketCalls = new Uint32Array(BUCKETS);
  readonly #bucketFailures = new Uint32Array(BUCKETS);
  #state: BreakerState = 'closed';
  #openUntil = 0;
  #consecutiveOpens = 0;
  #probesInFlight = 0;
  #probeSuccesses = 0;
  #lastProbeAt = 0;

  constructor(name: string, options: BreakerOptions = {}) {
    this.name = name;
    this.#clock = options.clock ?? systemClock;
    this.#threshold = positiveInteger(options.failureThreshold ?? 5, 'failureThreshold');
    const ratio = options.failureRatio;
    if (ratio !== undefined && !(ratio > 0 && ratio <= 1)) {
      throw new ConfigError(`failureRatio must be in (0, 1], got ${ratio}`);
    }
    this.#ratio = ratio;
    this.#minimumCalls = positiveInteger(options.minimumCalls ?? 10, 'minimumCalls');
    const windowMs = parseDuration(options.window ?? '30s', 'window');
    if (windowMs < BUCKETS) throw new ConfigError(`window must be at least ${BUCKETS} ms`);
    this.#bucketMs = windowMs / BUCKETS;
    this.#cooldownMs = parseDuration(options.cooldown ?? '10s', 'cooldown');
    this.#maxCooldownMs = parseDuration(options.maxCooldown ?? '5m', 'maxCooldown');
    if (this.#maxCooldownMs < this.#cooldownMs) {
      throw new ConfigError('maxCooldown must be at least cooldown');
    }
    this.#multiplier = options.cooldownMultiplier ?? 2;
    if (!(Number.isFinite(this.#multiplier) && this.#multiplier >= 1)) {
      throw new ConfigError(`cooldownMultiplier must be a number ≥ 1, got ${this.#multiplier}`);
    }
    this.#probes = positiveInteger(options.halfOpenProbes ?? 1, 'halfOpenProbes');
    this.#probeTimeoutMs = parseDuration(options.probeTimeout ?? '30s', 'probeTimeout');
    this.#isFailure = options.isFailure ?? isDeploymentFailure;
  }

  /** The current state (an open circuit whose cooldown has passed reads as half-open). */
  get state(): BreakerState {
    this.#advance();
    return this.#state;
  }

  /**
   * Whether a call would be admitted now, without claiming anything: closed, or half-open with a
   * free probe slot. Routing uses this to filter deployments.
   */
  isAvailable(): boolean {
    this.#advance();
    return (
      this.#state === 'closed' ||
      (this.#state === 'half-open' && this.#probesInFlight < this.#probes)
    );
  }

  /**
   * Asks to make a call. Call once per call you will make, then report it with `onSuccess`,
   * `onFailure` or `release`: in half-open this claims one of the probe slots.
   */
  canRequest(): boolean {
    this.#advance();
    if (this.#state === 'closed') return true;
    if (this.#state === 'open' || this.#probesInFlight >= this.#probes) return false;
    this.#probesInFlight += 1;
    this.#lastProbeAt = this.#clock.now();
    return true;
  }

  /** The call succeeded (or failed in a way that does not count). */
  onSuccess(): void {
    this.#advance();
    if (this.#state === 'closed') {
      this.#count(false);
    } else if (this.#state === 'half-open') {
      this.#releaseProbe();
      this.#probeSuccesses += 1;
      if (this.#probeSuccesses >= this.#probes) this.#transition('closed');
    }
    // open: a call admitted before the circuit opened; it proves nothing now.
  }

  /** The call failed. Returns whether the error counted as a failure. */
  onFailure(error: unknown): boolean {
    if (!this.#isFailure(error)) {
      this.onSuccess();
      return false;
    }
    this.#advance();
    if (this.#state === 'closed') {
      this.#count(true);
      if (this.#shouldTrip()) this.#transition('open');
    } else if (this.#state === 'half-open') {
      this.#releaseProbe();
      this.#transition('open');
    }
    return true;
  }

  /** A call admitted by `canRequest` was abandoned without an outcome (e.g. aborted). */
  release(): void {
    this.#advance();
    if (this.#state === 'half-open') this.#releaseProbe();
  }

  /** Milliseconds until a probe will be admitted; 0 unless open. */
  retryAfterMs(): number {
    this.#advance();
    return this.#state === 'open' ? Math.max(0, this.#openUntil - this.#clock.now()) : 0;
  }

  snapshot(): BreakerSnapshot {
    this.#advance();
    const { calls, failures } = this.#totals();
    return {
      state: this.#state,
      calls,
      failures,
      consecutiveOpens: this.#consecutiveOpens,
      retryAfterMs: this.retryAfterMs(),
    };
  }

  /** Forces the circuit closed and forgets its history. */
  reset(): void {
    if (this.#state !== 'closed') this.#transition('closed');
    this.#clearWindow();
  }

  #advance(): void {
    if (this.#state === 'open' && this.#clock.now() >= this.#openUntil) {
      this.#transition('half-open');
    } else if (
      this.#state === 'half-open' &&
      this.#probesInFlight > 0 &&
      this.#clock.now() - this.#lastProbeAt >= this.#probeTimeoutMs
    ) {
      this.#probesInFlight = 0;
    }
  }

  #releaseProbe(): void {
    if (this.#probesInFlight > 0) this.#probesInFlight -= 1;
  }

  #count(failed: boolean): void {
    const epoch = Math.floor(this.#clock.now() / this.#bucketMs);
    const slot = epoch % BUCKETS;
    if (this.#bucketEpoch[slot] !== epoch) {
      this.#bucketEpoch[slot] = epoch;
      this.#bucketCalls[slot] = 0;
      this.#bucketFailures[slot] = 0;
    }
    this.#bucketCalls[slot] = (this.#bucketCalls[slot] ?? 0) + 1;
    if (failed) this.#bucketFailures[slot] = (this.#bucketFailures[slot] ?? 0) + 1;
  }

  #totals(): { calls: number; failures: number } {
    const oldest = Math.floor(this.#clock.now() / this.#bucketMs) - BUCKETS + 1;
    let calls = 0;
    let failures = 0;
    for (let slot = 0; slot < BUCKETS; slot += 1) {
      if ((this.#bucketEpoch[slot] ?? -1) >= oldest) {
        calls += this.#bucketCalls[slot] ?? 0;
        failures += this.#bucketFailures[slot] ?? 0;
      }
    }
    return { calls, failures };
  }

  #shouldTrip(): boolean {
    const { calls, failures } = this.#totals();
    if (failures >= this.#threshold) return true;
    return (
      this.#ratio !== undefined && calls >= this.#minimumCalls && failures / calls >= this.#ratio
    );
  }

  #clearWindow(): void {
    this.#bucketEpoch.fill(-1);
    this.#bucketCalls.fill(0);
    this.#bucketFailures.fill(0);
  }

  #transition(to: BreakerState): void {
    const from = this.#state;
    const at = this.#clock.now();
    let cooldownMs: number | undefined;
    this.#state = to;
    this.#probesInFlight = 0;
    this.#probeSuccesses = 0;
    if (to === 'open') {
      this.#consecutiveOpens += 1;
      cooldownMs = Math.min(
        this.#maxCooldownMs,
        this.#cooldownMs * this.#multiplier ** (this.#consecutiveOpens - 1),
      );
      this.#openUntil = at + cooldownMs;
      this.#clearWindow();
    } else if (to === 'closed') {
      this.#consecutiveOpens = 0;
      this.#clearWindow();
    }
    if (this.events.has('state-change')) {
      this.events.emit('state-change', { name: this.name, from, to, at, cooldownMs });
    }
  }
}
