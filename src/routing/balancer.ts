/**
 * Load balancing across the deployments of one model. Deployments whose circuit is open are
 * skipped by every strategy.
 *
 * - `weighted`: smooth weighted round-robin (nginx): deterministic, spreads picks evenly in
 *   proportion to `weight` (weights 5, 1, 1 give a a b a c a a).
 * - `least-busy`: the fewest calls in flight; ties by smooth weighted round-robin.
 * - `latency`: the lowest latency EWMA; an unobserved deployment with nothing in flight is tried
 *   first; with probability `exploration` a uniformly random deployment instead, so one that has
 *   recovered (its EWMA still remembers it slow) gets traffic again and is re-measured.
 */
import { ConfigError } from '../shared/errors.js';

export type BalanceStrategy = 'weighted' | 'least-busy' | 'latency';

export const BALANCE_STRATEGIES: readonly BalanceStrategy[] = ['weighted', 'least-busy', 'latency'];

/** What a balancer reads about a deployment (the router passes its live objects). */
export interface BalancerCandidate {
  readonly profile: { readonly deployment: string; readonly weight: number };
  readonly stats: { readonly inFlight: number; readonly latencyEwma: number | undefined };
  /** Skipped when present and not available. */
  readonly breaker?: { isAvailable(): boolean };
}

export interface BalancerOptions {
  /** @default 'weighted' */
  strategy?: BalanceStrategy;
  /** `latency` only: share of picks made at random, in [0, 1). @default 0.05 */
  exploration?: number;
  /** Uniform random in [0, 1) (`latency` exploration only). @default Math.random */
  random?: () => number;
}

/** Keeps smooth round-robin state for at most this many deployment ids beyond the live ones. */
const STATE_SLACK = 64;

export class Balancer {
  readonly strategy: BalanceStrategy;
  readonly #exploration: number;
  readonly #random: () => number;
  /** Smooth weighted round-robin: each deployment's current weight. */
  readonly #current = new Map<string, number>();

  constructor(options: BalancerOptions = {}) {
    const strategy = options.strategy ?? 'weighted';
    if (!BALANCE_STRATEGIES.includes(strategy)) {
      throw new ConfigError(
        `balancing strategy must be one of ${BALANCE_STRATEGIES.join(', ')}; got '${strategy}'`,
      );
    }
    const exploration = options.exploration ?? 0.05;
    if (!(exploration >= 0 && exploration < 1)) {
      throw new ConfigError(`exploration must be in [0, 1), got ${exploration}`);
    }
    this.strategy = strategy;
    this.#exploration = exploration;
    this.#random = options.random ?? Math.random;
  }

  /** Picks one available candidate, or undefined when every circuit is open (or none given). */
  pick<Candidate extends BalancerCandidate>(
    candidates: readonly Candidate[],
  ): Candidate | undefined {
    const available = candidates.filter((candidate) => candidate.breaker?.isAvailable() ?? true);
    if (available.length <= 1) return available[0];
    switch (this.strategy) {
      case 'weighted':
        return this.#roundRobin(available);
      case 'least-busy': {
        let fewest = Number.POSITIVE_INFINITY;
        for (const candidate of available) fewest = Math.min(fewest, candidate.stats.inFlight);
        return this.#roundRobin(available.filter((c) => c.stats.inFlight === fewest));
      }
      case 'latency':
        return this.#fastest(available);
    }
  }

  #roundRobin<Candidate extends BalancerCandidate>(candidates: readonly Candidate[]): Candidate {
    if (this.#current.size > candidates.length + STATE_SLACK) this.#current.clear();
    let total = 0;
    let best: Candidate | undefined;
    let bestCurrent = Number.NEGATIVE_INFINITY;
    for (const candidate of candidates) {
      const { deployment, weight } = candidate.profile;
      const current = (this.#current.get(deployment) ?? 0) + weight;
      this.#current.set(deployment, current);
      total += weight;
      if (current > bestCurrent) {
        bestCurrent = current;
        best = candidate;
      }
    }
    const chosen = best ?? (candidates[0] as Candidate);
    this.#current.set(chosen.profile.deployment, bestCurrent - total);
    return chosen;
  }

  #fastest<Candidate extends BalancerCandidate>(candidates: readonly Candidate[]): Candidate {
    if (this.#exploration > 0 && this.#random() < this.#exploration) {
      const index = Math.min(candidates.length - 1, Math.floor(this.#random() * candidates.length));
      return candidates[index] as Candidate;
    }
    let best = candidates[0] as Candidate;
    let bestKey = latencyKey(best);
    for (let index = 1; index < candidates.length; index += 1) {
      const candidate = candidates[index] as Candidate;
      const key = latencyKey(candidate);
      if (key < bestKey || (key === bestKey && candidate.stats.inFlight < best.stats.inFlight)) {
        best = candidate;
        bestKey = key;
      }
    }
    return best;
  }
}

/** Unobserved and idle first (-1), then by EWMA; unobserved but busy last. */
function latencyKey(candidate: BalancerCandidate): number {
  const ewma = candidate.stats.latencyEwma;
  if (ewma !== undefined) return ewma;
  return candidate.stats.inFlight === 0 ? -1 : Number.POSITIVE_INFINITY;
}

export function createBalancer(options: BalancerOptions = {}): Balancer {
  return new Balancer(options);
}
