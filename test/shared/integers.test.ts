import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/shared/errors.js';
import {
  integerAtLeast,
  nonNegativeInteger,
  positiveInteger,
  positiveIntegerOrUndefined,
} from '../../src/shared/integers.js';

const NOT_WHOLE = [0.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '3', null, undefined];

describe('positiveInteger', () => {
  it('returns safe integers of at least 1 unchanged', () => {
    expect(positiveInteger(1, 'n')).toBe(1);
    expect(positiveInteger(Number.MAX_SAFE_INTEGER, 'n')).toBe(Number.MAX_SAFE_INTEGER);
  });

  it.each([0, -1, ...NOT_WHOLE])('refuses %s with a ConfigError naming the option', (value) => {
    expect(() => positiveInteger(value, 'pool.max')).toThrow(ConfigError);
    expect(() => positiveInteger(value, 'pool.max')).toThrow(
      `pool.max must be a positive integer, got ${String(value)}`,
    );
  });
});

describe('nonNegativeInteger', () => {
  it('accepts 0 and positive safe integers', () => {
    expect(nonNegativeInteger(0, 'n')).toBe(0);
    expect(nonNegativeInteger(7, 'n')).toBe(7);
  });

  it.each([-1, ...NOT_WHOLE])('refuses %s', (value) => {
    expect(() => nonNegativeInteger(value, 'pool.min')).toThrow(
      `pool.min must be a non-negative integer, got ${String(value)}`,
    );
  });
});

describe('integerAtLeast', () => {
  it('accepts safe integers from the bound up', () => {
    expect(integerAtLeast(16, 16, 'n')).toBe(16);
    expect(integerAtLeast(-2, -5, 'n')).toBe(-2);
  });

  it.each([15, ...NOT_WHOLE])('refuses %s below or beside a bound of 16', (value) => {
    expect(() => integerAtLeast(value, 16, 'summaryMaxTokens')).toThrow(
      `summaryMaxTokens must be an integer of at least 16, got ${String(value)}`,
    );
  });
});

describe('positiveIntegerOrUndefined', () => {
  it('passes positive safe integers and turns anything else into undefined', () => {
    expect(positiveIntegerOrUndefined(256)).toBe(256);
    for (const value of [0, -3, ...NOT_WHOLE]) {
      expect(positiveIntegerOrUndefined(value)).toBeUndefined();
    }
  });
});
