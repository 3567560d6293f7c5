import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway/index.js';

const FIXTURES = join(import.meta.dirname, 'fixtures/anthropic');
const UPSTREAM_KEY = 'sk-ant-test-key-0123456789';

interface Received {
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** Serves recorded Anthropic answers: the fixture named in the last user message as [fixture:NAME]. */
let server: Server;
let gateway: Gateway;
let client: OpenAI;
let gatewayUrl: string;
const received: Received[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    request.on('end', () => {
      const body = JSON.parse(text) as {
        messages: { content: { type: string; text?: string }[] }[];
      };
      received.push({ headers: request.headers, body });
      const last = JSON.stringify(body.messages.at(-1));
      const name = /\[fixture:([a-z-]+)\]/.exec(last)?.[1] ?? 'message-text';
      if (name === 'error-overloaded') {
        response.writeHead(529, { 'content-type': 'application/json' });
        response.end(readFileSync(join(FIXTURES, `${name}.json`)));
      } else if (name.startsWith('stream')) {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        // Send in uneven pieces, as a network would.
        const sse = readFileSync(join(FIXTURES, `${name}.sse`));
        for (let offset = 0; offset < sse.length; offset += 97)
          response.write(sse.subarray(offset, offset + 97));
        if (name === 'stream-cut') setTimeout(() => response.destroy(), 50);
        else response.end();
      } else {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(readFileSync(join(FIXTURES, `${name}.json`)));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  gateway = createGateway(
    {
      server: { logLevel: 'silent' },
      store: { sqlite: false },
      providers: [
        {
          name: 'anthropic',
          type: 'anthropic',
          baseUrl: `http://127.0.0.1:${port}/v1`,
          apiKey: UPSTREAM_KEY,
        },
      ],
      models: [{ name: 'claude-sonnet-4-5', provider: 'anthropic' }],
      cost: { ledger: ':memory:' },
      cache: { enabled: false },
    },
    { logger: false },
  );
  gatewayUrl = (await gateway.listen({ port: 0 })).url;
  client = new OpenAI({ baseURL: `${gatewayUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  await gateway?.close();
  await new Promise((resolve) => server?.close(resolve));
});

describe('Anthropic provider (recorded Messages answers, OpenAI client)', () => {
  it('maps a chat request to Messages and the answer back, with exact cache-aware cost', async () => {
    const { data, response } = await client.chat.completions
      .create({
        model: 'claude-sonnet-4-5',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'What is the capital of France? [fixture:message-text]' },
        ],
        temperature: 0.2,
        stop: 'END',
      })
      .withResponse();
    const sent = received.at(-1) as Received;
    expect(sent.headers['x-api-key']).toBe(UPSTREAM_KEY);
    expect(sent.headers['anthropic-version']).toBe('2023-06-01');
    expect(sent.headers.authorization).toBeUndefined();
    expect(sent.body).toEqual({
      model: 'claude-sonnet-4-5',
      system: 'Be brief.',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is the capital of France? [fixture:message-text]' },
          ],
        },
      ],
      max_tokens: 4096,
      temperature: 0.2,
      stop_sequences: ['END'],
    });
    expect(data.choices[0]).toMatchObject({
      finish_reason: 'stop',
      message: { role: 'assistant', content: 'Paris is the capital of France.' },
    });
    expect(data.usage).toMatchObject({
      prompt_tokens: 3100,
      completion_tokens: 50,
      prompt_tokens_details: { cached_tokens: 2000 },
    });
    // $3 input, $3.75 cache write, $0.30 cache read, $15 output per 1M tokens:
    // 100×3,000 + 1,000×3,750 + 2,000×300 + 50×15,000 = 5,400,000 nano-dollars.
    expect(response.headers.get('x-sluice-cost-usd')).toBe('0.005400000');
  });

  it('maps tools, tool calls, tool results and images both ways', async () => {
    const tools = [
      {
        type: 'function' as const,
        function: {
          name: 'get_weather',
          description: 'Weather for a place',
          parameters: {
            type: 'object',
            properties: { location: { type: 'string' } },
            required: ['location'],
          },
        },
      },
    ];
    const first = await client.chat.completions.create({
      model: 'claude-sonnet-4-5',
      messages: [
        {
          role: 'user',
          content: [
            {
              type: 'text',
              text: 'Weather where this photo was taken? [fixture:message-tool-use]',
            },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          ],
        },
      ],
      tools,
      tool_choice: 'required',
    });
    const sent = (received.at(-1) as Received).body;
    expect(sent.tools).toEqual([
      {
        name: 'get_weather',
        description: 'Weather for a place',
        input_schema: {
          type: 'object',
          properties: { location: { type: 'string' } },
          required: ['location'],
        },
      },
    ]);
    expect(sent.tool_choice).toEqual({ type: 'any' });
    expect((sent.messages as { content: unknown[] }[])[0]?.content[1]).toEqual({
      type: 'image',
      source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' },
    });
    const choice = first.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    const call = choice?.message.tool_calls?.[0];
    expect(call).toMatchObject({ id: 'toolu_01A09q90qw90lq917835lq9', type: 'function' });
    expect(call?.type === 'function' && JSON.parse(call.function.arguments)).toEqual({
      location: 'San Francisco, CA',
      unit: 'celsius',
    });

    await client.chat.completions.create({
      model: 'claude-sonnet-4-5',
      messages: [
        { role: 'user', content: 'Weather? [fixture:message-text]' },
        choice?.message as OpenAI.ChatCompletionMessageParam,
        { role: 'tool', tool_call_id: 'toolu_01A09q90qw90lq917835lq9', content: '15 degrees' },
      ],
      tools,
    });
    const followUp = (received.at(-1) as Received).body.messages as {
      role: string;
      content: Record<string, unknown>[];
    }[];
    expect(followUp.map((message) => message.role)).toEqual(['user', 'assistant', 'user']);
    expect(followUp[1]?.content).toEqual([
      { type: 'text', text: "I'll check the weather." },
      {
        type: 'tool_use',
        id: 'toolu_01A09q90qw90lq917835lq9',
        name: 'get_weather',
        input: { location: 'San Francisco, CA', unit: 'celsius' },
      },
    ]);
    expect(followUp[2]?.content).toEqual([
      { type: 'tool_result', tool_use_id: 'toolu_01A09q90qw90lq917835lq9', content: '15 degrees' },
    ]);
  });

  it('translates a Messages stream into chat completion chunks, with usage when asked', async () => {
    const stream = await client.chat.completions.create({
      model: 'claude-sonnet-4-5',
      messages: [{ role: 'user', content: 'Hi [fixture:stream-text]' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect((received.at(-1) as Received).body.stream).toBe(true);
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe(
      'Hello! How can I help?',
    );
    expect(chunks.find((chunk) => chunk.choices[0]?.finish_reason)?.choices[0]?.finish_reason).toBe(
      'stop',
    );
    expect(chunks.at(-1)?.usage).toMatchObject({ prompt_tokens: 25, completion_tokens: 15 });
  });

  it('streams tool calls as OpenAI tool_call deltas', async () => {
    const stream = await client.chat.completions.create({
      model: 'claude-sonnet-4-5',
      messages: [{ role: 'user', content: 'Weather? [fixture:stream-tool-use]' }],
      tools: [
        { type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } },
      ],
      stream: true,
    });
    let name = '';
    let argumentsText = '';
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      for (const call of chunk.choices[0]?.delta.tool_calls ?? []) {
        name += call.function?.name ?? '';
        argumentsText += call.function?.arguments ?? '';
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(name).toBe('get_weather');
    expect(JSON.parse(argumentsText)).toEqual({ location: 'San Francisco, CA' });
    expect(finish).toBe('tool_calls');
  });

  it('ends a cut stream with an error event, never [DONE]', async () => {
    const response = await fetch(`${gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({
        model: 'claude-sonnet-4-5',
        stream: true,
        messages: [{ role: 'user', content: '[fixture:stream-cut]' }],
      }),
    });
    const text = await response.text();
    expect(text).toContain('"content":""');
    expect(text).not.toContain('[DONE]');
    expect(text).toMatch(/"type":"upstream_error","code":"upstream_stream_cut"/);
  });

  it('passes an upstream error through with its status and message', async () => {
    await expect(
      client.chat.completions.create({
        model: 'claude-sonnet-4-5',
        messages: [{ role: 'user', content: '[fixture:error-overloaded]' }],
      }),
    ).rejects.toMatchObject({ status: 529 });
    const response = await fetch(`${gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({
        model: 'claude-sonnet-4-5',
        messages: [{ role: 'user', content: '[fixture:error-overloaded]' }],
      }),
    });
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(
      /Overloaded/,
    );
  });

  it('refuses what Anthropic cannot do with a 400 naming the field', async () => {
    await expect(
      client.chat.completions.create({
        model: 'claude-sonnet-4-5',
        n: 2,
        messages: [{ role: 'user', content: 'x' }],
      }),
    ).rejects.toMatchObject({ status: 400, param: 'n' });
    await expect(
      client.embeddings.create({ model: 'claude-sonnet-4-5', input: 'x' }),
    ).rejects.toMatchObject({
      status: 400,
    });
  });

  it('refuses tool call arguments nested deeper than the body may be with a 400, not a 500', async () => {
    const depth = 10_000;
    const argumentsText = `${'{"a":'.repeat(depth)}{}${'}'.repeat(depth)}`;
    const before = received.length;
    await expect(
      client.chat.completions.create({
        model: 'claude-sonnet-4-5',
        messages: [
          { role: 'user', content: 'x' },
          {
            role: 'assistant',
            tool_calls: [
              { id: 'call_1', type: 'function', function: { name: 'f', arguments: argumentsText } },
            ],
          },
          { role: 'tool', tool_call_id: 'call_1', content: 'done' },
        ],
      }),
    ).rejects.toMatchObject({
      status: 400,
      code: 'json_too_deep',
      param: 'messages.1.tool_calls.0.function.arguments',
    });
    expect(received.length).toBe(before);
  });
});
