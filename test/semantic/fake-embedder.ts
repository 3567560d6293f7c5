import { createHash } from 'node:crypto';
import { type Embedder, normalize } from '../../src/semantic/embedder.js';

/**
 * A deterministic bag-of-words embedder for tests that are not about meaning: texts sharing
 * words are similar, identical texts identical. Counts its calls.
 */
export function wordHashEmbedder(dimensions = 64): Embedder & { calls: number; texts: number } {
  const embedder = {
    dimensions,
    id: 'test-word-hash',
    calls: 0,
    texts: 0,
    async embed(texts: readonly string[]): Promise<Float32Array[]> {
      embedder.calls++;
      embedder.texts += texts.length;
      return texts.map((text) => {
        const vector = new Float32Array(dimensions);
        for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
          const digest = createHash('sha1').update(word).digest();
          const slot = digest.readUInt16BE(0) % dimensions;
          vector[slot] = (vector[slot] ?? 0) + 1;
        }
        return normalize(vector);
      });
    },
  };
  return embedder;
}
