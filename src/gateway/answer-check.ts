import { upstreamInvalidResponse } from './errors.js';
import type { Usage } from './exchange.js';

/**
 * Checks of a 2xx non-streaming answer before it is passed on or stored: the body must parse
 * as the protocol's response. A body cut short and closed cleanly, text that is not JSON, or
 * JSON of another shape (`{}`, an `{"error":…}` sent with 200) throws a retryable 502
 * `upstream_invalid_response`. One `JSON.parse` and a walk over the top-level structure (no
 * schema library on the hot path); the parsed body's `usage` is returned, so the caller does
 * not look for it again.
 */

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parse(text: string, provider: string): Json {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw upstreamInvalidResponse(
      provider,
      text.length === 0 ? 'an empty body' : 'the body is not JSON (cut short?)',
      error,
    );
  }
  if (!isObject(parsed)) throw upstreamInvalidResponse(provider, 'the body is not a JSON object');
  return parsed;
}

/** The body's `usage`, when it is an object. */
function usageIn(body: Json): Usage | undefined {
  const usage = body.usage;
  return isObject(usage) ? (usage as Usage) : undefined;
}

/**
 * A chat completion: an object whose `choices` is a non-empty array of objects, each with a
 * `message` object. Returns its usage.
 */
export function checkChatCompletion(text: string, provider: string): Usage | undefined {
  const body = parse(text, provider);
  const choices = body.choices;
  if (!Array.isArray(choices) || choices.length === 0) {
    throw upstreamInvalidResponse(
      provider,
      isObject(body.error) ? 'an error object instead of choices' : 'no choices',
    );
  }
  for (let index = 0; index < choices.length; index++) {
    const choice: unknown = choices[index];
    if (!isObject(choice) || !isObject(choice.message)) {
      throw upstreamInvalidResponse(provider, `choices[${index}] has no message object`);
    }
  }
  return usageIn(body);
}

/**
 * An embeddings answer: an object whose `data` is a non-empty array (a request's input never is
 * empty) of objects, each with an `embedding` array (or base64 string). Returns its usage.
 */
export function checkEmbeddings(text: string, provider: string): Usage | undefined {
  const body = parse(text, provider);
  const data = body.data;
  if (!Array.isArray(data) || data.length === 0) {
    throw upstreamInvalidResponse(
      provider,
      isObject(body.error) ? 'an error object instead of data' : 'no embeddings in data',
    );
  }
  for (let index = 0; index < data.length; index++) {
    const item: unknown = data[index];
    const embedding = isObject(item) ? item.embedding : undefined;
    if (!Array.isArray(embedding) && typeof embedding !== 'string') {
      throw upstreamInvalidResponse(provider, `data[${index}] has no embedding`);
    }
  }
  return usageIn(body);
}
