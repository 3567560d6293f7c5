import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createBatchClient,
  createDeferredQueue,
  type DeferredCall,
  type DeferredPriceFunction,
  type DeferredQueue,
  type DeferredQueueOptions,
} from '../../src/batching/index.js';
import { createMockProvider, type MockProvider } from '../../src/mock-provider/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { ConfigError, SluiceError } from '../../src/shared/errors.js';

const HOUR = 3_600_000;
const MINUTE = 60_000;
/** 2026-01-01 00:00 UTC: outside the 01:00–06:00 window. */
const MIDNIGHT = Date.UTC(2026, 0, 1);

let folder: string;

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), 'sluice-deferred-'));
});

afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

const openQueues: DeferredQueue[] = [];

afterEach(async () => {
  await Promise.all(openQueues.splice(0).map((queue) => queue.close()));
});

let files = 0;
function databasePath(): string {
  files++;
  return join(folder, `queue-${files}.db`);
}

function openQueue(options: DeferredQueueOptions): DeferredQueue {
  const queue = createDeferredQueue(options);
  openQueues.push(queue);
  return queue;
}

/** $1 per 1M prompt tokens and $4 per 1M completion tokens; half in a batch; 30% off off-peak. */
const price: DeferredPriceFunction = (_model, usage) => {
  const { prompt_tokens: prompt = 0, completion_tokens: completion = 0 } = usage as {
    prompt_tokens?: number;
    completion_tokens?: number;
  };
  const nanos = prompt * 1_000 + completion * 4_000;
  return { nanos, batchNanos: nanos / 2, offPeakNanos: (nanos * 7) / 10 };
};

function chatBody(question: string) {
  return { messages: [{ role: 'user', content: question }] };
}

/** An execute function that answers with usage and records each call. */
function recordingExecutor(
  outcome: (call: DeferredCall) => unknown = () => ({
    usage: { prompt_tokens: 10, completion_tokens: 5 },
  }),
) {
  const calls: DeferredCall[] = [];
  const execute = async (call: DeferredCall) => {
    calls.push(call);
    const result = outcome(call);
    if (result instanceof Error) throw result;
    return result;
  };
  return { calls, execute };
}

describe('off-peak deferral', () => {
  const offPeak = { start: '01:00', end: '06:00', timeZone: 'UTC' };

  it('runs nothing outside the window and everything, by priority, inside it', async () => {
    const clock = new ManualClock(MIDNIGHT);
    const { calls, execute } = recordingExecutor((call) => ({
      answer: call.body.messages,
      usage: { prompt_tokens: 10, completion_tokens: 5 },
    }));
    const queue = openQueue({ path: databasePath(), clock, execute, offPeak, price });
    const low = queue.enqueue(chatBody('low'), { model: 'mock-small', mode: 'off-peak' });
    const high = queue.enqueue(chatBody('high'), {
      model: 'mock-small',
      mode: 'off-peak',
      priority: 5,
    });
    const report = await queue.tick();
    expect(report).toMatchObject({ offPeakOpen: false, ran: 0 });
    expect(calls).toHaveLength(0);
    expect(queue.get(low)?.status).toBe('queued');

    clock.set(MIDNIGHT + HOUR - 1); // 00:59:59.999
    expect((await queue.tick()).ran).toBe(0);
    clock.set(MIDNIGHT + HOUR); // 01:00
    const inside = await queue.tick();
    expect(inside).toMatchObject({ offPeakOpen: true, ran: 2, done: 2 });
    expect(calls.map((call) => call.body.messages)).toEqual([
      [{ role: 'user', content: 'high' }],
      [{ role: 'user', content: 'low' }],
    ]);
    expect(calls[0]).toMatchObject({ model: 'mock-small', endpoint: '/v1/chat/completions' });
    expect(calls[0]?.body.model).toBe('mock-small');
    // 10 × 1,000 + 5 × 4,000 = 30,000 nanos normally; 21,000 off-peak.
    expect(queue.get(high)).toMatchObject({
      status: 'done',
      attempts: 1,
      result: { answer: [{ role: 'user', content: 'high' }] },
      costNanos: 21_000,
      normalCostNanos: 30_000,
      savedNanos: 9_000,
      completedAt: MIDNIGHT + HOUR,
    });
    expect(queue.stats()).toMatchObject({
      byStatus: { done: 2, queued: 0 },
      costNanos: 42_000,
      savedNanos: 18_000,
    });

    clock.set(MIDNIGHT + 6 * HOUR); // 06:00: the window has closed
    queue.enqueue(chatBody('late'), { model: 'mock-small', mode: 'off-peak' });
    expect((await queue.tick()).ran).toBe(0);
  });

  it('handles a window across midnight in a time zone', async () => {
    // 22:00–05:00 in Tokyo (UTC+9) is 13:00–20:00 UTC.
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 12, 59));
    const { calls, execute } = recordingExecutor();
    const queue = openQueue({
      path: ':memory:',
      clock,
      execute,
      offPeak: { start: '22:00', end: '05:00', timeZone: 'Asia/Tokyo' },
    });
    queue.enqueue(chatBody('x'), { model: 'm', mode: 'off-peak' });
    expect((await queue.tick()).ran).toBe(0);
    clock.set(Date.UTC(2026, 0, 1, 13, 0));
    expect((await queue.tick()).ran).toBe(1);
    expect(calls).toHaveLength(1);
    clock.set(Date.UTC(2026, 0, 1, 20, 0));
    queue.enqueue(chatBody('y'), { model: 'm', mode: 'off-peak' });
    expect((await queue.tick()).ran).toBe(0);
  });

  it('runs at most `concurrency` items at once', async () => {
    const clock = new ManualClock(MIDNIGHT + 2 * HOUR);
    let running = 0;
    let peak = 0;
    const queue = openQueue({
      path: ':memory:',
      clock,
      offPeak,
      concurrency: 2,
      execute: async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, 2));
        running--;
        return {};
      },
    });
    for (let index = 0; index < 5; index++) {
      queue.enqueue(chatBody(`q${index}`), { model: 'm', mode: 'off-peak' });
    }
    expect((await queue.tick()).done).toBe(5);
    expect(peak).toBe(2);
  });

  it('retries failures with exponential backoff up to maxAttempts', async () => {
    const clock = new ManualClock(MIDNIGHT + 2 * HOUR);
    let flakyFailures = 2;
    const { calls, execute } = recordingExecutor((call) => {
      if (call.body.kind === 'broken') return new Error('upstream 500');
      if (call.body.kind === 'invalid') {
        return new SluiceError('E_INVALID', 'bad request', { isRetryable: false });
      }
      if (flakyFailures > 0) {
        flakyFailures--;
        return new Error(`flaky failure, ${flakyFailures} left`);
      }
      return { usage: { prompt_tokens: 1, completion_tokens: 1 } };
    });
    const queue = openQueue({
      path: ':memory:',
      clock,
      execute,
      offPeak,
      maxAttempts: 3,
      retryDelay: '1m',
    });
    const flaky = queue.enqueue(
      { ...chatBody('f'), kind: 'flaky' },
      { model: 'm', mode: 'off-peak' },
    );
    const broken = queue.enqueue(
      { ...chatBody('b'), kind: 'broken' },
      { model: 'm', mode: 'off-peak' },
    );
    const invalid = queue.enqueue(
      { ...chatBody('i'), kind: 'invalid' },
      { model: 'm', mode: 'off-peak' },
    );

    const first = await queue.tick();
    expect(first).toMatchObject({ ran: 3, retried: 2, failed: 1 });
    expect(queue.get(invalid)).toMatchObject({
      status: 'failed',
      attempts: 1,
      error: 'bad request',
    });
    expect(queue.get(flaky)).toMatchObject({
      status: 'queued',
      attempts: 1,
      error: 'flaky failure, 1 left',
    });

    // Backoff: nothing is due until a minute has passed.
    expect((await queue.tick()).ran).toBe(0);
    clock.advance(MINUTE);
    expect(await queue.tick()).toMatchObject({ ran: 2, retried: 2 });
    // The second retry waits twice as long.
    clock.advance(MINUTE);
    expect((await queue.tick()).ran).toBe(0);
    clock.advance(MINUTE);
    expect(await queue.tick()).toMatchObject({ ran: 2, done: 1, failed: 1 });

    expect(queue.get(flaky)).toMatchObject({ status: 'done', attempts: 3 });
    expect(queue.get(flaky)?.error).toBeUndefined();
    expect(queue.get(broken)).toMatchObject({
      status: 'failed',
      attempts: 3,
      error: 'upstream 500 (after 3 attempts)',
    });
    expect(calls.filter((call) => call.id === broken).map((call) => call.attempt)).toEqual([
      1, 2, 3,
    ]);
  });

  it('expires items that were not run in time', async () => {
    const clock = new ManualClock(MIDNIGHT + 12 * HOUR);
    const { execute } = recordingExecutor();
    const queue = openQueue({ path: ':memory:', clock, execute, offPeak });
    const id = queue.enqueue(chatBody('x'), { model: 'm', mode: 'off-peak', expireAfter: '2h' });
    clock.advance(2 * HOUR);
    expect((await queue.tick()).expired).toBe(1);
    expect(queue.get(id)).toMatchObject({ status: 'expired', error: 'not run before it expired' });
  });

  it('resumes from the same SQLite file after a restart, including an interrupted run', async () => {
    const path = databasePath();
    const clock = new ManualClock(MIDNIGHT);
    let finishLate: (value: unknown) => void = () => {};
    const first = createDeferredQueue({
      path,
      clock,
      offPeak,
      price,
      concurrency: 1,
      // The first call never ends while the test runs: the process "dies" during it.
      execute: () =>
        new Promise((resolve) => {
          finishLate = resolve;
        }),
    });
    const waiting = first.enqueue(chatBody('waiting'), { model: 'm', mode: 'off-peak' });
    const interrupted = first.enqueue(chatBody('interrupted'), {
      model: 'm',
      mode: 'off-peak',
      priority: 1,
    });
    expect((await first.tick()).ran).toBe(0); // outside the window
    clock.set(MIDNIGHT + HOUR);
    const hungPass = first.tick();
    await vi.waitFor(() => expect(first.get(interrupted)?.status).toBe('running'));

    const { calls, execute } = recordingExecutor();
    const restarted = openQueue({ path, clock, offPeak, price, execute });
    expect(restarted.get(interrupted)).toMatchObject({
      status: 'queued',
      attempts: 1,
      error: 'interrupted by a restart',
    });
    expect(restarted.get(waiting)?.status).toBe('queued');
    expect(await restarted.tick()).toMatchObject({ ran: 2, done: 2 });
    expect(calls.map((call) => call.id)).toEqual([interrupted, waiting]);
    expect(restarted.get(interrupted)).toMatchObject({
      status: 'done',
      attempts: 2,
      costNanos: 21_000,
    });
    // The "dead" process's late answer does not overwrite the settled item.
    finishLate({ late: true });
    await hungPass;
    expect(restarted.get(interrupted)?.result).toEqual({
      usage: { prompt_tokens: 10, completion_tokens: 5 },
    });
    await first.close();
  });

  it('start() ticks in the background until stop(); a closed queue refuses work', async () => {
    const clock = new ManualClock(MIDNIGHT + 2 * HOUR);
    const { calls, execute } = recordingExecutor();
    const queue = createDeferredQueue({ path: ':memory:', clock, execute, offPeak });
    queue.start(5);
    const id = queue.enqueue(chatBody('background'), { model: 'm', mode: 'off-peak' });
    await vi.waitFor(() => expect(queue.get(id)?.status).toBe('done'), { timeout: 2_000 });
    await queue.stop();
    const ticks = queue.stats().ticks;
    expect(ticks).toBeGreaterThan(0);
    queue.enqueue(chatBody('after stop'), { model: 'm', mode: 'off-peak' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(queue.stats().ticks).toBe(ticks);
    expect(calls).toHaveLength(1);
    await queue.close();
    await expect(queue.tick()).rejects.toMatchObject({ code: 'E_DEFERRED_CLOSED' });
    expect(() => queue.get(id)).toThrow(/closed/);
  });

  it('refuses what it cannot run', () => {
    const queue = openQueue({ path: ':memory:' });
    expect(() => queue.enqueue(chatBody('x'), { model: 'm', mode: 'off-peak' })).toThrow(
      /needs the queue's execute function and offPeak window/,
    );
    expect(() => queue.enqueue(chatBody('x'), { model: 'm', mode: 'batch-api' })).toThrow(
      /needs the queue's batchClient/,
    );
    const ready = openQueue({
      path: ':memory:',
      execute: async () => ({}),
      offPeak,
      maxQueued: 1,
    });
    expect(() =>
      ready.enqueue({ ...chatBody('x'), stream: true }, { model: 'm', mode: 'off-peak' }),
    ).toThrow(ConfigError);
    expect(() =>
      ready.enqueue({ ...chatBody('x'), model: 'other' }, { model: 'm', mode: 'off-peak' }),
    ).toThrow(/differs/);
    ready.enqueue(chatBody('x'), { model: 'm', mode: 'off-peak' });
    expect(() => ready.enqueue(chatBody('y'), { model: 'm', mode: 'off-peak' })).toThrow(
      expect.objectContaining({ code: 'E_DEFERRED_FULL' }),
    );
    expect(() =>
      createDeferredQueue({ path: ':memory:', offPeak: { start: '01:00', end: '01:00' } }),
    ).toThrow(/empty/);
    expect(() =>
      createDeferredQueue({ path: ':memory:', offPeak: { start: '1am', end: '06:00' } }),
    ).toThrow(/HH:MM/);
    expect(() =>
      createDeferredQueue({
        path: ':memory:',
        offPeak: { start: '01:00', end: '06:00', timeZone: 'Mars/Olympus' },
      }),
    ).toThrow(/time zone/);
    for (const option of ['concurrency', 'maxAttempts', 'maxQueued'] as const) {
      expect(() => createDeferredQueue({ path: ':memory:', [option]: 0 })).toThrow(
        new ConfigError(`${option} must be a positive integer, got 0`),
      );
    }
  });
});

describe('Batch API deferral against the mock provider', () => {
  let mock: MockProvider;
  let url: string;
  let openai: OpenAI;
  const clock = new ManualClock(MIDNIGHT);

  beforeAll(async () => {
    mock = createMockProvider({ clock });
    ({ url } = await mock.listen(0));
    openai = new OpenAI({ baseURL: url, apiKey: 'x', maxRetries: 0 });
  });

  afterAll(async () => {
    await mock.close();
  });

  afterEach(() => {
    mock.setOptions({ batchDelayMs: 0 });
  });

  function batchQueue(path: string, extra: Partial<DeferredQueueOptions> = {}): DeferredQueue {
    return openQueue({
      path,
      clock,
      price,
      batchClient: createBatchClient({ baseUrl: url, apiKey: 'x' }),
      pollInterval: '1m',
      ...extra,
    });
  }

  it('submits one batch per model, polls it, and stores results, costs and savings by id', async () => {
    const queue = batchQueue(databasePath());
    const questions = ['What is a river?', 'Name a mountain.', 'Describe a city.'];
    const small = questions.map((question) =>
      queue.enqueue(chatBody(question), { model: 'mock-small', mode: 'batch-api' }),
    );
    const large = queue.enqueue(chatBody('Big question'), {
      model: 'mock-large',
      mode: 'batch-api',
    });
    const bad = queue.enqueue({ messages: [] }, { model: 'mock-small', mode: 'batch-api' });
    mock.reset();

    const submitted = await queue.tick();
    expect(submitted).toMatchObject({ submitted: 5, batchesCreated: 2, batchesPolled: 0 });
    expect(mock.batchStats()).toMatchObject({ fileUploads: 2, batchesCreated: 2 });
    const firstItem = queue.get(small[0] ?? '');
    expect(firstItem).toMatchObject({ status: 'submitted', attempts: 1 });
    expect(firstItem?.batchId).toMatch(/^batch_/);
    expect(queue.get(large)?.batchId).not.toBe(firstItem?.batchId);
    expect(queue.stats()).toMatchObject({ openBatches: 2, byStatus: { submitted: 5 } });

    // Not polled again before the poll interval.
    expect((await queue.tick()).batchesPolled).toBe(0);
    clock.advance(MINUTE);
    const completed = await queue.tick();
    expect(completed).toMatchObject({ batchesPolled: 2, batchesSettled: 2, done: 4, failed: 1 });

    for (const [index, id] of small.entries()) {
      const item = queue.get(id);
      const direct = await openai.chat.completions.create({
        model: 'mock-small',
        messages: [{ role: 'user', content: questions[index] ?? '' }],
      });
      expect(item?.status).toBe('done');
      expect(item?.result).toEqual(JSON.parse(JSON.stringify(direct)));
      const usage = direct.usage;
      const normal = (usage?.prompt_tokens ?? 0) * 1_000 + (usage?.completion_tokens ?? 0) * 4_000;
      expect(normal).toBeGreaterThan(0);
      expect(item).toMatchObject({
        normalCostNanos: normal,
        costNanos: normal / 2,
        savedNanos: normal / 2,
      });
    }
    expect(queue.get(large)?.status).toBe('done');
    expect(queue.get(bad)).toMatchObject({
      status: 'failed',
      error: "400: 'messages' must be a non-empty array",
    });
    expect(queue.get(bad)?.costNanos).toBeUndefined();

    const stats = queue.stats();
    expect(stats).toMatchObject({ openBatches: 0, byStatus: { done: 4, failed: 1 } });
    expect(stats.savedNanos).toBe(stats.costNanos);
    expect(stats.normalCostNanos).toBe(2 * stats.costNanos);
    expect(mock.batchStats()).toMatchObject({ batchesCompleted: 2, batchRequests: 5 });
    // The batch's files were deleted at the provider once settled.
    const batch = await openai.batches.retrieve(firstItem?.batchId ?? '');
    await expect(openai.files.content(batch.input_file_id)).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
  });

  it('marks items running while the provider works, and polls a batch submitted before a restart', async () => {
    const path = databasePath();
    mock.setOptions({ batchDelayMs: 30 * MINUTE });
    const before = batchQueue(path);
    const id = before.enqueue(chatBody('survive a restart'), {
      model: 'mock-small',
      mode: 'batch-api',
    });
    expect((await before.tick()).submitted).toBe(1);
    clock.advance(MINUTE);
    expect((await before.tick()).batchesPolled).toBe(1);
    expect(before.get(id)?.status).toBe('running');
    await before.close();

    const after = batchQueue(path);
    expect(after.get(id)?.status).toBe('running');
    clock.advance(30 * MINUTE);
    expect(await after.tick()).toMatchObject({ batchesSettled: 1, done: 1, submitted: 0 });
    expect(after.get(id)).toMatchObject({ status: 'done', attempts: 1 });
    expect(after.get(id)?.savedNanos).toBeGreaterThan(0);
  });

  it('marks the items of an expired batch expired', async () => {
    mock.setOptions({ batchDelayMs: 48 * HOUR });
    const queue = batchQueue(':memory:');
    const id = queue.enqueue(chatBody('too slow'), { model: 'mock-small', mode: 'batch-api' });
    await queue.tick();
    clock.advance(24 * HOUR);
    expect(await queue.tick()).toMatchObject({ batchesSettled: 1, expired: 1 });
    expect(queue.get(id)).toMatchObject({ status: 'expired' });
    expect(queue.get(id)?.error).toMatch(/completion window expired/);
  });

  it('retries a failed submission with backoff, then fails the items', async () => {
    const queue = openQueue({
      path: ':memory:',
      clock,
      batchClient: createBatchClient({ baseUrl: url, headers: { 'x-mock-fault': '500' } }),
      maxAttempts: 2,
      retryDelay: '10s',
    });
    const id = queue.enqueue(chatBody('x'), { model: 'mock-small', mode: 'batch-api' });
    expect(await queue.tick()).toMatchObject({ submitted: 0, retried: 1 });
    expect(queue.get(id)).toMatchObject({ status: 'queued', attempts: 1 });
    expect(queue.get(id)?.error).toMatch(/could not submit the batch: POST \/files answered 500/);
    expect((await queue.tick()).retried).toBe(0);
    clock.advance(10_000);
    expect(await queue.tick()).toMatchObject({ failed: 1 });
    expect(queue.get(id)).toMatchObject({ status: 'failed', attempts: 2 });
  });

  it('bounds each batch by maxBatchRequests', async () => {
    const queue = batchQueue(':memory:', { maxBatchRequests: 2 });
    for (let index = 0; index < 5; index++) {
      queue.enqueue(chatBody(`q${index}`), { model: 'mock-small', mode: 'batch-api' });
    }
    expect(await queue.tick()).toMatchObject({ submitted: 5, batchesCreated: 3 });
  });
});
