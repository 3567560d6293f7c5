import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseLiteLlmPrices } from '../../src/cost/litellm.js';
import {
  formatUsd,
  nanosToUsd,
  perMillionToPico,
  perTokenToPico,
  usdToNanos,
} from '../../src/cost/money.js';
import { BUNDLED_PRICES } from '../../src/cost/price-table.js';
import { createPriceTable, price } from '../../src/cost/prices.js';
import { ConfigError, SluiceError } from '../../src/shared/errors.js';

const fixturePath = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

function configErrorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('money helpers are exact', () => {
  it('converts dollars to nano-dollars through decimal text', () => {
    expect(usdToNanos(5)).toBe(5_000_000_000);
    expect(usdToNanos(0.1)).toBe(100_000_000);
    expect(usdToNanos('0.1')).toBe(100_000_000);
    expect(usdToNanos(1e-9)).toBe(1);
    expect(usdToNanos(-2.5)).toBe(-2_500_000_000);
    expect(usdToNanos('12.345678901')).toBe(12_345_678_901);
  });

  it('absorbs float noise: 0.1 + 0.2 is 0.3 in nanos, where float scaling is not', () => {
    expect((0.1 + 0.2) * 1e9).not.toBe(300_000_000);
    expect(usdToNanos(0.1 + 0.2)).toBe(300_000_000);
    expect(usdToNanos(0.1) + usdToNanos(0.2)).toBe(usdToNanos(0.3));
    // below a nano-dollar rounds half up
    expect(usdToNanos('0.0000000015')).toBe(2);
    expect(usdToNanos('0.0000000014')).toBe(1);
  });

  it('refuses what is not a finite amount in range', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, 'abc', '', '1e', '--1']) {
      expect(() => usdToNanos(bad)).toThrow(ConfigError);
    }
    expect(() => usdToNanos(1e7)).toThrow(/too large/);
  });

  it('formats nano-dollars with nine exact decimals', () => {
    expect(formatUsd(123_450)).toBe('0.000123450');
    expect(formatUsd(0)).toBe('0.000000000');
    expect(formatUsd(5_000_000_000)).toBe('5.000000000');
    expect(formatUsd(-1)).toBe('-0.000000001');
    expect(formatUsd(Number.MAX_SAFE_INTEGER)).toBe('9007199.254740991');
    expect(() => formatUsd(1.5)).toThrow(SluiceError);
    expect(nanosToUsd(1_500_000_000)).toBe(1.5);
  });

  it('converts per-million prices to pico per token, refusing sub-pico precision', () => {
    expect(perMillionToPico(0.15)).toBe(150_000);
    expect(perMillionToPico('2.5')).toBe(2_500_000);
    expect(perMillionToPico(0.000001)).toBe(1);
    expect(perMillionToPico(600)).toBe(600_000_000);
    expect(perMillionToPico(0.275)).toBe(275_000);
    expect(() => perMillionToPico('0.0000001')).toThrow(/more precision than one pico-dollar/);
    expect(() => perMillionToPico(0.1 + 0.2)).toThrow(ConfigError);
    expect(() => perMillionToPico(-1)).toThrow(/negative/);
  });

  it('converts per-token floats exactly, where float scaling drifts', () => {
    expect(1.65e-5 * 1e12).not.toBe(16_500_000);
    expect(perTokenToPico(1.65e-5)).toBe(16_500_000);
    expect(4.125e-6 * 1e12).not.toBe(4_125_000);
    expect(perTokenToPico(4.125e-6)).toBe(4_125_000);
    expect(perTokenToPico(1.5e-7)).toBe(150_000);
    expect(perTokenToPico(2.5e-6)).toBe(2_500_000);
    expect(perTokenToPico(0.00015)).toBe(150_000_000);
    // float noise below a pico rounds to the nearest pico, or is refused when exactness is asked
    expect(perTokenToPico(2.9999900000000002e-6)).toBe(2_999_990);
    expect(() => perTokenToPico(2.9999900000000002e-6, 'price', 'exact')).toThrow(ConfigError);
  });
});

describe('the bundled table', () => {
  const required: Record<string, string[]> = {
    openai: [
      'gpt-4o',
      'gpt-4o-mini',
      'gpt-4.1',
      'gpt-4.1-mini',
      'gpt-4.1-nano',
      'o1',
      'o3',
      'o3-mini',
      'o4-mini',
      'gpt-5',
      'gpt-5-mini',
      'gpt-5-nano',
      'gpt-3.5-turbo',
      'text-embedding-3-small',
      'text-embedding-3-large',
    ],
    anthropic: [
      'claude-opus-4-1',
      'claude-opus-4',
      'claude-sonnet-4-5',
      'claude-sonnet-4',
      'claude-3-7-sonnet',
      'claude-haiku-4-5',
      'claude-3-5-haiku',
    ],
    google: ['gemini-2.5-pro', 'gemini-2.5-flash', 'gemini-2.5-flash-lite', 'gemini-2.0-flash'],
    mistral: ['mistral-large', 'mistral-medium', 'mistral-small', 'codestral'],
    deepseek: ['deepseek-chat', 'deepseek-reasoner'],
    groq: ['llama-3.3-70b-versatile'],
    xai: ['grok-4', 'grok-3-mini'],
    mock: ['mock-small', 'mock-large'],
  };

  it('covers every required model with provider, prices, window and, for chat, a cap and class', () => {
    for (const [provider, models] of Object.entries(required)) {
      for (const model of models) {
        const entry = price(model);
        expect(entry, model).toBeDefined();
        expect(entry?.model).toBe(model);
        expect(entry?.provider, model).toBe(provider);
        expect(entry?.picoPerToken.input, model).toBeGreaterThan(0);
        expect(entry?.contextWindow, model).toBeGreaterThan(0);
        if (entry?.mode === 'chat') {
          expect(entry.picoPerToken.output, model).toBeGreaterThan(0);
          expect(entry.maxOutputTokens, model).toBeGreaterThan(0);
          expect(entry.class, model).toBeDefined();
        }
      }
    }
  });

  it('converts to pico per token with defaults for unpriced kinds', () => {
    expect(price('gpt-4o-mini')?.picoPerToken).toEqual({
      input: 150_000,
      cachedInput: 75_000,
      cacheWrite: 150_000,
      output: 600_000,
      reasoning: 600_000,
    });
    expect(price('claude-sonnet-4-5')?.picoPerToken).toEqual({
      input: 3_000_000,
      cachedInput: 300_000,
      cacheWrite: 3_750_000,
      output: 15_000_000,
      reasoning: 15_000_000,
    });
    expect(price('gpt-3.5-turbo')?.picoPerToken.cachedInput).toBe(500_000);
    expect(price('text-embedding-3-large')).toMatchObject({ mode: 'embedding', class: undefined });
    expect(price('mock-small')).toMatchObject({ provider: 'mock', class: 'small' });
    expect(price('mock-large')).toMatchObject({ provider: 'mock', class: 'large' });
  });

  it('never prices a cache read above the uncached input', () => {
    for (const model of Object.keys(BUNDLED_PRICES)) {
      const rates = price(model)?.picoPerToken;
      expect(rates?.cachedInput ?? 0, model).toBeLessThanOrEqual(rates?.input ?? 0);
    }
  });
});

describe('lookup', () => {
  it.each([
    ['gpt-4o', 'gpt-4o'],
    ['GPT-4o', 'gpt-4o'],
    ['openai/gpt-4o', 'gpt-4o'],
    ['gpt-4o-2024-08-06', 'gpt-4o'],
    ['gpt-4o-2024-05-13', 'gpt-4o-2024-05-13'],
    ['gpt-4o-mini-2024-07-18', 'gpt-4o-mini'],
    ['openai/gpt-4o-mini-2024-07-18', 'gpt-4o-mini'],
    ['gpt-4.1-mini-2025-04-14', 'gpt-4.1-mini'],
    ['o3-mini-2025-01-31', 'o3-mini'],
    ['gpt-5-nano-2025-08-07', 'gpt-5-nano'],
    ['gpt-3.5-turbo-0125', 'gpt-3.5-turbo'],
    ['claude-3-5-haiku-20241022', 'claude-3-5-haiku'],
    ['claude-3-5-haiku-latest', 'claude-3-5-haiku'],
    ['anthropic/claude-sonnet-4-5-20250929', 'claude-sonnet-4-5'],
    ['claude-opus-4-1-20250805', 'claude-opus-4-1'],
    ['claude-opus-4-20250514', 'claude-opus-4'],
    ['claude-sonnet-4-0', 'claude-sonnet-4'],
    ['claude-3-5-haiku@20241022', 'claude-3-5-haiku'],
    ['us.anthropic.claude-sonnet-4-5-20250929-v1:0', 'claude-sonnet-4-5'],
    ['models/gemini-2.5-pro', 'gemini-2.5-pro'],
    ['gemini-2.5-flash-preview-09-2025', 'gemini-2.5-flash'],
    ['gemini-2.5-flash-lite', 'gemini-2.5-flash-lite'],
    ['gemini-2.0-flash-001', 'gemini-2.0-flash'],
    ['mistral-large-latest', 'mistral-large'],
    ['mistral-large-2411', 'mistral-large-2411'],
    ['mistral-small-2506', 'mistral-small'],
    ['codestral-2508', 'codestral'],
    ['deepseek/deepseek-reasoner', 'deepseek-reasoner'],
    ['groq/llama-3.3-70b-versatile', 'llama-3.3-70b-versatile'],
    ['xai/grok-4-0709', 'grok-4'],
  ])('%s → %s', (name, expected) => {
    expect(price(name)?.model).toBe(expected);
  });

  it('does not confuse gpt-4o-mini with gpt-4o', () => {
    const mini = price('gpt-4o-mini-2024-07-18');
    const full = price('gpt-4o-2024-08-06');
    expect(mini?.picoPerToken.input).toBe(150_000);
    expect(full?.picoPerToken.input).toBe(2_500_000);
  });

  it.each([
    'no-such-model',
    'gpt',
    'gpt-4o-audio-preview',
    'gpt-4o-mini-search-preview',
    'gpt-5.1-codex',
    'grok-4-fast-reasoning',
    'claude-opus-4-7',
    'gemini-2.5-flash-image',
    'o4-mini-deep-research',
  ])('%s is unknown rather than mispriced', (name) => {
    expect(price(name)).toBeUndefined();
  });
});

describe('overrides', () => {
  it('merges partial prices over the bundled table and adds models', () => {
    const table = createPriceTable({
      prices: {
        'gpt-4o': { output: 12 },
        'my-finetune': { provider: 'openai', input: '0.3', output: '1.2', class: 'small' },
      },
    });
    expect(table.price('gpt-4o')?.picoPerToken).toMatchObject({
      input: 2_500_000,
      cachedInput: 1_250_000,
      output: 12_000_000,
      reasoning: 12_000_000,
    });
    expect(table.price('my-finetune')).toMatchObject({
      provider: 'openai',
      class: 'small',
      mode: 'chat',
      picoPerToken: { input: 300_000, output: 1_200_000, cachedInput: 300_000 },
    });
    // the override resolves snapshots like bundled entries do
    expect(table.price('gpt-4o-2024-11-20')?.picoPerToken.output).toBe(12_000_000);
    // the bundled table is untouched
    expect(price('gpt-4o')?.picoPerToken.output).toBe(10_000_000);
  });

  it('refuses a new model without both input and output', () => {
    const error = configErrorOf(() => createPriceTable({ prices: { 'half-model': { input: 1 } } }));
    expect(error.message).toContain('prices["half-model"]');
    expect(error.code).toBe('E_CONFIG');
  });

  it('names the model and field of a bad override', () => {
    expect(
      configErrorOf(() => createPriceTable({ prices: { 'gpt-4o': { input: -1 } } })).message,
    ).toBe(`prices["gpt-4o"].input must not be negative, got '-1'`);
    expect(
      configErrorOf(() => createPriceTable({ prices: { 'gpt-4o': { input: '0.0000001' } } }))
        .message,
    ).toBe(`prices["gpt-4o"].input has more precision than one pico-dollar per token: '0.0000001'`);
    expect(
      configErrorOf(() => createPriceTable({ prices: { 'gpt-4o': { input: true as never } } }))
        .message,
    ).toContain('prices["gpt-4o"].input: expected US dollars per 1M tokens');
    const typo = configErrorOf(() =>
      createPriceTable({ prices: { 'gpt-4o': { inputt: 1 } as unknown as { input: number } } }),
    );
    expect(typo.message).toContain('prices["gpt-4o"]');
    expect(
      configErrorOf(() => createPriceTable({ prices: { 'gpt-4o': { contextWindow: -5 } } }))
        .message,
    ).toContain('prices["gpt-4o"].contextWindow');
  });
});

describe('LiteLLM pricing files', () => {
  const table = createPriceTable({ pricingFile: fixturePath('litellm-prices.json') });

  it('converts per-token floats exactly to pico per token', () => {
    expect(table.price('acme/tiny-chat')).toMatchObject({
      model: 'acme/tiny-chat',
      provider: 'acme',
      contextWindow: 32_768,
      maxOutputTokens: 4_096,
      picoPerToken: { input: 150_000, output: 2_500_000, cachedInput: 150_000 },
    });
    expect(table.price('acme/reasoner')?.picoPerToken).toEqual({
      input: 1_100_000,
      cachedInput: 275_000,
      cacheWrite: 1_100_000,
      output: 4_400_000,
      reasoning: 11_000_000,
    });
    expect(table.price('o1-pro')?.picoPerToken).toMatchObject({
      input: 150_000_000,
      output: 600_000_000,
    });
    expect(table.price('claude-sonnet-4-5')?.picoPerToken).toEqual({
      input: 3_300_000,
      cachedInput: 330_000,
      cacheWrite: 4_125_000,
      output: 16_500_000,
      reasoning: 16_500_000,
    });
  });

  it('rounds sub-pico float noise to the nearest pico', () => {
    expect(table.price('databricks/databricks-claude-sonnet-4')?.picoPerToken).toMatchObject({
      input: 2_999_990,
      output: 15_000_020,
    });
  });

  it('reads embeddings, nulls and skips entries without token costs and sample_spec', () => {
    expect(table.price('acme/embed-small')).toMatchObject({
      mode: 'embedding',
      maxOutputTokens: undefined,
      picoPerToken: { input: 130_000, output: 0 },
    });
    expect(table.price('acme/nulls')).toMatchObject({
      contextWindow: undefined,
      picoPerToken: { input: 200_000, cachedInput: 200_000, output: 800_000 },
    });
    expect(table.price('acme/image-gen')).toBeUndefined();
    expect(table.price('sample_spec')).toBeUndefined();
  });

  it('keeps bundled fields the file does not set, and bundled models it does not list', () => {
    expect(table.price('gpt-4o-mini')).toMatchObject({ class: 'small', provider: 'openai' });
    expect(table.price('gpt-5')?.picoPerToken.input).toBe(1_250_000);
  });

  it('applies precedence bundled < pricingFile < prices', () => {
    const layered = createPriceTable({
      pricingFile: fixturePath('litellm-prices.json'),
      prices: { 'gpt-4o-mini': { output: 0.7 } },
    });
    expect(layered.price('gpt-4o-mini')?.picoPerToken).toEqual({
      input: 160_000, // pricingFile over bundled 150_000
      cachedInput: 80_000, // pricingFile over bundled 75_000
      cacheWrite: 160_000, // default: input
      output: 700_000, // prices over pricingFile 600_000
      reasoning: 700_000, // default: output
    });
    // a provider-prefixed name finds the file's key, then the bare name
    expect(layered.price('openai/gpt-4o-mini-2024-07-18')?.picoPerToken.input).toBe(160_000);
  });

  it('names the file, entry and field of a bad entry', () => {
    const path = fixturePath('litellm-bad-type.json');
    const error = configErrorOf(() => createPriceTable({ pricingFile: path }));
    expect(error.message).toContain(path);
    expect(error.message).toContain('"bad-model".input_cost_per_token');
    expect(
      configErrorOf(() => createPriceTable({ pricingFile: fixturePath('litellm-negative.json') }))
        .message,
    ).toContain('"neg-model".output_cost_per_token');
    expect(
      configErrorOf(() => createPriceTable({ pricingFile: fixturePath('litellm-bad-tokens.json') }))
        .message,
    ).toContain('"frac-model".max_output_tokens');
  });

  it('refuses unreadable, malformed and wrongly shaped files', () => {
    expect(
      configErrorOf(() => createPriceTable({ pricingFile: fixturePath('missing.json') })).message,
    ).toMatch(/cannot read/);
    expect(
      configErrorOf(() => createPriceTable({ pricingFile: fixturePath('litellm-not-json.json') }))
        .message,
    ).toMatch(/not valid JSON/);
    expect(
      configErrorOf(() => createPriceTable({ pricingFile: fixturePath('litellm-array.json') }))
        .message,
    ).toMatch(/expected an object/);
    expect(configErrorOf(() => parseLiteLlmPrices({ weird: 5 })).message).toContain('"weird"');
  });
});
