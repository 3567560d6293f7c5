/**
 * An indexed binary min-heap: O(log n) insert, remove-min, delete and re-key of any item, so
 * eviction by a score never scans. Ties on the key are broken by `tie` (smaller first), which
 * keeps every eviction order deterministic.
 */
export class IndexedMinHeap<Item> {
  readonly #items: Item[] = [];
  readonly #keys: number[] = [];
  readonly #ties: number[] = [];
  readonly #positions = new Map<Item, number>();

  get size(): number {
    return this.#items.length;
  }

  has(item: Item): boolean {
    return this.#positions.has(item);
  }

  /** The key `item` was last set with, or undefined when it is not in the heap. */
  keyOf(item: Item): number | undefined {
    const position = this.#positions.get(item);
    return position === undefined ? undefined : this.#keys[position];
  }

  /** Inserts `item`, or moves it to its new place when it is already in the heap. */
  set(item: Item, key: number, tie = 0): void {
    const position = this.#positions.get(item);
    if (position !== undefined) {
      this.#keys[position] = key;
      this.#ties[position] = tie;
      this.#siftDown(this.#siftUp(position));
      return;
    }
    this.#items.push(item);
    this.#keys.push(key);
    this.#ties.push(tie);
    this.#positions.set(item, this.#items.length - 1);
    this.#siftUp(this.#items.length - 1);
  }

  peek(): Item | undefined {
    return this.#items[0];
  }

  pop(): Item | undefined {
    const top = this.#items[0];
    if (top !== undefined) this.delete(top);
    return top;
  }

  delete(item: Item): boolean {
    const position = this.#positions.get(item);
    if (position === undefined) return false;
    const last = this.#items.length - 1;
    if (position !== last) this.#swap(position, last);
    this.#items.pop();
    this.#keys.pop();
    this.#ties.pop();
    this.#positions.delete(item);
    if (position < this.#items.length) this.#siftDown(this.#siftUp(position));
    return true;
  }

  clear(): void {
    this.#items.length = 0;
    this.#keys.length = 0;
    this.#ties.length = 0;
    this.#positions.clear();
  }

  /** Items in heap order (not sorted). */
  values(): IterableIterator<Item> {
    return this.#items.values();
  }

  #less(a: number, b: number): boolean {
    const keyA = this.#keys[a] as number;
    const keyB = this.#keys[b] as number;
    if (keyA !== keyB) return keyA < keyB;
    return (this.#ties[a] as number) < (this.#ties[b] as number);
  }

  #siftUp(start: number): number {
    let position = start;
    while (position > 0) {
      const parent = (position - 1) >> 1;
      if (!this.#less(position, parent)) break;
      this.#swap(position, parent);
      position = parent;
    }
    return position;
  }

  #siftDown(start: number): number {
    let position = start;
    const length = this.#items.length;
    for (;;) {
      const left = position * 2 + 1;
      if (left >= length) return position;
      const right = left + 1;
      const child = right < length && this.#less(right, left) ? right : left;
      if (!this.#less(child, position)) return position;
      this.#swap(position, child);
      position = child;
    }
  }

  #swap(a: number, b: number): void {
    const itemA = this.#items[a] as Item;
    const itemB = this.#items[b] as Item;
    this.#items[a] = itemB;
    this.#items[b] = itemA;
    const key = this.#keys[a] as number;
    this.#keys[a] = this.#keys[b] as number;
    this.#keys[b] = key;
    const tie = this.#ties[a] as number;
    this.#ties[a] = this.#ties[b] as number;
    this.#ties[b] = tie;
    this.#positions.set(itemB, a);
    this.#positions.set(itemA, b);
  }
}
