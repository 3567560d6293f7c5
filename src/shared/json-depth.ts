import { SluiceError } from './errors.js';

/**
 * The deepest JSON Sluice takes or walks: a request body (the body itself is level 1), and the
 * values its helpers serialise (`canonicalJson`). Real requests nest a few dozen levels at most
 * (a tool's JSON schema adds two per nested object); recursion over a value a body can make
 * deeper would exhaust the stack.
 */
export const MAX_JSON_DEPTH = 128;

/** A value nested deeper than `MAX_JSON_DEPTH` (or a caller's limit). Not retryable. */
export class JsonTooDeepError extends SluiceError {
  readonly limit: number;

  constructor(limit: number) {
    super('json_too_deep', `JSON nested deeper than ${limit} levels`);
    this.name = 'JsonTooDeepError';
    this.limit = limit;
  }
}

/**
 * Walks `value`'s objects and arrays iteratively (safe at every depth): `'deep'` at the first
 * container nested deeper than `limit` levels (a primitive is level 0, an object or array of
 * primitives level 1), `'refused'` at the first object (not array) that `refuse` refuses,
 * undefined when neither is found.
 */
export function checkJsonTree(
  value: unknown,
  limit: number = MAX_JSON_DEPTH,
  refuse?: (object: Record<string, unknown>) => boolean,
): 'deep' | 'refused' | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const pending: object[] = [value];
  const depths: number[] = [1];
  while (pending.length > 0) {
    const current = pending.pop() as object;
    const depth = depths.pop() as number;
    if (depth > limit) return 'deep';
    let members: readonly unknown[];
    if (Array.isArray(current)) members = current;
    else {
      const record = current as Record<string, unknown>;
      if (refuse?.(record) === true) return 'refused';
      members = Object.values(record);
    }
    for (const member of members) {
      if (member !== null && typeof member === 'object') {
        pending.push(member);
        depths.push(depth + 1);
      }
    }
  }
  return undefined;
}

/** Whether `value` nests objects and arrays deeper than `limit` levels (see `checkJsonTree`). */
export function exceedsJsonDepth(value: unknown, limit: number = MAX_JSON_DEPTH): boolean {
  return checkJsonTree(value, limit) === 'deep';
}
