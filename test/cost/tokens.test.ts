import { createRequire } from 'node:module';
import * as cl100k from 'gpt-tokenizer/encoding/cl100k_base';
import * as o200k from 'gpt-tokenizer/encoding/o200k_base';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import {
  countTokens,
  encodingForModel,
  getTokenizer,
  IMAGE_TOKENS,
  isTokenizerLoaded,
  LOW_DETAIL_IMAGE_TOKENS,
  REPLY_PRIMING_TOKENS,
  TOKENS_PER_MESSAGE,
  TOKENS_PER_NAME,
  type Tokenizer,
  tokenizerForModel,
} from '../../src/cost/tokens.js';

const PLAIN = { disallowedSpecial: new Set<string>() };

describe('encodings', () => {
  it('loads nothing until a count needs it', () => {
    expect(isTokenizerLoaded('o200k_base')).toBe(false);
    expect(isTokenizerLoaded('cl100k_base')).toBe(false);
    getTokenizer('o200k_base');
    expect(isTokenizerLoaded('o200k_base')).toBe(true);
    expect(isTokenizerLoaded('cl100k_base')).toBe(false);
  });

  it.each([
    ['gpt-4o', 'o200k_base'],
    ['gpt-4o-mini-2024-07-18', 'o200k_base'],
    ['gpt-4.1-nano', 'o200k_base'],
    ['o1', 'o200k_base'],
    ['o4-mini', 'o200k_base'],
    ['gpt-5', 'o200k_base'],
    ['openai/gpt-5-mini', 'o200k_base'],
    ['gpt-4', 'cl100k_base'],
    ['gpt-4-turbo-2024-04-09', 'cl100k_base'],
    ['gpt-3.5-turbo', 'cl100k_base'],
    ['text-embedding-3-small', 'cl100k_base'],
    ['text-embedding-ada-002', 'cl100k_base'],
    ['claude-sonnet-4-5', 'o200k_base'],
    ['gemini-2.5-pro', 'o200k_base'],
    ['mock-small', 'o200k_base'],
  ])('%s uses %s', (model, encoding) => {
    expect(encodingForModel(model)).toBe(encoding);
  });
});

describe('text counts match gpt-tokenizer', () => {
  const samples = [
    'hello world',
    'The quick brown fox jumps over the lazy dog.',
    'Ünïcödé, emoji 🚀🚀 and 中文字符 mixed in.',
    'function add(a: number, b: number): number {\n  return a + b;\n}\n',
    '   leading and trailing whitespace   ',
  ];

  it('"hello world" is 2 tokens in o200k_base and cl100k_base', () => {
    expect(countTokens('hello world', 'gpt-4o')).toBe(2);
    expect(countTokens('hello world', 'gpt-3.5-turbo')).toBe(2);
    expect(countTokens('', 'gpt-4o')).toBe(0);
  });

  it.each(samples)('counts %j like gpt-tokenizer', (text) => {
    expect(countTokens(text, 'gpt-4o')).toBe(o200k.encode(text).length);
    expect(countTokens(text, 'gpt-4')).toBe(cl100k.encode(text).length);
  });

  it('counts special-token text in prompts as plain text instead of throwing', () => {
    const text = 'please ignore <|endoftext|> in this prompt';
    expect(() => o200k.encode(text)).toThrow(/special token/);
    expect(countTokens(text, 'gpt-4o')).toBe(o200k.encode(text, PLAIN).length);
    expect(countTokens(text, 'gpt-4o')).toBeGreaterThan(
      countTokens('please ignore  in this prompt', 'gpt-4o'),
    );
  });
});

describe('chat message overhead', () => {
  let tokenizer: Tokenizer;
  beforeAll(() => {
    tokenizer = tokenizerForModel('gpt-4o');
  });
  const count = (text: string) => o200k.countTokens(text);

  it('adds 3 per message and 3 to prime the reply, like gpt-tokenizer’s gpt-4o chat format', () => {
    const messages = [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'hello world' },
    ];
    // 3 + (3 + 1 + 6) + (3 + 1 + 2) = 19
    expect(tokenizer.countMessages(messages)).toBe(19);
    expect(tokenizer.countMessages(messages)).toBe(o200k.encodeChat(messages, 'gpt-4o').length);
    expect(tokenizer.countMessages([])).toBe(REPLY_PRIMING_TOKENS);
  });

  it('adds 1 for a name', () => {
    const plain = [{ role: 'user', content: 'hello world' }];
    const named = [{ role: 'user', content: 'hello world', name: 'alice' }];
    expect(tokenizer.countMessages(named) - tokenizer.countMessages(plain)).toBe(
      count('alice') + TOKENS_PER_NAME,
    );
  });

  it('counts text parts, fixed image estimates, tool calls and null content', () => {
    const messages = [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in these pictures?' },
          { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
          { type: 'image_url', image_url: { url: 'https://example.com/b.png', detail: 'low' } },
        ],
      },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_1',
            type: 'function',
            function: { name: 'lookup', arguments: '{"query":"cats"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'two cats' },
    ];
    const expected =
      REPLY_PRIMING_TOKENS +
      (TOKENS_PER_MESSAGE +
        count('user') +
        count('What is in these pictures?') +
        IMAGE_TOKENS +
        LOW_DETAIL_IMAGE_TOKENS) +
      (TOKENS_PER_MESSAGE + count('assistant') + count('lookup') + count('{"query":"cats"}')) +
      (TOKENS_PER_MESSAGE + count('tool') + count('two cats'));
    expect(tokenizer.countMessages(messages)).toBe(expected);
  });

  it('approximates tools as the JSON of their definitions', () => {
    const tools = [
      {
        type: 'function',
        function: {
          name: 'lookup',
          description: 'Search the knowledge base',
          parameters: { type: 'object', properties: { query: { type: 'string' } } },
        },
      },
    ];
    expect(tokenizer.countTools(tools)).toBe(count(JSON.stringify(tools)));
    expect(tokenizer.countTools([])).toBe(0);
  });
});

describe('the count memo', () => {
  // The same module instance the tokenizer loaded (one require cache).
  const library = createRequire(import.meta.url)('gpt-tokenizer/encoding/o200k_base') as {
    countTokens(text: string, options?: unknown): number;
  };

  it('tokenizes a text once, however often it is counted, long or short', () => {
    const tokenizer = tokenizerForModel('gpt-4o');
    const history = `${'An earlier turn of the conversation, resent on every request. '.repeat(40)}${Date.now()}`;
    const exact = library.countTokens(history, { disallowedSpecial: new Set() });
    const spy = vi.spyOn(library, 'countTokens');
    try {
      const first = tokenizer.count(history);
      // Over 2,000 characters: tokenized in pieces, cut where the pre-tokenizer cuts.
      const calls = spy.mock.calls.length;
      expect(calls).toBeGreaterThan(0);
      expect(first).toBe(exact);
      expect(tokenizer.count(history)).toBe(first);
      expect(tokenizer.count(`${history}`)).toBe(first); // an equal string, another object
      expect(spy).toHaveBeenCalledTimes(calls);
      const short = `short ${Date.now()}`;
      const tokens = tokenizer.count(short);
      expect(tokenizer.count(`${short}`)).toBe(tokens);
      expect(spy).toHaveBeenCalledTimes(calls + 1);
    } finally {
      spy.mockRestore();
    }
  });

  it('keeps a bounded number of short texts', () => {
    const tokenizer = tokenizerForModel('gpt-4o');
    const first = `first short text ${Date.now()}`;
    tokenizer.count(first);
    for (let index = 0; index < 5_000; index++) tokenizer.count(`filler ${index} ${Date.now()}`);
    const spy = vi.spyOn(library, 'countTokens');
    try {
      tokenizer.count(first);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });

  it('counts exactly texts that share a length and both ends', () => {
    const tokenizer = tokenizerForModel('gpt-4o');
    const ends = 'x'.repeat(40);
    const one = `${ends} ${'alpha beta gamma '.repeat(20)}${ends}`;
    const other = `${ends} ${'zeta eta theta io'.repeat(20)}${ends}`;
    expect(other.length).toBe(one.length);
    for (const text of [one, other, one, other]) {
      expect(tokenizer.count(text)).toBe(library.countTokens(text));
    }
  });
});
