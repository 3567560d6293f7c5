import { errorCodes } from 'fastify';
import { checkJsonTree, MAX_JSON_DEPTH } from '../shared/json-depth.js';
import { jsonTooDeep } from './errors.js';

/**
 * Bodies from this size (bytes) are handled in more turns of the event loop: decoded, parsed,
 * counted, keyed and sent in turns of their own, forwarded with their members rewritten in their
 * bytes rather than serialised again, and not merged into embeddings batches. Each of those
 * steps costs a few ms per MiB; in one turn, together, they held other requests for tens of ms.
 */
export const LARGE_BODY_BYTES = 256 * 1024;

/** Resolves in a later turn of the event loop, after the I/O waiting now. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Parses a large JSON body as fastify's JSON parser does (UTF-8, a byte order mark skipped,
 * `__proto__` keys and `constructor.prototype` refused as invalid JSON), and refuses one nested
 * deeper than `MAX_JSON_DEPTH`, in three turns of the event loop: the decoding, the parse with
 * its checks, and what follows `done`. The prototype checks walk the parsed objects (a few per
 * request) instead of searching the whole text twice with fastify's regular expressions.
 */
export function parseLargeBody(
  bytes: Buffer,
  done: (error: Error | null, body?: unknown) => void,
): void {
  setImmediate(() => {
    let text = bytes.toString('utf8');
    setImmediate(() => {
      let body: unknown;
      try {
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        body = JSON.parse(text);
      } catch {
        return done(new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY());
      }
      const problem = checkParsed(body);
      if (problem === 'forbidden') return done(new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY());
      if (problem === 'deep') return done(jsonTooDeep(MAX_JSON_DEPTH));
      setImmediate(() => done(null, body));
    });
  });
}

/**
 * Whether a parsed body nests deeper than `MAX_JSON_DEPTH`, or holds an object with its own
 * `__proto__` key or a `constructor` object with its own `prototype` key (as secure-json-parse
 * refuses).
 */
function checkParsed(value: unknown): 'deep' | 'forbidden' | undefined {
  const found = checkJsonTree(value, MAX_JSON_DEPTH, hasForbiddenKey);
  return found === 'refused' ? 'forbidden' : found;
}

function hasForbiddenKey(record: Record<string, unknown>): boolean {
  if (Object.hasOwn(record, '__proto__')) return true;
  if (!Object.hasOwn(record, 'constructor')) return false;
  const made = record.constructor;
  return made !== null && typeof made === 'object' && Object.hasOwn(made, 'prototype');
}
