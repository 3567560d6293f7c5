import { describe, expect, it } from 'vitest';
import { jsonValuesOr, textOf } from '../../src/context/messages.js';
import { extractFeatures, isSalientWord, MAX_SALIENT_TERMS } from '../../src/context/salience.js';

describe('salient words', () => {
  it.each([
    ['ORD-58213', true],
    ['src/app.ts', true],
    ['invoice-total.test.ts', true],
    ['user_id', true],
    ['fetchUser', true],
    ['HttpClient', true],
    ['4,512.30', true],
    ['v1.2.3', true],
    ['ana@example.org', true],
    ['6432', true],
    ['the', false],
    ['Weather', false],
    ['follow-up', false],
    ['42', false],
    ['API', false],
  ])('%s → %s', (word, salient) => {
    expect(isSalientWord(word)).toBe(salient);
  });
});

describe('features', () => {
  it('keeps compound words whole and lowercases them', () => {
    const { words, salient } = extractFeatures(
      'Deploy ORD-58213 from src/app.ts to db-staging-7.internal:6432, then email ana@example.org.',
    );
    expect(words).toContain('ord-58213');
    expect(words).toContain('src/app.ts');
    expect(words).toContain('db-staging-7.internal:6432');
    expect(words).toContain('ana@example.org');
    expect(salient).toEqual([
      'ord-58213',
      'src/app.ts',
      'db-staging-7.internal:6432',
      'ana@example.org',
    ]);
  });

  it('tracks quoted strings, not apostrophes', () => {
    const { salient } = extractFeatures(
      `The password is "blue heron" and the flag is \`--dry-run\`; don't ask, it's 'fine'.`,
    );
    expect(salient).toContain('blue heron');
    expect(salient).toContain('dry-run');
    expect(salient).toContain('fine');
    expect(salient.some((term) => term.startsWith('t ask'))).toBe(false);
  });

  it(`registers at most ${MAX_SALIENT_TERMS} terms per message`, () => {
    const text = Array.from({ length: 200 }, (_, index) => `id_${index}`).join(' ');
    expect(extractFeatures(text).salient).toHaveLength(MAX_SALIENT_TERMS);
  });

  it('reads JSON values, not keys or tool names', () => {
    expect(
      jsonValuesOr('{"order_id":"ORD-1","amount":149.99,"ok":true,"items":[{"sku":"B-2"}]}'),
    ).toBe('ORD-1\n149.99\nB-2');
    expect(jsonValuesOr('not json {')).toBe('not json {');
    expect(
      textOf({
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'c',
            type: 'function',
            function: { name: 'lookup_order', arguments: '{"order_id":"ORD-1"}' },
          },
        ],
      }),
    ).toBe('ORD-1');
  });
});
