/**
 * Turns untrusted JSON bodies into the plain objects the answer generator works on. Checks are
 * minimal (what a test double needs to answer sensibly and never crash), not OpenAI's full
 * schema.
 */

/** Most choices one request may ask for (`n`), as OpenAI allows. */
export const MAX_CHOICES = 128;
/** Most embedding inputs in one request, as OpenAI allows. */
export const MAX_EMBEDDING_INPUTS = 2_048;
/** Largest embedding dimension one request may ask for. */
export const MAX_EMBEDDING_DIMENSIONS = 8_192;

/** Why a body was refused: shown to the client as an `invalid_request_error`. */
export class InvalidRequest {
  constructor(
    readonly message: string,
    readonly param: string | null,
  ) {}
}

/** One chat message reduced to what the mock reads: its role and its text. */
export interface ChatMessage {
  role: string;
  /** The text of `content`: a string, or the `text` parts of a content array joined. */
  text: string;
}

/** One top-level property of a tool's JSON-schema `parameters`. */
export interface ToolParameter {
  name: string;
  /** The JSON-schema type (`string`, `number`, `integer`, `boolean`, ...), `string` if absent. */
  type: string;
  /** The schema's `enum` values, if any: the mock picks one of them. */
  choices: ReadonlyArray<string | number | boolean>;
}

/** A function tool the request offers. */
export interface ToolFunction {
  name: string;
  parameters: ToolParameter[];
}

/** `tool_choice`, normalised: a named function forces that tool. */
export type ToolChoice = 'auto' | 'none' | 'required' | { name: string };

/** A checked `POST /v1/chat/completions` body. */
export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  stream: boolean;
  /** `stream_options.include_usage`: a final chunk carries `usage`. */
  includeUsage: boolean;
  /** `n`: how many choices to answer with. */
  choiceCount: number;
  /** `max_completion_tokens`, else `max_tokens`; undefined when neither is set. */
  maxTokens: number | undefined;
  tools: ToolFunction[];
  toolChoice: ToolChoice;
}

/** One embedding input: a text, or a token array (keyed by its token ids). */
export interface EmbeddingInput {
  /** What the vector is derived from. */
  key: string;
  /** Approximate token count: ceil(characters / 4) for text, the length of a token array. */
  tokens: number;
}

/** A checked `POST /v1/embeddings` body. */
export interface EmbeddingRequest {
  model: string;
  inputs: EmbeddingInput[];
  /** `dimensions`; undefined when not set. */
  dimensions: number | undefined;
  encoding: 'float' | 'base64';
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/** Parses a body as JSON; undefined when it is not valid JSON. */
export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** The text of a message's `content`: a string, or an array of `{ type: 'text', text }` parts. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const part of content) {
    if (isObject(part) && typeof part.text === 'string') text += part.text;
  }
  return text;
}

function parseToolParameters(schema: unknown): ToolParameter[] {
  if (!isObject(schema) || !isObject(schema.properties)) return [];
  const parameters: ToolParameter[] = [];
  for (const [name, property] of Object.entries(schema.properties)) {
    if (!isObject(property)) continue;
    const declared = Array.isArray(property.type) ? property.type[0] : property.type;
    const choices = Array.isArray(property.enum)
      ? property.enum.filter(
          (choice): choice is string | number | boolean =>
            typeof choice === 'string' || typeof choice === 'number' || typeof choice === 'boolean',
        )
      : [];
    parameters.push({ name, type: typeof declared === 'string' ? declared : 'string', choices });
  }
  return parameters;
}

function parseTools(tools: unknown): ToolFunction[] | InvalidRequest {
  if (tools === undefined || tools === null) return [];
  if (!Array.isArray(tools)) return new InvalidRequest("'tools' must be an array", 'tools');
  const parsed: ToolFunction[] = [];
  for (const tool of tools) {
    const definition = isObject(tool) ? tool.function : undefined;
    if (!isObject(definition) || typeof definition.name !== 'string' || definition.name === '') {
      return new InvalidRequest(
        "each tool must be { type: 'function', function: { name, parameters } }",
        'tools',
      );
    }
    parsed.push({ name: definition.name, parameters: parseToolParameters(definition.parameters) });
  }
  return parsed;
}

function parseToolChoice(choice: unknown, tools: ToolFunction[]): ToolChoice | InvalidRequest {
  if (choice === undefined || choice === null) return 'auto';
  if (choice === 'auto' || choice === 'none' || choice === 'required') return choice;
  const named = isObject(choice) && isObject(choice.function) ? choice.function.name : undefined;
  if (typeof named === 'string' && tools.some((tool) => tool.name === named)) {
    return { name: named };
  }
  return new InvalidRequest(
    "'tool_choice' must be 'auto', 'none', 'required' or { type: 'function', function: { name } } naming one of 'tools'",
    'tool_choice',
  );
}

/** Checks a chat completions body. */
export function parseChatRequest(body: unknown): ChatRequest | InvalidRequest {
  if (!isObject(body)) return new InvalidRequest('the body must be a JSON object', null);
  if (typeof body.model !== 'string' || body.model === '') {
    return new InvalidRequest("'model' must be a non-empty string", 'model');
  }
  const rawMessages = body.messages;
  if (!Array.isArray(rawMessages) || rawMessages.length === 0) {
    return new InvalidRequest("'messages' must be a non-empty array", 'messages');
  }
  const messages: ChatMessage[] = [];
  for (const message of rawMessages) {
    if (!isObject(message) || typeof message.role !== 'string') {
      return new InvalidRequest("each message must be an object with a string 'role'", 'messages');
    }
    messages.push({ role: message.role, text: contentText(message.content) });
  }
  const choiceCount = body.n ?? 1;
  if (!isPositiveInteger(choiceCount) || choiceCount > MAX_CHOICES) {
    return new InvalidRequest(`'n' must be an integer from 1 to ${MAX_CHOICES}`, 'n');
  }
  let maxTokens: number | undefined;
  for (const param of ['max_completion_tokens', 'max_tokens'] as const) {
    const value = body[param];
    if (value === undefined || value === null) continue;
    if (!isPositiveInteger(value)) {
      return new InvalidRequest(`'${param}' must be a positive integer`, param);
    }
    maxTokens ??= value;
  }
  const tools = parseTools(body.tools);
  if (tools instanceof InvalidRequest) return tools;
  const toolChoice = parseToolChoice(body.tool_choice, tools);
  if (toolChoice instanceof InvalidRequest) return toolChoice;
  const streamOptions = body.stream_options;
  return {
    model: body.model,
    messages,
    stream: body.stream === true,
    includeUsage: isObject(streamOptions) && streamOptions.include_usage === true,
    choiceCount,
    maxTokens,
    tools,
    toolChoice,
  };
}

function isTokenArray(value: unknown): value is number[] {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((token) => typeof token === 'number' && Number.isSafeInteger(token) && token >= 0)
  );
}

function textInput(text: string): EmbeddingInput {
  return { key: text, tokens: Math.max(1, Math.ceil(text.length / 4)) };
}

function tokenInput(tokens: number[]): EmbeddingInput {
  return { key: `\u0000tokens:${tokens.join(',')}`, tokens: tokens.length };
}

function parseEmbeddingInputs(input: unknown): EmbeddingInput[] | InvalidRequest {
  const invalid = new InvalidRequest(
    "'input' must be a non-empty string, an array of them, a token array or an array of token arrays",
    'input',
  );
  if (typeof input === 'string') return input === '' ? invalid : [textInput(input)];
  if (!Array.isArray(input) || input.length === 0) return invalid;
  if (isTokenArray(input)) return [tokenInput(input)];
  if (input.length > MAX_EMBEDDING_INPUTS) {
    return new InvalidRequest(`'input' may hold at most ${MAX_EMBEDDING_INPUTS} items`, 'input');
  }
  const inputs: EmbeddingInput[] = [];
  for (const item of input) {
    if (typeof item === 'string' && item !== '') inputs.push(textInput(item));
    else if (isTokenArray(item)) inputs.push(tokenInput(item));
    else return invalid;
  }
  return inputs;
}

/** Checks an embeddings body. */
export function parseEmbeddingRequest(body: unknown): EmbeddingRequest | InvalidRequest {
  if (!isObject(body)) return new InvalidRequest('the body must be a JSON object', null);
  if (typeof body.model !== 'string' || body.model === '') {
    return new InvalidRequest("'model' must be a non-empty string", 'model');
  }
  const inputs = parseEmbeddingInputs(body.input);
  if (inputs instanceof InvalidRequest) return inputs;
  const dimensions = body.dimensions ?? undefined;
  if (
    dimensions !== undefined &&
    (!isPositiveInteger(dimensions) || dimensions > MAX_EMBEDDING_DIMENSIONS)
  ) {
    return new InvalidRequest(
      `'dimensions' must be an integer from 1 to ${MAX_EMBEDDING_DIMENSIONS}`,
      'dimensions',
    );
  }
  const encoding = body.encoding_format ?? 'float';
  if (encoding !== 'float' && encoding !== 'base64') {
    return new InvalidRequest("'encoding_format' must be 'float' or 'base64'", 'encoding_format');
  }
  return { model: body.model, inputs, dimensions, encoding };
}
