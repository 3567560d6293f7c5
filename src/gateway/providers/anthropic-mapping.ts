import { createHash } from 'node:crypto';
import { exceedsJsonDepth, MAX_JSON_DEPTH } from '../../shared/json-depth.js';
import { invalidRequest, jsonTooDeep } from '../errors.js';

/*
 * OpenAI chat completions <-> Anthropic Messages, as pure functions: requests one way,
 * answers and stream events the other. Field by field:
 *   system / developer messages      -> top-level `system`
 *   user content parts (text, image) -> text / image blocks (data URLs as base64 sources)
 *   assistant `tool_calls`           -> `tool_use` blocks; `tool` messages -> `tool_result`
 *   tools / tool_choice              -> `tools` with `input_schema` / auto, any, none, tool
 *   max_tokens (required upstream)   -> request's max_completion_tokens / max_tokens / default
 *   stop                             -> stop_sequences
 *   stop_reason                      -> finish_reason (end_turn/stop_sequence: stop,
 *                                       max_tokens: length, tool_use: tool_calls)
 *   usage                            -> prompt_tokens (input + cache reads + cache writes),
 *                                       prompt_tokens_details.cached_tokens, and the
 *                                       Anthropic cache fields kept for exact pricing
 */

/** Anthropic requires max_tokens; used when the request sets none. */
export const DEFAULT_ANTHROPIC_MAX_TOKENS = 4_096;

type Json = Record<string, unknown>;

interface AnthropicBlock {
  type: string;
  [field: string]: unknown;
}

interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: AnthropicBlock[];
}

export interface AnthropicUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

const FINISH_REASONS: Record<string, string> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
  pause_turn: 'stop',
  refusal: 'content_filter',
};

/** The Anthropic Messages body for an (already validated) OpenAI chat completion body. */
export function toAnthropicRequest(body: Json, upstreamModel: string): Json {
  if (typeof body.n === 'number' && body.n > 1) {
    throw invalidRequest('n > 1 is not supported by Anthropic models', 'n');
  }
  const system: string[] = [];
  const messages: AnthropicMessage[] = [];
  const push = (role: 'user' | 'assistant', blocks: AnthropicBlock[]) => {
    if (blocks.length === 0) return;
    const last = messages.at(-1);
    // Anthropic wants user and assistant turns to alternate: merge consecutive ones.
    if (last !== undefined && last.role === role) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  };
  const list = body.messages as Json[];
  for (const [index, message] of list.entries()) {
    const role = message.role as string;
    if (role === 'system' || role === 'developer') {
      system.push(textOf(message.content, `messages.${index}.content`));
    } else if (role === 'user') {
      push('user', contentBlocks(message.content, `messages.${index}.content`));
    } else if (role === 'assistant') {
      const blocks =
        message.content === null || message.content === undefined
          ? []
          : contentBlocks(message.content, `messages.${index}.content`);
      const toolCalls = (message.tool_calls ?? []) as Json[];
      for (const [callIndex, call] of toolCalls.entries()) {
        const fn = (call.function ?? {}) as Json;
        blocks.push({
          type: 'tool_use',
          id: String(call.id ?? `call_${index}_${callIndex}`),
          name: String(fn.name ?? ''),
          input: parseArguments(
            fn.arguments,
            `messages.${index}.tool_calls.${callIndex}.function.arguments`,
          ),
        });
      }
      push('assistant', blocks);
    } else if (role === 'tool' || role === 'function') {
      push('user', [
        {
          type: 'tool_result',
          tool_use_id: String(message.tool_call_id ?? message.name ?? ''),
          content: textOf(message.content, `messages.${index}.content`),
        },
      ]);
    }
  }
  if (messages.length === 0) {
    throw invalidRequest(
      'Anthropic models need at least one user or assistant message',
      'messages',
    );
  }
  const request: Json = {
    model: upstreamModel,
    messages,
    max_tokens:
      (body.max_completion_tokens as number | null | undefined) ??
      (body.max_tokens as number | null | undefined) ??
      DEFAULT_ANTHROPIC_MAX_TOKENS,
  };
  if (system.length > 0) request.system = system.join('\n\n');
  if (typeof body.temperature === 'number') request.temperature = Math.min(1, body.temperature);
  if (typeof body.top_p === 'number') request.top_p = body.top_p;
  if (typeof body.stop === 'string') request.stop_sequences = [body.stop];
  else if (Array.isArray(body.stop)) request.stop_sequences = body.stop;
  if (body.stream === true) request.stream = true;
  if (typeof body.user === 'string') request.metadata = { user_id: body.user };
  const tools = body.tools as Json[] | undefined;
  if (tools !== undefined && tools.length > 0) {
    request.tools = tools.map((tool) => {
      const fn = (tool.function ?? {}) as Json;
      return {
        name: fn.name,
        ...(typeof fn.description === 'string' ? { description: fn.description } : {}),
        input_schema: (fn.parameters as Json | undefined) ?? { type: 'object', properties: {} },
      };
    });
  }
  const choice = body.tool_choice;
  if (choice === 'auto') request.tool_choice = { type: 'auto' };
  else if (choice === 'required') request.tool_choice = { type: 'any' };
  else if (choice === 'none') request.tool_choice = { type: 'none' };
  else if (choice !== null && typeof choice === 'object') {
    const name = ((choice as Json).function as Json | undefined)?.name;
    if (typeof name === 'string') request.tool_choice = { type: 'tool', name };
  }
  return request;
}

/** The OpenAI chat completion for an Anthropic Messages answer. */
export function fromAnthropicResponse(message: Json, requestedModel: string): Json {
  let text = '';
  const toolCalls: Json[] = [];
  for (const block of (message.content ?? []) as AnthropicBlock[]) {
    if (block.type === 'text') text += String(block.text ?? '');
    else if (block.type === 'tool_use') {
      toolCalls.push({
        id: block.id,
        type: 'function',
        function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) },
      });
    }
  }
  const assistant: Json = {
    role: 'assistant',
    content: text === '' && toolCalls.length > 0 ? null : text,
  };
  if (toolCalls.length > 0) assistant.tool_calls = toolCalls;
  return {
    id: chatId(message.id),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1_000),
    model: (message.model as string | undefined) ?? requestedModel,
    choices: [
      {
        index: 0,
        message: assistant,
        finish_reason: FINISH_REASONS[String(message.stop_reason)] ?? 'stop',
      },
    ],
    usage: toOpenAIUsage((message.usage ?? {}) as AnthropicUsage),
  };
}

export function toOpenAIUsage(usage: AnthropicUsage): Json {
  const input = usage.input_tokens ?? 0;
  const read = usage.cache_read_input_tokens ?? 0;
  const write = usage.cache_creation_input_tokens ?? 0;
  const output = usage.output_tokens ?? 0;
  return {
    prompt_tokens: input + read + write,
    completion_tokens: output,
    total_tokens: input + read + write + output,
    prompt_tokens_details: { cached_tokens: read },
    cache_read_input_tokens: read,
    cache_creation_input_tokens: write,
  };
}

/** An Anthropic error body as OpenAI's shape. */
export function fromAnthropicError(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: { type?: string; message?: string } };
    if (parsed.error?.message !== undefined) {
      return JSON.stringify({
        error: {
          message: parsed.error.message,
          type: parsed.error.type ?? 'api_error',
          code: parsed.error.type ?? null,
          param: null,
        },
      });
    }
  } catch {
    // Not JSON: passed on as is; the gateway summarises it.
  }
  return text;
}

/**
 * Turns Anthropic stream events into OpenAI chunk payloads, one event at a time. `[DONE]`
 * is produced only after `message_stop`: a stream that ends without it stays cut.
 */
export class StreamTranslator {
  readonly #model: string;
  #id = 'chatcmpl-anthropic';
  #created = Math.floor(Date.now() / 1_000);
  #usage: AnthropicUsage = {};
  readonly #toolIndex = new Map<number, number>();
  #finishReason: string | undefined;

  constructor(requestedModel: string) {
    this.#model = requestedModel;
  }

  /** OpenAI `data:` payloads for one Anthropic event's JSON. */
  translate(data: string): string[] {
    let event: Json;
    try {
      event = JSON.parse(data) as Json;
    } catch {
      return [];
    }
    switch (event.type) {
      case 'message_start': {
        const message = (event.message ?? {}) as Json;
        this.#id = chatId(message.id);
        this.#usage = { ...((message.usage ?? {}) as AnthropicUsage) };
        return [this.#chunk({ role: 'assistant', content: '' }, null)];
      }
      case 'content_block_start': {
        const block = (event.content_block ?? {}) as AnthropicBlock;
        if (block.type !== 'tool_use') return [];
        const toolIndex = this.#toolIndex.size;
        this.#toolIndex.set(Number(event.index), toolIndex);
        return [
          this.#chunk(
            {
              tool_calls: [
                {
                  index: toolIndex,
                  id: block.id,
                  type: 'function',
                  function: { name: block.name, arguments: '' },
                },
              ],
            },
            null,
          ),
        ];
      }
      case 'content_block_delta': {
        const delta = (event.delta ?? {}) as Json;
        if (delta.type === 'text_delta')
          return [this.#chunk({ content: String(delta.text ?? '') }, null)];
        if (delta.type === 'input_json_delta') {
          const toolIndex = this.#toolIndex.get(Number(event.index)) ?? 0;
          return [
            this.#chunk(
              {
                tool_calls: [
                  { index: toolIndex, function: { arguments: String(delta.partial_json ?? '') } },
                ],
              },
              null,
            ),
          ];
        }
        return [];
      }
      case 'message_delta': {
        const delta = (event.delta ?? {}) as Json;
        const usage = (event.usage ?? {}) as AnthropicUsage;
        this.#usage = { ...this.#usage, ...usage };
        this.#finishReason = FINISH_REASONS[String(delta.stop_reason)] ?? 'stop';
        return [this.#chunk({}, this.#finishReason)];
      }
      case 'message_stop':
        return [
          JSON.stringify({
            id: this.#id,
            object: 'chat.completion.chunk',
            created: this.#created,
            model: this.#model,
            choices: [],
            usage: toOpenAIUsage(this.#usage),
          }),
          '[DONE]',
        ];
      case 'error': {
        const error = (event.error ?? {}) as Json;
        return [
          JSON.stringify({
            error: {
              message: String(error.message ?? 'upstream error'),
              type: String(error.type ?? 'api_error'),
              code: null,
              param: null,
            },
          }),
        ];
      }
      default:
        return [];
    }
  }

  #chunk(delta: Json, finishReason: string | null): string {
    return JSON.stringify({
      id: this.#id,
      object: 'chat.completion.chunk',
      created: this.#created,
      model: this.#model,
      choices: [{ index: 0, delta, finish_reason: finishReason }],
    });
  }
}

function chatId(id: unknown): string {
  return typeof id === 'string'
    ? `chatcmpl-${id}`
    : `chatcmpl-${createHash('sha1').update(String(Date.now())).digest('hex').slice(0, 24)}`;
}

function textOf(content: unknown, param: string): string {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return '';
  if (Array.isArray(content)) {
    return content
      .map((part: Json) => {
        if (part.type === 'text') return String(part.text ?? '');
        throw invalidRequest(`${param}: only text parts are allowed here`, param);
      })
      .join('');
  }
  throw invalidRequest(`${param}: expected a string or an array of parts`, param);
}

function contentBlocks(content: unknown, param: string): AnthropicBlock[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  if (!Array.isArray(content))
    throw invalidRequest(`${param}: expected a string or an array of parts`, param);
  return content.map((part: Json, index) => {
    if (part.type === 'text') return { type: 'text', text: String(part.text ?? '') };
    if (part.type === 'image_url') {
      const url = String(((part.image_url ?? {}) as Json).url ?? '');
      const data = /^data:(image\/[a-z+.-]+);base64,(.+)$/i.exec(url);
      if (data !== null)
        return { type: 'image', source: { type: 'base64', media_type: data[1], data: data[2] } };
      if (/^https?:\/\//.test(url)) return { type: 'image', source: { type: 'url', url } };
      throw invalidRequest(
        `${param}.${index}.image_url.url: expected an http(s) or base64 data URL`,
        `${param}.${index}`,
      );
    }
    throw invalidRequest(
      `${param}.${index}: part type '${String(part.type)}' is not supported by Anthropic models`,
      `${param}.${index}`,
    );
  });
}

function parseArguments(text: unknown, param: string): unknown {
  if (typeof text !== 'string' || text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalidRequest(`${param}: tool call arguments must be JSON`, param);
  }
  // The arguments become part of the body sent on: as deep as the body itself may be.
  if (exceedsJsonDepth(parsed, MAX_JSON_DEPTH)) throw jsonTooDeep(MAX_JSON_DEPTH, param);
  return parsed;
}
