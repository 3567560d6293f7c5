import { z } from 'zod';
import { frozenMemo } from './body-memo.js';
import { invalidRequest } from './errors.js';

/**
 * A content part: every `type` passes through (providers add their own), but the kinds Sluice
 * reads (token counts, the semantic cache's text) must carry what they name.
 */
const contentPart = z.looseObject({ type: z.string().min(1) }).superRefine((part, context) => {
  if (part.type === 'text' && typeof part.text !== 'string') {
    context.addIssue({
      code: 'custom',
      path: ['text'],
      message: 'a text part needs a string text',
    });
  } else if (
    part.type === 'image_url' &&
    typeof (part.image_url as { url?: unknown } | undefined)?.url !== 'string'
  ) {
    context.addIssue({
      code: 'custom',
      path: ['image_url'],
      message: 'an image_url part needs image_url: { url }',
    });
  }
});
/**
 * A message, with what its role requires in OpenAI's API: content for system, developer, user
 * and tool messages (which also name the call they answer); an assistant message needs content,
 * tool calls, a function call or a refusal (a request with none of them is refused upstream
 * too, after a round trip).
 */
const message = z
  .looseObject({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
    content: z.union([z.string(), z.array(contentPart), z.null()]).optional(),
    tool_call_id: z.string().min(1).optional(),
    tool_calls: z.array(z.unknown()).optional(),
  })
  .superRefine((entry, context) => {
    const hasContent = entry.content !== undefined && entry.content !== null;
    if (entry.role === 'assistant') {
      if (
        !hasContent &&
        (entry.tool_calls?.length ?? 0) === 0 &&
        entry.function_call == null &&
        typeof entry.refusal !== 'string'
      ) {
        context.addIssue({
          code: 'custom',
          path: ['content'],
          message: 'an assistant message needs content, tool_calls, function_call or refusal',
        });
      }
      return;
    }
    if (!hasContent && entry.role !== 'function') {
      context.addIssue({
        code: 'custom',
        path: ['content'],
        message: `a ${entry.role} message needs content (a string or an array of parts)`,
      });
    }
    if (entry.role === 'tool' && entry.tool_call_id === undefined) {
      context.addIssue({
        code: 'custom',
        path: ['tool_call_id'],
        message: 'a tool message needs the tool_call_id of the call it answers',
      });
    }
  });
/** A tool: other types pass through; a function tool must name its function. */
const tool = z
  .looseObject({
    type: z.string().min(1),
    function: z.looseObject({ name: z.string().min(1).max(128) }).optional(),
  })
  .superRefine((entry, context) => {
    if (entry.type === 'function' && entry.function === undefined) {
      context.addIssue({
        code: 'custom',
        path: ['function'],
        message: 'a function tool needs function: { name, parameters? }',
      });
    }
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
  const { path, message } =
    issue === undefined ? { path: [], message: 'invalid' } : explain(issue, body);
  const param = path.length === 0 ? null : path.join('.');
  throw invalidRequest(`${param ?? 'body'}: ${message}`, param);
}

/**
 * Where an issue is and what it says. A failed union says only "Invalid input": report the
 * branch that got furthest into the value instead, or, when every branch refused the value's
 * type, the types expected.
 */
function explain(issue: z.core.$ZodIssue, body: unknown): { path: PropertyKey[]; message: string } {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) {
    return { path: issue.path, message: issue.message };
  }
  let furthest: z.core.$ZodIssue | undefined;
  for (const branch of issue.errors) {
    for (const inner of branch) {
      if (furthest === undefined || inner.path.length > furthest.path.length) furthest = inner;
    }
  }
  if (furthest !== undefined && furthest.path.length > 0) {
    const inner = explain(furthest, valueAt(body, issue.path));
    return { path: [...issue.path, ...inner.path], message: inner.message };
  }
  const expected = issue.errors.flatMap((branch) =>
    branch.flatMap((inner) => (inner.code === 'invalid_type' ? [inner.expected] : [])),
  );
  if (expected.length !== issue.errors.length) return { path: issue.path, message: issue.message };
  const value = valueAt(body, issue.path);
  const received = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  const choices = [...new Set(expected)];
  const listed =
    choices.length === 1
      ? choices[0]
      : `${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}`;
  return { path: issue.path, message: `expected ${listed}, received ${received}` };
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/** A chat completion request, or a 400 naming the bad field (remembered for a frozen body). */
export const parseChatBody: (body: unknown) => ChatBody = frozenMemo((body) =>
  check(chatBody, body),
);

/** An embeddings request, or a 400 naming the bad field (remembered for a frozen body). */
export const parseEmbeddingsBody: (body: unknown) => EmbeddingsBody = frozenMemo((body) =>
  check(embeddingsBody, body),
);
