import { describe, expect, it } from 'vitest';
import { BodyMemo, deepFreeze, frozenMemo } from '../../src/gateway/body-memo.js';
import { requestKey } from '../../src/gateway/cache-key.js';
import { parseChatBody } from '../../src/gateway/validation.js';

const bytesOf = (value: unknown) => Buffer.from(JSON.stringify(value));

/** What the gateway's parser does with the memo: recall, else parse and remember. */
function parseThrough(memo: BodyMemo, bytes: Buffer): unknown {
  const recalled = memo.recall(bytes);
  if (recalled?.body !== undefined) return recalled.body;
  const parsed = JSON.parse(bytes.toString('utf8')) as unknown;
  return recalled === undefined ? parsed : memo.remember(recalled, parsed);
}

describe('BodyMemo', () => {
  it('notes bytes seen once, and shares one frozen parse from the second sighting on', () => {
    const memo = new BodyMemo();
    const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
    const first = parseThrough(memo, bytesOf(body)) as typeof body;
    expect(first).toEqual(body);
    expect(Object.isFrozen(first)).toBe(false);
    const second = parseThrough(memo, bytesOf(body)) as typeof body;
    expect(Object.isFrozen(second)).toBe(true);
    expect(Object.isFrozen(second.messages[0])).toBe(true);
    expect(parseThrough(memo, bytesOf(body))).toBe(second);
    expect(memo.recall(bytesOf(body))?.body).toBe(second);
    // Other bytes for an equal value (another key order) are another entry.
    const reordered = Buffer.from('{"messages":[{"role":"user","content":"hi"}],"model":"m"}');
    expect(memo.recall(reordered)).toEqual({ text: reordered.toString('latin1'), again: false });
    expect(() => {
      (second.messages as unknown[]).push({});
    }).toThrow(TypeError);
  });

  it('keeps nothing over its bounds: a big body, a scalar, the least recent entry', () => {
    const memo = new BodyMemo({ maxEntries: 2, maxBodyBytes: 64 });
    const big = bytesOf({ text: 'x'.repeat(100) });
    expect(memo.recall(big)).toBeUndefined();
    for (let index = 0; index < 3; index++) expect(parseThrough(memo, Buffer.from('3'))).toBe(3);
    for (const name of ['a', 'b', 'c']) {
      parseThrough(memo, bytesOf({ name }));
      parseThrough(memo, bytesOf({ name }));
    }
    expect(memo.recall(bytesOf({ name: 'a' }))).toMatchObject({ again: false });
    expect(memo.recall(bytesOf({ name: 'c' }))?.body).toEqual({ name: 'c' });
  });
});

describe('what is computed from a frozen body', () => {
  it('is remembered for a frozen input only, and frozen itself', () => {
    let calls = 0;
    const double = frozenMemo((input: { n: number }) => {
      calls++;
      return { n: input.n * 2 };
    });
    const frozen = deepFreeze({ n: 2 });
    const first = double(frozen);
    expect(double(frozen)).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(calls).toBe(1);
    const open = { n: 2 };
    expect(double(open)).toEqual({ n: 4 });
    expect(double(open)).not.toBe(double(open));
    expect(calls).toBe(4);
  });

  it('validates a frozen body once, and still refuses a bad one every time', () => {
    const body = deepFreeze({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    expect(parseChatBody(body)).toBe(parseChatBody(body));
    const bad = deepFreeze({ model: 'm', messages: 'hi' });
    expect(() => parseChatBody(bad)).toThrow(/messages/);
    expect(() => parseChatBody(bad)).toThrow(/messages/);
  });

  it('keys a frozen body once per namespace, provider and model, as an open copy is keyed', () => {
    const open = { model: 'm', temperature: 0, messages: [{ role: 'user', content: 'hi' }] };
    const frozen = deepFreeze(structuredClone(open));
    for (const namespace of ['a', 'b', 'a']) {
      expect(requestKey('chat', namespace, 'p', 'm', frozen)).toBe(
        requestKey('chat', namespace, 'p', 'm', open),
      );
    }
    expect(requestKey('chat', 'a', 'p', 'm', frozen)).not.toBe(
      requestKey('chat', 'b', 'p', 'm', frozen),
    );
    expect(requestKey('chat', 'a', 'p', 'other', frozen)).not.toBe(
      requestKey('chat', 'a', 'p', 'm', frozen),
    );
  });
});
