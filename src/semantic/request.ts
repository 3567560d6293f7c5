import { createHash } from 'node:crypto';
import { canonicalJson } from '../shared/canonical-json.js';

export { canonicalJson };

/** One chat message, as OpenAI-compatible APIs carry it. */
export interface ChatMessage {
  role: string;
  /** A string, or content parts (`{ type: 'text', text }`, images, ...). */
  content?: unknown;
  [field: string]: unknown;
}

/**
 * A chat request (an OpenAI `chat/completions` body, or the same shape from an SDK). Every
 * field other than `messages` — model, tools, temperature, response_format, ... — is part
 * of the scope; the last user message is the text compared by meaning.
 */
export interface ChatRequest {
  model?: string;
  messages: readonly ChatMessage[];
  [field: string]: unknown;
}

/** A bare prompt, or a chat request. */
export type SemanticRequest = string | ChatRequest;

/** Who may share answers: only requests with the same scope ever answer each other. */
export interface SemanticScope {
  /** The tenant (virtual key, team, app). Lookups never cross namespaces. */
  namespace: string;
  /** The upstream provider, when the same model name may be served by several. */
  provider?: string;
  /** For bare-prompt requests: the model that will answer. */
  model?: string;
}

/** Body fields that do not change the answer and stay out of the scope. */
const IGNORED_FIELDS = new Set([
  'messages',
  'stream',
  'stream_options',
  'user',
  'metadata',
  'store',
  'service_tier',
]);

export type Uncacheable = 'multi-turn' | 'no-user-text' | 'non-text-content';

export interface ParsedRequest {
  /** The last user message's text, compared by meaning. */
  text: string;
  /** Hash of namespace, provider, model, system prompts, tools, parameters (and earlier turns, with `multiTurn`). */
  scopeKey: string;
}

/**
 * Splits a request into the text compared semantically and the scope key, or says why it
 * cannot be cached semantically. With `multiTurn` false, a request with more than one user
 * message or any assistant/tool message is not cached (its meaning depends on the earlier
 * turns); with `multiTurn` true, a digest of the earlier turns joins the scope.
 */
export function parseRequest(
  request: SemanticRequest,
  scope: SemanticScope,
  multiTurn: boolean,
): ParsedRequest | Uncacheable {
  const hash = createHash('sha256');
  hash.update(`${scope.namespace}\u0000${scope.provider ?? ''}\u0000`);
  if (typeof request === 'string') {
    hash.update(`model\u0000${JSON.stringify(scope.model ?? '')}\u0000`);
    return { text: request, scopeKey: hash.digest('base64url') };
  }
  const messages = request.messages;
  let lastUser = -1;
  let users = 0;
  let others = 0;
  for (let index = 0; index < messages.length; index++) {
    const role = messages[index]?.role;
    if (role === 'user') {
      users++;
      lastUser = index;
    } else if (role !== 'system' && role !== 'developer') {
      others++;
    }
  }
  if (lastUser < 0) return 'no-user-text';
  if (!multiTurn && (users > 1 || others > 0)) return 'multi-turn';
  const text = contentText((messages[lastUser] as ChatMessage).content);
  if (text === undefined) return 'non-text-content';
  if (text.trim().length === 0) return 'no-user-text';

  hash.update(`model\u0000${JSON.stringify(request.model ?? scope.model ?? '')}\u0000`);
  for (const key of Object.keys(request).sort()) {
    if (key === 'model' || IGNORED_FIELDS.has(key)) continue;
    hash.update(`${key}\u0000${canonicalJson(request[key])}\u0000`);
  }
  // System prompts always scope; with multiTurn, every turn before the last user message too.
  // Messages after the last user message (none, in a well-formed request) are ignored.
  for (let index = 0; index < lastUser; index++) {
    const message = messages[index] as ChatMessage;
    if (message.role === 'system' || message.role === 'developer' || multiTurn) {
      hash.update(`message\u0000${canonicalJson(message)}\u0000`);
    }
  }
  const last = messages[lastUser] as ChatMessage;
  for (const key of Object.keys(last).sort()) {
    if (key === 'content' || key === 'role') continue;
    hash.update(`user.${key}\u0000${canonicalJson(last[key])}\u0000`); // e.g. `name`
  }
  return { text, scopeKey: hash.digest('base64url') };
}

/** The text of a message's content; undefined when it holds anything but text. */
function contentText(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return undefined;
  const parts: string[] = [];
  for (const part of content) {
    if (typeof part === 'string') {
      parts.push(part);
      continue;
    }
    const typed = part as { type?: unknown; text?: unknown } | null;
    if (typed === null || typed.type !== 'text' || typeof typed.text !== 'string') return undefined;
    parts.push(typed.text);
  }
  return parts.join('\n');
}

/** Whitespace-normalised text: the key of the exact-match fast path. */
export function normalizeText(text: string): string {
  return text.normalize('NFKC').replace(/\s+/g, ' ').trim();
}
