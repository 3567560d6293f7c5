/**
 * Token estimates with gpt-tokenizer. Each encoding is a few MB of ranks that take ~200 ms to
 * load, so encodings are loaded lazily, one module per encoding
 * (`gpt-tokenizer/encoding/o200k_base`), the first time a model needs them: importing this
 * module costs nothing. Loading is synchronous (the package's CommonJS build through
 * `createRequire`), so counting stays a plain function call; call `warmUp` at startup to pay
 * the load before the first request. After that a 2 KB prompt counts in ~0.05 ms.
 *
 * Counts are exact for OpenAI models' text. For other providers' models o200k_base is an
 * approximation (their tokenizers differ, often by 10-30%), so an estimate is a good guide but
 * not a guaranteed upper bound there.
 *
 * What would be costly to count exactly is bounded instead, never under-counted: BPE merging
 * takes time quadratic in the length of a pre-tokenizer chunk (a run of one letter, base64,
 * hex: 40 KB of one letter took 1.2 s, 1 MB 11 minutes), so a chunk longer than
 * `LONG_CHUNK_CHARS` counts as its UTF-8 bytes (every token covers at least one byte). With a
 * `CountingBudget` (what `CostTracker.estimate` passes), exact counting also stops when the
 * budget's time is spent and the rest of the text counts as its UTF-8 bytes; see
 * `createCountingBudget`.
 */
import { createRequire } from 'node:module';
import { ConfigError } from '../shared/errors.js';
import { TextMemo } from '../shared/text-memo.js';

/** The encodings Sluice uses. */
export type EncodingName = 'o200k_base' | 'cl100k_base';

/** Tokens added per chat message (`<|start|>{role}\n ... <|end|>`), per OpenAI's cookbook. */
export const TOKENS_PER_MESSAGE = 3;
/** Extra tokens when a message has a `name`. */
export const TOKENS_PER_NAME = 1;
/** Tokens that prime the reply (`<|start|>assistant<|message|>`). */
export const REPLY_PRIMING_TOKENS = 3;
/**
 * Fixed estimate for one image at `detail: 'high'` or `'auto'`: a 1024×1024 image on gpt-4o
 * (4 tiles × 170 + 85). Larger images and some models (gpt-4o-mini) cost more.
 */
export const IMAGE_TOKENS = 765;
/** Fixed cost of one image at `detail: 'low'` on gpt-4o-class models. */
export const LOW_DETAIL_IMAGE_TOKENS = 85;

/** cl100k_base models: GPT-4 (not 4o / 4.1 / 4.5), GPT-3.5 and the text-embedding family. */
const CL100K_MODEL = /^(?:gpt-4(?:-|$)|gpt-3\.5|gpt-35|text-embedding-(?:3|ada))/;

/** Encode options that treat special-token text (`<|endoftext|>`) in prompts as plain text. */
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/** A content part of a chat message (OpenAI shape); unknown parts are counted as JSON. */
export interface ContentPartLike {
  type?: string;
  text?: string;
  refusal?: string;
  image_url?: { url?: string; detail?: string } | string;
}

/** A chat message (OpenAI shape). */
export interface ChatMessageLike {
  role?: string;
  content?: string | readonly ContentPartLike[] | null;
  name?: string;
  tool_calls?: readonly { function?: { name?: string; arguments?: string } }[] | null;
}

/**
 * A loaded encoding with Sluice's counting rules. Every count is exact, except that a
 * pre-tokenizer chunk longer than `LONG_CHUNK_CHARS` counts as its UTF-8 bytes, and, given a
 * `budget`, text left when the budget's time is spent counts as its UTF-8 bytes: upper bounds,
 * so a budget or a context-window check never under-reserves.
 */
export interface Tokenizer {
  readonly encoding: EncodingName;
  /** Tokens in a plain string. */
  count(text: string, options?: CountOptions): number;
  /**
   * Tokens in a chat prompt, per OpenAI's cookbook: 3 per message, the role, the content, the
   * name (+1), tool calls' names and arguments, and 3 to prime the reply. Images count a fixed
   * `IMAGE_TOKENS` (`LOW_DETAIL_IMAGE_TOKENS` at `detail: 'low'`).
   */
  countMessages(messages: readonly unknown[], options?: CountOptions): number;
  /**
   * Approximate tokens for tool (function) definitions: the JSON of the definitions. OpenAI
   * renders tools in a terser internal format, so this slightly overestimates.
   */
  countTools(tools: readonly unknown[], options?: CountOptions): number;
}

export interface CountOptions {
  /** Time for exact counting; without one, counting takes what it takes. */
  budget?: CountingBudget;
  /** Its `exact` is set to false when any part was counted as an upper bound. */
  report?: { exact: boolean };
}

/**
 * Time for exact counting, shared by the counts it is passed to: a bucket of `burstMs` that
 * counting empties and the clock refills (1 ms per ms not spent counting). While it is empty,
 * text not yet counted is bounded by its UTF-8 bytes (such a count is not remembered, so a later
 * count with time left is exact). It bounds how long counting holds the event loop, whatever
 * the text: a burst costs at most `burstMs` plus one piece of text (about 2,000 characters, a few ms at worst).
 */
export interface CountingBudget {
  /** Whether time is left for exact counting. */
  allows(): boolean;
  /** The budget's clock, in ms. */
  now(): number;
  /** Charges the time since `since` (a `now()`) to the budget. */
  charge(since: number): void;
}

export interface CountingBudgetOptions {
  /** Most time spent counting exactly in one burst, in ms. @default 10 */
  burstMs?: number;
  /** The clock, in ms. @default performance.now */
  now?: () => number;
}

/** The default `burstMs`: half of the 20 ms a request may hold the event loop. */
export const DEFAULT_COUNTING_BURST_MS = 10;

/** A `CountingBudget` of `burstMs`, full at first. */
export function createCountingBudget(options: CountingBudgetOptions = {}): CountingBudget {
  const burstMs = options.burstMs ?? DEFAULT_COUNTING_BURST_MS;
  if (!(burstMs >= 0) || !Number.isFinite(burstMs)) {
    throw new ConfigError(`burstMs must be a finite number of ms >= 0, got ${burstMs}`);
  }
  const now = options.now ?? (() => performance.now());
  let available = burstMs;
  let refilledAt = now();
  return {
    allows() {
      const at = now();
      available = Math.min(burstMs, available + (at - refilledAt));
      refilledAt = at;
      return available > 0;
    },
    now,
    charge(since) {
      const spent = Math.max(0, now() - since);
      available -= spent;
      // Time spent counting refills nothing.
      refilledAt = Math.max(refilledAt, since + spent);
    },
  };
}

interface EncodingModule {
  countTokens(text: string, options?: { disallowedSpecial?: Set<string> }): number;
}

interface SplitPatterns {
  O200K_TOKEN_SPLIT_REGEX: RegExp;
  CL100K_TOKEN_SPLIT_REGEX: RegExp;
}

const requireModule = createRequire(import.meta.url);
const MODULES: Record<EncodingName, string> = {
  o200k_base: 'gpt-tokenizer/encoding/o200k_base',
  cl100k_base: 'gpt-tokenizer/encoding/cl100k_base',
};
/** Each encoding's pre-tokenizer pattern, as gpt-tokenizer splits text before merging. */
const SPLIT_PATTERNS: Record<EncodingName, keyof SplitPatterns> = {
  o200k_base: 'O200K_TOKEN_SPLIT_REGEX',
  cl100k_base: 'CL100K_TOKEN_SPLIT_REGEX',
};

/**
 * Pre-tokenizer chunks longer than this count as their UTF-8 bytes instead of being merged:
 * merging costs time quadratic in a chunk's length (about 0.1 ms at 256 characters, 30 ms at
 * 4,096). Ordinary words, numbers and punctuation are far shorter.
 */
export const LONG_CHUNK_CHARS = 256;
/**
 * Text whose runs of whitespace and of non-whitespace are all this short has no chunk longer
 * than `2 × LONG_RUN_CHARS + 1` and is counted without the separate split; a longer run (a
 * long word, base64, minified code or JSON) is split with the pre-tokenizer's own pattern.
 */
const LONG_RUN_CHARS = 127;
/**
 * How far past a chunk's end the pre-tokenizer may look to decide it (a contraction suffix is
 * three characters; whitespace runs are never cut), with room to spare.
 */
const WINDOW_MARGIN_CHARS = 8;
/** Text is counted in pieces of about this many characters, the time budget checked between. */
const PIECE_CHARS = 2_048;
/** Longest stretch without a cheap cut (below) counted as one piece. */
const MAX_UNCUT_CHARS = 512;
/** How far past a chunk longer than a piece to look for its end before bounding the rest. */
const MAX_CUT_SEARCH_CHARS = 64 * 1024;

/** One tokenizer per encoding: bounded by `EncodingName`. */
const tokenizers = new Map<EncodingName, Tokenizer>();

/** The encoding for `model` (provider prefixes ignored); o200k_base when not an OpenAI model. */
export function encodingForModel(model: string): EncodingName {
  const name = model.trim().toLowerCase();
  const bare = name.slice(name.lastIndexOf('/') + 1);
  return CL100K_MODEL.test(bare) ? 'cl100k_base' : 'o200k_base';
}

/** The tokenizer for an encoding, loading it on first use (synchronously, ~200 ms once). */
export function getTokenizer(encoding: EncodingName): Tokenizer {
  let tokenizer = tokenizers.get(encoding);
  if (tokenizer === undefined) {
    const patterns = requireModule('gpt-tokenizer/encodingParams/constants') as SplitPatterns;
    tokenizer = createTokenizer(
      encoding,
      requireModule(MODULES[encoding]) as EncodingModule,
      patterns[SPLIT_PATTERNS[encoding]],
    );
    tokenizers.set(encoding, tokenizer);
  }
  return tokenizer;
}

/** The tokenizer for `model`'s encoding. */
export function tokenizerForModel(model: string): Tokenizer {
  return getTokenizer(encodingForModel(model));
}

/** Whether `encoding` is already loaded (a count would not wait for it). */
export function isTokenizerLoaded(encoding: EncodingName): boolean {
  return tokenizers.has(encoding);
}

/** Tokens in `text` for `model`'s encoding. */
export function countTokens(text: string, model: string): number {
  return tokenizerForModel(model).count(text);
}

/** Texts from this long are keyed by length and ends in the memo (compared whole on a hit). */
const MEMO_MIN_CHARS = 256;
/**
 * Shorter texts are keyed by the text itself: a lookup costs a tenth of tokenizing "Say hello".
 * At most this many, of under `MEMO_MIN_CHARS` characters each (about 1 MB).
 */
const SHORT_TEXTS = 4_096;

function createTokenizer(
  encoding: EncodingName,
  module: EncodingModule,
  pattern: RegExp,
): Tokenizer {
  // An agent resends its whole conversation, and its tools, on every turn: counted once, each
  // earlier message is a lookup, not a tokenization, so a request costs only its new text.
  const memo = new TextMemo<number>({
    minChars: MEMO_MIN_CHARS,
    maxChars: 8 * 1024 * 1024,
    maxTexts: 16_384,
    shortTexts: SHORT_TEXTS,
  });
  const tokenize = (text: string): number => module.countTokens(text, PLAIN_TEXT);
  // A copy: the module's own pattern is shared with its matchAll calls.
  const split = new RegExp(pattern.source, pattern.flags);

  /**
   * The chunks of the window of text from `start` (a cut), split as gpt-tokenizer splits. The
   * text is cut only after a chunk that ends in non-whitespace: the pre-tokenizer splits the
   * text on either side of such a boundary as it splits the whole (a whitespace chunk's split
   * depends on what follows it), so exact counts of the pieces add up to the whole's. A chunk
   * longer than `LONG_CHUNK_CHARS` is bounded by its bytes, from the cut before it to the cut
   * after it. Ends at the last cut known to be one (chunks near the window's end may go on
   * past it); when the window holds none, the text up to the next cheap cut past it is
   * bounded.
   */
  const countChunks = (
    text: string,
    start: number,
  ): { tokens: number; end: number; exact: boolean } => {
    const end = Math.min(text.length, start + PIECE_CHARS);
    const window = text.slice(start, end);
    let tokens = 0;
    let exact = true;
    // Counted up to `counted`; the last cut seen; where a bounded stretch began, or -1.
    let counted = 0;
    let cut = 0;
    let boundFrom = -1;
    split.lastIndex = 0;
    for (let match = split.exec(window); match !== null; match = split.exec(window)) {
      const chunkEnd = match.index + match[0].length;
      // Chunks ending near the window's end may be split otherwise in the whole text (the
      // split looks a few characters past a chunk, e.g. for a contraction: `'RE'RE`).
      if (chunkEnd > window.length - WINDOW_MARGIN_CHARS && end < text.length) break;
      if (match[0].length > LONG_CHUNK_CHARS && boundFrom < 0) {
        if (cut > counted) tokens += tokenize(window.slice(counted, cut));
        counted = cut;
        boundFrom = cut;
      }
      if (!isSpace(window.charCodeAt(chunkEnd - 1))) {
        if (boundFrom >= 0) {
          tokens += Buffer.byteLength(window.slice(boundFrom, chunkEnd), 'utf8');
          exact = false;
          counted = chunkEnd;
          boundFrom = -1;
        }
        cut = chunkEnd;
      }
    }
    if (cut === 0) {
      // No cut in the window: the text from `start` ends at the next cheap cut at the latest.
      const next = nextCut(text, end);
      return {
        tokens: Buffer.byteLength(text.slice(start, next), 'utf8'),
        end: next,
        exact: false,
      };
    }
    if (cut > counted) tokens += tokenize(window.slice(counted, cut));
    return { tokens, end: start + cut, exact };
  };

  /**
   * Tokens in `text`; whether the count is complete (not cut short by `budget`), and whether it
   * is exact (no part bounded by its bytes).
   */
  const measure = (text: string, budget: CountingBudget | undefined) => {
    let tokens = 0;
    let exact = true;
    let at = 0;
    while (at < text.length) {
      if (budget !== undefined && !budget.allows()) {
        const rest = Buffer.byteLength(text.slice(at), 'utf8');
        return { tokens: tokens + rest, complete: false, exact: false };
      }
      const since = budget?.now() ?? 0;
      // No chunk of a text this short is long, and counting it costs little: no scan.
      const cut = text.length - at <= LONG_CHUNK_CHARS ? text.length : cheapSpan(text, at);
      if (cut > at) {
        tokens += tokenize(at === 0 && cut === text.length ? text : text.slice(at, cut));
        at = cut;
      } else {
        const counted = countChunks(text, at);
        tokens += counted.tokens;
        exact &&= counted.exact;
        at = counted.end;
      }
      budget?.charge(since);
    }
    return { tokens, complete: true, exact };
  };

  const count = (text: string, options?: CountOptions): number => {
    if (text.length === 0) return 0;
    // Remembered negated when a bound (a non-empty text is at least one token or byte).
    const known = memo.recall(text);
    if (known !== undefined) {
      if (known < 0 && options?.report !== undefined) options.report.exact = false;
      return Math.abs(known);
    }
    const { tokens, complete, exact } = measure(text, options?.budget);
    if (!exact && options?.report !== undefined) options.report.exact = false;
    // A count cut short by the budget is counted again next time.
    if (complete) memo.remember(text, exact ? tokens : -tokens);
    return tokens;
  };

  const countContent = (content: unknown, options: CountOptions | undefined): number => {
    if (typeof content === 'string') return count(content, options);
    if (!Array.isArray(content))
      return content === undefined || content === null
        ? 0
        : count(JSON.stringify(content), options);
    let total = 0;
    for (const part of content as ContentPartLike[]) {
      if (part === null || typeof part !== 'object') continue;
      if (typeof part.text === 'string') total += count(part.text, options);
      else if (typeof part.refusal === 'string') total += count(part.refusal, options);
      else if (part.type === 'image_url' || part.image_url !== undefined) {
        const detail = typeof part.image_url === 'object' ? part.image_url.detail : undefined;
        total += detail === 'low' ? LOW_DETAIL_IMAGE_TOKENS : IMAGE_TOKENS;
      } else total += count(JSON.stringify(part), options);
    }
    return total;
  };

  return {
    encoding,
    count,
    countMessages(messages, options) {
      let total = REPLY_PRIMING_TOKENS;
      for (const item of messages) {
        total += TOKENS_PER_MESSAGE;
        if (item === null || typeof item !== 'object') continue;
        const message = item as ChatMessageLike;
        if (typeof message.role === 'string') total += count(message.role, options);
        total += countContent(message.content, options);
        if (typeof message.name === 'string') {
          total += count(message.name, options) + TOKENS_PER_NAME;
        }
        if (Array.isArray(message.tool_calls)) {
          for (const call of message.tool_calls) {
            total +=
              count(call?.function?.name ?? '', options) +
              count(call?.function?.arguments ?? '', options);
          }
        }
      }
      return total;
    },
    countTools(tools, options) {
      return tools.length === 0 ? 0 : count(JSON.stringify(tools), options);
    },
  };
}

/**
 * Whether `code` is whitespace as the pre-tokenizer's `\s` is (JavaScript's, with or without
 * the `u` flag).
 */
function isSpace(code: number): boolean {
  if (code <= 0x20) return code === 0x20 || (code >= 0x09 && code <= 0x0d);
  if (code < 0xa0) return false;
  return (
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/** ASCII characters by class: 0 other, `SPACE` (the pre-tokenizer's `\s`), `ALNUM` (A-Z, a-z, 0-9). */
const SPACE = 1;
const ALNUM = 2;
const ASCII_CLASS = new Uint8Array(128);
for (const code of [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20]) ASCII_CLASS[code] = SPACE;
for (let code = 0x30; code <= 0x7a; code++) {
  if (code <= 0x39 || (code >= 0x41 && code <= 0x5a) || code >= 0x61) ASCII_CLASS[code] = ALNUM;
}

/** `code`'s class: `SPACE`, `ALNUM` or 0 (a table lookup for ASCII). */
function classOf(code: number): number {
  return code < 0x80 ? (ASCII_CLASS[code] as number) : isSpace(code) ? SPACE : 0;
}

/**
 * Whether the pre-tokenizer always cuts between a character of class `previous` and `code`, in
 * both encodings, and splits the text before and after the cut exactly as it splits the whole,
 * so their counts add up to the whole's: a space or tab after anything but whitespace (no chunk
 * goes on from non-whitespace into a space or tab), or a line break after an ASCII letter or
 * digit (only punctuation chunks take trailing line breaks). A chunk boundary after
 * non-whitespace has that property (see `countChunks`); these are the ones a character scan
 * can see.
 */
function isCut(previous: number, code: number): boolean {
  if (code === 0x20 || code === 0x09) return previous !== SPACE;
  return (code === 0x0a || code === 0x0d) && previous === ALNUM;
}

/**
 * The end of the piece of text from `start` (a cut) to count in one call: the first cut at
 * least `PIECE_CHARS` on, or the text's end, as long as no run of whitespace or of
 * non-whitespace is longer than `LONG_RUN_CHARS` and cuts are at most `MAX_UNCUT_CHARS` apart
 * (so no chunk in it is long). Otherwise the last cut before that, or `start` when there is
 * none: the text from there is split with the pre-tokenizer's pattern.
 */
function cheapSpan(text: string, start: number): number {
  let lastCut = start;
  let run = 0;
  let previous = -1;
  const end = text.length;
  for (let index = start; index < end; index++) {
    const code = text.charCodeAt(index);
    // Inlined `classOf` and `isCut`: this loop runs over every new character counted.
    const kind = code < 0x80 ? (ASCII_CLASS[code] as number) : isSpace(code) ? SPACE : 0;
    if (
      (code === 0x20 || code === 0x09
        ? previous !== SPACE
        : (code === 0x0a || code === 0x0d) && previous === ALNUM) &&
      index > start
    ) {
      if (index - start >= PIECE_CHARS) return index;
      lastCut = index;
    }
    // A run: whitespace, or anything else (letters and digits are one class with the rest).
    run = (kind === SPACE) === (previous === SPACE) ? run + 1 : 1;
    if (run > LONG_RUN_CHARS || index - lastCut >= MAX_UNCUT_CHARS) return lastCut;
    previous = kind;
  }
  return end;
}

/** The first cut at or after `from` (a chunk boundary), or the text's end if none is near. */
function nextCut(text: string, from: number): number {
  const last = Math.min(text.length, from + MAX_CUT_SEARCH_CHARS);
  for (let index = Math.max(1, from); index < last; index++) {
    if (isCut(classOf(text.charCodeAt(index - 1)), text.charCodeAt(index))) return index;
  }
  return text.length;
}
