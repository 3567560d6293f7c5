import { z } from 'zod';
import { invalidRequest } from './errors.js';

const contentPart = z.looseObject({ type: z.string().min(1) });
const message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z.union([z.string(), z.array(contentPart), z.null()]).optional(),
});
const tool = z.looseObject({
  type: z.string().min(1),
  function: z.looseObject({ name: z.string().min(1).max(128) }).optional(),
});
const optionalNumber = (schema: z.ZodNumber) => schema.nullable().optional();

/**
 * The chat completion fields Sluice reads or that must be well-formed for the cache key to
 * mean something; every other field passes through to the upstream untouched.
 */
const chatBody = z.looseObject({
  model: z.string().min(1).max(256),
  messages: z.array(message).min(1),
  stream: z.boolean().nullable().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  n: optionalNumber(z.number().int().min(1).max(128)),
  max_tokens: optionalNumber(z.number().int().positive()),
  max_completion_tokens: optionalNumber(z.number().int().positive()),
  temperature: optionalNumber(z.number().min(0).max(2)),
  top_p: optionalNumber(z.number().min(0).max(1)),
  seed: optionalNumber(z.number().int()),
  tools: z.array(tool).optional(),
});

const embeddingInput = z.union([
  z.string(),
  z.array(z.string()).min(1),
  z.array(z.number().int()).min(1),
  z.array(z.array(z.number().int()).min(1)).min(1),
]);

const embeddingsBody = z.looseObject({
  model: z.string().min(1).max(256),
  input: embeddingInput,
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.number().int().positive().optional(),
});

export type ChatBody = z.infer<typeof chatBody>;
export type EmbeddingsBody = z.infer<typeof embeddingsBody>;

function check<Schema extends z.ZodType>(schema: Schema, body: unknown): z.infer<Schema> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalidRequest('the request body must be a JSON object');
  }
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const param = issue === undefined || issue.path.length === 0 ? null : issue.path.join('.');
  throw invalidRequest(`${param ?? 'body'}: ${issue?.message ?? 'invalid'}`, param);
}

/** A chat completion request, or a 400 naming the bad field. */
export function parseChatBody(body: unknown): ChatBody {
  return check(chatBody, body);
}

/** An embeddings request, or a 400 naming the bad field. */
export function parseEmbeddingsBody(body: unknown): EmbeddingsBody {
  return check(embeddingsBody, body);
}
