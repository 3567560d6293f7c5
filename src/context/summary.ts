/**
 * Summaries of dropped messages: one message with a marker, placed where the dropped span ends,
 * cached per covered span so the same span is summarized once (and the same text keeps the
 * prompt prefix identical from turn to turn).
 */
import { createHash } from 'node:crypto';
import { REPLY_PRIMING_TOKENS, type Tokenizer } from '../cost/tokens.js';
import type { ChatMessage } from './messages.js';

/** Every summary message starts with this marker. */
export const SUMMARY_MARKER = '[Summary of earlier conversation]';

/** What a summarizer is told besides the messages. */
export interface SummarizeContext {
  /** Tokens the summary text should stay under; a longer one is cut to fit. */
  maxTokens: number;
  /**
   * The previous summary when this call extends it: it is then also the first message, so a
   * summarizer that ignores this field still sees it.
   */
  previousSummary?: string;
}

/**
 * Summarizes messages (typically with a small model). Called only for a span not summarized
 * before; its result is cached. A rejection or an empty string means "no summary this time".
 */
export type Summarizer = (
  messages: readonly ChatMessage[],
  context: SummarizeContext,
) => Promise<string>;

/** The summary message the manager inserts. */
export interface SummaryMessage {
  role: 'system' | 'user';
  content: string;
}

export function summaryMessage(
  role: 'system' | 'user',
  covered: number,
  text: string,
): SummaryMessage {
  return {
    role,
    content: `${SUMMARY_MARKER} ${covered} earlier message${covered === 1 ? ' was' : 's were'} condensed to save context.\n\n${text}`,
  };
}

/** Whether `message` is a summary this module wrote. */
export function isSummaryMessage(message: unknown): message is SummaryMessage {
  if (message === null || typeof message !== 'object') return false;
  const content = (message as { content?: unknown }).content;
  return typeof content === 'string' && content.startsWith(SUMMARY_MARKER);
}

/** Tokens of a message alone (no reply priming). */
export function messageTokens(tokenizer: Tokenizer, message: SummaryMessage): number {
  return tokenizer.countMessages([message]) - REPLY_PRIMING_TOKENS;
}

/**
 * The summary message for `text`, cut (at a character boundary, with an ellipsis) so that the
 * whole message costs at most `maxTokens`. Undefined when not even the marker fits.
 */
export function fitSummary(
  tokenizer: Tokenizer,
  role: 'system' | 'user',
  covered: number,
  text: string,
  maxTokens: number,
): SummaryMessage | undefined {
  const whole = summaryMessage(role, covered, text);
  if (messageTokens(tokenizer, whole) <= maxTokens) return whole;
  if (messageTokens(tokenizer, summaryMessage(role, covered, '…')) > maxTokens) return undefined;
  let low = 0;
  let high = text.length;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    const candidate = summaryMessage(role, covered, `${cutAt(text, middle)}…`);
    if (messageTokens(tokenizer, candidate) <= maxTokens) low = middle;
    else high = middle - 1;
  }
  return summaryMessage(role, covered, `${cutAt(text, low)}…`);
}

/** `text` cut to `length` UTF-16 units without splitting a surrogate pair. */
function cutAt(text: string, length: number): string {
  const code = text.charCodeAt(length - 1);
  const end = code >= 0xd800 && code <= 0xdbff ? length - 1 : length;
  return text.slice(0, end).trimEnd();
}

/** A key for a span: the hash of its messages' JSON. */
export function spanKey(fingerprints: Iterable<string>): string {
  const hash = createHash('sha256');
  for (const fingerprint of fingerprints) {
    hash.update(fingerprint);
    hash.update('\u0000');
  }
  return hash.digest('base64url');
}

/**
 * Summaries by span key, least recently used evicted past `capacity`. A summary being computed
 * is shared by concurrent callers (one summarizer call per span); a failed one is forgotten so
 * the next call retries.
 */
export class SummaryCache {
  readonly #entries = new Map<string, Promise<string>>();
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The settled or pending summary for `key`, refreshed as most recently used. */
  peek(key: string): Promise<string> | undefined {
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, entry);
    }
    return entry;
  }

  getOrCreate(key: string, create: () => Promise<string>): Promise<string> {
    const existing = this.peek(key);
    if (existing !== undefined) return existing;
    const pending = create();
    this.#entries.set(key, pending);
    pending.catch(() => {
      if (this.#entries.get(key) === pending) this.#entries.delete(key);
    });
    while (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
    return pending;
  }

  clear(): void {
    this.#entries.clear();
  }
}
