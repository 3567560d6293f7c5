import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CounterFamily, HistogramFamily } from '../../src/telemetry/series.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];
/** Values on, between, below and above the bounds, and one that is not a number. */
const OBSERVED: [string, string, number][] = [
  ['chat', '200', 0.0005],
  ['chat', '200', 0.001],
  ['chat', '200', 0.05],
  ['chat', '200', 7],
  ['embeddings', '502', 0.1],
  ['embeddings', '502', 0.25],
];

function pair() {
  const ours = new Registry();
  const theirs = new Registry();
  return { ours, theirs };
}

describe('series families', () => {
  it('expose a histogram exactly as prom-client does', async () => {
    const { ours, theirs } = pair();
    const family = new HistogramFamily(
      ours,
      'x_seconds',
      'Help text',
      ['route', 'status'],
      BUCKETS,
    );
    const reference = new Histogram({
      name: 'x_seconds',
      help: 'Help text',
      labelNames: ['route', 'status'],
      buckets: BUCKETS,
      registers: [theirs],
    });
    for (const [route, status, value] of OBSERVED) {
      family.labels(route, status).observe(value);
      reference.labels(route, status).observe(value);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    // The same JSON, but for prom-client's exemplar slot (null: exemplars are off).
    const withoutExemplars = (await theirs.getMetricsAsJSON()).map((metric) => ({
      ...metric,
      values: metric.values.map((value) => {
        const { exemplar: _exemplar, ...rest } = value as typeof value & { exemplar?: unknown };
        return rest;
      }),
    }));
    expect(await ours.getMetricsAsJSON()).toEqual(withoutExemplars);
  });

  it('expose a counter exactly as prom-client does', async () => {
    const { ours, theirs } = pair();
    const family = new CounterFamily(ours, 'x_total', 'Help text', ['model', 'kind']);
    const reference = new Counter({
      name: 'x_total',
      help: 'Help text',
      labelNames: ['model', 'kind'],
      registers: [theirs],
    });
    for (const [model, kind, amount] of [
      ['a', 'prompt', 3],
      ['a', 'prompt', 4],
      ['b', 'completion', 1],
    ] as const) {
      family.labels(model, kind).inc(amount);
      reference.labels(model, kind).inc(amount);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.metrics()).toContain('x_total{model="a",kind="prompt"} 7');
  });

  it('bind a label set once: the same series object every time', () => {
    const family = new CounterFamily(new Registry(), 'y_total', 'h', ['a']);
    expect(family.labels('1')).toBe(family.labels('1'));
    expect(family.labels('1')).not.toBe(family.labels('2'));
  });

  it('refuse a label set of the wrong length', () => {
    const family = new HistogramFamily(new Registry(), 'z_seconds', 'h', ['a', 'b'], BUCKETS);
    expect(() => family.labels('only-one')).toThrow(/expected 2 label values, got 1/);
  });

  it('ignore a value that is not a finite number, and forget series on reset', async () => {
    const registry = new Registry();
    const family = new HistogramFamily(registry, 'w_seconds', 'h', ['a'], BUCKETS);
    family.labels('x').observe(Number.NaN);
    family.labels('x').observe(0.5);
    expect(await registry.metrics()).toContain('w_seconds_count{a="x"} 1');
    registry.resetMetrics();
    expect(await registry.metrics()).not.toContain('w_seconds_count');
  });
});
