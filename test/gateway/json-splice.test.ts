import { describe, expect, it } from 'vitest';
import { spliceMembers } from '../../src/gateway/json-splice.js';

const splice = (text: string, values: Record<string, string>): string | undefined =>
  spliceMembers(Buffer.from(text), values)?.toString('utf8');

describe('spliceMembers', () => {
  it('replaces a top-level member where it stands and keeps every other byte', () => {
    const text =
      '{ "messages": [{"role":"user","content":"say \\"model\\": x"}],\n "model" : "auto", "n":1 }';
    const out = splice(text, { model: '"gpt-4o-mini"' });
    expect(out).toBe(
      '{ "messages": [{"role":"user","content":"say \\"model\\": x"}],\n "model" : "gpt-4o-mini", "n":1 }',
    );
  });

  it('adds a member that is absent, and replaces nested-looking keys only at the top level', () => {
    const text = '{"model":"a","tools":[{"model":{"model":1}}],"stream":true}';
    const out = splice(text, { model: '"b"', stream_options: '{"include_usage":true}' });
    expect(out).toBe(
      '{"model":"b","tools":[{"model":{"model":1}}],"stream":true,"stream_options":{"include_usage":true}}',
    );
    expect(splice('{}', { model: '"b"' })).toBe('{"model":"b"}');
  });

  it('gives the same object as serialising the parsed body again', () => {
    const body = {
      model: 'auto',
      stream: true,
      stream_options: { include_usage: false, other: [1, 2, { a: '\\"}]' }] },
      messages: [{ role: 'user', content: 'x\\\\"y\u2603\n{[' }],
      temperature: -1.5e-3,
      seed: null,
      logprobs: false,
    };
    const out = splice(JSON.stringify(body, null, 2), {
      model: '"m"',
      stream_options: JSON.stringify({ ...body.stream_options, include_usage: true }),
    });
    expect(JSON.parse(out ?? '')).toEqual({
      ...body,
      model: 'm',
      stream_options: { ...body.stream_options, include_usage: true },
    });
  });

  it('declines bodies it cannot rewrite exactly: repeated or escaped keys, not an object', () => {
    expect(splice('{"model":"a","model":"b"}', { model: '"c"' })).toBeUndefined();
    expect(splice('{"\\u006dodel":"a"}', { model: '"c"' })).toBeUndefined();
    expect(splice('["model"]', { model: '"c"' })).toBeUndefined();
    expect(splice('{"model":"a"} x', { model: '"c"' })).toBeUndefined();
  });
});
