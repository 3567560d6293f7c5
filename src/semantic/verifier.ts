import { ConfigError } from '../shared/errors.js';
import {
  comparePair,
  FEATURE_NAMES,
  GUARD_NAMES,
  type GuardName,
  type TextAnalysis,
} from './features.js';
import { type LogisticModel, predict } from './logistic.js';
import { fittedVerifierParams } from './verifier-params.js';

/** One measured operating point of the fitted verifier (on the calibration split). */
export interface OperatingPoint {
  /** Share of non-duplicate pairs that would be answered (a wrong answer). */
  falseHitRate: number;
  /** Score at or above which a candidate is a hit. */
  threshold: number;
  precision: number;
  recall: number;
}

/** The verifier's fitted parameters (shipped in `verifier-params.ts`, written by `bench/semantic-fit.ts`). */
export interface VerifierParams {
  version: 1;
  /** `Embedder.id` of the model the similarities came from. */
  embedder: string;
  features: readonly string[];
  model: LogisticModel;
  /** Guards whose mismatch refuses a hit whatever the score. */
  vetoGuards: readonly GuardName[];
  /** Sorted by falseHitRate ascending. */
  calibration: readonly OperatingPoint[];
  /** Candidates less similar than this are not scored (they never pass at any calibrated point). */
  minSimilarity: number;
  /** How the parameters were obtained. */
  provenance: Record<string, string | number>;
}

export interface Verdict {
  /** Probability-like score in [0, 1] from the logistic model. */
  score: number;
  /** Guards that found a mismatch. */
  guards: GuardName[];
  /** The vetoing guard that refused the pair, if any. */
  vetoedBy: GuardName | undefined;
}

/**
 * Decides whether a cached request's answer fits a new request: a logistic model over the
 * embedding similarity and the look-alike guards' features, plus vetoes (a number, negation,
 * entity, direction, quote or code mismatch refuses on its own).
 */
export class Verifier {
  readonly params: VerifierParams;
  private readonly vetoes: ReadonlySet<GuardName>;

  constructor(params: VerifierParams = fittedVerifierParams, vetoGuards?: readonly GuardName[]) {
    if (params.version !== 1 || params.features.length !== FEATURE_NAMES.length) {
      throw new ConfigError(
        `verifier parameters must be version 1 with features ${FEATURE_NAMES.join(', ')}`,
      );
    }
    params.features.forEach((name, index) => {
      if (name !== FEATURE_NAMES[index]) {
        throw new ConfigError(
          `verifier feature ${index} is '${name}', expected '${FEATURE_NAMES[index]}'`,
        );
      }
    });
    for (const guard of vetoGuards ?? []) {
      if (!GUARD_NAMES.includes(guard)) throw new ConfigError(`unknown guard '${guard}'`);
    }
    this.params = params;
    this.vetoes = new Set(vetoGuards ?? params.vetoGuards);
  }

  verify(query: TextAnalysis, candidate: TextAnalysis, similarity: number): Verdict {
    const { features, guards } = comparePair(query, candidate, similarity);
    const vetoedBy = guards.find((guard) => this.vetoes.has(guard));
    return { score: predict(this.params.model, features), guards, vetoedBy };
  }

  /**
   * The score threshold whose false-hit rate on the calibration split is at most
   * `targetFalseHitRate` (interpolated between measured points on a log scale).
   */
  thresholdFor(targetFalseHitRate: number): number {
    if (!(targetFalseHitRate > 0 && targetFalseHitRate < 1)) {
      throw new ConfigError(`targetFalseHitRate must be in (0, 1), got ${targetFalseHitRate}`);
    }
    const points = this.params.calibration;
    const first = points[0];
    const last = points[points.length - 1];
    if (first === undefined || last === undefined) return 0.5;
    if (targetFalseHitRate <= first.falseHitRate) return first.threshold;
    if (targetFalseHitRate >= last.falseHitRate) return last.threshold;
    for (let index = 1; index < points.length; index++) {
      const upper = points[index] as OperatingPoint;
      const lower = points[index - 1] as OperatingPoint;
      if (targetFalseHitRate > upper.falseHitRate) continue;
      const span = Math.log(upper.falseHitRate) - Math.log(lower.falseHitRate);
      const share =
        span === 0 ? 0 : (Math.log(targetFalseHitRate) - Math.log(lower.falseHitRate)) / span;
      // Conservative: never go below the threshold of the next stricter measured point by more than the interpolation.
      return lower.threshold + (upper.threshold - lower.threshold) * share;
    }
    return last.threshold;
  }
}
