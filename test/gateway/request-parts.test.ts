import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseCacheDirectives } from '../../src/gateway/cache-control.js';
import { canonicalJson, requestKey } from '../../src/gateway/cache-key.js';
import { SseParser } from '../../src/gateway/sse.js';

const encoder = new TextEncoder();

describe('request keys', () => {
  it('tell long messages apart anywhere in them, and a digest from the text it stands for', () => {
    const long = (middle: string) => `${'a'.repeat(600)}${middle}${'z'.repeat(600)}`;
    const ask = (content: string) => ({ model: 'm', messages: [{ role: 'user', content }] });
    const key = (content: string) => requestKey('chat', 'ns', 'p', 'm', ask(content));
    expect(key(long('one'))).toBe(key(long('one')));
    expect(key(long('one'))).not.toBe(key(long('two')));
    // A short string spelling out what a long one becomes in the key is still its own text.
    const digest = `\u0001${createHash('sha256').update(long('one')).digest('base64url')}`;
    expect(key(digest)).not.toBe(key(long('one')));
  });

  const body = {
    model: 'm',
    messages: [{ role: 'user', content: 'hi' }],
    temperature: 0,
    tools: [{ type: 'function', function: { name: 'f', parameters: { b: 1, a: 2 } } }],
  };

  it('ignore object key order at every depth', () => {
    const reordered = {
      tools: [{ function: { parameters: { a: 2, b: 1 }, name: 'f' }, type: 'function' }],
      temperature: 0,
      messages: [{ content: 'hi', role: 'user' }],
      model: 'm',
    };
    expect(requestKey('chat', 'ns', 'p', 'm', reordered)).toBe(
      requestKey('chat', 'ns', 'p', 'm', body),
    );
    expect(canonicalJson({ b: [1, { d: 1, c: undefined }], a: null })).toBe(
      '{"a":null,"b":[1,{"d":1}]}',
    );
  });

  it('sort keys as JSON.stringify of a sorted copy would, at any width and in any script', () => {
    const reference = (value: unknown): string => {
      if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
      if (value === null || typeof value !== 'object') return JSON.stringify(value);
      const record = value as Record<string, unknown>;
      return `{${Object.keys(record)
        .sort()
        .map((key) => `${JSON.stringify(key)}:${reference(record[key])}`)
        .join(',')}}`;
    };
    let seed = 7;
    const random = () => {
      seed = (seed * 48_271) % 2_147_483_647;
      return seed / 2_147_483_647;
    };
    const alphabet = ['a', 'B', 'z', '_', '1', 'é', 'Ω', '😀', 'aa', 'a1', ''];
    for (const width of [0, 1, 2, 5, 31, 32, 33, 80]) {
      const record: Record<string, unknown> = {};
      for (let index = 0; index < width; index++) {
        const key = `${alphabet[Math.floor(random() * alphabet.length)]}${Math.floor(random() * 50)}`;
        record[key] = { [`${key}x`]: index, a: [index, { z: 1, y: 2 }] };
      }
      expect(canonicalJson(record)).toBe(reference(record));
    }
  });

  it('differ by namespace, provider, model, route and every generation parameter', () => {
    const base = requestKey('chat', 'ns', 'p', 'm', body);
    const variants = [
      requestKey('chat', 'other', 'p', 'm', body),
      requestKey('chat', 'ns', 'q', 'm', body),
      requestKey('chat', 'ns', 'p', 'n', body),
      requestKey('embeddings', 'ns', 'p', 'm', body),
      requestKey('chat', 'ns', 'p', 'm', { ...body, temperature: 0.5 }),
      requestKey('chat', 'ns', 'p', 'm', { ...body, seed: 1 }),
      requestKey('chat', 'ns', 'p', 'm', { ...body, max_tokens: 10 }),
      requestKey('chat', 'ns', 'p', 'm', { ...body, n: 2 }),
      requestKey('chat', 'ns', 'p', 'm', { ...body, stream: true }),
      requestKey('chat', 'ns', 'p', 'm', { ...body, response_format: { type: 'json_object' } }),
      requestKey('chat', 'ns', 'p', 'm', { ...body, tool_choice: 'required' }),
      requestKey('chat', 'ns', 'p', 'm', { ...body, messages: [{ role: 'user', content: 'hi!' }] }),
      requestKey('chat', 'ns', 'p', 'm', { ...body, tools: [] }),
      requestKey('chat', 'ns', 'p', 'm', { ...body, some_future_parameter: 1 }),
    ];
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1);
  });

  it('ignore the stream options and end-user metadata, which do not change the answer', () => {
    const base = requestKey('chat', 'ns', 'p', 'm', body);
    expect(
      requestKey('chat', 'ns', 'p', 'm', { ...body, stream_options: { include_usage: true } }),
    ).toBe(base);
    expect(requestKey('chat', 'ns', 'p', 'm', { ...body, user: 'u-1', metadata: { a: '1' } })).toBe(
      base,
    );
  });
});

describe('cache directives', () => {
  it('reads no-cache, no-store, max-age and x-sluice-cache-ttl', () => {
    expect(parseCacheDirectives(undefined, undefined)).toEqual({
      lookup: true,
      store: true,
      maxAgeMs: undefined,
      ttlMs: undefined,
    });
    expect(parseCacheDirectives('no-cache', undefined)).toMatchObject({
      lookup: false,
      store: true,
    });
    expect(parseCacheDirectives('No-Store', undefined)).toMatchObject({
      lookup: false,
      store: false,
    });
    expect(parseCacheDirectives('private, max-age=60', '120')).toEqual({
      lookup: true,
      store: true,
      maxAgeMs: 60_000,
      ttlMs: 120_000,
    });
  });

  it('refuses malformed numbers with a 400', () => {
    expect(() => parseCacheDirectives('max-age=soon', undefined)).toThrow(
      /cache-control: expected a whole number/,
    );
    expect(() => parseCacheDirectives(undefined, '-5')).toThrow(/x-sluice-cache-ttl/);
  });
});

describe('SSE parser', () => {
  it('yields data payloads whatever the chunking, and flags the usage chunk', () => {
    const stream =
      'data: {"choices":[{"delta":{"content":"a"}}],"usage":null}\n\n' +
      ': keep-alive comment\n\n' +
      'data: {"choices":[],"usage":{"prompt_tokens":3}}\r\n\r\n' +
      'data: [DONE]\n\n';
    for (const size of [1, 3, 7, stream.length]) {
      const parser = new SseParser();
      const events = [];
      for (let index = 0; index < stream.length; index += size) {
        events.push(...parser.push(encoder.encode(stream.slice(index, index + size))));
      }
      events.push(...parser.end());
      expect(events).toEqual([
        { data: '{"choices":[{"delta":{"content":"a"}}],"usage":null}', isUsage: false },
        { data: '{"choices":[],"usage":{"prompt_tokens":3}}', isUsage: true },
        { data: '[DONE]', isUsage: false },
      ]);
    }
  });

  it('keeps multi-byte characters split across chunks, and a last event without its blank line', () => {
    const bytes = encoder.encode('data: {"c":"héllo ✓"}\n\ndata: tail');
    const parser = new SseParser();
    const events = [];
    for (const byte of bytes) events.push(...parser.push(Uint8Array.of(byte)));
    events.push(...parser.end());
    expect(events.map((event) => event.data)).toEqual(['{"c":"héllo ✓"}', 'tail']);
  });
});
