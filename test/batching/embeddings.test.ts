import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createEmbeddingsBatcher,
  type EmbedParameters,
  splitProportionally,
  type UpstreamEmbeddings,
} from '../../src/batching/index.js';
import { SluiceError } from '../../src/shared/errors.js';

interface UpstreamCall {
  model: string;
  inputs: string[] | number[][];
  parameters: EmbedParameters;
}

/**
 * A fake upstream: each input's embedding is `[its text length or token count, position]`,
 * data comes back in reverse order (indexes still right), and usage is `promptTokens(inputs)`.
 */
function fakeUpstream(promptTokens: (inputs: string[] | number[][]) => number) {
  const calls: UpstreamCall[] = [];
  const embed = async (
    model: string,
    inputs: string[] | number[][],
    parameters: EmbedParameters,
  ): Promise<UpstreamEmbeddings> => {
    calls.push({ model, inputs: [...inputs] as string[] | number[][], parameters });
    const data = inputs.map((input, index) => ({ embedding: [input.length, index], index }));
    const tokens = promptTokens(inputs);
    return { data: data.reverse(), usage: { prompt_tokens: tokens, total_tokens: tokens } };
  };
  return { calls, embed };
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('splitProportionally', () => {
  it('splits in proportion, in integers that sum exactly to the total', () => {
    expect(splitProportionally(10, [1, 1, 1])).toEqual([4, 3, 3]);
    expect(splitProportionally(7, [2, 1, 4])).toEqual([2, 1, 4]);
    expect(splitProportionally(100, [1, 2])).toEqual([33, 67]);
    expect(splitProportionally(5, [0, 0])).toEqual([3, 2]);
    for (const [total, weights] of [
      [997, [3, 7, 11, 13, 17]],
      [1, [5, 5, 5]],
      [0, [1, 2]],
      [123_456, [0.3, 0.3, 0.4]],
    ] as const) {
      const shares = splitProportionally(total, weights);
      expect(shares.reduce((sum, share) => sum + share, 0)).toBe(total);
      for (const share of shares) expect(Number.isInteger(share) && share >= 0).toBe(true);
    }
  });
});

describe('createEmbeddingsBatcher', () => {
  it('merges concurrent requests into one call and gives each caller its own data and usage', async () => {
    // The upstream counts 3 more tokens than the estimates say, so shares must be rounded.
    const upstream = fakeUpstream(
      (inputs) =>
        3 + (inputs as string[]).reduce((sum, text) => sum + Math.ceil(text.length / 4), 0),
    );
    const batcher = createEmbeddingsBatcher({ embed: upstream.embed, window: 5 });
    const first = batcher.embed({ model: 'text-embedding-3-small', input: 'abcdefgh' }); // 2 tokens
    const second = batcher.embed({
      model: 'text-embedding-3-small',
      input: ['abcd', 'abcdefghijkl', 'ab'], // 1 + 3 + 1 tokens
    });
    const third = batcher.embed({ model: 'text-embedding-3-small', input: ['abcdefghijklmnop'] }); // 4
    await vi.advanceTimersByTimeAsync(5);
    const [a, b, c] = await Promise.all([first, second, third]);

    expect(upstream.calls).toHaveLength(1);
    expect(upstream.calls[0]?.inputs).toEqual([
      'abcdefgh',
      'abcd',
      'abcdefghijkl',
      'ab',
      'abcdefghijklmnop',
    ]);
    // Each caller's data is re-indexed from 0, in its own order, with its own embeddings.
    expect(a?.data).toEqual([{ object: 'embedding', embedding: [8, 0], index: 0 }]);
    expect(b?.data).toEqual([
      { object: 'embedding', embedding: [4, 1], index: 0 },
      { object: 'embedding', embedding: [12, 2], index: 1 },
      { object: 'embedding', embedding: [2, 3], index: 2 },
    ]);
    expect(c?.data).toEqual([{ object: 'embedding', embedding: [16, 4], index: 0 }]);
    // Upstream total 3 + 11 = 14, split 2 : 5 : 4 -> 2.55, 6.36, 5.09 -> 3, 6, 5.
    expect([a?.usage, b?.usage, c?.usage]).toEqual([
      { prompt_tokens: 3, total_tokens: 3 },
      { prompt_tokens: 6, total_tokens: 6 },
      { prompt_tokens: 5, total_tokens: 5 },
    ]);
    expect(a?.model).toBe('text-embedding-3-small');
    expect(batcher.stats()).toMatchObject({ batches: 1, items: 5 });
  });

  it('splits usage in proportion to the estimates, summing exactly to the upstream total', async () => {
    const upstream = fakeUpstream(() => 100);
    const batcher = createEmbeddingsBatcher({ embed: upstream.embed });
    const texts = ['a'.repeat(4), 'b'.repeat(8), 'c'.repeat(12)]; // estimates 1, 2, 3
    const answers = Promise.all(texts.map((input) => batcher.embed({ model: 'm', input })));
    await vi.advanceTimersByTimeAsync(5);
    const usage = (await answers).map((answer) => answer.usage);
    // 100 × 1/6, 2/6, 3/6 = 16.67, 33.33, 50 -> 17, 33, 50 (largest remainder).
    expect(usage).toEqual([
      { prompt_tokens: 17, total_tokens: 17 },
      { prompt_tokens: 33, total_tokens: 33 },
      { prompt_tokens: 50, total_tokens: 50 },
    ]);
    expect(upstream.calls).toHaveLength(1);
  });

  it('sums shares exactly for many callers with awkward totals', async () => {
    const upstream = fakeUpstream((inputs) => 1_000 + 7 * inputs.length);
    const batcher = createEmbeddingsBatcher({ embed: upstream.embed });
    const requests = Array.from({ length: 13 }, (_unused, index) => ({
      model: 'm',
      input: Array.from({ length: (index % 3) + 1 }, (_item, position) =>
        'x'.repeat(1 + ((index * 7 + position * 5) % 23)),
      ),
    }));
    const answers = Promise.all(requests.map((request) => batcher.embed(request)));
    await vi.advanceTimersByTimeAsync(5);
    const results = await answers;
    const inputCount = requests.reduce((sum, request) => sum + request.input.length, 0);
    const sum = results.reduce((total, result) => total + result.usage.prompt_tokens, 0);
    expect(upstream.calls).toHaveLength(1);
    expect(sum).toBe(1_000 + 7 * inputCount);
    results.forEach((result, index) => {
      expect(result.data.map((item) => item.index)).toEqual(
        requests[index]?.input.map((_input, position) => position),
      );
      expect(result.data.map((item) => (item.embedding as number[])[0])).toEqual(
        requests[index]?.input.map((input) => input.length),
      );
    });
  });

  it('keeps models, dimensions, encodings and input kinds apart', async () => {
    const upstream = fakeUpstream((inputs) => inputs.length);
    const batcher = createEmbeddingsBatcher({ embed: upstream.embed });
    const answers = Promise.all([
      batcher.embed({ model: 'm', input: 'one' }),
      batcher.embed({ model: 'm', input: 'two', dimensions: 8 }),
      batcher.embed({ model: 'm', input: 'three', encoding_format: 'base64' }),
      batcher.embed({ model: 'other', input: 'four' }),
      batcher.embed({ model: 'm', input: [1, 2, 3] }),
      batcher.embed({ model: 'm', input: [[4], [5, 6]] }),
      batcher.embed({ model: 'm', input: 'five' }),
    ]);
    await vi.advanceTimersByTimeAsync(5);
    await answers;
    expect(upstream.calls.map((call) => [call.model, call.inputs, call.parameters])).toEqual([
      ['m', ['one', 'five'], {}],
      ['m', ['two'], { dimensions: 8 }],
      ['m', ['three'], { encoding_format: 'base64' }],
      ['other', ['four'], {}],
      ['m', [[1, 2, 3], [4], [5, 6]], {}],
    ]);
  });

  it('spreads a large request over several calls bounded by maxInputs and maxTokens', async () => {
    const upstream = fakeUpstream((inputs) => inputs.length * 2);
    const batcher = createEmbeddingsBatcher({ embed: upstream.embed, maxInputs: 4, maxTokens: 6 });
    const answer = batcher.embed({ model: 'm', input: Array.from({ length: 10 }, () => 'abcd') });
    await vi.advanceTimersByTimeAsync(5);
    const result = await answer;
    // Six 1-token inputs fit maxTokens, but maxInputs 4 seals first: 4 + 4 + 2.
    expect(upstream.calls.map((call) => call.inputs.length)).toEqual([4, 4, 2]);
    expect(result.data.map((item) => item.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(result.usage).toEqual({ prompt_tokens: 20, total_tokens: 20 });
  });

  it('rejects callers with a clear error when the upstream answer does not match the inputs', async () => {
    const batcher = createEmbeddingsBatcher({
      embed: async (_model, inputs) => ({
        data: inputs.slice(1).map((_input, index) => ({ embedding: [1], index })),
        usage: { prompt_tokens: 1, total_tokens: 1 },
      }),
    });
    const answers = [
      batcher.embed({ model: 'm', input: 'a' }).catch((error: unknown) => error),
      batcher.embed({ model: 'm', input: ['b', 'c'] }).catch((error: unknown) => error),
    ];
    await vi.advanceTimersByTimeAsync(5);
    const [first, second] = await Promise.all(answers);
    expect(first).toMatchObject({ code: 'E_EMBEDDINGS_UPSTREAM' });
    expect((first as Error).message).toMatch(/0 embeddings for 1 inputs/);
    expect((second as Error).message).toMatch(/1 embeddings for 2 inputs/);
    await expect(batcher.embed({ model: 'm', input: [] })).rejects.toThrow(/non-empty/);
    await expect(
      batcher.embed({ model: 'm', input: ['a', [1]] as unknown as string[] }),
    ).rejects.toThrow(/not a mix/);
  });

  it('falls back to one call per caller when a merged call fails, so only the bad caller fails', async () => {
    const upstream = fakeUpstream((inputs) => inputs.length);
    const embed = async (
      model: string,
      inputs: string[] | number[][],
      parameters: EmbedParameters,
    ) => {
      if ((inputs as string[]).includes('bad')) {
        upstream.calls.push({ model, inputs, parameters });
        throw new SluiceError('E_UPSTREAM_400', 'input too long');
      }
      return upstream.embed(model, inputs, parameters);
    };
    const batcher = createEmbeddingsBatcher({ embed });
    const good = batcher.embed({ model: 'm', input: ['x', 'yy'] });
    const bad = batcher.embed({ model: 'm', input: ['bad'] }).catch((error: unknown) => error);
    const alsoGood = batcher.embed({ model: 'm', input: 'zzz' });
    await vi.advanceTimersByTimeAsync(5);
    expect((await good).data.map((item) => item.embedding)).toEqual([
      [1, 0],
      [2, 1],
    ]);
    expect((await good).usage.prompt_tokens).toBe(2);
    expect(await bad).toMatchObject({ code: 'E_UPSTREAM_400' });
    expect((await alsoGood).data[0]?.embedding).toEqual([3, 0]);
    // One merged call, then one per caller.
    expect(upstream.calls.map((call) => call.inputs)).toEqual([
      ['x', 'yy', 'bad', 'zzz'],
      ['x', 'yy'],
      ['bad'],
      ['zzz'],
    ]);
    expect(batcher.stats()).toMatchObject({ fallbacks: 1, batches: 1 });
  });

  it('fails every merged caller at once on a retryable upstream error', async () => {
    let calls = 0;
    const batcher = createEmbeddingsBatcher({
      embed: async () => {
        calls++;
        throw new SluiceError('E_UPSTREAM_429', 'rate limited', { isRetryable: true });
      },
    });
    const answers = ['a', 'b'].map((input) =>
      batcher.embed({ model: 'm', input }).catch((error: unknown) => error),
    );
    await vi.advanceTimersByTimeAsync(5);
    for (const error of await Promise.all(answers)) {
      expect(error).toMatchObject({ code: 'E_UPSTREAM_429' });
    }
    expect(calls).toBe(1);
    expect(batcher.stats().fallbacks).toBe(0);
  });
});
