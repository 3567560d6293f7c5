/**
 * Usage normalisation: every provider reports tokens differently (some totals include cached
 * or reasoning tokens, some do not). `normalizeUsage` turns each shape into disjoint counts
 * that are priced independently, so no token is billed twice or missed.
 */
import { SluiceError } from '../shared/errors.js';

/** Disjoint token counts: their sum is every token billed for the request. */
export interface NormalizedUsage {
  /** Input tokens billed at the uncached input price. */
  inputTokens: number;
  /** Input tokens read from the provider's prompt cache. */
  cachedInputTokens: number;
  /** Input tokens written to the provider's prompt cache (Anthropic). */
  cacheWriteTokens: number;
  /** Output tokens, excluding reasoning. */
  outputTokens: number;
  /** Reasoning / thinking tokens. */
  reasoningTokens: number;
}

/** An empty usage (all zero). */
export const ZERO_USAGE: Readonly<NormalizedUsage> = Object.freeze({
  inputTokens: 0,
  cachedInputTokens: 0,
  cacheWriteTokens: 0,
  outputTokens: 0,
  reasoningTokens: 0,
});

/** The error code for a usage payload that cannot be priced. */
export const USAGE_ERROR_CODE = 'E_USAGE';

type Fields = Record<string, unknown>;

/**
 * Normalises a usage object. Accepted shapes:
 * - OpenAI Chat Completions (and compatible: Groq, xAI, DeepSeek, Mistral): `prompt_tokens`
 *   INCLUDES `prompt_tokens_details.cached_tokens` (DeepSeek: `prompt_cache_hit_tokens`) and
 *   `cache_creation_input_tokens` where an OpenAI-shaped API reports Anthropic cache writes;
 *   `completion_tokens` INCLUDES `completion_tokens_details.reasoning_tokens`.
 * - OpenAI embeddings: `prompt_tokens` and `total_tokens` only.
 * - OpenAI Responses API: `input_tokens` INCLUDES `input_tokens_details.cached_tokens`;
 *   `output_tokens` INCLUDES `output_tokens_details.reasoning_tokens`.
 * - Anthropic Messages: `input_tokens` EXCLUDES `cache_creation_input_tokens` and
 *   `cache_read_input_tokens`; `output_tokens` includes thinking (billed as output).
 * - Gemini `usageMetadata`: `promptTokenCount` INCLUDES `cachedContentTokenCount`;
 *   `candidatesTokenCount` EXCLUDES `thoughtsTokenCount`; `toolUsePromptTokenCount` is input.
 * - An already normalised `NormalizedUsage`.
 *
 * Missing or null counts are zero. Negative, fractional or non-numeric counts, parts larger
 * than their totals and unrecognised shapes mean a bad upstream payload: a `SluiceError`
 * with code `E_USAGE`.
 */
export function normalizeUsage(usage: unknown): NormalizedUsage {
  if (usage === null || typeof usage !== 'object' || Array.isArray(usage)) {
    throw usageError(`usage must be an object, got ${describe(usage)}`);
  }
  const fields = usage as Fields;
  if ('inputTokens' in fields) return normalizedShape(fields);
  if ('promptTokenCount' in fields || 'candidatesTokenCount' in fields) return geminiShape(fields);
  if ('prompt_tokens' in fields || 'completion_tokens' in fields) return chatShape(fields);
  if ('input_tokens' in fields || 'output_tokens' in fields) {
    const responses =
      'input_tokens_details' in fields ||
      'output_tokens_details' in fields ||
      'total_tokens' in fields;
    return responses ? responsesShape(fields) : anthropicShape(fields);
  }
  throw usageError('usage has no token counts of a known provider shape');
}

function chatShape(fields: Fields): NormalizedUsage {
  const prompt = count(fields, 'prompt_tokens');
  const completion = count(fields, 'completion_tokens');
  const promptDetails = details(fields, 'prompt_tokens_details');
  const completionDetails = details(fields, 'completion_tokens_details');
  let cached = count(promptDetails, 'cached_tokens', 'prompt_tokens_details.');
  if (cached === 0) cached = count(fields, 'prompt_cache_hit_tokens');
  const reasoning = count(completionDetails, 'reasoning_tokens', 'completion_tokens_details.');
  // Anthropic models behind an OpenAI-shaped API (Sluice's own Anthropic provider, LiteLLM)
  // report cache writes as `cache_creation_input_tokens`, included in `prompt_tokens`.
  const cacheWrite = count(fields, 'cache_creation_input_tokens');
  return {
    inputTokens: part(
      part(prompt, cached, 'prompt_tokens', 'cached_tokens'),
      cacheWrite,
      'prompt_tokens',
      'cache_creation_input_tokens',
    ),
    cachedInputTokens: cached,
    cacheWriteTokens: cacheWrite,
    outputTokens: part(completion, reasoning, 'completion_tokens', 'reasoning_tokens'),
    reasoningTokens: reasoning,
  };
}

function responsesShape(fields: Fields): NormalizedUsage {
  const input = count(fields, 'input_tokens');
  const output = count(fields, 'output_tokens');
  const cached = count(
    details(fields, 'input_tokens_details'),
    'cached_tokens',
    'input_tokens_details.',
  );
  const reasoning = count(
    details(fields, 'output_tokens_details'),
    'reasoning_tokens',
    'output_tokens_details.',
  );
  return {
    inputTokens: part(input, cached, 'input_tokens', 'cached_tokens'),
    cachedInputTokens: cached,
    cacheWriteTokens: 0,
    outputTokens: part(output, reasoning, 'output_tokens', 'reasoning_tokens'),
    reasoningTokens: reasoning,
  };
}

function anthropicShape(fields: Fields): NormalizedUsage {
  return {
    inputTokens: count(fields, 'input_tokens'),
    cachedInputTokens: count(fields, 'cache_read_input_tokens'),
    cacheWriteTokens: count(fields, 'cache_creation_input_tokens'),
    outputTokens: count(fields, 'output_tokens'),
    reasoningTokens: 0,
  };
}

function geminiShape(fields: Fields): NormalizedUsage {
  const prompt = count(fields, 'promptTokenCount');
  const cached = count(fields, 'cachedContentTokenCount');
  return {
    inputTokens:
      part(prompt, cached, 'promptTokenCount', 'cachedContentTokenCount') +
      count(fields, 'toolUsePromptTokenCount'),
    cachedInputTokens: cached,
    cacheWriteTokens: 0,
    outputTokens: count(fields, 'candidatesTokenCount'),
    reasoningTokens: count(fields, 'thoughtsTokenCount'),
  };
}

function normalizedShape(fields: Fields): NormalizedUsage {
  return {
    inputTokens: count(fields, 'inputTokens'),
    cachedInputTokens: count(fields, 'cachedInputTokens'),
    cacheWriteTokens: count(fields, 'cacheWriteTokens'),
    outputTokens: count(fields, 'outputTokens'),
    reasoningTokens: count(fields, 'reasoningTokens'),
  };
}

function count(fields: Fields | undefined, name: string, prefix = ''): number {
  const value = fields?.[name];
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw usageError(
      `usage.${prefix}${name} must be a non-negative integer, got ${describe(value)}`,
    );
  }
  return value;
}

function details(fields: Fields, name: string): Fields | undefined {
  const value = fields[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw usageError(`usage.${name} must be an object, got ${describe(value)}`);
  }
  return value as Fields;
}

/** `total - included`, refusing a part larger than its total. */
function part(total: number, included: number, totalName: string, includedName: string): number {
  if (included > total) {
    throw usageError(`usage ${includedName} (${included}) exceeds ${totalName} (${total})`);
  }
  return total - included;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value.slice(0, 40)}'`;
  if (Array.isArray(value)) return 'an array';
  return String(value);
}

function usageError(message: string): SluiceError {
  return new SluiceError(USAGE_ERROR_CODE, message);
}
