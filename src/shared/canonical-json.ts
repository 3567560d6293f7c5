import { JsonTooDeepError, MAX_JSON_DEPTH } from './json-depth.js';

/**
 * JSON with object keys sorted at every depth; `undefined` members dropped as JSON does. Throws
 * `JsonTooDeepError` for a value nested deeper than `MAX_JSON_DEPTH`, before the stack would
 * overflow.
 */
export function canonicalJson(value: unknown): string {
  return sortedJson(value, JSON.stringify);
}

/** Sorted-key JSON, with strings written by `stringJson`; `canonicalJson`'s depth limit. */
export function sortedJson(value: unknown, stringJson: (text: string) => string): string {
  return writeSorted(value, stringJson, 0);
}

function writeSorted(value: unknown, stringJson: (text: string) => string, depth: number): string {
  if (typeof value === 'string') return stringJson(value);
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (depth >= MAX_JSON_DEPTH) throw new JsonTooDeepError(MAX_JSON_DEPTH);
  if (Array.isArray(value)) {
    let text = '[';
    for (let index = 0; index < value.length; index++) {
      if (index > 0) text += ',';
      text += writeSorted(value[index], stringJson, depth + 1);
    }
    return `${text}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = sortedKeys(record);
  let text = '{';
  let first = true;
  for (const key of keys) {
    const member = record[key];
    if (member === undefined) continue;
    if (!first) text += ',';
    first = false;
    text += `${JSON.stringify(key)}:${writeSorted(member, stringJson, depth + 1)}`;
  }
  return `${text}}`;
}

/**
 * `Object.keys(record).sort()`, in the same (UTF-16 code unit) order, without the temporary
 * storage `Array.prototype.sort` allocates: objects in a request have a handful of keys, and
 * that storage was the largest allocation of a cache hit. Insertion sort in place.
 */
export function sortedKeys(record: Readonly<Record<string, unknown>>): string[] {
  const keys = Object.keys(record);
  if (keys.length > 32) return keys.sort();
  for (let index = 1; index < keys.length; index++) {
    const key = keys[index] as string;
    let at = index - 1;
    while (at >= 0 && (keys[at] as string) > key) {
      keys[at + 1] = keys[at] as string;
      at--;
    }
    keys[at + 1] = key;
  }
  return keys;
}
