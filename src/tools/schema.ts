import { z } from 'zod';
import { ConfigError } from '../shared/errors.js';
import type { ArgumentIssue } from './errors.js';

/**
 * A JSON Schema for a tool's parameters (what OpenAI's `tools[].function.parameters` holds).
 * Enforced (through zod's `fromJSONSchema`): `type`, `properties`, `required`, `enum`, `const`,
 * `items`, `prefixItems`, `additionalProperties`, `minimum`/`maximum` (and exclusive),
 * `multipleOf`, `minLength`/`maxLength`, `pattern`, `format`, `minItems`/`maxItems`,
 * `uniqueItems`, `anyOf`/`oneOf`/`allOf`, `$ref` to local `$defs`.
 */
export interface JsonSchema {
  type?: string | readonly string[];
  properties?: Readonly<Record<string, JsonSchema>>;
  required?: readonly string[];
  enum?: readonly unknown[];
  items?: JsonSchema;
  additionalProperties?: boolean | JsonSchema;
  description?: string;
  [keyword: string]: unknown;
}

/** A tool's parameters: a zod schema (its output type is the tool's input) or a JSON Schema. */
export type ToolParameters<Input> = z.ZodType<Input> | JsonSchema;

export type ParseResult =
  | { success: true; data: unknown }
  | { success: false; issues: ArgumentIssue[] };

/** A tool's schema, ready to check arguments and to describe the tool to a model. */
export interface CompiledSchema {
  parse(input: unknown): Promise<ParseResult>;
  /** JSON Schema of the input, for `definitions()` (the `$schema` keyword removed). */
  readonly jsonSchema: Record<string, unknown>;
}

export function isZodSchema(value: unknown): value is z.ZodType {
  return (
    typeof value === 'object' &&
    value !== null &&
    '_zod' in value &&
    typeof (value as { safeParseAsync?: unknown }).safeParseAsync === 'function'
  );
}

/** `['filters', 2, 'field']` → `filters[2].field`; `[]` → `(root)`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else text += text === '' ? String(segment) : `.${String(segment)}`;
  }
  return text === '' ? '(root)' : text;
}

function withoutSchemaKeyword(schema: Record<string, unknown>): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = schema;
  return rest;
}

/**
 * Compiles a tool's parameters once, at registration. A JSON Schema is converted to zod with
 * `z.fromJSONSchema` (zod 4), so both kinds of schema report errors the same way; a schema
 * using keywords it cannot enforce (`if`/`then`, `unevaluatedProperties`, ...) is refused
 * here with a `ConfigError` rather than silently half-checked.
 */
export function compileSchema(tool: string, parameters: unknown): CompiledSchema {
  let schema: z.ZodType;
  let jsonSchema: Record<string, unknown>;
  if (isZodSchema(parameters)) {
    schema = parameters;
    jsonSchema = withoutSchemaKeyword(
      z.toJSONSchema(parameters, { io: 'input', unrepresentable: 'any' }) as Record<
        string,
        unknown
      >,
    );
  } else if (typeof parameters === 'object' && parameters !== null && !Array.isArray(parameters)) {
    try {
      schema = z.fromJSONSchema(parameters as Parameters<typeof z.fromJSONSchema>[0]);
    } catch (error) {
      throw new ConfigError(
        `tool '${tool}': its JSON Schema cannot be enforced: ${(error as Error).message}`,
        { cause: error },
      );
    }
    jsonSchema = withoutSchemaKeyword(parameters as Record<string, unknown>);
  } else {
    throw new ConfigError(
      `tool '${tool}': parameters must be a zod schema or a JSON Schema object`,
    );
  }
  return {
    jsonSchema,
    async parse(input: unknown): Promise<ParseResult> {
      const result = await schema.safeParseAsync(input);
      if (result.success) return { success: true, data: result.data };
      return {
        success: false,
        issues: result.error.issues.map((issue) => ({
          path: formatPath(issue.path),
          message: issue.message,
        })),
      };
    },
  };
}
