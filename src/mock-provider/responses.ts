/** Renders answers in OpenAI's wire format: JSON bodies, SSE frames and error bodies. */
import { type ChatAnswer, type ChoiceAnswer, embeddingVector } from './answers.js';
import type { EmbeddingRequest } from './requests.js';

/** Model ids `GET /v1/models` lists (any model id is accepted by the other routes). */
export const MODEL_IDS: readonly string[] = [
  'mock-small',
  'mock-large',
  'gpt-4o-mini',
  'gpt-4o',
  'text-embedding-3-small',
];

/** The `GET /v1/models` body: constant, so rendered once. */
export const MODELS_BODY = JSON.stringify({
  object: 'list',
  data: MODEL_IDS.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'mock' })),
});

/** An error body in OpenAI's shape. */
export function errorBody(
  message: string,
  type: string,
  code: string | null = null,
  param: string | null = null,
): string {
  return JSON.stringify({ error: { message, type, param, code } });
}

function finishReason(choice: ChoiceAnswer): 'stop' | 'length' | 'tool_calls' {
  return choice.kind === 'text' ? choice.finishReason : 'tool_calls';
}

/** A `chat.completion` body. */
export function chatCompletionBody(answer: ChatAnswer): string {
  return JSON.stringify({
    id: answer.id,
    object: 'chat.completion',
    created: answer.created,
    model: answer.model,
    choices: answer.choices.map((choice, index) => ({
      index,
      message:
        choice.kind === 'text'
          ? { role: 'assistant', content: choice.content, refusal: null }
          : {
              role: 'assistant',
              content: null,
              refusal: null,
              tool_calls: [
                {
                  id: choice.toolCall.id,
                  type: 'function',
                  function: { name: choice.toolCall.name, arguments: choice.toolCall.arguments },
                },
              ],
            },
      logprobs: null,
      finish_reason: finishReason(choice),
    })),
    usage: answer.usage,
    system_fingerprint: 'mock',
  });
}

/**
 * The `delta`s one choice streams, as JSON: the role first, then one per word or argument
 * piece. Text deltas are templated rather than stringified: streams are the hot path.
 */
function choiceDeltas(choice: ChoiceAnswer): string[] {
  if (choice.kind === 'text') {
    const deltas = ['{"role":"assistant","content":""}'];
    for (const token of choice.tokens) deltas.push(`{"content":${JSON.stringify(token)}}`);
    return deltas;
  }
  const { id, name, arguments: toolArguments } = choice.toolCall;
  const deltas = [
    JSON.stringify({
      role: 'assistant',
      content: null,
      tool_calls: [{ index: 0, id, type: 'function', function: { name, arguments: '' } }],
    }),
  ];
  const middle = toolArguments.length > 2 ? Math.ceil(toolArguments.length / 2) : 0;
  for (const piece of [toolArguments.slice(0, middle), toolArguments.slice(middle)]) {
    if (piece !== '') {
      deltas.push(JSON.stringify({ tool_calls: [{ index: 0, function: { arguments: piece } }] }));
    }
  }
  return deltas;
}

/** How many timed steps a choice takes to stream: one per word or argument piece. */
export function choiceSteps(choice: ChoiceAnswer): number {
  if (choice.kind === 'text') return choice.tokens.length;
  return choice.toolCall.arguments.length > 2 ? 2 : 1;
}

/**
 * The SSE stream of an answer, grouped into frames: frame 0 (sent after the time to first
 * token) holds the role chunk and the first piece of every choice, each later frame the next
 * piece; unless `complete` is false (a stream about to be cut), the last frame also carries the
 * `finish_reason` chunks, the usage chunk when `includeUsage` is set, and `data: [DONE]`.
 */
export function chatCompletionFrames(
  answer: ChatAnswer,
  includeUsage: boolean,
  complete = true,
): string[] {
  const prefix = `data: {"id":${JSON.stringify(answer.id)},"object":"chat.completion.chunk","created":${answer.created},"model":${JSON.stringify(answer.model)},"system_fingerprint":"mock","choices":`;
  const choiceEvent = (index: number, delta: string, finish: string): string =>
    `${prefix}[{"index":${index},"delta":${delta},"logprobs":null,"finish_reason":${finish}}]}\n\n`;

  const perChoice = answer.choices.map(choiceDeltas);
  const steps = Math.max(1, ...perChoice.map((deltas) => deltas.length - 1));
  const frames: string[] = new Array(steps).fill('');
  perChoice.forEach((deltas, index) => {
    deltas.forEach((delta, position) => {
      const frame = Math.max(0, position - 1);
      frames[frame] += choiceEvent(index, delta, 'null');
    });
  });
  if (!complete) return frames;
  let tail = '';
  answer.choices.forEach((choice, index) => {
    tail += choiceEvent(index, '{}', `"${finishReason(choice)}"`);
  });
  if (includeUsage) tail += `${prefix}[],"usage":${JSON.stringify(answer.usage)}}\n\n`;
  frames[steps - 1] += `${tail}data: [DONE]\n\n`;
  return frames;
}

/** Four bytes per number, float32 little-endian, in base64: OpenAI's `encoding_format: base64`. */
function base64Floats(vector: readonly number[]): string {
  const bytes = Buffer.allocUnsafe(vector.length * 4);
  for (let index = 0; index < vector.length; index++) {
    bytes.writeFloatLE(vector[index] ?? 0, index * 4);
  }
  return bytes.toString('base64');
}

/** A `list` of embeddings for a checked request. */
export function embeddingsBody(request: EmbeddingRequest, defaultDimensions: number): string {
  const dimensions = request.dimensions ?? defaultDimensions;
  let promptTokens = 0;
  const data = request.inputs.map((input, index) => {
    promptTokens += input.tokens;
    const vector = embeddingVector(input.key, dimensions);
    return {
      object: 'embedding',
      index,
      embedding: request.encoding === 'base64' ? base64Floats(vector) : vector,
    };
  });
  return JSON.stringify({
    object: 'list',
    data,
    model: request.model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  });
}
