import { LRUCache } from 'lru-cache';

/**
 * Parsed request bodies by their bytes. An exact cache hit is a request repeated, and a client
 * repeating a request sends the same bytes (the same SDK serialises the same object the same
 * way): parsing, validating and keying those bytes again gives the same result every time. The
 * memo hands out one deep-frozen parse per distinct body, and what is computed from a frozen
 * body (its validated form, its cache key) is remembered against it (see `frozenMemo`), so a
 * repeated request costs a map lookup instead of a parse, a schema check and a hash.
 *
 * Bounded: bodies up to `maxBodyBytes` only, at most `maxEntries` of them and `maxBytes` in
 * all (least recently used out first). A body over the bound is parsed as usual.
 */
export class BodyMemo {
  readonly #bodies: LRUCache<string, object>;
  readonly #maxBodyBytes: number;

  constructor(options: { maxEntries?: number; maxBytes?: number; maxBodyBytes?: number } = {}) {
    this.#maxBodyBytes = options.maxBodyBytes ?? 64 * 1024;
    this.#bodies = new LRUCache({
      max: options.maxEntries ?? 4_096,
      maxSize: options.maxBytes ?? 8 * 1024 * 1024,
      sizeCalculation: (_body, text) => Math.max(1, text.length),
    });
  }

  /** The frozen parse of `bytes`, if these bytes were parsed lately. */
  get(bytes: Buffer): object | undefined {
    if (bytes.length > this.#maxBodyBytes || this.#bodies.size === 0) return undefined;
    // latin1: one character per byte, so equal texts are equal bytes (no decoding, no hash).
    return this.#bodies.get(bytes.toString('latin1'));
  }

  /** Remembers the parse of `bytes` (an object or array), frozen; returns the frozen value. */
  set(bytes: Buffer, parsed: unknown): unknown {
    if (bytes.length > this.#maxBodyBytes || parsed === null || typeof parsed !== 'object') {
      return parsed;
    }
    const frozen = deepFreeze(parsed);
    this.#bodies.set(bytes.toString('latin1'), frozen);
    return frozen;
  }
}

/** Freezes `value` and everything it holds; returns it. */
export function deepFreeze<Value>(value: Value): Value {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const member of Object.values(value as object)) deepFreeze(member);
  return value;
}

/**
 * Remembers `compute(value)` against a frozen object (a memoised body, or what was computed
 * from one, frozen in turn): anything else is computed every time, since an object that can
 * change may not keep its answer.
 */
export function frozenMemo<Input, Output>(
  compute: (input: Input) => Output,
): (input: Input) => Output {
  const known = new WeakMap<object, Output>();
  return (input) => {
    if (input === null || typeof input !== 'object' || !Object.isFrozen(input)) {
      return compute(input);
    }
    const remembered = known.get(input);
    if (remembered !== undefined) return remembered;
    // Shared by every request with these bytes: frozen too.
    const output = deepFreeze(compute(input));
    known.set(input, output);
    return output;
  };
}
