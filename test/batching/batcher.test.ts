import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type BatchItemResult, createBatcher } from '../../src/batching/index.js';
import { ConfigError, SluiceError } from '../../src/shared/errors.js';

/** A run function that records its calls and answers each input with `answer(input)`. */
function recorder<Input, Output>(answer: (input: Input) => BatchItemResult<Output>) {
  const calls: { key: string; inputs: Input[] }[] = [];
  const run = async (key: string, inputs: Input[]) => {
    calls.push({ key, inputs: [...inputs] });
    return inputs.map(answer);
  };
  return { calls, run };
}

/** Settles a promise into a value or an error, so rejections can be checked after timers run. */
function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('createBatcher', () => {
  it('sends concurrent calls of one key as one batch and answers each caller in order', async () => {
    const { calls, run } = recorder((input: number) => input * 10);
    const batcher = createBatcher({ run, window: 5 });
    const answers = Promise.all([1, 2, 3].map((input) => batcher.add('model-a', input)));
    const other = batcher.add('model-b', 7);
    expect(calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(5);
    expect(await answers).toEqual([10, 20, 30]);
    expect(await other).toBe(70);
    expect(calls).toEqual([
      { key: 'model-a', inputs: [1, 2, 3] },
      { key: 'model-b', inputs: [7] },
    ]);
    expect(batcher.stats()).toMatchObject({
      batches: 2,
      items: 4,
      meanBatchSize: 2,
      flushes: { window: 2, size: 0, weight: 0, manual: 0 },
      pending: 0,
    });
  });

  it('starts the window at the first item, not at the last', async () => {
    const { calls, run } = recorder((input: string) => input);
    const batcher = createBatcher({ run, window: 10 });
    const first = batcher.add('k', 'a');
    await vi.advanceTimersByTimeAsync(9);
    const second = batcher.add('k', 'b');
    expect(calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([{ key: 'k', inputs: ['a', 'b'] }]);
    await expect(Promise.all([first, second])).resolves.toEqual(['a', 'b']);
    // A later item opens a new window of its own.
    const third = batcher.add('k', 'c');
    await vi.advanceTimersByTimeAsync(9);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(third).resolves.toBe('c');
    expect(calls).toHaveLength(2);
  });

  it('sends a batch at once when it reaches maxItems', async () => {
    const { calls, run } = recorder((input: number) => input);
    const batcher = createBatcher({ run, window: 1_000, maxItems: 3 });
    const full = [1, 2, 3].map((input) => batcher.add('k', input));
    const next = batcher.add('k', 4);
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toEqual([{ key: 'k', inputs: [1, 2, 3] }]);
    await expect(Promise.all(full)).resolves.toEqual([1, 2, 3]);
    await vi.advanceTimersByTimeAsync(1_000);
    await expect(next).resolves.toBe(4);
    expect(batcher.stats().flushes).toEqual({ size: 1, window: 1, weight: 0, manual: 0 });
  });

  it('sends a batch at once when it reaches maxWeight, and never lets one go past it', async () => {
    const { calls, run } = recorder((input: string) => input.toUpperCase());
    const batcher = createBatcher({ run, window: 1_000, maxWeight: 100 });
    const a = batcher.add('k', 'a', 60);
    const b = batcher.add('k', 'b', 50); // 110 > 100: 'a' goes alone, 'b' opens the next batch
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toEqual([{ key: 'k', inputs: ['a'] }]);
    const c = batcher.add('k', 'c', 50); // exactly 100: sent at once
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toEqual([
      { key: 'k', inputs: ['a'] },
      { key: 'k', inputs: ['b', 'c'] },
    ]);
    const heavy = batcher.add('k', 'd', 500); // heavier than maxWeight on its own: goes alone
    await vi.advanceTimersByTimeAsync(0);
    expect(calls[2]).toEqual({ key: 'k', inputs: ['d'] });
    await expect(Promise.all([a, b, c, heavy])).resolves.toEqual(['A', 'B', 'C', 'D']);
    expect(batcher.stats().flushes).toMatchObject({ weight: 3, window: 0 });
    await expect(batcher.add('k', 'e', 0)).rejects.toBeInstanceOf(ConfigError);
  });

  it('rejects only the caller whose result is an Error', async () => {
    const { run } = recorder((input: number) =>
      input === 2 ? new RangeError(`bad input ${input}`) : input,
    );
    const batcher = createBatcher({ run });
    const results = [1, 2, 3].map((input) => settle(batcher.add('k', input)));
    await vi.advanceTimersByTimeAsync(5);
    const [one, two, three] = await Promise.all(results);
    expect(one).toEqual({ value: 1 });
    expect(two?.error).toBeInstanceOf(RangeError);
    expect(two?.error).toMatchObject({ message: 'bad input 2' });
    expect(three).toEqual({ value: 3 });
    expect(batcher.stats()).toMatchObject({ failedItems: 1, failedBatches: 0 });
  });

  it('rejects every item of a batch with the error run threw, and only that batch', async () => {
    const boom = new Error('upstream down');
    const batcher = createBatcher<number, number>({
      run: async (key, inputs) => {
        if (key === 'broken') throw boom;
        return inputs;
      },
    });
    const broken = [1, 2].map((input) => settle(batcher.add('broken', input)));
    const fine = batcher.add('fine', 3);
    await vi.advanceTimersByTimeAsync(5);
    for (const result of await Promise.all(broken)) expect(result.error).toBe(boom);
    await expect(fine).resolves.toBe(3);
    expect(batcher.stats()).toMatchObject({ failedBatches: 1, pending: 0 });
  });

  it('rejects the whole batch with a clear error when run returns the wrong number of results', async () => {
    const batcher = createBatcher<number, number>({ run: async (_key, inputs) => inputs.slice(1) });
    const results = [1, 2, 3].map((input) => settle(batcher.add('k', input)));
    await vi.advanceTimersByTimeAsync(5);
    for (const result of await Promise.all(results)) {
      expect(result.error).toBeInstanceOf(SluiceError);
      expect(result.error).toMatchObject({ code: 'E_BATCH_RESULT_COUNT' });
      expect((result.error as Error).message).toMatch(/returned 2 results for 3 inputs/);
    }
  });

  it('refuses items beyond maxPending until earlier ones settle', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const batcher = createBatcher<number, number>({
      run: async (_key, inputs) => {
        await gate;
        return inputs;
      },
      maxItems: 2,
      maxPending: 3,
    });
    const accepted = [1, 2, 3].map((input) => batcher.add('k', input));
    const refused = batcher.add('k', 4);
    await expect(refused).rejects.toMatchObject({ code: 'E_BATCHER_FULL', isRetryable: true });
    expect(batcher.stats()).toMatchObject({ pending: 3, rejected: 1 });
    await vi.advanceTimersByTimeAsync(5);
    release();
    await expect(Promise.all(accepted)).resolves.toEqual([1, 2, 3]);
    expect(batcher.stats().pending).toBe(0);
    const later = batcher.add('k', 5);
    await vi.advanceTimersByTimeAsync(5);
    await expect(later).resolves.toBe(5);
  });

  it('runs at most `concurrency` batches at once, the others in order', async () => {
    const started: number[][] = [];
    const gates: (() => void)[] = [];
    const batcher = createBatcher<number, number>({
      run: (_key, inputs) =>
        new Promise((resolve) => {
          started.push(inputs);
          gates.push(() => resolve(inputs));
        }),
      maxItems: 1,
      concurrency: 2,
    });
    const results = [1, 2, 3].map((input) => batcher.add('k', input));
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual([[1], [2]]);
    expect(batcher.stats().running).toBe(2);
    gates[0]?.();
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual([[1], [2], [3]]);
    gates[1]?.();
    gates[2]?.();
    await expect(Promise.all(results)).resolves.toEqual([1, 2, 3]);
  });

  it('close() sends what is pending at once, waits for it, then refuses new items', async () => {
    const { calls, run } = recorder((input: number) => input + 1);
    const batcher = createBatcher({ run, window: 60_000 });
    const pending = [batcher.add('a', 1), batcher.add('b', 2)];
    await batcher.close(); // no timer advanced: close itself sends them
    expect(calls).toEqual([
      { key: 'a', inputs: [1] },
      { key: 'b', inputs: [2] },
    ]);
    await expect(Promise.all(pending)).resolves.toEqual([2, 3]);
    expect(batcher.stats().flushes.manual).toBe(2);
    await expect(batcher.add('a', 3)).rejects.toMatchObject({ code: 'E_BATCHER_CLOSED' });
  });

  it('flush() sends open batches and waits for every batch in flight', async () => {
    let finished = false;
    const batcher = createBatcher<number, number>({
      run: async (_key, inputs) => {
        await new Promise((resolve) => setTimeout(resolve, 50));
        finished = true;
        return inputs;
      },
      window: 60_000,
    });
    const result = batcher.add('k', 1);
    const flushed = batcher.flush();
    await vi.advanceTimersByTimeAsync(50);
    await flushed;
    expect(finished).toBe(true);
    await expect(result).resolves.toBe(1);
  });

  it('refuses unbounded or invalid options', () => {
    const run = async (_key: string, inputs: number[]) => inputs;
    expect(() => createBatcher({ run, maxPending: Number.POSITIVE_INFINITY })).toThrow(
      /maxPending must be finite/,
    );
    expect(() => createBatcher({ run, maxItems: 0 })).toThrow(ConfigError);
    expect(() => createBatcher({ run, window: -1 })).toThrow(/window/);
  });
});
