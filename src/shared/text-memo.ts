import { LRUCache } from 'lru-cache';

export interface TextMemoOptions {
  /** Texts from this long are keyed by their length and ends (see `TextMemo`). */
  readonly minChars: number;
  /**
   * Shorter texts are remembered by the text itself, at most this many (the map is emptied
   * when full): worth it when computing costs more than hashing a short string, as
   * tokenizing does. @default 0: computed every time
   */
  readonly shortTexts?: number;
  /** Most characters of text held, in total. */
  readonly maxChars: number;
  /** Most texts held. */
  readonly maxTexts: number;
}

/**
 * Remembers a value computed from a long text (its token count, its digest) while the text
 * stays among the most recently used: agents resend their whole conversation on every turn, so
 * each earlier message is computed once. Keyed by the text's length and both ends, a hit
 * confirmed by comparing the whole text: hashing a long string costs more than comparing two
 * (about 2 ns a character against a fraction of one). Values are exact; a collision of keys only
 * replaces the older text, a miss later. The memo holds the texts themselves, up to `maxChars`.
 */
export class TextMemo<Value extends NonNullable<unknown>> {
  readonly #memo: LRUCache<string, { readonly text: string; readonly value: Value }>;
  readonly #minChars: number;
  readonly #short = new Map<string, Value>();
  readonly #shortTexts: number;

  constructor(options: TextMemoOptions) {
    this.#minChars = options.minChars;
    this.#shortTexts = options.shortTexts ?? 0;
    this.#memo = new LRUCache({
      max: options.maxTexts,
      maxSize: options.maxChars,
      sizeCalculation: (entry) => Math.max(1, entry.text.length),
    });
  }

  /** `compute(text)`, from the memo when `text` was computed lately. */
  get(text: string, compute: (text: string) => Value): Value {
    const known = this.recall(text);
    if (known !== undefined) return known;
    const value = compute(text);
    this.remember(text, value);
    return value;
  }

  /** The value remembered for `text`, or undefined. */
  recall(text: string): Value | undefined {
    if (text.length < this.#minChars) return this.#short.get(text);
    const known = this.#memo.get(TextMemo.#key(text));
    return known !== undefined && known.text === text ? known.value : undefined;
  }

  /** Remembers `value` for `text`. */
  remember(text: string, value: Value): void {
    if (text.length < this.#minChars) {
      if (this.#shortTexts === 0) return;
      if (this.#short.size >= this.#shortTexts) this.#short.clear();
      this.#short.set(text, value);
      return;
    }
    this.#memo.set(TextMemo.#key(text), { text, value });
  }

  static #key(text: string): string {
    return `${text.length}\u0000${text.slice(0, 32)}\u0000${text.slice(-32)}`;
  }
}
