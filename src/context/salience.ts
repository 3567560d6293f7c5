/**
 * What a message says that a later message can point back to: identifiers, numbers, file
 * names and quoted strings. A later message that mentions one of them credits the message that
 * first said it (see the planner), which is how "the order number I gave you" keeps the turn
 * carrying the order number.
 *
 * Words are tokenized the same way on both sides, so a mention is one Map lookup per distinct
 * word, not a substring search over every earlier message.
 */

/**
 * A word: letters, digits, `_` and `$`, joined by single `.`, `,`, `:`, `/`, `\`, `@` or `-` so
 * that `src/app.ts`, `ORD-7781`, `4,512.30`, `user_id`, `v1.2.3` and `ana@example.org` stay one
 * word.
 */
const WORD = /[\p{L}\p{N}_$]+(?:[.,:/\\@-][\p{L}\p{N}_$]+)*/gu;

/** Quoted text: "…", “…”, `…`, or '…' when the quotes are not apostrophes inside words. */
const QUOTED =
  /"([^"\n]{2,200})"|\u201c([^\u201d\n]{2,200})\u201d|`([^`\n]{2,200})`|(?<![\p{L}\p{N}])'([^'\n]{2,200})'(?![\p{L}\p{N}])/gu;

/**
 * One test for every mark of a salient word: a digit; a path, address or identifier mark; a dot
 * before a letter (`app.ts`, `os.path`); an inner capital (`fetchUser`, `HttpClient`).
 */
const SALIENT_MARK = /[\p{N}_/\\$@]|\.\p{L}|\p{Ll}\p{Lu}/u;

/** At most this many salient terms are registered per message (the first ones). */
export const MAX_SALIENT_TERMS = 64;
/** Quoted phrases longer than this many words are not tracked. */
export const MAX_PHRASE_WORDS = 6;

/** The reference features of one text. */
export interface TextFeatures {
  /** Every word, lowercased, in order. */
  readonly words: readonly string[];
  /**
   * The distinct salient terms, lowercased: salient words, quoted single words and quoted
   * phrases (words joined by one space). At most `MAX_SALIENT_TERMS`.
   */
  readonly salient: readonly string[];
}

/**
 * Whether a word (original case) is specific enough to be a reference: it has a digit and at
 * least 3 characters (numbers, ids, versions), a path, address or identifier mark (`_`, `/`, `\`,
 * `$`, `@`),
 * a dotted part (`app.ts`), or an inner capital (`fetchUser`). Plain words are not.
 */
export function isSalientWord(word: string): boolean {
  return word.length >= 3 && SALIENT_MARK.test(word);
}

/** Lowercased words of `text`, in order. */
export function wordsOf(text: string): string[] {
  return text.toLowerCase().match(WORD) ?? [];
}

/** Words and salient terms of `text`. */
export function extractFeatures(text: string): TextFeatures {
  const salient = new Set<string>();
  const add = (term: string): void => {
    if (salient.size < MAX_SALIENT_TERMS) salient.add(term);
  };
  for (const match of text.matchAll(QUOTED)) {
    const inner = match[1] ?? match[2] ?? match[3] ?? match[4] ?? '';
    const words = wordsOf(inner);
    if (words.length === 0 || words.length > MAX_PHRASE_WORDS) continue;
    const term = words.join(' ');
    // A quoted single word counts when it is not a tiny common word.
    if (words.length > 1 || term.length >= 3) add(term);
  }
  const original = text.match(WORD) ?? [];
  const words = original.map((word) => word.toLowerCase());
  original.forEach((word, position) => {
    if (salient.size < MAX_SALIENT_TERMS && isSalientWord(word)) add(words[position] as string);
  });
  return { words, salient: [...salient] };
}
