import { describe, expect, it } from 'vitest';
import { BodyMemo, deepFreeze, frozenMemo } from '../../src/gateway/body-memo.js';
import { requestKey } from '../../src/gateway/cache-key.js';
import { parseChatBody } from '../../src/gateway/validation.js';

const bytesOf = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('BodyMemo', () => {
  it('hands out one frozen parse per distinct body bytes', () => {
    const memo = new BodyMemo();
    const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
    expect(memo.get(bytesOf(body))).toBeUndefined();
    const stored = memo.set(bytesOf(body), structuredClone(body)) as typeof body;
    expect(Object.isFrozen(stored)).toBe(true);
    expect(Object.isFrozen(stored.messages[0])).toBe(true);
    expect(memo.get(bytesOf(body))).toBe(stored);
    // Other bytes for an equal value (another key order) are another entry.
    expect(memo.get(Buffer.from('{"messages":[{"role":"user","content":"hi"}],"model":"m"}'))).toBe(
      undefined,
    );
    expect(() => {
      (stored.messages as unknown[]).push({});
    }).toThrow(TypeError);
  });

  it('keeps nothing over its bounds: a big body, a scalar, the least recent entry', () => {
    const memo = new BodyMemo({ maxEntries: 2, maxBodyBytes: 64 });
    const big = bytesOf({ text: 'x'.repeat(100) });
    memo.set(big, { text: 'x'.repeat(100) });
    expect(memo.get(big)).toBeUndefined();
    expect(memo.set(Buffer.from('3'), 3)).toBe(3);
    expect(memo.get(Buffer.from('3'))).toBeUndefined();
    for (const name of ['a', 'b', 'c']) memo.set(bytesOf({ name }), { name });
    expect(memo.get(bytesOf({ name: 'a' }))).toBeUndefined();
    expect(memo.get(bytesOf({ name: 'c' }))).toEqual({ name: 'c' });
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
