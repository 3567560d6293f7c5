import { describe, expect, it } from 'vitest';
import { IndexedMinHeap } from '../../src/context/heap.js';
import { createRandom } from '../../src/shared/random.js';

describe('IndexedMinHeap', () => {
  it('matches a sorted reference under random sets, re-keys, deletes and pops', () => {
    const random = createRandom(99);
    const heap = new IndexedMinHeap<number>();
    const reference = new Map<number, { key: number; tie: number }>();
    for (let step = 0; step < 20_000; step += 1) {
      const item = Math.floor(random() * 300);
      const roll = random();
      if (roll < 0.5) {
        const key = Math.floor(random() * 50);
        heap.set(item, key, item);
        reference.set(item, { key, tie: item });
      } else if (roll < 0.7) {
        expect(heap.delete(item)).toBe(reference.delete(item));
      } else {
        const expected = [...reference.entries()].sort(
          ([, a], [, b]) => a.key - b.key || a.tie - b.tie,
        )[0];
        expect(heap.peek()).toBe(expected?.[0]);
        if (roll > 0.9) {
          expect(heap.pop()).toBe(expected?.[0]);
          if (expected !== undefined) reference.delete(expected[0]);
        }
      }
      expect(heap.size).toBe(reference.size);
      expect(heap.keyOf(item)).toBe(reference.get(item)?.key);
    }
  });
});
