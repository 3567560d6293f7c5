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
 * Whether `value` nests objects and arrays deeper than `limit` levels (a primitive is level 0,
 * an object or array of primitives level 1). Iterative, so any depth is safe to check; stops at
 * the first container past the limit.
 */
export function exceedsJsonDepth(value: unknown, limit: number = MAX_JSON_DEPTH): boolean {
  if (value === null || typeof value !== 'object') return false;
  const pending: object[] = [value];
  const depths: number[] = [1];
  while (pending.length > 0) {
    const current = pending.pop() as object;
    const depth = depths.pop() as number;
    if (depth > limit) return true;
    const members: readonly unknown[] = Array.isArray(current) ? current : Object.values(current);
    for (const member of members) {
      if (member !== null && typeof member === 'object') {
        pending.push(member);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}
