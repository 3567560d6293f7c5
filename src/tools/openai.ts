import { SluiceError } from '../shared/errors.js';
import { ToolArgumentsError, ToolError } from './errors.js';

/**
 * A tool call as OpenAI's Chat Completions API returns it (`message.tool_calls[]`). Calls of
 * another type (OpenAI's `custom` tools) have no `function` and are answered with an error.
 */
export interface OpenAIToolCall {
  id: string;
  type?: string;
  function?: { name: string; arguments: string };
}

/** The message that answers one tool call, to append to the conversation. */
export interface ToolMessage {
  role: 'tool';
  tool_call_id: string;
  content: string;
}

/** Parses a tool call's `arguments` text; an empty text means no arguments (`{}`). */
export function parseToolArguments(tool: string, text: unknown): unknown {
  if (typeof text !== 'string') return text ?? {};
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ToolError(
      'E_TOOL_JSON',
      tool,
      `the arguments of tool '${tool}' are not valid JSON: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** A result as message content: strings as they are, anything else as JSON. */
export function formatToolResult(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return '';
  return JSON.stringify(value) ?? '';
}

/**
 * An error as message content the model can act on: `{"error":{"code","message","issues"?}}`.
 * Only the message travels (never a stack trace).
 */
export function formatToolError(error: unknown): string {
  const code = error instanceof SluiceError ? error.code : 'E_TOOL_FAILED';
  const message = error instanceof Error ? error.message : String(error);
  const body: { code: string; message: string; issues?: unknown } = { code, message };
  if (error instanceof ToolArgumentsError) body.issues = error.issues;
  return JSON.stringify({ error: body });
}
