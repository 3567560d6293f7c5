/**
 * Doubly linked lists over integer slots, with the links in typed arrays. Moving an entry
 * writes a few integers and no object pointers, so a cache hit costs no GC write barriers
 * and allocates nothing (the technique lru-cache uses). Several lists can share one
 * `SlotLinks` as long as a slot is in at most one of them.
 */
type TypedArray = Int32Array | Uint8Array | Float64Array;

/** A copy of `array` with room for `capacity` slots (the per-slot arrays grow this way). */
export function widen<Array extends TypedArray>(array: Array, capacity: number): Array {
  const wider = new (array.constructor as new (length: number) => Array)(capacity);
  wider.set(array);
  return wider;
}

export class SlotLinks {
  prev: Int32Array;
  next: Int32Array;
  private readonly lists: SlotList[] = [];

  constructor(capacity: number) {
    this.prev = new Int32Array(capacity);
    this.next = new Int32Array(capacity);
  }

  /** A new list over these links (lists hold the arrays directly: one load less per step). */
  list(): SlotList {
    const list = new SlotList(this.prev, this.next);
    this.lists.push(list);
    return list;
  }

  grow(capacity: number): void {
    if (capacity <= this.prev.length) return;
    const prev = widen(this.prev, capacity);
    const next = widen(this.next, capacity);
    this.prev = prev;
    this.next = next;
    for (const list of this.lists) {
      list.prev = prev;
      list.next = next;
    }
  }
}

export const NONE = -1;

/** One list; the head is the most recently used end. Tracks the total weight of its slots. */
export class SlotList {
  head = NONE;
  tail = NONE;
  weight = 0;
  length = 0;

  /** @internal use `SlotLinks.list()` */
  constructor(
    public prev: Int32Array,
    public next: Int32Array,
  ) {}

  pushHead(slot: number, weight: number): void {
    const { prev, next } = this;
    prev[slot] = NONE;
    next[slot] = this.head;
    if (this.head !== NONE) prev[this.head] = slot;
    else this.tail = slot;
    this.head = slot;
    this.weight += weight;
    this.length++;
  }

  unlink(slot: number, weight: number): void {
    const { prev, next } = this;
    const before = prev[slot] as number;
    const after = next[slot] as number;
    if (before === NONE) this.head = after;
    else next[before] = after;
    if (after === NONE) this.tail = before;
    else prev[after] = before;
    this.weight -= weight;
    this.length--;
  }

  moveToHead(slot: number): void {
    if (this.head === slot) return;
    const { prev, next } = this;
    const before = prev[slot] as number; // not the head, so there is one
    const after = next[slot] as number;
    next[before] = after;
    if (after === NONE) this.tail = before;
    else prev[after] = before;
    prev[slot] = NONE;
    next[slot] = this.head;
    prev[this.head] = slot;
    this.head = slot;
  }

  clear(): void {
    this.head = NONE;
    this.tail = NONE;
    this.weight = 0;
    this.length = 0;
  }
}
