import { upstreamInvalidResponse } from './errors.js';
import type { Usage } from './exchange.js';

/**
 * Checks of a 2xx non-streaming answer before it is passed on or stored: the body must parse
 * as the protocol's response. A body cut short and closed cleanly, text that is not JSON, or
 * JSON of another shape (`{}`, an `{"error":…}` sent with 200) throws a retryable 502
 * `upstream_invalid_response`. One `JSON.parse` and a walk over the top-level structure (no
 * schema library on the hot path); the parsed body and its `usage` are returned, so the caller
 * parses nothing again.
 */

type Json = Record<string, unknown>;

/** An answer that passed its check: the parsed body, and the usage it reports. */
export interface CheckedAnswer {
  readonly body: Json;
  readonly usage: Usage | undefined;
}

/** A protocol's answer: a non-empty list under `list`, each item passing `item`. */
interface AnswerShape {
  readonly list: string;
  /** What is wrong when the list is missing or empty (an error object, else this). */
  readonly missing: string;
  readonly item: (item: unknown) => boolean;
  /** What is wrong with an item that fails `item`, after `list[index]`. */
  readonly itemProblem: string;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const CHAT_COMPLETION: AnswerShape = {
  list: 'choices',
  missing: 'no choices',
  item: (choice) => isObject(choice) && isObject(choice.message),
  itemProblem: 'has no message object',
};

const EMBEDDINGS: AnswerShape = {
  list: 'data',
  missing: 'no embeddings in data',
  item: (item) => {
    const embedding = isObject(item) ? item.embedding : undefined;
    return Array.isArray(embedding) || typeof embedding === 'string';
  },
  itemProblem: 'has no embedding',
};

function check(shape: AnswerShape, text: string, provider: string): CheckedAnswer {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw upstreamInvalidResponse(
      provider,
      text.length === 0 ? 'an empty body' : 'the body is not JSON (cut short?)',
      error,
    );
  }
  if (!isObject(body)) throw upstreamInvalidResponse(provider, 'the body is not a JSON object');
  const list = body[shape.list];
  if (!Array.isArray(list) || list.length === 0) {
    throw upstreamInvalidResponse(
      provider,
      isObject(body.error) ? `an error object instead of ${shape.list}` : shape.missing,
    );
  }
  for (let index = 0; index < list.length; index++) {
    if (!shape.item(list[index])) {
      throw upstreamInvalidResponse(provider, `${shape.list}[${index}] ${shape.itemProblem}`);
    }
  }
  const usage = body.usage;
  return { body, usage: isObject(usage) ? (usage as Usage) : undefined };
}

/**
 * A chat completion: an object whose `choices` is a non-empty array of objects, each with a
 * `message` object.
 */
export function checkChatCompletion(text: string, provider: string): CheckedAnswer {
  return check(CHAT_COMPLETION, text, provider);
}

/**
 * An embeddings answer: an object whose `data` is a non-empty array (a request's input never is
 * empty) of objects, each with an `embedding` array (or base64 string).
 */
export function checkEmbeddings(text: string, provider: string): CheckedAnswer {
  return check(EMBEDDINGS, text, provider);
}
