/**
 * Reads LiteLLM's `model_prices_and_context_window.json` (USD per token) into price-table
 * layers (pico-dollars per token). A trust boundary: every priced entry is validated with zod
 * and a bad one fails with a `ConfigError` that names the file, the entry and the field.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../shared/errors.js';
import { perTokenToPico } from './money.js';
import type { PartialModelPrice } from './prices.js';

const costSchema = z.number().nonnegative().nullish();
const tokenCountSchema = z.number().int().nonnegative().nullish();
const entrySchema = z.object({
  input_cost_per_token: costSchema,
  output_cost_per_token: costSchema,
  cache_read_input_token_cost: costSchema,
  cache_creation_input_token_cost: costSchema,
  output_cost_per_reasoning_token: costSchema,
  max_input_tokens: tokenCountSchema,
  max_output_tokens: tokenCountSchema,
  max_tokens: tokenCountSchema,
  litellm_provider: z.string().nullish(),
  mode: z.string().nullish(),
});

/** The documentation entry at the top of LiteLLM's file; not a model. */
const SAMPLE_SPEC = 'sample_spec';

/** Reads and converts a LiteLLM pricing file. See `parseLiteLlmPrices`. */
export function loadLiteLlmPrices(path: string): Map<string, PartialModelPrice> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`pricingFile: cannot read ${path}`, { cause: error });
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`pricingFile ${path}: not valid JSON`, { cause: error });
  }
  return parseLiteLlmPrices(document, `pricingFile ${path}`);
}

/**
 * Converts a parsed LiteLLM pricing document. Skips `sample_spec` and entries with neither
 * `input_cost_per_token` nor `output_cost_per_token` (images, audio, rerank, ...). Per-token
 * USD floats are converted through their shortest decimal text, so `1.5e-7` is exactly 150_000
 * pico; digits below one pico-dollar (float noise such as `2.9999900000000002e-6`) are rounded
 * to the nearest pico. Absent fields stay absent, so they inherit from the layer below (the
 * table builder prices a still-missing input or output at 0: embeddings have no output price).
 * `max_output_tokens` falls back to the legacy `max_tokens`.
 */
export function parseLiteLlmPrices(
  document: unknown,
  source = 'pricingFile',
): Map<string, PartialModelPrice> {
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new ConfigError(`${source}: expected an object keyed by model name`);
  }
  const layer = new Map<string, PartialModelPrice>();
  for (const [model, raw] of Object.entries(document)) {
    if (model === SAMPLE_SPEC) continue;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new ConfigError(`${source}: entry "${model}" must be an object`);
    }
    if (!('input_cost_per_token' in raw) && !('output_cost_per_token' in raw)) continue;

    const parsed = entrySchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue?.path.map(String).join('.') ?? '';
      throw new ConfigError(
        `${source}: entry "${model}"${field === '' ? '' : `.${field}`}: ${issue?.message ?? 'invalid'}`,
      );
    }
    const entry = parsed.data;
    const at = (field: string) => `${source}: entry "${model}".${field}`;
    const pico = (value: number | null | undefined, field: string) =>
      value === null || value === undefined ? undefined : perTokenToPico(value, at(field));

    const converted: PartialModelPrice = {};
    const input = pico(entry.input_cost_per_token, 'input_cost_per_token');
    const output = pico(entry.output_cost_per_token, 'output_cost_per_token');
    const cachedInput = pico(entry.cache_read_input_token_cost, 'cache_read_input_token_cost');
    const cacheWrite = pico(
      entry.cache_creation_input_token_cost,
      'cache_creation_input_token_cost',
    );
    const reasoning = pico(
      entry.output_cost_per_reasoning_token,
      'output_cost_per_reasoning_token',
    );
    if (input !== undefined) converted.input = input;
    if (output !== undefined) converted.output = output;
    if (cachedInput !== undefined) converted.cachedInput = cachedInput;
    if (cacheWrite !== undefined) converted.cacheWrite = cacheWrite;
    if (reasoning !== undefined) converted.reasoning = reasoning;
    if (entry.litellm_provider) converted.provider = entry.litellm_provider;
    const embedding = entry.mode === 'embedding';
    if (entry.mode) converted.mode = embedding ? 'embedding' : 'chat';
    if (entry.max_input_tokens) converted.contextWindow = entry.max_input_tokens;
    const maxOutput = entry.max_output_tokens ?? entry.max_tokens;
    if (maxOutput && !embedding) converted.maxOutputTokens = maxOutput;
    layer.set(model.trim().toLowerCase(), converted);
  }
  return layer;
}
