import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatUsd } from '../../src/cost/money.js';
import { tokenizerForModel } from '../../src/cost/tokens.js';
import { bigCostOf, costOf, createCostTracker } from '../../src/cost/tracker.js';
import { normalizeUsage } from '../../src/cost/usage.js';
import { SluiceError } from '../../src/shared/errors.js';
import { createRandom } from '../../src/shared/random.js';

interface Fixture {
  model?: string;
  modelVersion?: string;
  usage?: unknown;
  usageMetadata?: unknown;
}

function fixture(name: string): Fixture {
  return JSON.parse(
    readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8'),
  ) as Fixture;
}

const tracker = createCostTracker();

describe('golden costs from real-shaped usage payloads', () => {
  it('OpenAI chat with cached prompt tokens (gpt-4o-mini snapshot)', () => {
    const body = fixture('openai-chat-cached.json');
    // gpt-4o-mini: input $0.15/M = 150_000 pico, cached $0.075/M = 75_000, output $0.60/M = 600_000.
    // prompt 2,006 of which 1,920 cached → 86 uncached × 150_000 =  12_900_000 pico
    //                                        1,920 cached × 75_000 = 144_000_000 pico
    // completion 300 (no reasoning)        →   300 × 600_000       = 180_000_000 pico
    // total 336_900_000 pico = 336_900 nanos = $0.000336900
    const result = tracker.cost(body.model ?? '', body.usage);
    expect(result.known).toBe(true);
    expect(result.pricedAs).toBe('gpt-4o-mini');
    expect(result.tokens).toEqual({
      inputTokens: 86,
      cachedInputTokens: 1920,
      cacheWriteTokens: 0,
      outputTokens: 300,
      reasoningTokens: 0,
    });
    expect(result.nanos).toEqual({
      input: 12_900,
      cachedInput: 144_000,
      cacheWrite: 0,
      output: 180_000,
      reasoning: 0,
      total: 336_900,
    });
    expect(formatUsd(result.nanos.total)).toBe('0.000336900');
  });

  it('OpenAI chat with reasoning tokens (o3 snapshot)', () => {
    const body = fixture('openai-chat-o3-reasoning.json');
    // o3: input $2/M = 2_000_000 pico, output and reasoning $8/M = 8_000_000 pico.
    // prompt 512 → 512 × 2_000_000 = 1_024_000_000 pico
    // completion 1,800 includes 1,536 reasoning → 264 × 8_000_000 = 2_112_000_000 pico
    //                                             1,536 × 8_000_000 = 12_288_000_000 pico
    // total 15_424_000_000 pico = 15_424_000 nanos = $0.015424000
    const result = tracker.cost(body.model ?? '', body.usage);
    expect(result.pricedAs).toBe('o3');
    expect(result.tokens.outputTokens).toBe(264);
    expect(result.tokens.reasoningTokens).toBe(1536);
    expect(result.nanos).toEqual({
      input: 1_024_000,
      cachedInput: 0,
      cacheWrite: 0,
      output: 2_112_000,
      reasoning: 12_288_000,
      total: 15_424_000,
    });
  });

  it('OpenAI Responses API with cached input and reasoning (o4-mini snapshot)', () => {
    const body = fixture('openai-responses-reasoning.json');
    // o4-mini: input $1.10/M = 1_100_000 pico, cached $0.275/M = 275_000, output $4.40/M = 4_400_000.
    // input 1,234 of which 1,024 cached → 210 × 1_100_000 = 231_000_000 pico
    //                                     1,024 × 275_000  = 281_600_000 pico
    // output 2,345 of which 1,984 reasoning → 361 × 4_400_000 = 1_588_400_000 pico
    //                                         1,984 × 4_400_000 = 8_729_600_000 pico
    // total 10_830_600_000 pico = 10_830_600 nanos = $0.010830600
    const result = tracker.cost(body.model ?? '', body.usage);
    expect(result.pricedAs).toBe('o4-mini');
    expect(result.tokens).toEqual({
      inputTokens: 210,
      cachedInputTokens: 1024,
      cacheWriteTokens: 0,
      outputTokens: 361,
      reasoningTokens: 1984,
    });
    expect(result.nanos).toEqual({
      input: 231_000,
      cachedInput: 281_600,
      cacheWrite: 0,
      output: 1_588_400,
      reasoning: 8_729_600,
      total: 10_830_600,
    });
  });

  it('Anthropic Messages with cache writes and reads (claude-sonnet-4-5 snapshot)', () => {
    const body = fixture('anthropic-messages-cache.json');
    // claude-sonnet-4-5: input $3/M = 3_000_000 pico, 5-minute cache write $3.75/M = 3_750_000,
    // cache read $0.30/M = 300_000, output $15/M = 15_000_000. input_tokens EXCLUDES the cache.
    // input 1,500         × 3_000_000  = 4_500_000_000 pico
    // cache write 2,048   × 3_750_000  = 7_680_000_000 pico
    // cache read 10,240   × 300_000    = 3_072_000_000 pico
    // output 512          × 15_000_000 = 7_680_000_000 pico
    // total 22_932_000_000 pico = 22_932_000 nanos = $0.022932000
    const result = tracker.cost(body.model ?? '', body.usage);
    expect(result.pricedAs).toBe('claude-sonnet-4-5');
    expect(result.tokens).toEqual({
      inputTokens: 1500,
      cachedInputTokens: 10240,
      cacheWriteTokens: 2048,
      outputTokens: 512,
      reasoningTokens: 0,
    });
    expect(result.nanos).toEqual({
      input: 4_500_000,
      cachedInput: 3_072_000,
      cacheWrite: 7_680_000,
      output: 7_680_000,
      reasoning: 0,
      total: 22_932_000,
    });
    expect(formatUsd(result.nanos.total)).toBe('0.022932000');
  });

  it('Gemini usageMetadata with cached content and thoughts (gemini-2.5-flash)', () => {
    const body = fixture('gemini-thoughts.json');
    // gemini-2.5-flash: input $0.30/M = 300_000 pico, cached $0.03/M = 30_000,
    // output and thinking $2.50/M = 2_500_000. promptTokenCount INCLUDES the cached 4,096;
    // thoughtsTokenCount is separate from candidatesTokenCount.
    // uncached 904 × 300_000      = 271_200_000 pico
    // cached 4,096 × 30_000       = 122_880_000 pico
    // output 250 × 2_500_000      = 625_000_000 pico
    // thoughts 1,200 × 2_500_000  = 3_000_000_000 pico
    // total 4_019_080_000 pico = 4_019_080 nanos = $0.004019080
    const result = tracker.cost(body.modelVersion ?? '', body.usageMetadata);
    expect(result.pricedAs).toBe('gemini-2.5-flash');
    expect(result.tokens).toEqual({
      inputTokens: 904,
      cachedInputTokens: 4096,
      cacheWriteTokens: 0,
      outputTokens: 250,
      reasoningTokens: 1200,
    });
    expect(result.nanos).toEqual({
      input: 271_200,
      cachedInput: 122_880,
      cacheWrite: 0,
      output: 625_000,
      reasoning: 3_000_000,
      total: 4_019_080,
    });
  });

  it('OpenAI embeddings usage (text-embedding-3-small)', () => {
    const body = fixture('openai-embeddings.json');
    // text-embedding-3-small: $0.02/M = 20_000 pico; 5,321 × 20_000 = 106_420_000 pico
    // = 106_420 nanos = $0.000106420
    const viaCost = tracker.cost(body.model ?? '', body.usage);
    const viaEmbedding = tracker.embeddingCost(body.model ?? '', body.usage);
    const viaCount = tracker.embeddingCost(body.model ?? '', 5321);
    for (const result of [viaCost, viaEmbedding, viaCount]) {
      expect(result.tokens.inputTokens).toBe(5321);
      expect(result.nanos.total).toBe(106_420);
      expect(result.nanos.input).toBe(106_420);
    }
  });

  it('DeepSeek usage with prompt cache hits (deepseek-chat)', () => {
    const body = fixture('deepseek-chat-cache.json');
    // deepseek-chat: input $0.28/M = 280_000 pico, cache hit $0.028/M = 28_000, output $0.42/M.
    // 440 × 280_000 = 123_200_000; 2,560 × 28_000 = 71_680_000; 400 × 420_000 = 168_000_000
    // total 362_880_000 pico = 362_880 nanos
    const result = tracker.cost(body.model ?? '', body.usage);
    expect(result.tokens.cachedInputTokens).toBe(2560);
    expect(result.nanos.total).toBe(362_880);
  });
});

describe('rounding to nano-dollars', () => {
  const custom = createCostTracker({
    prices: { 'tiny-model': { provider: 'test', input: '0.1375', output: '0.0005' } },
  });

  it('rounds the exact pico total half up once, and the parts add up to it', () => {
    // input 3 × 137_500 = 412_500 pico (412.5 nanos); output 3 × 500 = 1_500 pico (1.5 nanos)
    // exact total 414_000 pico = 414 nanos. Rounding each part alone would give 413 + 2 = 415.
    const result = custom.cost('tiny-model', { prompt_tokens: 3, completion_tokens: 3 });
    expect(result.nanos.total).toBe(414);
    expect(result.nanos.input).toBe(413);
    expect(result.nanos.output).toBe(1);
    const { total, ...parts } = result.nanos;
    expect(Object.values(parts).reduce((sum, value) => sum + value, 0)).toBe(total);
  });

  it('rounds half up at exactly half a nano-dollar', () => {
    // 1 × 137_500 + 2_500 × 0 → 137.5 nanos → 138
    expect(custom.cost('tiny-model', { prompt_tokens: 1 }).nanos.total).toBe(138);
    // 4 × 137_500 = 550_000 pico = 550 nanos exactly
    expect(custom.cost('tiny-model', { prompt_tokens: 4 }).nanos.total).toBe(550);
  });

  it('stays exact where float arithmetic would drift', () => {
    // 10 million output tokens of o1 at $60/M: 10_000_000 × 60_000_000 pico = 6e14 pico.
    const result = tracker.cost('o1', { prompt_tokens: 0, completion_tokens: 10_000_000 });
    expect(result.nanos.total).toBe(600_000_000_000);
    expect(formatUsd(result.nanos.total)).toBe('600.000000000');
  });

  it('costOf prices normalised usage directly', () => {
    const price = tracker.priceOf('gpt-4o-mini');
    if (price === undefined) throw new Error('gpt-4o-mini must be priced');
    const tokens = normalizeUsage(fixture('openai-chat-cached.json').usage);
    expect(costOf(price, tokens).total).toBe(336_900);
  });

  it('prices in doubles exactly as in BigInt, up to the safe-integer limit and past it', () => {
    // A seeded PRNG: the same cases every run.
    const random = createRandom(20_261_204);
    // Magnitudes from 0 to ~1e9 tokens and ~1e9 pico/token: products up to ~1e18, so both
    // paths run, and every rounding remainder (…499, …500) turns up.
    const scaled = () => Math.floor(random() * 10 ** Math.floor(random() * 10));
    const priceWith = (rates: number[]) => ({
      model: 'm',
      picoPerToken: {
        input: rates[0] ?? 0,
        cachedInput: rates[1] ?? 0,
        cacheWrite: rates[2] ?? 0,
        output: rates[3] ?? 0,
        reasoning: rates[4] ?? 0,
      },
    });
    const cases: [number[], number[]][] = [
      [
        [499, 1, 1, 500, 0],
        [1, 1, 1, 1, 1],
      ],
      [
        [Number.MAX_SAFE_INTEGER - 500, 0, 0, 0, 0],
        [1, 0, 0, 0, 0],
      ],
      [
        [Number.MAX_SAFE_INTEGER - 499, 0, 0, 0, 0],
        [1, 0, 0, 0, 0],
      ],
      [
        [2 ** 30, 0, 0, 2 ** 30, 0],
        [2 ** 23, 0, 0, 2 ** 23, 0],
      ],
      // Two safe amounts whose sum is not: 2^53 + 507 picos, which a double rounds to + 508.
      [
        [2 ** 52, 0, 0, 4_503_599_627_371_003, 0],
        [1, 0, 0, 1, 0],
      ],
    ];
    for (let index = 0; index < 5_000; index++) {
      cases.push([Array.from({ length: 5 }, scaled), Array.from({ length: 5 }, scaled)]);
    }
    for (const [counts, rates] of cases) {
      const tokens = {
        inputTokens: counts[0] ?? 0,
        cachedInputTokens: counts[1] ?? 0,
        cacheWriteTokens: counts[2] ?? 0,
        outputTokens: counts[3] ?? 0,
        reasoningTokens: counts[4] ?? 0,
      };
      const price = priceWith(rates) as unknown as Parameters<typeof costOf>[0];
      let expected: ReturnType<typeof bigCostOf> | Error;
      try {
        expected = bigCostOf(price, tokens);
      } catch (error) {
        expected = error as Error;
      }
      if (expected instanceof Error) expect(() => costOf(price, tokens)).toThrow(expected.message);
      else expect(costOf(price, tokens)).toEqual(expected);
    }
  });
});

describe('unknown models and bad usage', () => {
  it('prices an unknown model at zero with known: false, never throwing', () => {
    const result = tracker.cost('acme-super-model-9000', {
      prompt_tokens: 100,
      completion_tokens: 50,
    });
    expect(result.known).toBe(false);
    expect(result.pricedAs).toBeUndefined();
    expect(result.tokens.inputTokens).toBe(100);
    expect(result.nanos).toEqual({
      input: 0,
      cachedInput: 0,
      cacheWrite: 0,
      output: 0,
      reasoning: 0,
      total: 0,
    });
  });

  it.each([
    ['negative', { prompt_tokens: -1, completion_tokens: 5 }],
    ['fractional', { prompt_tokens: 10.5, completion_tokens: 5 }],
    ['non-numeric', { prompt_tokens: '10', completion_tokens: 5 }],
    ['cached beyond prompt', { prompt_tokens: 10, prompt_tokens_details: { cached_tokens: 11 } }],
    [
      'reasoning beyond output',
      { input_tokens: 5, output_tokens: 3, output_tokens_details: { reasoning_tokens: 4 } },
    ],
    ['no known counts', { tokens: 5 }],
    ['not an object', 'lots'],
    ['null', null],
  ])('rejects a %s usage with E_USAGE', (_name, usage) => {
    let caught: unknown;
    try {
      tracker.cost('gpt-4o', usage);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SluiceError);
    expect((caught as SluiceError).code).toBe('E_USAGE');
    expect((caught as SluiceError).isRetryable).toBe(false);
  });

  it('rejects a bad embedding token count with E_USAGE', () => {
    expect(() => tracker.embeddingCost('text-embedding-3-small', -3)).toThrow(
      expect.objectContaining({ code: 'E_USAGE' }),
    );
  });
});

describe('estimate: the upper bound reserved before a request', () => {
  const messages = [
    { role: 'system', content: 'You are a terse assistant.' },
    { role: 'user', content: 'Summarise the attached incident report in two sentences.' },
  ];
  const o200k = tokenizerForModel('gpt-4o');
  const promptTokens = o200k.countMessages(messages);

  it('uses max_tokens and prices the prompt at input and the output at output', () => {
    const estimate = tracker.estimate('gpt-4o-mini', { messages, max_tokens: 100 });
    expect(estimate).toMatchObject({
      model: 'gpt-4o-mini',
      known: true,
      pricedAs: 'gpt-4o-mini',
      promptTokens,
      maxOutputTokens: 100,
      choices: 1,
    });
    // prompt × 150_000 pico + 100 × 600_000 pico, rounded up to nanos
    expect(estimate.maxCostNanos).toBe(Math.ceil((promptTokens * 150_000 + 100 * 600_000) / 1000));
  });

  it('counts a known prompt exactly: 2 messages → 28 tokens', () => {
    // 3 priming + (3 + "system" 1 + 6 content) + (3 + "user" 1 + 11 content) = 28
    expect(promptTokens).toBe(28);
    // 28 × 150_000 + 100 × 600_000 = 64_200_000 pico = 64_200 nanos
    expect(tracker.estimate('gpt-4o-mini', { messages, max_tokens: 100 }).maxCostNanos).toBe(
      64_200,
    );
  });

  it('prefers max_completion_tokens, then max_tokens, then the model cap, then the default', () => {
    expect(
      tracker.estimate('gpt-4o-mini', { messages, max_tokens: 100, max_completion_tokens: 50 })
        .maxOutputTokens,
    ).toBe(50);
    expect(tracker.estimate('gpt-4o-mini', { messages }).maxOutputTokens).toBe(16_384);
    expect(tracker.estimate('claude-3-5-haiku-latest', { messages }).maxOutputTokens).toBe(8_192);
    const unknown = tracker.estimate('acme-model', { messages, max_tokens: null });
    expect(unknown).toMatchObject({ known: false, maxOutputTokens: 4_096, maxCostNanos: 0 });
    expect(unknown.promptTokens).toBe(promptTokens);
    const configured = createCostTracker({ defaultMaxOutputTokens: 1_000 });
    expect(configured.estimate('acme-model', { messages }).maxOutputTokens).toBe(1_000);
  });

  it('multiplies the output bound by n', () => {
    const one = tracker.estimate('gpt-4o', { messages, max_tokens: 200 });
    const three = tracker.estimate('gpt-4o', { messages, max_tokens: 200, n: 3 });
    expect(three.choices).toBe(3);
    // 200 extra output tokens × 2 choices × 10_000_000 pico = 4_000_000 nanos more
    expect(three.maxCostNanos - one.maxCostNanos).toBe(4_000_000);
  });

  it('prices the prompt at the cache-write price when that is higher (Anthropic)', () => {
    const estimate = tracker.estimate('claude-sonnet-4-5', { messages, max_tokens: 10 });
    // prompt at $3.75/M (3_750_000 pico) rather than $3/M, output 10 × 15_000_000
    expect(estimate.maxCostNanos).toBe(
      Math.ceil((estimate.promptTokens * 3_750_000 + 10 * 15_000_000) / 1000),
    );
  });

  it('counts tool definitions into the prompt', () => {
    const tools = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Current weather for a city',
          parameters: {
            type: 'object',
            properties: { city: { type: 'string' } },
            required: ['city'],
          },
        },
      },
    ];
    const withTools = tracker.estimate('gpt-4o', { messages, tools, max_tokens: 1 });
    expect(withTools.promptTokens).toBe(promptTokens + o200k.count(JSON.stringify(tools)));
  });

  it('is an upper bound of the actual cost when the answer stays within max_tokens', () => {
    for (const model of ['gpt-4o-mini', 'o4-mini', 'claude-sonnet-4-5', 'gemini-2.5-flash']) {
      const estimate = tracker.estimate(model, { messages, max_tokens: 500 });
      const worst = tracker.cost(model, {
        prompt_tokens: estimate.promptTokens,
        completion_tokens: 500,
        completion_tokens_details: { reasoning_tokens: 400 },
      });
      const anthropicWorst = tracker.cost(model, {
        input_tokens: 0,
        cache_creation_input_tokens: estimate.promptTokens,
        output_tokens: 500,
      });
      expect(worst.nanos.total).toBeLessThanOrEqual(estimate.maxCostNanos);
      expect(anthropicWorst.nanos.total).toBeLessThanOrEqual(estimate.maxCostNanos);
      expect(worst.nanos.total).toBeGreaterThan(0);
    }
  });

  it('estimates embeddings input with no output', () => {
    const input = ['hello world', 'The quick brown fox jumps over the lazy dog.'];
    const estimate = tracker.estimate('text-embedding-3-small', { input });
    const cl100k = tokenizerForModel('text-embedding-3-small');
    expect(cl100k.encoding).toBe('cl100k_base');
    expect(estimate.promptTokens).toBe(cl100k.count(input[0] ?? '') + cl100k.count(input[1] ?? ''));
    expect(estimate.maxOutputTokens).toBe(0);
    expect(estimate.maxCostNanos).toBe(Math.ceil((estimate.promptTokens * 20_000) / 1000));
    expect(
      tracker.estimate('text-embedding-3-small', { input: [[1, 2, 3], [4]] }).promptTokens,
    ).toBe(4);
  });

  it('warms up encodings on demand', () => {
    expect(() => tracker.warmUp(['gpt-4o', 'gpt-3.5-turbo'])).not.toThrow();
    expect(() => tracker.warmUp()).not.toThrow();
  });

  it('refuses a bad defaultMaxOutputTokens', () => {
    expect(() => createCostTracker({ defaultMaxOutputTokens: 0 })).toThrow(
      /defaultMaxOutputTokens/,
    );
    expect(() => createCostTracker({ defaultMaxOutputTokens: 1.5 })).toThrow(
      /defaultMaxOutputTokens/,
    );
  });
});
