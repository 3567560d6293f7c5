import { describe, expect, it } from 'vitest';
import { createResourcePredictor } from '../../src/pool/index.js';
import { ConfigError, SluiceError } from '../../src/shared/errors.js';

describe('createResourcePredictor', () => {
  it('predicts the p95 of recent usage plus a 20 % buffer with high confidence', () => {
    const predictor = createResourcePredictor();
    for (let run = 1; run <= 100; run++) {
      predictor.record('react', { cpuPercent: run, memoryMb: run * 10, durationMs: run * 100 });
    }
    const prediction = predictor.predict('react');
    expect(prediction).toMatchObject({
      kind: 'react',
      confidence: 'high',
      confidenceScore: 1,
      samples: 100,
      source: 'history',
      buffer: 0.2,
    });
    // Nearest-rank p95 of 1..100 is 95.
    expect(prediction.cpuPercent).toBeCloseTo(95 * 1.2);
    expect(prediction.memoryMb).toBeCloseTo(950 * 1.2);
    expect(prediction.durationMs).toBeCloseTo(9_500 * 1.2);
  });

  it('takes the percentile and the buffer as options', () => {
    const predictor = createResourcePredictor({ percentile: 0.5, buffer: 0, historySize: 50 });
    for (const value of [10, 30, 20, 50, 40]) predictor.record('etl', { memoryMb: value });
    for (let run = 0; run < 45; run++) predictor.record('etl', { memoryMb: 30 });
    expect(predictor.predict('etl').memoryMb).toBe(30);
    expect(predictor.predict('etl').confidence).toBe('high');
  });

  it('falls back to conservative defaults with no data', () => {
    const predictor = createResourcePredictor();
    expect(predictor.predict('unknown')).toEqual({
      kind: 'unknown',
      cpuPercent: 50,
      memoryMb: 256,
      durationMs: 60_000,
      confidence: 'low',
      confidenceScore: 0,
      samples: 0,
      source: 'defaults',
      buffer: 0,
    });
    const custom = createResourcePredictor({ defaults: { memoryMb: 1_024 } });
    expect(custom.predict('unknown')).toMatchObject({ cpuPercent: 50, memoryMb: 1_024 });
  });

  it('grows confidence with the sample count and buffers uncertain predictions more', () => {
    const predictor = createResourcePredictor();
    const record = (count: number) => {
      for (let run = 0; run < count; run++) {
        predictor.record('agent', { cpuPercent: 10, memoryMb: 1_000, durationMs: 100 });
      }
    };
    record(5);
    let prediction = predictor.predict('agent');
    expect(prediction.confidence).toBe('low');
    // Low: 1.5× the percentile, never below the defaults.
    expect(prediction.cpuPercent).toBe(50);
    expect(prediction.memoryMb).toBe(1_500);
    expect(prediction.durationMs).toBe(60_000);

    record(5);
    prediction = predictor.predict('agent');
    expect(prediction).toMatchObject({ confidence: 'medium', samples: 10, buffer: 0.5 });
    expect(prediction.cpuPercent).toBe(15);
    expect(prediction.durationMs).toBe(150);

    record(40);
    prediction = predictor.predict('agent');
    expect(prediction).toMatchObject({ confidence: 'high', samples: 50, confidenceScore: 0.5 });
    expect(prediction.cpuPercent).toBe(12);
    expect(predictor.confidence('agent')).toEqual({ level: 'high', score: 0.5, samples: 50 });
  });

  it('keeps a bounded history per kind: only the most recent samples count', () => {
    const predictor = createResourcePredictor({
      historySize: 10,
      buffer: 0,
      confidence: { medium: 2, high: 5 },
    });
    for (let run = 1; run <= 1_000; run++) predictor.record('batch', { durationMs: run });
    // Only 991..1000 remain: p95 by nearest rank is the 10th.
    expect(predictor.predict('batch')).toMatchObject({ durationMs: 1_000, samples: 10 });
    for (let run = 0; run < 10; run++) predictor.record('batch', { durationMs: 5 });
    expect(predictor.predict('batch').durationMs).toBe(5);
  });

  it('uses the default for a dimension that was never measured', () => {
    const predictor = createResourcePredictor({ confidence: { medium: 1, high: 1 } });
    predictor.record('tool', { durationMs: 200 });
    expect(predictor.predict('tool')).toMatchObject({
      durationMs: 240,
      cpuPercent: 50,
      memoryMb: 256,
    });
  });

  it('forgets the least recently recorded kind past maxKinds', () => {
    const predictor = createResourcePredictor({ maxKinds: 2 });
    predictor.record('a', { durationMs: 1 });
    predictor.record('b', { durationMs: 1 });
    predictor.record('a', { durationMs: 1 });
    predictor.record('c', { durationMs: 1 });
    expect(predictor.kinds()).toEqual(['a', 'c']);
    expect(predictor.predict('b').source).toBe('defaults');
    expect(predictor.forget('a')).toBe(true);
    expect(predictor.kinds()).toEqual(['c']);
  });

  it('refuses invalid usage and settings', () => {
    const predictor = createResourcePredictor();
    expect(() => predictor.record('x', { memoryMb: -1 })).toThrow(SluiceError);
    expect(() => predictor.record('x', { cpuPercent: Number.NaN })).toThrow(/cpuPercent/);
    expect(() => createResourcePredictor({ percentile: 0 })).toThrow(ConfigError);
    expect(() => createResourcePredictor({ historySize: 20 })).toThrow(/confidence.high/);
    expect(() => createResourcePredictor({ buffer: -0.1 })).toThrow(ConfigError);
  });
});
