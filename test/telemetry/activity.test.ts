import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/shared/clock.js';
import { createActivity } from '../../src/telemetry/activity.js';

const START = Date.UTC(2026, 11, 3, 12, 0, 0);

function event(cache: string, durationMs: number, model = 'gpt-4o-mini', status = 200) {
  return { route: 'chat', model, status, cache, durationMs, overheadMs: durationMs / 10 };
}

describe('activity', () => {
  it('counts requests by cache result in fixed steps, oldest first', () => {
    const clock = new ManualClock(START);
    const activity = createActivity({ clock, windowSeconds: 60, stepSeconds: 10 });
    activity.record(event('hit', 1));
    activity.record(event('miss', 100));
    clock.advance(10_000);
    activity.record(event('semantic-hit', 2));
    activity.record(event('bypass', 50, 'gpt-4o', 502));
    const snapshot = activity.snapshot();
    expect(snapshot.series).toHaveLength(6);
    expect(snapshot.series.at(-2)).toMatchObject({ at: START, requests: 2, hits: 1, misses: 1 });
    expect(snapshot.series.at(-1)).toMatchObject({
      at: START + 10_000,
      requests: 2,
      semanticHits: 1,
      bypass: 1,
      errors: 1,
    });
    expect(snapshot.totals).toEqual({
      requests: 4,
      hits: 1,
      semanticHits: 1,
      misses: 1,
      bypass: 1,
      clientErrors: 0,
      upstreamErrors: 0,
      serverErrors: 1,
    });
  });

  it('counts errors by outcome: a stream cut after its 200 and an upstream 429 are upstream errors', () => {
    const activity = createActivity({ clock: new ManualClock(START) });
    activity.record({ ...event('miss', 5), outcome: 'upstream_error' });
    activity.record({ ...event('bypass', 5, 'gpt-4o-mini', 429), outcome: 'upstream_error' });
    activity.record({ ...event('bypass', 1, 'gpt-4o-mini', 429), outcome: 'client_error' });
    activity.record({ ...event('bypass', 1, 'gpt-4o-mini', 500), outcome: 'server_error' });
    activity.record({ ...event('miss', 5), outcome: 'success' });
    const snapshot = activity.snapshot();
    expect(snapshot.totals).toMatchObject({
      requests: 5,
      clientErrors: 1,
      upstreamErrors: 2,
      serverErrors: 1,
    });
    expect(snapshot.series.at(-1)).toMatchObject({ requests: 5, errors: 4 });
    expect(snapshot.models).toEqual([expect.objectContaining({ model: 'gpt-4o-mini', errors: 4 })]);
  });

  it('counts a request refused before its model was known in the totals, in no model row', () => {
    const activity = createActivity({ clock: new ManualClock(START) });
    activity.record(event('bypass', 1, '', 401));
    activity.record(event('miss', 1));
    const snapshot = activity.snapshot();
    expect(snapshot.totals).toMatchObject({ requests: 2, clientErrors: 1 });
    expect(snapshot.models.map((model) => model.model)).toEqual(['gpt-4o-mini']);
  });

  it('forgets steps older than the window, and reuses their slots', () => {
    const clock = new ManualClock(START);
    const activity = createActivity({ clock, windowSeconds: 60, stepSeconds: 10 });
    activity.record(event('hit', 1));
    clock.advance(60_000); // the same ring slot, a new step
    activity.record(event('miss', 1));
    const series = activity.snapshot().series;
    expect(series.reduce((sum, point) => sum + point.requests, 0)).toBe(1);
    expect(series.at(-1)).toMatchObject({ requests: 1, misses: 1, hits: 0 });
    // Totals since start keep everything.
    expect(activity.snapshot().totals.requests).toBe(2);
  });

  it('gives latency percentiles over the last minutes only', () => {
    const clock = new ManualClock(START);
    const activity = createActivity({ clock, latencyWindowSeconds: 120 });
    for (let index = 1; index <= 100; index++) activity.record(event('miss', index));
    let latency = activity.snapshot().latency;
    expect(latency.requests).toBe(100);
    expect(Math.abs(latency.p50Ms - 50) / 50).toBeLessThan(0.05);
    expect(Math.abs(latency.p95Ms - 95) / 95).toBeLessThan(0.05);
    expect(Math.abs(latency.overheadP50Ms - 5) / 5).toBeLessThan(0.05);
    clock.advance(60_000);
    activity.record(event('hit', 1_000));
    expect(activity.snapshot().latency.requests).toBe(101);
    clock.advance(60_000); // the first minute has left the window
    latency = activity.snapshot().latency;
    expect(latency.requests).toBe(1);
    expect(Math.abs(latency.p50Ms - 1_000) / 1_000).toBeLessThan(0.05);
  });

  it('keeps per-model totals for a bounded number of models', () => {
    const activity = createActivity({ clock: new ManualClock(START), maxModels: 2 });
    activity.record(event('hit', 1, 'a'));
    activity.record(event('miss', 1, 'a'));
    activity.record(event('miss', 1, 'b', 400));
    activity.record(event('miss', 1, 'c'));
    activity.record(event('miss', 1, 'd'));
    const models = activity.snapshot().models;
    expect(models.map((model) => [model.model, model.requests])).toEqual([
      ['a', 2],
      ['other', 2],
      ['b', 1],
    ]);
    expect(models[0]).toMatchObject({ hits: 1, errors: 0 });
    expect(models[2]).toMatchObject({ errors: 1 });
  });

  it('refuses windows that are not whole steps or minutes', () => {
    expect(() => createActivity({ windowSeconds: 65, stepSeconds: 10 })).toThrow(/whole number/);
    expect(() => createActivity({ latencyWindowSeconds: 90 })).toThrow(/whole minutes/);
  });
});
