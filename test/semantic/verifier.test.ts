import { describe, expect, it } from 'vitest';
import {
  ExactIndex,
  FEATURE_NAMES,
  fitLogistic,
  fittedVerifierParams,
  HnswIndex,
  predict,
  Verifier,
} from '../../src/semantic/index.js';

describe('the fitted verifier', () => {
  it('loads the shipped parameters, fitted on qqp-dev for the local model', () => {
    const verifier = new Verifier();
    expect(verifier.params.embedder).toBe('use-lite-512');
    expect(verifier.params.features).toEqual([...FEATURE_NAMES]);
    expect(verifier.params.model.weights).toHaveLength(FEATURE_NAMES.length);
    expect(verifier.params.provenance.data).toBe('qqp-dev.jsonl.gz');
    expect(Number(verifier.params.provenance.samplePairs)).toBeGreaterThanOrEqual(8_000);
  });

  it('gives stricter thresholds for lower false-hit rates', () => {
    const verifier = new Verifier();
    const strict = verifier.thresholdFor(0.001);
    const loose = verifier.thresholdFor(0.1);
    expect(strict).toBeGreaterThan(loose);
    expect(verifier.thresholdFor(0.01)).toBeLessThanOrEqual(strict);
    expect(verifier.thresholdFor(0.01)).toBeGreaterThanOrEqual(loose);
  });

  it('rejects parameters for other features', () => {
    expect(() => new Verifier({ ...fittedVerifierParams, features: ['similarity'] })).toThrow(
      /features/,
    );
  });
});

describe('fitLogistic', () => {
  it('recovers a separating direction', () => {
    const rows: number[][] = [];
    const labels: boolean[] = [];
    for (let index = 0; index < 400; index++) {
      const x = (index % 20) / 20;
      const y = Math.floor(index / 20) / 20;
      rows.push([x, y]);
      labels.push(x + 0.1 * y > 0.55);
    }
    const model = fitLogistic(rows, labels, { l2: 0.1 });
    expect(predict(model, [0.9, 0.5])).toBeGreaterThan(0.9);
    expect(predict(model, [0.1, 0.5])).toBeLessThan(0.1);
    expect(model.weights[0]).toBeGreaterThan(model.weights[1] ?? 0);
  });
});

describe('vector indexes', () => {
  it('exact and HNSW agree on the nearest neighbour, and removal works', () => {
    const exact = new ExactIndex(8);
    const hnsw = new HnswIndex(8, 16);
    const unit = (seed: number) => {
      const vector = new Float32Array(8).map((_, index) => Math.sin(seed * 7.1 + index * 1.3));
      const norm = Math.hypot(...vector);
      return vector.map((value) => value / norm);
    };
    for (let label = 0; label < 100; label++) {
      exact.add(label, unit(label));
      hnsw.add(label, unit(label));
    }
    expect(hnsw.size).toBe(100); // grew past its initial capacity
    const query = unit(42);
    expect(exact.search(query, 1).labels).toEqual([42]);
    expect(hnsw.search(query, 1).labels).toEqual([42]);
    expect(exact.remove(42)).toBe(true);
    expect(hnsw.remove(42)).toBe(true);
    expect(exact.search(query, 1).labels[0]).not.toBe(42);
    expect(hnsw.search(query, 1).labels[0]).not.toBe(42);
    hnsw.add(1_000, unit(42)); // reuses the deleted slot
    expect(hnsw.search(query, 1).labels).toEqual([1_000]);
  });
});
