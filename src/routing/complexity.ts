/**
 * Request complexity: a deterministic 0..1 estimate of how hard a chat request is, from cheap
 * signals (prompt length, tools, code, reasoning cues, conversation turns, structured output),
 * and the minimum model quality it calls for. No tokenizer: it uses the token count it is
 * given, else about four characters per token. Text scans are bounded, so a typical request
 * takes a few microseconds.
 *
 * score = clamp(Σ weight_signal × signal, 0, 1), each signal in 0..1:
 * - `length`: 0 at ≤ `shortPromptTokens`, 1 at ≥ `longPromptTokens`, log-linear between.
 * - `tools`: tool (function) definitions: 0.75 + 0.05 per tool, max 1; only tool calls or tool
 *   results in the conversation: 0.6.
 * - `code`: a fenced block (```) → 1; else code-like tokens (`=>`, `);`, `def f(`, ...):
 *   1-3 → 0.3, 4 or more → 0.6.
 * - `reasoning`: strong cues (prove, step by step, derive, theorem) 0.7 + math (equations,
 *   integrals, formulas) 0.5 + mild cues (analyze, compare, evaluate, trade-offs) 0.4, max 1.
 * - `turns`: (user/assistant/tool messages − 1) / 19, max 1.
 * - `structuredOutput`: `response_format` `json_schema` → 1, `json_object` → 0.5.
 *
 * minQuality = clamp(qualityBase + qualitySlope × score, 0, 1), by default 0.5 + 0.45 × score:
 * a trivial request accepts a small model (quality 0.6), a score above 0.22 needs a medium one
 * (0.75) and above 0.56 a large one (0.9).
 */
import { ConfigError } from '../shared/errors.js';

/** The parts of an OpenAI-shaped chat request the estimate reads. */
export interface ComplexityRequest {
  messages?: readonly unknown[] | null;
  tools?: readonly unknown[] | null;
  functions?: readonly unknown[] | null;
  response_format?: unknown;
}

/** How much each signal contributes to the score. */
export interface ComplexityWeights {
  /** @default 0.3 */
  length: number;
  /** @default 0.15 */
  tools: number;
  /** @default 0.25 */
  code: number;
  /** @default 0.25 */
  reasoning: number;
  /** @default 0.1 */
  turns: number;
  /** @default 0.1 */
  structuredOutput: number;
}

export const DEFAULT_COMPLEXITY_WEIGHTS: Readonly<ComplexityWeights> = Object.freeze({
  length: 0.3,
  tools: 0.15,
  code: 0.25,
  reasoning: 0.25,
  turns: 0.1,
  structuredOutput: 0.1,
});

export interface ComplexityOptions {
  /** Signal weights, merged over `DEFAULT_COMPLEXITY_WEIGHTS`. */
  weights?: Partial<ComplexityWeights>;
  /** minQuality at complexity 0. @default 0.5 */
  qualityBase?: number;
  /** minQuality added per unit of complexity. @default 0.45 */
  qualitySlope?: number;
  /** Prompt tokens up to which length adds nothing. @default 200 */
  shortPromptTokens?: number;
  /** Prompt tokens from which length counts fully. @default 16000 */
  longPromptTokens?: number;
}

/** Each signal, 0..1, before weighting. */
export interface ComplexitySignals {
  /** The prompt tokens used: as given, or estimated from characters. */
  readonly promptTokens: number;
  readonly length: number;
  readonly tools: number;
  readonly code: number;
  readonly reasoning: number;
  readonly turns: number;
  readonly structuredOutput: number;
}

export interface ComplexityEstimate {
  /** 0..1, rounded to 4 decimals. */
  readonly score: number;
  /** The quality floor this complexity calls for, 0..1, rounded to 3 decimals. */
  readonly minQuality: number;
  readonly signals: ComplexitySignals;
}

export interface ComplexityEstimator {
  /** Estimates `request`; pass `promptTokens` when already counted. */
  estimate(request: ComplexityRequest, promptTokens?: number): ComplexityEstimate;
  /** The quality floor for a complexity score. */
  qualityFor(score: number): number;
}

/** Characters of one message scanned for cues and code tokens. */
const SCAN_CHARS = 8_000;
/** Messages from the end scanned for code fences. */
const FENCE_SCAN_MESSAGES = 8;
const CHARS_PER_TOKEN = 4;

const STRONG_REASONING =
  /\b(?:step[- ]by[- ]step|prove|proof|derive|derivation|theorem|lemma|rigorous(?:ly)?|think (?:carefully|hard)|reason (?:through|about)|chain of thought)\b/i;
const MILD_REASONING =
  /\b(?:analy[sz]e|analysis|compare|comparison|contrast|evaluate|trade-?offs?|explain why|justify|critique|pros and cons)\b/i;
const MATH =
  /[∫∑∏√≤≥≠∞]|\\(?:frac|int|sum|sqrt|lim)\b|\b(?:equation|integral|derivative|probability|matrix|eigen\w*|polynomial)\b|\d\s*[*/^]\s*\d|\b[a-z]\s*=\s*-?\d/i;
const CODE_TOKENS =
  /=>|===|!==|&&|\|\||::|\);|\)\s*\{|\bdef\s+\w+\s*\(|\bfunction\b\s*\w*\s*\(|\bimport\s+(?:\w+|\{[^}]*\}|\*\s+as\s+\w+)\s+from\s+['"]|^from\s+[\w.]+\s+import\s+\w+|#include\s*<|\bSELECT\b[^;]{0,200}?\bFROM\b|\bconsole\.log\(|\breturn\s+\w+\s*;/gm;
const MAX_CODE_TOKENS = 4;

/** Creates an estimator; throws a `ConfigError` for a negative weight or a bad mapping. */
export function createComplexityEstimator(options: ComplexityOptions = {}): ComplexityEstimator {
  const weights: ComplexityWeights = { ...DEFAULT_COMPLEXITY_WEIGHTS, ...options.weights };
  for (const [name, value] of Object.entries(weights)) {
    if (!(Number.isFinite(value) && value >= 0)) {
      throw new ConfigError(
        `complexity weight ${name} must be a non-negative number, got ${value}`,
      );
    }
  }
  const base = options.qualityBase ?? 0.5;
  const slope = options.qualitySlope ?? 0.45;
  if (!(Number.isFinite(base) && Number.isFinite(slope))) {
    throw new ConfigError('qualityBase and qualitySlope must be finite numbers');
  }
  const short = options.shortPromptTokens ?? 200;
  const long = options.longPromptTokens ?? 16_000;
  if (!(short > 0 && long > short)) {
    throw new ConfigError(
      `longPromptTokens (${long}) must exceed shortPromptTokens (${short}) > 0`,
    );
  }
  const lengthScale = Math.log(long / short);

  const qualityFor = (score: number): number =>
    Math.round(clamp01(base + slope * clamp01(score)) * 1000) / 1000;

  return {
    qualityFor,
    estimate(request, promptTokens) {
      const messages = Array.isArray(request.messages) ? request.messages : [];
      const toolDefinitions =
        (Array.isArray(request.tools) ? request.tools.length : 0) +
        (Array.isArray(request.functions) ? request.functions.length : 0);

      let chars = 0;
      let turns = 0;
      let toolTraffic = false;
      let fence = false;
      let lastUser = '';
      let system = '';
      for (let index = 0; index < messages.length; index += 1) {
        const message = messages[index];
        if (typeof message !== 'object' || message === null) continue;
        const { role, content, tool_calls: toolCalls } = message as MessageShape;
        const text = textOf(content);
        chars += text.length + 16;
        if (Array.isArray(toolCalls) && toolCalls.length > 0) {
          toolTraffic = true;
          for (const call of toolCalls) chars += argumentsLength(call);
        }
        if (role === 'user' || role === 'assistant' || role === 'tool' || role === 'function') {
          turns += 1;
        }
        if (role === 'tool' || role === 'function') toolTraffic = true;
        if (role === 'user') lastUser = text;
        else if ((role === 'system' || role === 'developer') && system === '') system = text;
        if (!fence && index >= messages.length - FENCE_SCAN_MESSAGES) {
          fence = text.includes('```');
        }
      }
      const tokens =
        promptTokens !== undefined && Number.isFinite(promptTokens) && promptTokens >= 0
          ? promptTokens
          : Math.ceil((chars + toolsLength(request)) / CHARS_PER_TOKEN);

      const scanned = `${head(system)}\n${head(lastUser)}`;
      const length = tokens <= short ? 0 : clamp01(Math.log(tokens / short) / lengthScale);
      const tools =
        toolDefinitions > 0 ? Math.min(1, 0.75 + 0.05 * toolDefinitions) : toolTraffic ? 0.6 : 0;
      const code = fence ? 1 : codeSignal(scanned);
      const reasoning = clamp01(
        (STRONG_REASONING.test(scanned) ? 0.7 : 0) +
          (MATH.test(scanned) ? 0.5 : 0) +
          (MILD_REASONING.test(scanned) ? 0.4 : 0),
      );
      const turnSignal = clamp01((turns - 1) / 19);
      const structuredOutput = structuredOutputSignal(request.response_format);

      const raw =
        weights.length * length +
        weights.tools * tools +
        weights.code * code +
        weights.reasoning * reasoning +
        weights.turns * turnSignal +
        weights.structuredOutput * structuredOutput;
      const score = Math.round(clamp01(raw) * 10_000) / 10_000;
      return {
        score,
        minQuality: qualityFor(score),
        signals: {
          promptTokens: tokens,
          length,
          tools,
          code,
          reasoning,
          turns: turnSignal,
          structuredOutput,
        },
      };
    },
  };
}

let defaultEstimator: ComplexityEstimator | undefined;

/** Estimates with the default options. See `createComplexityEstimator`. */
export function estimateComplexity(
  request: ComplexityRequest,
  promptTokens?: number,
): ComplexityEstimate {
  defaultEstimator ??= createComplexityEstimator();
  return defaultEstimator.estimate(request, promptTokens);
}

interface MessageShape {
  role?: unknown;
  content?: unknown;
  tool_calls?: unknown;
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const part of content) {
    if (typeof part === 'object' && part !== null) {
      const value = (part as { text?: unknown }).text;
      if (typeof value === 'string') text = text === '' ? value : `${text}\n${value}`;
    }
  }
  return text;
}

function argumentsLength(call: unknown): number {
  if (typeof call !== 'object' || call === null) return 0;
  const fn = (call as { function?: { arguments?: unknown } }).function;
  return typeof fn?.arguments === 'string' ? fn.arguments.length : 0;
}

function toolsLength(request: ComplexityRequest): number {
  let length = 0;
  for (const list of [request.tools, request.functions]) {
    if (Array.isArray(list) && list.length > 0) length += JSON.stringify(list).length;
  }
  return length;
}

function head(text: string): string {
  return text.length > SCAN_CHARS ? text.slice(0, SCAN_CHARS) : text;
}

function codeSignal(text: string): number {
  CODE_TOKENS.lastIndex = 0;
  let matches = 0;
  while (matches < MAX_CODE_TOKENS && CODE_TOKENS.exec(text) !== null) matches += 1;
  CODE_TOKENS.lastIndex = 0;
  return matches === 0 ? 0 : matches < MAX_CODE_TOKENS ? 0.3 : 0.6;
}

function structuredOutputSignal(format: unknown): number {
  if (typeof format !== 'object' || format === null) return 0;
  const type = (format as { type?: unknown }).type;
  return type === 'json_schema' ? 1 : type === 'json_object' ? 0.5 : 0;
}

function clamp01(value: number): number {
  return value <= 0 || Number.isNaN(value) ? 0 : value >= 1 ? 1 : value;
}
