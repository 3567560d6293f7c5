import { LRUCache } from 'lru-cache';

/** What `BodyMemo.recall` knows of a body's bytes. */
export type Recalled =
  /** Seen twice or more lately: its shared, frozen parse. */
  | { readonly body: object; readonly text?: undefined }
  /** New, or seen once: parse it, then hand the parse to `remember`. */
  | { readonly body?: undefined; readonly text: string; readonly again: boolean };

/** Marks bytes seen once: the text alone is held, not a parse. */
const SEEN_ONCE = Object.freeze({});

/**
 * Parsed request bodies by their bytes. An exact cache hit is a request repeated, and a client
 * repeating a request sends the same bytes (the same SDK serialises the same object the same
 * way): parsing, validating and keying those bytes again gives the same result every time. Bytes
 * seen a second time get one deep-frozen parse, shared from then on by every request with those
 * bytes, and what is computed from a frozen body (its validated form, its cache key) is
 * remembered against it (see `frozenMemo`), so a repeated request costs a map lookup instead of
 * a parse, a schema check and a hash. Bytes seen once are only noted (their text, no parse and
 * no freeze): a stream of new requests, as misses are, pays a lookup and keeps no parsed
 * objects alive.
 *
 * Bounded: bodies up to `maxBodyBytes` only, at most `maxEntries` of them and `maxBytes` of text
 * in all (least recently used out first). A body over the bound is parsed as usual.
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

  /** What is known of `bytes`; undefined for a body too big to keep. */
  recall(bytes: Buffer): Recalled | undefined {
    if (bytes.length > this.#maxBodyBytes) return undefined;
    // latin1: one character per byte, so equal texts are equal bytes (no decoding).
    const text = bytes.toString('latin1');
    const known = this.#bodies.get(text);
    if (known === undefined) return { text, again: false };
    if (known === SEEN_ONCE) return { text, again: true };
    return { body: known };
  }

  /**
   * Notes the parse of bytes `recall` did not know: bytes seen a second time keep it, frozen,
   * and the frozen value is returned; first-seen bytes are only noted, and `parsed` returned.
   */
  remember(recalled: Recalled & { text: string }, parsed: unknown): unknown {
    if (!recalled.again || parsed === null || typeof parsed !== 'object') {
      this.#bodies.set(recalled.text, SEEN_ONCE);
      return parsed;
    }
    const frozen = deepFreeze(parsed);
    this.#bodies.set(recalled.text, frozen);
    return frozen;
  }
}

/** Freezes `value` and everything it holds; returns it. Iterative, so safe at every depth. */
export function deepFreeze<Value>(value: Value): Value {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const current = pending.pop();
    if (current === null || typeof current !== 'object' || Object.isFrozen(current)) continue;
    Object.freeze(current);
    for (const member of Object.values(current)) pending.push(member);
  }
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
