/**
 * Deterministic answers: the same request always gets the same text, tool call, usage and
 * embedding, derived from a hash of the request, so tests and benchmarks are reproducible and a
 * cache in front of the mock sees stable bodies.
 */
import { createRandom, type Random } from '../shared/random.js';
import { HASH_START, hashText, mixHash, randomBelow } from './random.js';
import type { ChatMessage, ChatRequest, ToolFunction, ToolParameter } from './requests.js';

/** Longest text answer, in words, whatever `max_tokens` says: bounds the work per request. */
export const MAX_ANSWER_WORDS = 8_192;
/** Shortest natural answer, in words (shorter only when `max_tokens` cuts it). */
const MIN_ANSWER_WORDS = 8;
/** Characters of the last user message echoed at the start of an answer. */
const ECHO_CHARACTERS = 24;

const VOCABULARY = (
  'the a of to and in that it with for as on by from at this which one more most each other ' +
  'river light valley stone garden window signal network cache answer model token request ' +
  'quiet bright careful simple steady rapid gentle northern hidden shared stable clear early ' +
  'carries holds returns builds keeps finds shows moves reads writes measures follows guides ' +
  'across through between under over beyond toward around within along after before ' +
  'system engine record value memory budget latency stream buffer packet router layer ' +
  'morning evening season harbor bridge mountain forest meadow island city library archive ' +
  'because while although when where so yet then also often rarely always usually never ' +
  'ready useful small large final first second local remote common rare fresh'
).split(' ');

const CAPITALIZED = VOCABULARY.map((word) => word.charAt(0).toUpperCase() + word.slice(1));

/** A function call the mock decided to make. */
export interface ToolCall {
  /** `call_` and 24 hexadecimal digits, derived from the request. */
  id: string;
  name: string;
  /** The arguments as a JSON string, as OpenAI sends them. */
  arguments: string;
}

/** One choice of an answer: text, or a call to one of the request's tools. */
export type ChoiceAnswer =
  | {
      kind: 'text';
      /** The answer split into streamed pieces, one word each (with its trailing space). */
      tokens: string[];
      content: string;
      /** `length` when the request's `max_tokens` cut the natural answer short. */
      finishReason: 'stop' | 'length';
    }
  | { kind: 'tool-call'; toolCall: ToolCall; completionTokens: number };

/** Token counts in OpenAI's `usage` shape. */
export interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
  completion_tokens_details: { reasoning_tokens: number };
}

/** Everything a chat completion (or its stream) is rendered from. */
export interface ChatAnswer {
  /** `chatcmpl-` and 24 hexadecimal digits, derived from the request. */
  id: string;
  /** Unix seconds, derived from the request so identical requests get identical bodies. */
  created: number;
  model: string;
  choices: ChoiceAnswer[];
  usage: ChatUsage;
}

function hex(value: number): string {
  return value.toString(16).padStart(8, '0');
}

/** Hash of the model and every message's role and text. */
function hashChat(model: string, messages: readonly ChatMessage[]): number {
  let hash = hashText(model, HASH_START);
  for (const message of messages) {
    hash = hashText(message.text, hashText(message.role, hashText('\u0000', hash)));
  }
  return hash;
}

/** Approximate prompt tokens: ceil(characters / 4) of all contents, plus 4 per message. */
export function countPromptTokens(messages: readonly ChatMessage[]): number {
  let characters = 0;
  for (const message of messages) characters += message.text.length;
  return Math.ceil(characters / 4) + 4 * messages.length;
}

/** A short, single-line digest of a text: its first characters, with `…` when it goes on. */
function digest(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= ECHO_CHARACTERS ? line : `${line.slice(0, ECHO_CHARACTERS).trimEnd()}…`;
}

function lastUserText(messages: readonly ChatMessage[]): string {
  for (let index = messages.length - 1; index >= 0; index--) {
    const message = messages[index];
    if (message?.role === 'user') return message.text;
  }
  return '';
}

/** `Answer to 'what is the capital of Fra…':` as words, or none when there is nothing to echo. */
function echoWords(question: string): string[] {
  return question === '' ? [] : ['Answer', 'to', ...`'${question}':`.split(' ')];
}

/**
 * A text answer: the echo, then sentences of vocabulary words. Its natural length is drawn
 * between 8 words and `cap`; `max_tokens` below 8 cuts it (`finish_reason: 'length'`).
 */
function textAnswer(seed: number, echo: readonly string[], cap: number): ChoiceAnswer {
  const random = createRandom(seed);
  const natural = MIN_ANSWER_WORDS + randomBelow(random, Math.max(cap, MIN_ANSWER_WORDS) - 7);
  const length = Math.min(cap, natural);
  const tokens: string[] = new Array(length);
  let sentenceLeft = 0;
  for (let index = 0; index < length; index++) {
    const last = index === length - 1;
    let word: string;
    if (index < echo.length) {
      word = echo[index] ?? '';
    } else {
      const pick = randomBelow(random, VOCABULARY.length);
      if (sentenceLeft === 0) sentenceLeft = 6 + randomBelow(random, 9);
      const capital = index === echo.length || tokens[index - 1]?.endsWith('. ');
      word = (capital ? CAPITALIZED[pick] : VOCABULARY[pick]) ?? '';
      sentenceLeft--;
      if (sentenceLeft === 0 || last) word += '.';
    }
    tokens[index] = last ? word : `${word} `;
  }
  return {
    kind: 'text',
    tokens,
    content: tokens.join(''),
    finishReason: natural > cap ? 'length' : 'stop',
  };
}

function argumentValue(
  parameter: ToolParameter,
  random: Random,
  question: string | undefined,
): unknown {
  if (parameter.choices.length > 0) {
    return parameter.choices[randomBelow(random, parameter.choices.length)];
  }
  switch (parameter.type) {
    case 'integer':
      return randomBelow(random, 100);
    case 'number':
      return randomBelow(random, 10_000) / 100;
    case 'boolean':
      return random() < 0.5;
    case 'array':
      return [VOCABULARY[randomBelow(random, VOCABULARY.length)]];
    case 'object':
      return {};
    default:
      return question ?? VOCABULARY[randomBelow(random, VOCABULARY.length)];
  }
}

/** A call to `tool`: the first string argument echoes the question, the others are drawn. */
function toolCallAnswer(seed: number, tool: ToolFunction, question: string): ChoiceAnswer {
  const random = createRandom(seed);
  const values: Record<string, unknown> = {};
  let echo: string | undefined = question === '' ? undefined : question.replace(/…$/, '');
  for (const parameter of tool.parameters) {
    values[parameter.name] = argumentValue(parameter, random, echo);
    if (parameter.type === 'string' && parameter.choices.length === 0) echo = undefined;
  }
  const id = `call_${hex(mixHash(seed, 1))}${hex(mixHash(seed, 2))}${hex(mixHash(seed, 3))}`;
  const toolArguments = JSON.stringify(values);
  return {
    kind: 'tool-call',
    toolCall: { id, name: tool.name, arguments: toolArguments },
    completionTokens: Math.ceil((tool.name.length + toolArguments.length) / 4),
  };
}

/** The tool this request's answer calls, or undefined for a text answer. */
function chosenTool(request: ChatRequest): ToolFunction | undefined {
  const { tools, toolChoice } = request;
  if (tools.length === 0 || toolChoice === 'none') return undefined;
  if (typeof toolChoice === 'object') return tools.find((tool) => tool.name === toolChoice.name);
  const lastRole = request.messages[request.messages.length - 1]?.role;
  return toolChoice === 'required' || lastRole === 'user' ? tools[0] : undefined;
}

/**
 * Answers a chat request. Text answers are at most `max_completion_tokens`, `max_tokens` or
 * `defaultMaxWords` words (and at most {@link MAX_ANSWER_WORDS}); choice 0 of an `n > 1`
 * request equals the `n = 1` answer.
 */
export function answerChat(request: ChatRequest, defaultMaxWords: number): ChatAnswer {
  const hash = hashChat(request.model, request.messages);
  const question = digest(lastUserText(request.messages));
  const tool = chosenTool(request);
  const echo = echoWords(question);
  const cap = Math.min(request.maxTokens ?? defaultMaxWords, MAX_ANSWER_WORDS);
  const choices: ChoiceAnswer[] = [];
  let completionTokens = 0;
  for (let index = 0; index < request.choiceCount; index++) {
    const seed = index === 0 ? hash : mixHash(hash, index);
    const choice =
      tool === undefined ? textAnswer(seed, echo, cap) : toolCallAnswer(seed, tool, question);
    completionTokens += choice.kind === 'text' ? choice.tokens.length : choice.completionTokens;
    choices.push(choice);
  }
  const promptTokens = countPromptTokens(request.messages);
  return {
    id: `chatcmpl-${hex(hash)}${hex(mixHash(hash, 101))}${hex(mixHash(hash, 102))}`,
    created: 1_700_000_000 + (hash % 31_536_000),
    model: request.model,
    choices,
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    },
  };
}

/**
 * A deterministic unit-length vector for a text (or token array key), rounded to float32 so
 * the `float` and `base64` encodings carry exactly the same numbers.
 */
export function embeddingVector(key: string, dimensions: number): number[] {
  const random = createRandom(hashText(key));
  const vector: number[] = new Array(dimensions);
  let squares = 0;
  for (let index = 0; index < dimensions; index++) {
    const value = random() + random() - 1;
    vector[index] = value;
    squares += value * value;
  }
  const norm = Math.sqrt(squares);
  for (let index = 0; index < dimensions; index++) {
    vector[index] = norm === 0 ? (index === 0 ? 1 : 0) : Math.fround((vector[index] ?? 0) / norm);
  }
  return vector;
}
