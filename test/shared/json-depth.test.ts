import { describe, expect, it } from 'vitest';
import { deepFreeze } from '../../src/gateway/body-memo.js';
import { canonicalJson } from '../../src/shared/canonical-json.js';
import { exceedsJsonDepth, JsonTooDeepError, MAX_JSON_DEPTH } from '../../src/shared/json-depth.js';

/** `levels` arrays, one inside the other, around `inner`. */
function nested(levels: number, inner: unknown = 1): unknown {
  let value = inner;
  for (let level = 0; level < levels; level++) value = level % 2 === 0 ? [value] : { a: value };
  return value;
}

describe('exceedsJsonDepth', () => {
  it('counts a container as one level, primitives as none', () => {
    expect(exceedsJsonDepth('text', 0)).toBe(false);
    expect(exceedsJsonDepth([], 0)).toBe(true);
    expect(exceedsJsonDepth({ a: [1, { b: 2 }] }, 3)).toBe(false);
    expect(exceedsJsonDepth({ a: [1, { b: 2 }] }, 2)).toBe(true);
  });

  it('checks a million levels without recursion', () => {
    expect(exceedsJsonDepth(nested(1_000_000))).toBe(true);
    expect(exceedsJsonDepth(nested(MAX_JSON_DEPTH))).toBe(false);
    expect(exceedsJsonDepth(nested(MAX_JSON_DEPTH + 1))).toBe(true);
  });
});

describe('canonicalJson', () => {
  it('writes values up to the depth limit', () => {
    expect(canonicalJson({ b: [1, { d: 1, c: 2 }], a: null })).toBe(
      '{"a":null,"b":[1,{"c":2,"d":1}]}',
    );
    expect(canonicalJson(nested(MAX_JSON_DEPTH))).toHaveLength(
      JSON.stringify(nested(MAX_JSON_DEPTH)).length,
    );
  });

  it('throws JsonTooDeepError past the limit, not a RangeError', () => {
    for (const levels of [MAX_JSON_DEPTH + 1, 100_000]) {
      expect(() => canonicalJson(nested(levels))).toThrow(JsonTooDeepError);
    }
  });
});

describe('deepFreeze', () => {
  it('freezes 100,000 levels without recursion', () => {
    const value = nested(100_000);
    deepFreeze(value);
    let current: unknown = value;
    let frozen = 0;
    while (current !== null && typeof current === 'object') {
      if (Object.isFrozen(current)) frozen++;
      current = Array.isArray(current) ? current[0] : (current as { a: unknown }).a;
    }
    expect(frozen).toBe(100_000);
  });
});
