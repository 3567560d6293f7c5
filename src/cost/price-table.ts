/**
 * The bundled price table: US dollars per 1M tokens, converted to integer pico-dollars per token
 * when a `PriceTable` is built (see prices.ts).
 *
 * Sources and date (compiled 2026-11-22):
 * - OpenAI, Anthropic, Google (Gemini API, paid tier), Mistral and Groq: LiteLLM's
 *   `model_prices_and_context_window.json`, BerriAI/litellm at commit
 *   00035b69f416be24e2e323c13198d9b7d2d1bdf9, which cites each provider's pricing page.
 *   Where LiteLLM keeps a stale `-latest` alias, the dated entry it points to was used
 *   (codestral → codestral-2508).
 * - DeepSeek: api-docs.deepseek.com pricing for V3.2 (in effect since 2025-09-05);
 *   `deepseek-chat` and `deepseek-reasoner` share one price.
 * - xAI: docs.x.ai model pricing as published in 2025, cross-checked against public model
 *   registries (lobe-chat's model bank); not re-verified since.
 * - `mock-small` / `mock-large`: made up, for `sluice mock-provider` demos only.
 *
 * What is not modelled: long-context tiers (Gemini 2.5 Pro and Claude Sonnet 4/4.5 above 200k
 * prompt tokens, GPT-5.5 above 272k), Anthropic 1-hour cache writes (2× input; every cache
 * write is priced at the 5-minute rate), batch / flex / priority tiers, regional uplifts,
 * audio and image output. Override any of these with the `prices` option or a `pricingFile`.
 *
 * Field meanings: `cachedInput` is the cache-read price (defaults to `input`), `cacheWrite`
 * the cache-creation price (defaults to `input`; only Anthropic bills it separately),
 * `reasoning` the price of reasoning/thinking tokens (defaults to `output`), `contextWindow`
 * the most input tokens, `maxOutputTokens` the provider's cap on one response.
 * `class` is a coarse capability tier for routing.
 */
import type { PriceInUsdPerMillion } from './prices.js';

/** The date the bundled prices were compiled (ISO 8601). */
export const PRICE_TABLE_DATE = '2026-11-22';

/** Where the bundled prices come from. */
export const PRICE_TABLE_SOURCE =
  'LiteLLM model_prices_and_context_window.json @ 00035b69f416be24e2e323c13198d9b7d2d1bdf9; DeepSeek and xAI pricing pages';

export const BUNDLED_PRICES: Readonly<Record<string, PriceInUsdPerMillion>> = {
  // ---- OpenAI ------------------------------------------------------------------------------
  'gpt-4o': {
    provider: 'openai',
    class: 'large',
    input: 2.5,
    output: 10,
    cachedInput: 1.25,
    contextWindow: 128_000,
    maxOutputTokens: 16_384,
  },
  // The first gpt-4o snapshot kept its launch price and has no cache discount.
  'gpt-4o-2024-05-13': {
    provider: 'openai',
    class: 'large',
    input: 5,
    output: 15,
    contextWindow: 128_000,
    maxOutputTokens: 4_096,
  },
  'gpt-4o-mini': {
    provider: 'openai',
    class: 'small',
    input: 0.15,
    output: 0.6,
    cachedInput: 0.075,
    contextWindow: 128_000,
    maxOutputTokens: 16_384,
  },
  'gpt-4.1': {
    provider: 'openai',
    class: 'large',
    input: 2,
    output: 8,
    cachedInput: 0.5,
    contextWindow: 1_047_576,
    maxOutputTokens: 32_768,
  },
  'gpt-4.1-mini': {
    provider: 'openai',
    class: 'medium',
    input: 0.4,
    output: 1.6,
    cachedInput: 0.1,
    contextWindow: 1_047_576,
    maxOutputTokens: 32_768,
  },
  'gpt-4.1-nano': {
    provider: 'openai',
    class: 'small',
    input: 0.1,
    output: 0.4,
    cachedInput: 0.025,
    contextWindow: 1_047_576,
    maxOutputTokens: 32_768,
  },
  o1: {
    provider: 'openai',
    class: 'large',
    input: 15,
    output: 60,
    cachedInput: 7.5,
    contextWindow: 200_000,
    maxOutputTokens: 100_000,
  },
  o3: {
    provider: 'openai',
    class: 'large',
    input: 2,
    output: 8,
    cachedInput: 0.5,
    contextWindow: 200_000,
    maxOutputTokens: 100_000,
  },
  'o3-mini': {
    provider: 'openai',
    class: 'medium',
    input: 1.1,
    output: 4.4,
    cachedInput: 0.55,
    contextWindow: 200_000,
    maxOutputTokens: 100_000,
  },
  'o4-mini': {
    provider: 'openai',
    class: 'medium',
    input: 1.1,
    output: 4.4,
    cachedInput: 0.275,
    contextWindow: 200_000,
    maxOutputTokens: 100_000,
  },
  'gpt-5': {
    provider: 'openai',
    class: 'large',
    input: 1.25,
    output: 10,
    cachedInput: 0.125,
    contextWindow: 272_000,
    maxOutputTokens: 128_000,
  },
  'gpt-5-mini': {
    provider: 'openai',
    class: 'medium',
    input: 0.25,
    output: 2,
    cachedInput: 0.025,
    contextWindow: 272_000,
    maxOutputTokens: 128_000,
  },
  'gpt-5-nano': {
    provider: 'openai',
    class: 'small',
    input: 0.05,
    output: 0.4,
    cachedInput: 0.005,
    contextWindow: 272_000,
    maxOutputTokens: 128_000,
  },
  'gpt-5.1': {
    provider: 'openai',
    class: 'large',
    input: 1.25,
    output: 10,
    cachedInput: 0.125,
    contextWindow: 272_000,
    maxOutputTokens: 128_000,
  },
  'gpt-5.2': {
    provider: 'openai',
    class: 'large',
    input: 1.75,
    output: 14,
    cachedInput: 0.175,
    contextWindow: 272_000,
    maxOutputTokens: 128_000,
  },
  'gpt-5.5': {
    provider: 'openai',
    class: 'large',
    input: 5,
    output: 30,
    cachedInput: 0.5,
    contextWindow: 1_050_000,
    maxOutputTokens: 128_000,
  },
  'gpt-3.5-turbo': {
    provider: 'openai',
    class: 'small',
    input: 0.5,
    output: 1.5,
    contextWindow: 16_385,
    maxOutputTokens: 4_096,
  },
  'text-embedding-3-small': {
    provider: 'openai',
    mode: 'embedding',
    input: 0.02,
    output: 0,
    contextWindow: 8_191,
  },
  'text-embedding-3-large': {
    provider: 'openai',
    mode: 'embedding',
    input: 0.13,
    output: 0,
    contextWindow: 8_191,
  },
  'text-embedding-ada-002': {
    provider: 'openai',
    mode: 'embedding',
    input: 0.1,
    output: 0,
    contextWindow: 8_191,
  },

  // ---- Anthropic (cacheWrite = 5-minute cache writes) --------------------------------------
  'claude-opus-4-1': {
    provider: 'anthropic',
    class: 'large',
    input: 15,
    output: 75,
    cachedInput: 1.5,
    cacheWrite: 18.75,
    contextWindow: 200_000,
    maxOutputTokens: 32_000,
  },
  'claude-opus-4': {
    provider: 'anthropic',
    class: 'large',
    input: 15,
    output: 75,
    cachedInput: 1.5,
    cacheWrite: 18.75,
    contextWindow: 200_000,
    maxOutputTokens: 32_000,
  },
  'claude-opus-4-5': {
    provider: 'anthropic',
    class: 'large',
    input: 5,
    output: 25,
    cachedInput: 0.5,
    cacheWrite: 6.25,
    contextWindow: 200_000,
    maxOutputTokens: 64_000,
  },
  'claude-opus-4-6': {
    provider: 'anthropic',
    class: 'large',
    input: 5,
    output: 25,
    cachedInput: 0.5,
    cacheWrite: 6.25,
    contextWindow: 1_000_000,
    maxOutputTokens: 128_000,
  },
  'claude-sonnet-4-5': {
    provider: 'anthropic',
    class: 'large',
    input: 3,
    output: 15,
    cachedInput: 0.3,
    cacheWrite: 3.75,
    contextWindow: 200_000,
    maxOutputTokens: 64_000,
  },
  'claude-sonnet-4-6': {
    provider: 'anthropic',
    class: 'large',
    input: 3,
    output: 15,
    cachedInput: 0.3,
    cacheWrite: 3.75,
    contextWindow: 1_000_000,
    maxOutputTokens: 64_000,
  },
  // 1M-token context is a beta priced higher above 200k; the standard window is listed.
  'claude-sonnet-4': {
    provider: 'anthropic',
    class: 'large',
    input: 3,
    output: 15,
    cachedInput: 0.3,
    cacheWrite: 3.75,
    contextWindow: 200_000,
    maxOutputTokens: 64_000,
  },
  'claude-3-7-sonnet': {
    provider: 'anthropic',
    class: 'large',
    input: 3,
    output: 15,
    cachedInput: 0.3,
    cacheWrite: 3.75,
    contextWindow: 200_000,
    maxOutputTokens: 64_000,
  },
  'claude-haiku-4-5': {
    provider: 'anthropic',
    class: 'medium',
    input: 1,
    output: 5,
    cachedInput: 0.1,
    cacheWrite: 1.25,
    contextWindow: 200_000,
    maxOutputTokens: 64_000,
  },
  'claude-3-5-haiku': {
    provider: 'anthropic',
    class: 'small',
    input: 0.8,
    output: 4,
    cachedInput: 0.08,
    cacheWrite: 1,
    contextWindow: 200_000,
    maxOutputTokens: 8_192,
  },

  // ---- Google Gemini API (prompts up to 200k tokens) ---------------------------------------
  'gemini-2.5-pro': {
    provider: 'google',
    class: 'large',
    input: 1.25,
    output: 10,
    cachedInput: 0.125,
    contextWindow: 1_048_576,
    maxOutputTokens: 65_535,
  },
  'gemini-2.5-flash': {
    provider: 'google',
    class: 'medium',
    input: 0.3,
    output: 2.5,
    cachedInput: 0.03,
    reasoning: 2.5,
    contextWindow: 1_048_576,
    maxOutputTokens: 65_535,
  },
  'gemini-2.5-flash-lite': {
    provider: 'google',
    class: 'small',
    input: 0.1,
    output: 0.4,
    cachedInput: 0.01,
    reasoning: 0.4,
    contextWindow: 1_048_576,
    maxOutputTokens: 65_535,
  },
  'gemini-2.0-flash': {
    provider: 'google',
    class: 'small',
    input: 0.1,
    output: 0.4,
    cachedInput: 0.025,
    contextWindow: 1_048_576,
    maxOutputTokens: 8_192,
  },

  // ---- Mistral (`-latest` aliases resolve to these by prefix) ------------------------------
  // Mistral Large 3 (2512).
  'mistral-large': {
    provider: 'mistral',
    class: 'large',
    input: 0.5,
    output: 1.5,
    contextWindow: 262_144,
    maxOutputTokens: 262_144,
  },
  'mistral-large-2411': {
    provider: 'mistral',
    class: 'large',
    input: 2,
    output: 6,
    contextWindow: 128_000,
    maxOutputTokens: 128_000,
  },
  // Mistral Medium 3.5 (2604).
  'mistral-medium': {
    provider: 'mistral',
    class: 'medium',
    input: 1.5,
    output: 7.5,
    contextWindow: 262_144,
    maxOutputTokens: 262_144,
  },
  'mistral-medium-2508': {
    provider: 'mistral',
    class: 'medium',
    input: 0.4,
    output: 2,
    contextWindow: 131_072,
    maxOutputTokens: 131_072,
  },
  'mistral-medium-2505': {
    provider: 'mistral',
    class: 'medium',
    input: 0.4,
    output: 2,
    contextWindow: 131_072,
    maxOutputTokens: 8_191,
  },
  // Mistral Small 3.2 (2506).
  'mistral-small': {
    provider: 'mistral',
    class: 'small',
    input: 0.06,
    output: 0.18,
    contextWindow: 131_072,
    maxOutputTokens: 131_072,
  },
  // Codestral 25.08.
  codestral: {
    provider: 'mistral',
    class: 'medium',
    input: 0.3,
    output: 0.9,
    contextWindow: 256_000,
    maxOutputTokens: 256_000,
  },

  // ---- DeepSeek (V3.2) ---------------------------------------------------------------------
  'deepseek-chat': {
    provider: 'deepseek',
    class: 'medium',
    input: 0.28,
    output: 0.42,
    cachedInput: 0.028,
    contextWindow: 128_000,
    maxOutputTokens: 8_192,
  },
  'deepseek-reasoner': {
    provider: 'deepseek',
    class: 'medium',
    input: 0.28,
    output: 0.42,
    cachedInput: 0.028,
    contextWindow: 128_000,
    maxOutputTokens: 65_536,
  },

  // ---- Groq-hosted open models -------------------------------------------------------------
  'llama-3.3-70b-versatile': {
    provider: 'groq',
    class: 'medium',
    input: 0.59,
    output: 0.79,
    contextWindow: 128_000,
    maxOutputTokens: 32_768,
  },
  'llama-3.1-8b-instant': {
    provider: 'groq',
    class: 'small',
    input: 0.05,
    output: 0.08,
    contextWindow: 128_000,
    maxOutputTokens: 8_192,
  },

  // ---- xAI (output shares the context window; no separate output cap is published) --------
  'grok-4': {
    provider: 'xai',
    class: 'large',
    input: 3,
    output: 15,
    cachedInput: 0.75,
    contextWindow: 256_000,
    maxOutputTokens: 256_000,
  },
  'grok-3': {
    provider: 'xai',
    class: 'large',
    input: 3,
    output: 15,
    cachedInput: 0.75,
    contextWindow: 131_072,
    maxOutputTokens: 131_072,
  },
  'grok-3-mini': {
    provider: 'xai',
    class: 'small',
    input: 0.3,
    output: 0.5,
    cachedInput: 0.075,
    contextWindow: 131_072,
    maxOutputTokens: 131_072,
  },
  'grok-code-fast-1': {
    provider: 'xai',
    class: 'medium',
    input: 0.2,
    output: 1.5,
    cachedInput: 0.02,
    contextWindow: 256_000,
    maxOutputTokens: 256_000,
  },

  // ---- Sluice's mock provider: made-up prices so demos show costs --------------------------
  'mock-small': {
    provider: 'mock',
    class: 'small',
    input: 0.1,
    output: 0.4,
    cachedInput: 0.025,
    contextWindow: 128_000,
    maxOutputTokens: 16_384,
  },
  'mock-large': {
    provider: 'mock',
    class: 'large',
    input: 2,
    output: 8,
    cachedInput: 0.5,
    contextWindow: 128_000,
    maxOutputTokens: 16_384,
  },
};

/**
 * Names that providers accept as aliases but that prefix matching would not resolve (a
 * single-digit suffix is a different model, never a snapshot).
 */
export const BUNDLED_ALIASES: Readonly<Record<string, string>> = {
  'claude-opus-4-0': 'claude-opus-4',
  'claude-sonnet-4-0': 'claude-sonnet-4',
};
