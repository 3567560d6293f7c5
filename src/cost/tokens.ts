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
 */
import { createRequire } from 'node:module';
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

/** A loaded encoding with Sluice's counting rules. */
export interface Tokenizer {
  readonly encoding: EncodingName;
  /** Tokens in a plain string. */
  count(text: string): number;
  /**
   * Tokens in a chat prompt, per OpenAI's cookbook: 3 per message, the role, the content, the
   * name (+1), tool calls' names and arguments, and 3 to prime the reply. Images count a fixed
   * `IMAGE_TOKENS` (`LOW_DETAIL_IMAGE_TOKENS` at `detail: 'low'`).
   */
  countMessages(messages: readonly unknown[]): number;
  /**
   * Approximate tokens for tool (function) definitions: the JSON of the definitions. OpenAI
   * renders tools in a terser internal format, so this slightly overestimates.
   */
  countTools(tools: readonly unknown[]): number;
}

interface EncodingModule {
  countTokens(text: string, options?: { disallowedSpecial?: Set<string> }): number;
}

const requireModule = createRequire(import.meta.url);
const MODULES: Record<EncodingName, string> = {
  o200k_base: 'gpt-tokenizer/encoding/o200k_base',
  cl100k_base: 'gpt-tokenizer/encoding/cl100k_base',
};

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
    tokenizer = createTokenizer(encoding, requireModule(MODULES[encoding]) as EncodingModule);
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

function createTokenizer(encoding: EncodingName, module: EncodingModule): Tokenizer {
  // An agent resends its whole conversation, and its tools, on every turn: counted once, each
  // earlier message is a lookup, not a tokenization, so a request costs only its new text.
  const memo = new TextMemo<number>({
    minChars: MEMO_MIN_CHARS,
    maxChars: 8 * 1024 * 1024,
    maxTexts: 16_384,
    shortTexts: SHORT_TEXTS,
  });
  const tokenize = (text: string): number => module.countTokens(text, PLAIN_TEXT);
  const count = (text: string): number => (text.length === 0 ? 0 : memo.get(text, tokenize));

  const countContent = (content: unknown): number => {
    if (typeof content === 'string') return count(content);
    if (!Array.isArray(content))
      return content === undefined || content === null ? 0 : count(JSON.stringify(content));
    let total = 0;
    for (const part of content as ContentPartLike[]) {
      if (part === null || typeof part !== 'object') continue;
      if (typeof part.text === 'string') total += count(part.text);
      else if (typeof part.refusal === 'string') total += count(part.refusal);
      else if (part.type === 'image_url' || part.image_url !== undefined) {
        const detail = typeof part.image_url === 'object' ? part.image_url.detail : undefined;
        total += detail === 'low' ? LOW_DETAIL_IMAGE_TOKENS : IMAGE_TOKENS;
      } else total += count(JSON.stringify(part));
    }
    return total;
  };

  return {
    encoding,
    count,
    countMessages(messages) {
      let total = REPLY_PRIMING_TOKENS;
      for (const item of messages) {
        total += TOKENS_PER_MESSAGE;
        if (item === null || typeof item !== 'object') continue;
        const message = item as ChatMessageLike;
        if (typeof message.role === 'string') total += count(message.role);
        total += countContent(message.content);
        if (typeof message.name === 'string') total += count(message.name) + TOKENS_PER_NAME;
        if (Array.isArray(message.tool_calls)) {
          for (const call of message.tool_calls) {
            total += count(call?.function?.name ?? '') + count(call?.function?.arguments ?? '');
          }
        }
      }
      return total;
    },
    countTools(tools) {
      return tools.length === 0 ? 0 : count(JSON.stringify(tools));
    },
  };
}
