import { hash } from 'node:crypto';
import { sortedJson, sortedKeys } from '../shared/canonical-json.js';
import { TextMemo } from '../shared/text-memo.js';

export { canonicalJson } from '../shared/canonical-json.js';

/**
 * Body fields that do not change the answer and stay out of the key: the caller's stream
 * options (usage is always requested upstream and filtered per caller), end-user ids and
 * stored-completion metadata.
 */
const IGNORED_FIELDS = new Set(['stream_options', 'user', 'metadata', 'store', 'service_tier']);

/**
 * The cache key of a request: a SHA-256 over the tenant namespace, the resolved provider and
 * model, and every other body field (messages, tools, tool_choice, response_format, seed,
 * temperature, top_p, max_tokens, n, stream, and fields unknown to Sluice), serialised with
 * sorted object keys so that key order never splits or merges entries.
 */
export function requestKey(
  route: string,
  namespace: string,
  provider: string,
  model: string,
  body: Readonly<Record<string, unknown>>,
): string {
  // One string, one one-shot hash call (no Hash object): each crossing into native code costs.
  const prefix = `${route}\u0000${namespace}\u0000${provider}\u0000${model}\u0000`;
  // A frozen body (one parse shared by every request with the same bytes) keeps its key.
  const frozen = Object.isFrozen(body);
  if (frozen) {
    const known = frozenKeys.get(body);
    if (known !== undefined && known.prefix === prefix) return known.key;
  }
  let text = prefix;
  const keys = sortedKeys(body);
  for (const key of keys) {
    if (key === 'model' || IGNORED_FIELDS.has(key)) continue;
    text += `${key}\u0000${keyJson(body[key])}\u0000`;
  }
  const key = hash('sha256', text, 'base64url');
  if (frozen) frozenKeys.set(body, { prefix, key });
  return key;
}

/** The last key of each frozen body, with what it was keyed with besides the body. */
const frozenKeys = new WeakMap<object, { readonly prefix: string; readonly key: string }>();

/**
 * Strings at least this long enter the key as their own SHA-256, computed once while the string
 * stays in the memo: an agent resends its conversation on every turn, and escaping, copying and
 * hashing every earlier message again was most of a long request's key.
 */
const DIGESTED_CHARS = 1_024;
const digests = new TextMemo<string>({
  minChars: DIGESTED_CHARS,
  maxChars: 8 * 1024 * 1024,
  maxTexts: 16_384,
});
// A raw U+0001 never appears in JSON.stringify's output (it escapes control characters), so a
// digest cannot be mistaken for a string's JSON.
const digestOf = (text: string): string => `\u0001${hash('sha256', text, 'base64url')}`;

/** A string as a key holds it: its JSON, or for a long one its digest. */
const keyString = (text: string): string =>
  text.length >= DIGESTED_CHARS ? digests.get(text, digestOf) : JSON.stringify(text);

/** `canonicalJson`, with long strings replaced by their digest: the text a key hashes. */
function keyJson(value: unknown): string {
  return sortedJson(value, keyString);
}
