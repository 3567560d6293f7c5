/**
 * Chat messages as the context manager sees them: what each one costs in tokens, what it says
 * that later messages can refer to, and how messages group into units that are kept or dropped
 * together (an assistant tool call with the tool results answering it).
 */
import { type EncodingName, REPLY_PRIMING_TOKENS, type Tokenizer } from '../cost/tokens.js';
import { extractFeatures, type TextFeatures } from './salience.js';

/** A content part of a chat message (OpenAI shape). Unknown parts are counted as JSON. */
export interface ContentPart {
  type?: string;
  text?: string;
  refusal?: string;
}

/** A tool call on an assistant message (OpenAI shape). */
export interface ToolCall {
  id?: string;
  type?: string;
  function?: { name?: string; arguments?: string };
}

/**
 * A chat message in OpenAI's shape. The OpenAI SDK's `ChatCompletionMessageParam` and plain
 * JSON request bodies both fit. Messages are read, never modified.
 */
export interface ChatMessage {
  role: string;
  content?: string | readonly ContentPart[] | null;
  name?: string;
  /** On an assistant message: the calls whose `tool` results must stay with it. */
  tool_calls?: readonly ToolCall[] | null;
  /** On a `tool` message: the id of the call it answers. */
  tool_call_id?: string;
  /** Legacy function calling: answered by the next `function` message. */
  function_call?: { name?: string; arguments?: string } | null;
}

/** Roles that are always kept (instructions). */
const SYSTEM_ROLES: ReadonlySet<string> = new Set(['system', 'developer']);

export function isSystemRole(role: string): boolean {
  return SYSTEM_ROLES.has(role);
}

/**
 * The text of a message that keywords and references are read from. JSON (tool arguments, and
 * content that parses as JSON) contributes its values only: keys and tool names repeat in every
 * call and say nothing a later message could refer back to.
 */
export function textOf(message: ChatMessage): string {
  const parts: string[] = [];
  const content = message.content;
  if (typeof content === 'string') parts.push(jsonValuesOr(content));
  else if (Array.isArray(content)) {
    for (const part of content as readonly ContentPart[]) {
      if (part === null || typeof part !== 'object') continue;
      if (typeof part.text === 'string') parts.push(jsonValuesOr(part.text));
      else if (typeof part.refusal === 'string') parts.push(part.refusal);
    }
  }
  if (Array.isArray(message.tool_calls)) {
    for (const call of message.tool_calls as readonly ToolCall[]) {
      parts.push(jsonValuesOr(call?.function?.arguments ?? ''));
    }
  }
  if (message.function_call) parts.push(jsonValuesOr(message.function_call.arguments ?? ''));
  return parts.join('\n');
}

/** The string and number values of `text` when it is a JSON object or array, else `text`. */
export function jsonValuesOr(text: string): string {
  const first = text.trimStart()[0];
  if (first !== '{' && first !== '[') return text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  const values: string[] = [];
  const stack: unknown[] = [parsed];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') values.push(value);
    else if (typeof value === 'number') values.push(String(value));
    else if (Array.isArray(value))
      for (let index = value.length - 1; index >= 0; index -= 1) stack.push(value[index]);
    else if (value !== null && typeof value === 'object') {
      const entries = Object.values(value);
      for (let index = entries.length - 1; index >= 0; index -= 1) stack.push(entries[index]);
    }
  }
  return values.join('\n');
}

/** What the manager knows about one message; cached per message object. */
export interface MessageInfo {
  /** The fields the info was computed from: a changed field means the info is stale. */
  readonly source: readonly unknown[];
  readonly features: TextFeatures;
  /** Whether the text contains one of the manager's keywords. */
  readonly keyword: boolean;
  /** Tokens of the message alone (without reply priming), per encoding. */
  tokens: Partial<Record<EncodingName, number>>;
  /** JSON of the message, computed when a summary key needs it. */
  fingerprint?: string;
}

function sourceOf(message: ChatMessage): unknown[] {
  return [
    message.role,
    message.content,
    message.name,
    message.tool_calls,
    message.tool_call_id,
    message.function_call,
  ];
}

function sameSource(a: readonly unknown[], b: readonly unknown[]): boolean {
  for (let index = 0; index < a.length; index += 1) if (a[index] !== b[index]) return false;
  return true;
}

/**
 * Per-message facts, computed once per message object: a conversation passed turn after turn
 * with the same message objects is tokenized once. Held weakly, so it never outlives the
 * messages; recomputed if a message's fields were replaced.
 */
export class MessageInfoCache {
  readonly #infos = new WeakMap<object, MessageInfo>();
  readonly #keyword: RegExp | undefined;

  constructor(keyword: RegExp | undefined) {
    this.#keyword = keyword;
  }

  info(message: ChatMessage): MessageInfo {
    const source = sourceOf(message);
    const cached = this.#infos.get(message);
    if (cached !== undefined && sameSource(cached.source, source)) return cached;
    const text = textOf(message);
    const info: MessageInfo = {
      source,
      features: extractFeatures(text),
      keyword: this.#keyword?.test(text) ?? false,
      tokens: {},
    };
    this.#infos.set(message, info);
    return info;
  }

  /** Tokens of `message` alone, exactly as `tokenizer.countMessages` adds them up. */
  tokens(message: ChatMessage, tokenizer: Tokenizer): number {
    const info = this.info(message);
    let tokens = info.tokens[tokenizer.encoding];
    if (tokens === undefined) {
      tokens = tokenizer.countMessages([message]) - REPLY_PRIMING_TOKENS;
      info.tokens[tokenizer.encoding] = tokens;
    }
    return tokens;
  }

  fingerprint(message: ChatMessage): string {
    const info = this.info(message);
    info.fingerprint ??= JSON.stringify(message);
    return info.fingerprint;
  }
}

/** Builds the keyword matcher: whole words, case-insensitive. Undefined for no keywords. */
export function keywordPattern(keywords: readonly string[]): RegExp | undefined {
  if (keywords.length === 0) return undefined;
  const escaped = keywords.map((keyword) => keyword.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`(?<![\\p{L}\\p{N}_])(?:${escaped.join('|')})(?![\\p{L}\\p{N}_])`, 'iu');
}

/** The kind of a unit, for role scores: a tool exchange scores as `tool`. */
export type UnitRole = string;

/** Messages kept or dropped together. */
export interface Unit {
  /** Message indices, ascending. */
  readonly messages: number[];
  /** The first and last message index. */
  first: number;
  last: number;
  /** `tool` for a tool exchange, else the role of its message. */
  role: UnitRole;
  /** A system or developer message: always kept. */
  system: boolean;
  /** Pinned by the caller: always kept. */
  pinned: boolean;
  /** A `user` message. */
  user: boolean;
  tokens: number;
  keyword: boolean;
}

/**
 * Groups messages into units, in order of their first message. An assistant message with
 * `tool_calls` forms one unit with every `tool` message answering one of its calls (by
 * `tool_call_id`); an assistant `function_call` with the `function` messages after it. A tool
 * or function message answering no known call joins the unit before it, so it is never kept
 * without what precedes it. Every other message is a unit of its own.
 */
export function buildUnits(
  messages: readonly ChatMessage[],
  tokensOf: (index: number) => number,
  keywordOf: (index: number) => boolean,
  pinned: ((message: ChatMessage, index: number) => boolean) | undefined,
): { units: Unit[]; unitOf: Int32Array } {
  const units: Unit[] = [];
  const unitOf = new Int32Array(messages.length);
  const callOwner = new Map<string, number>();
  let functionOwner = -1;

  const open = (index: number, role: UnitRole, system: boolean, user: boolean): void => {
    units.push({
      messages: [],
      first: index,
      last: index,
      role,
      system,
      pinned: false,
      user,
      tokens: 0,
      keyword: false,
    });
  };
  const join = (unitIndex: number, index: number): void => {
    const unit = units[unitIndex] as Unit;
    unit.messages.push(index);
    unit.last = Math.max(unit.last, index);
    unit.tokens += tokensOf(index);
    if (keywordOf(index)) unit.keyword = true;
    if (pinned?.(messages[index] as ChatMessage, index)) unit.pinned = true;
    unitOf[index] = unitIndex;
  };

  for (let index = 0; index < messages.length; index += 1) {
    const message = messages[index] as ChatMessage;
    const role = typeof message?.role === 'string' ? message.role : '';
    if (role === 'tool' || role === 'function') {
      const id = message.tool_call_id;
      let owner = role === 'tool' && id !== undefined ? callOwner.get(id) : undefined;
      if (owner === undefined && role === 'function' && functionOwner >= 0) owner = functionOwner;
      if (owner === undefined && units.length > 0) owner = units.length - 1;
      if (owner !== undefined) {
        join(owner, index);
        continue;
      }
      open(index, 'tool', false, false);
      join(units.length - 1, index);
      continue;
    }
    const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
    const isCall = role === 'assistant' && (calls.length > 0 || Boolean(message.function_call));
    open(index, isCall ? 'tool' : role, isSystemRole(role), role === 'user');
    const unitIndex = units.length - 1;
    join(unitIndex, index);
    if (isCall) {
      for (const call of calls as readonly ToolCall[]) {
        if (typeof call?.id === 'string') callOwner.set(call.id, unitIndex);
      }
      if (message.function_call) functionOwner = unitIndex;
    }
  }
  return { units, unitOf };
}
