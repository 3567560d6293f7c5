/**
 * Model prices: the bundled table merged with a LiteLLM pricing file and `prices` overrides,
 * converted once to integer pico-dollars per token, and a lookup that resolves provider
 * prefixes, dated snapshots and aliases.
 */
import { z } from 'zod';
import { ConfigError } from '../shared/errors.js';
import { loadLiteLlmPrices } from './litellm.js';
import { type PicosPerToken, perMillionToPico } from './money.js';
import { BUNDLED_ALIASES, BUNDLED_PRICES } from './price-table.js';

/** A coarse capability tier, used by routing to pick the cheapest adequate model. */
export type ModelClass = 'small' | 'medium' | 'large';
/** What a model's tokens are: chat/completion tokens, or embedding input only. */
export type ModelMode = 'chat' | 'embedding';

/** A price as US dollars per 1M tokens: a number (`0.15`) or a decimal string (`'0.15'`). */
export type UsdPerMillion = number | string;

/** One model's prices as written in the table and in the `prices` option. */
export interface PriceInUsdPerMillion {
  /** Who serves the model: `openai`, `anthropic`, `google`, ... */
  provider: string;
  /** Uncached input tokens, USD per 1M tokens. */
  input: UsdPerMillion;
  /** Output tokens (excluding reasoning), USD per 1M tokens. */
  output: UsdPerMillion;
  /** Cache-read input tokens, USD per 1M tokens. @default input */
  cachedInput?: UsdPerMillion;
  /** Cache-write (cache creation) input tokens, USD per 1M tokens. @default input */
  cacheWrite?: UsdPerMillion;
  /** Reasoning / thinking tokens, USD per 1M tokens. @default output */
  reasoning?: UsdPerMillion;
  /** Most input tokens the model accepts, in tokens. @default undefined (unknown) */
  contextWindow?: number;
  /** The provider's cap on one response, in tokens. @default undefined (unknown) */
  maxOutputTokens?: number;
  /** Capability tier for routing. @default undefined */
  class?: ModelClass;
  /** @default 'chat' */
  mode?: ModelMode;
}

/** An override: any subset of fields; a model not in the table needs `input` and `output`. */
export type PartialPriceInUsdPerMillion = Partial<PriceInUsdPerMillion>;

/** Integer pico-dollars (1e-12 USD) per token, by kind of token. */
export interface TokenPrices {
  input: PicosPerToken;
  cachedInput: PicosPerToken;
  cacheWrite: PicosPerToken;
  output: PicosPerToken;
  reasoning: PicosPerToken;
}

/** A resolved model price. */
export interface ModelPrice {
  /** The table entry the name resolved to (lower case), e.g. `gpt-4o` for `gpt-4o-2024-08-06`. */
  readonly model: string;
  readonly provider: string;
  readonly picoPerToken: Readonly<TokenPrices>;
  /** Most input tokens, or undefined when unknown. */
  readonly contextWindow: number | undefined;
  /** The provider's cap on one response, or undefined when unknown. */
  readonly maxOutputTokens: number | undefined;
  readonly class: ModelClass | undefined;
  readonly mode: ModelMode;
}

/** One layer's view of a model, already in pico-dollars per token; absent fields inherit. */
export interface PartialModelPrice {
  provider?: string;
  input?: PicosPerToken;
  cachedInput?: PicosPerToken;
  cacheWrite?: PicosPerToken;
  output?: PicosPerToken;
  reasoning?: PicosPerToken;
  contextWindow?: number;
  maxOutputTokens?: number;
  class?: ModelClass;
  mode?: ModelMode;
}

export interface PriceTableOptions {
  /**
   * Prices in USD per 1M tokens, merged field by field over the bundled table and
   * `pricingFile`; may add models. Precedence: bundled < pricingFile < prices.
   * @default {} (none)
   */
  prices?: Record<string, PartialPriceInUsdPerMillion>;
  /**
   * Path to a LiteLLM `model_prices_and_context_window.json`, merged over the bundled table.
   * Read once, synchronously, when the table is built.
   * @default undefined (none)
   */
  pricingFile?: string;
}

const usdPerMillionSchema = z.union([z.number(), z.string()], {
  error: 'expected US dollars per 1M tokens, as a number or a decimal string',
});
const tokenCountSchema = z.number().int().positive();
const overrideSchema = z.strictObject({
  provider: z.string().min(1).optional(),
  input: usdPerMillionSchema.optional(),
  output: usdPerMillionSchema.optional(),
  cachedInput: usdPerMillionSchema.optional(),
  cacheWrite: usdPerMillionSchema.optional(),
  reasoning: usdPerMillionSchema.optional(),
  contextWindow: tokenCountSchema.optional(),
  maxOutputTokens: tokenCountSchema.optional(),
  class: z.enum(['small', 'medium', 'large']).optional(),
  mode: z.enum(['chat', 'embedding']).optional(),
});
const overridesSchema = z.record(z.string().min(1), overrideSchema);

const PRICE_FIELDS = ['input', 'output', 'cachedInput', 'cacheWrite', 'reasoning'] as const;
/** A leading `vendor.` of Bedrock-style ids (`anthropic.`, `us.anthropic.`). */
const VENDOR_DOT_PREFIX =
  /^(?:[a-z]{2}\.)?(?:anthropic|meta|mistral|amazon|cohere|deepseek|openai)\./;
/** First segment of a suffix that marks a snapshot of the same model: a date, version or tag. */
const SNAPSHOT_SEGMENT = /^(?:\d{3,8}|latest|preview|exp|experimental|v\d[\w.:]*)$/;

/** The merged, converted price table. Build one with `createPriceTable`. */
export class PriceTable {
  readonly #entries: ReadonlyMap<string, ModelPrice>;

  constructor(entries: ReadonlyMap<string, ModelPrice>) {
    this.#entries = entries;
  }

  /**
   * The price of `model`, or undefined when unknown. Tries, in order: the exact name (case
   * insensitive); the name without a provider prefix (`openai/gpt-4o`, `anthropic.claude-…`);
   * then the longest known prefix followed by a snapshot suffix: a date or version
   * (`gpt-4o-2024-08-06` → gpt-4o, `claude-3-5-haiku-20241022` → claude-3-5-haiku,
   * `gpt-4o-mini-2024-07-18` → gpt-4o-mini), `latest`, `preview…` or `exp…`. A suffix that
   * names a variant (`gpt-4o-audio-preview`, `grok-4-fast`) does not match: an unknown model
   * is better than a wrong price.
   */
  price(model: string): ModelPrice | undefined {
    const name = model.trim().toLowerCase();
    const found = this.#match(name);
    if (found !== undefined) return found;
    const slash = name.lastIndexOf('/');
    let bare = slash >= 0 ? name.slice(slash + 1) : name;
    bare = bare.replace(VENDOR_DOT_PREFIX, '').replace('@', '-');
    return bare === name ? undefined : this.#match(bare);
  }

  /** Every entry (aliases excluded). */
  models(): ModelPrice[] {
    const seen = new Set<ModelPrice>();
    for (const entry of this.#entries.values()) seen.add(entry);
    return [...seen];
  }

  get size(): number {
    return this.#entries.size;
  }

  #match(name: string): ModelPrice | undefined {
    const exact = this.#entries.get(name);
    if (exact !== undefined || !name.includes('-')) return exact;
    const segments = name.split('-');
    for (let cut = segments.length - 1; cut >= 1; cut -= 1) {
      const entry = this.#entries.get(segments.slice(0, cut).join('-'));
      if (entry !== undefined && SNAPSHOT_SEGMENT.test(segments[cut] ?? '')) return entry;
    }
    return undefined;
  }
}

/**
 * Builds a price table from the bundled prices, then `pricingFile`, then `prices`, each layer
 * merged field by field over the previous one. Throws a `ConfigError` naming the bad entry.
 */
export function createPriceTable(options: PriceTableOptions = {}): PriceTable {
  const layers = new Map<string, PartialModelPrice>();
  mergeLayer(layers, convertUsdLayer(BUNDLED_PRICES, 'bundled price table'));
  if (options.pricingFile !== undefined) {
    const fileLayer = loadLiteLlmPrices(options.pricingFile);
    mergeLayer(layers, fileLayer);
    // A priced LiteLLM entry may give only one side (embeddings have no output price).
    for (const model of fileLayer.keys()) {
      const merged = layers.get(model);
      if (merged === undefined) continue;
      merged.input ??= 0;
      merged.output ??= 0;
    }
  }
  const overrideSource = 'prices';
  if (options.prices !== undefined) {
    mergeLayer(layers, convertUsdLayer(validateOverrides(options.prices), overrideSource));
  }

  const entries = new Map<string, ModelPrice>();
  for (const [model, layer] of layers) {
    entries.set(model, finalize(model, layer, overrideSource));
  }
  for (const [alias, target] of Object.entries(BUNDLED_ALIASES)) {
    const entry = entries.get(target);
    if (entry !== undefined && !entries.has(alias)) entries.set(alias, entry);
  }
  return new PriceTable(entries);
}

let bundledTable: PriceTable | undefined;

/** Looks `model` up in the bundled table alone (no overrides). See `PriceTable.price`. */
export function price(model: string): ModelPrice | undefined {
  bundledTable ??= createPriceTable();
  return bundledTable.price(model);
}

function validateOverrides(
  prices: Record<string, PartialPriceInUsdPerMillion>,
): Record<string, PartialPriceInUsdPerMillion> {
  const parsed = overridesSchema.safeParse(prices);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => {
    const [model, ...field] = issue.path.map(String);
    const where =
      model === undefined
        ? 'prices'
        : `prices["${model}"]${field.map((part) => `.${part}`).join('')}`;
    return `  ${where}: ${issue.message}`;
  });
  throw new ConfigError(`invalid prices:\n${lines.join('\n')}`);
}

function convertUsdLayer(
  table: Readonly<Record<string, PartialPriceInUsdPerMillion>>,
  source: string,
): Map<string, PartialModelPrice> {
  const layer = new Map<string, PartialModelPrice>();
  for (const [model, usd] of Object.entries(table)) {
    const converted: PartialModelPrice = {};
    for (const field of PRICE_FIELDS) {
      const value = usd[field];
      if (value !== undefined) {
        converted[field] = perMillionToPico(value, `${source}["${model}"].${field}`);
      }
    }
    if (usd.provider !== undefined) converted.provider = usd.provider;
    if (usd.contextWindow !== undefined) converted.contextWindow = usd.contextWindow;
    if (usd.maxOutputTokens !== undefined) converted.maxOutputTokens = usd.maxOutputTokens;
    if (usd.class !== undefined) converted.class = usd.class;
    if (usd.mode !== undefined) converted.mode = usd.mode;
    layer.set(model.trim().toLowerCase(), converted);
  }
  return layer;
}

function mergeLayer(
  into: Map<string, PartialModelPrice>,
  layer: ReadonlyMap<string, PartialModelPrice>,
): void {
  for (const [model, fields] of layer) {
    const merged: PartialModelPrice = { ...into.get(model) };
    for (const [field, value] of Object.entries(fields)) {
      if (value !== undefined) Object.assign(merged, { [field]: value });
    }
    into.set(model, merged);
  }
}

function finalize(model: string, layer: PartialModelPrice, source: string): ModelPrice {
  const { input, output } = layer;
  if (input === undefined || output === undefined) {
    throw new ConfigError(
      `${source}["${model}"]: a model that is not in the price table needs both input and output`,
    );
  }
  return Object.freeze({
    model,
    provider: layer.provider ?? 'custom',
    picoPerToken: Object.freeze({
      input,
      cachedInput: layer.cachedInput ?? input,
      cacheWrite: layer.cacheWrite ?? input,
      output,
      reasoning: layer.reasoning ?? output,
    }),
    contextWindow: layer.contextWindow,
    maxOutputTokens: layer.maxOutputTokens,
    class: layer.class,
    mode: layer.mode ?? 'chat',
  });
}
