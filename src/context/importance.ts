/**
 * The importance of an older message (a unit: a message, or a tool call with its results),
 * used to decide which older messages stay in the context when the conversation no longer
 * fits. Each signal is in 0..1; the score is their weighted mean, so it is in 0..1 too.
 * System and pinned messages are not scored: they are always kept.
 */
import { ConfigError } from '../shared/errors.js';
import type { Unit } from './messages.js';

/** Weights of the importance signals (any non-negative numbers; only their ratios matter). */
export interface ImportanceWeights {
  /** The role's score from `roleScores`. @default 1 */
  role: number;
  /** 1 when the message contains one of `keywords`, else 0. @default 2 */
  keyword: number;
  /** Grows with the message's tokens, saturating at `lengthSaturation`. @default 0.5 */
  length: number;
  /**
   * 1 − 0.5^n, where n is how many later messages mention an identifier, number, file name or
   * quoted string that this message said first. @default 3
   */
  reference: number;
  /** Position in the conversation: (index + 1) / (newest index + 1). @default 1 */
  recency: number;
}

export const DEFAULT_WEIGHTS: Readonly<ImportanceWeights> = {
  role: 1,
  keyword: 2,
  length: 0.5,
  reference: 3,
  recency: 1,
};

/** Score of each role, 0..1; a tool call with its results scores as `tool`. */
export const DEFAULT_ROLE_SCORES: Readonly<Record<string, number>> = {
  user: 1,
  assistant: 0.5,
  tool: 0.4,
};

/** Score of a role missing from `roleScores`. */
export const DEFAULT_OTHER_ROLE_SCORE = 0.5;

/**
 * Words that mark a message as important. Deliberately no common modal words (`must`, `never`):
 * policy text and tool output are full of them.
 */
export const DEFAULT_KEYWORDS: readonly string[] = [
  'important',
  'remember',
  "don't forget",
  'decision',
  'decided',
  'error',
  'failed',
  'critical',
  'constraint',
  'requirement',
];

/** Tokens at which the length signal reaches 1 (log scale). */
export const DEFAULT_LENGTH_SATURATION = 512;

export interface ScorerSettings {
  weights: ImportanceWeights;
  roleScores: Readonly<Record<string, number>>;
  lengthSaturation: number;
}

export function resolveWeights(weights: Partial<ImportanceWeights> | undefined): ImportanceWeights {
  const resolved = { ...DEFAULT_WEIGHTS, ...weights };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isFinite(value) || value < 0) {
      throw new ConfigError(`weights.${name} must be a non-negative number, got ${value}`);
    }
  }
  return resolved;
}

export function resolveRoleScores(
  roleScores: Readonly<Record<string, number>> | undefined,
): Record<string, number> {
  const resolved = { ...DEFAULT_ROLE_SCORES, ...roleScores };
  for (const [role, value] of Object.entries(resolved)) {
    if (!Number.isFinite(value) || value < 0 || value > 1) {
      throw new ConfigError(`roleScores.${role} must be between 0 and 1, got ${value}`);
    }
  }
  return resolved;
}

/** Scores units; `score` is O(1). */
export class ImportanceScorer {
  readonly #weights: ImportanceWeights;
  readonly #roleScores: Readonly<Record<string, number>>;
  readonly #total: number;
  readonly #logSaturation: number;

  constructor(settings: ScorerSettings) {
    this.#weights = settings.weights;
    this.#roleScores = settings.roleScores;
    const { role, keyword, length, reference, recency } = settings.weights;
    this.#total = role + keyword + length + reference + recency;
    this.#logSaturation = Math.log1p(settings.lengthSaturation);
  }

  /**
   * The importance of `unit`, 0..1, given how many later units referenced it and the newest
   * message index seen so far.
   */
  score(unit: Unit, references: number, newestMessage: number): number {
    if (this.#total === 0) return 0;
    const weights = this.#weights;
    const role = this.#roleScores[unit.role] ?? DEFAULT_OTHER_ROLE_SCORE;
    const length = Math.min(1, Math.log1p(unit.tokens) / this.#logSaturation);
    const reference = 1 - 0.5 ** references;
    const recency = (unit.first + 1) / (newestMessage + 1);
    return (
      (weights.role * role +
        weights.keyword * (unit.keyword ? 1 : 0) +
        weights.length * length +
        weights.reference * reference +
        weights.recency * recency) /
      this.#total
    );
  }
}
