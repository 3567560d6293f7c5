import { describe, expect, it } from 'vitest';
import { HttpError } from '../../src/gateway/errors.js';
import { parseChatBody, parseEmbeddingsBody } from '../../src/gateway/validation.js';

/** The 400 a body earns: its message and param. */
function refusal(parse: () => unknown): { message: string; param: string | null } {
  try {
    parse();
  } catch (error) {
    expect(error).toBeInstanceOf(HttpError);
    const body = (error as HttpError).toBody() as {
      error: { message: string; param: string | null };
    };
    return { message: body.error.message, param: body.error.param };
  }
  throw new Error('the body was accepted');
}

const chat = (fields: Record<string, unknown>) => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'hi' }],
  ...fields,
});

describe('chat bodies', () => {
  it('name the types a union expected when the value is none of them', () => {
    expect(
      refusal(() => parseChatBody(chat({ messages: [{ role: 'user', content: 1 }] }))),
    ).toEqual({
      message: 'messages.0.content: expected string, array or null, received number',
      param: 'messages.0.content',
    });
  });

  it('report the branch that got furthest, at its path', () => {
    expect(
      refusal(() => parseChatBody(chat({ messages: [{ role: 'user', content: [{}] }] }))),
    ).toMatchObject({ param: 'messages.0.content.0.type' });
  });

  it('refuse text and image parts without what they name, and pass other part types', () => {
    expect(
      refusal(() =>
        parseChatBody(chat({ messages: [{ role: 'user', content: [{ type: 'text' }] }] })),
      ),
    ).toEqual({
      message: 'messages.0.content.0.text: a text part needs a string text',
      param: 'messages.0.content.0.text',
    });
    expect(
      refusal(() =>
        parseChatBody(
          chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: 'x' }] }] }),
        ),
      ),
    ).toMatchObject({ param: 'messages.0.content.0.image_url' });
    const parts = [
      { type: 'text', text: 'What is in this picture?' },
      { type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: 'low' } },
      { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } },
    ];
    expect(
      parseChatBody(chat({ messages: [{ role: 'user', content: parts }] })).messages,
    ).toHaveLength(1);
  });

  it('require what each role needs, as OpenAI does, and pass a tool-using turn', () => {
    const messages = (...list: Record<string, unknown>[]) => chat({ messages: list });
    expect(refusal(() => parseChatBody(messages({ role: 'user' })))).toEqual({
      message: 'messages.0.content: a user message needs content (a string or an array of parts)',
      param: 'messages.0.content',
    });
    expect(refusal(() => parseChatBody(messages({ role: 'system', content: null })))).toMatchObject(
      { param: 'messages.0.content' },
    );
    expect(
      refusal(() =>
        parseChatBody(messages({ role: 'user', content: 'hi' }, { role: 'tool', content: '21' })),
      ),
    ).toEqual({
      message:
        'messages.1.tool_call_id: a tool message needs the tool_call_id of the call it answers',
      param: 'messages.1.tool_call_id',
    });
    expect(
      refusal(() => parseChatBody(messages({ role: 'assistant', content: null, tool_calls: [] }))),
    ).toMatchObject({ param: 'messages.0.content' });
    const turn = [
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'c1', type: 'function', function: { name: 'weather', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'c1', content: '{"celsius":21}' },
      { role: 'assistant', content: '', refusal: null },
      { role: 'assistant', refusal: 'I cannot help with that.' },
      { role: 'user', content: [{ type: 'text', text: 'Thanks' }] },
    ];
    expect(parseChatBody(chat({ messages: turn })).messages).toHaveLength(6);
  });

  it('refuse a function tool without its function, and pass other tool types', () => {
    expect(refusal(() => parseChatBody(chat({ tools: [{ type: 'function' }] })))).toEqual({
      message: 'tools.0.function: a function tool needs function: { name, parameters? }',
      param: 'tools.0.function',
    });
    expect(
      refusal(() => parseChatBody(chat({ tools: [{ type: 'function', function: { name: '' } }] }))),
    ).toMatchObject({ param: 'tools.0.function.name' });
    const tools = [
      { type: 'function', function: { name: 'search', parameters: { type: 'object' } } },
      { type: 'custom', custom: { name: 'grammar_tool' } },
    ];
    expect(parseChatBody(chat({ tools })).tools).toHaveLength(2);
  });
});

describe('embeddings bodies', () => {
  it('say what input may be', () => {
    expect(refusal(() => parseEmbeddingsBody({ model: 'e', input: 5 }))).toEqual({
      message: 'input: expected string or array, received number',
      param: 'input',
    });
    expect(refusal(() => parseEmbeddingsBody({ model: 'e', input: [] }))).toMatchObject({
      param: 'input',
    });
  });
});
