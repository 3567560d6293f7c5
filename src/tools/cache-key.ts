import { createHash } from 'node:crypto';
import { ToolError } from './errors.js';

/**
 * Parameters left out of a tool's cache key unless a tool says otherwise: values that change
 * on every call without changing the answer. Matched as top-level names only (use a dotted
 * path such as `meta.request_id` for nested ones). `session_id` is deliberately absent: many
 * tools answer per session.
 */
export const DEFAULT_VOLATILE_PARAMETERS: readonly string[] = Object.freeze([
  'timestamp',
  'request_id',
  'requestId',
  'execution_id',
  'executionId',
  'trace_id',
  'traceId',
  'nonce',
]);

/**
 * How equivalent arguments are made to share a cache key. Keys of objects are always sorted,
 * numbers always written canonically (`1.0` and `1` agree, `-0` is `0`), `undefined` members
 * dropped (as JSON does). Paths are dotted parameter names without array indices
 * (`query`, `filters.field`); a rule on an array applies to its elements.
 */
export interface NormalizeOptions {
  /** Trim surrounding whitespace of strings: all (`true`) or at these paths. @default false */
  trim?: boolean | readonly string[];
  /** Lowercase strings: all (`true`) or at these paths. @default false */
  lowercase?: boolean | readonly string[];
  /** Arrays whose order does not matter (sets such as `tags`): sorted for the key. @default [] */
  sortArrays?: readonly string[];
}

type PathRule = boolean | ReadonlySet<string>;

function toRule(value: boolean | readonly string[] | undefined): PathRule {
  if (value === undefined || value === false) return false;
  if (value === true) return true;
  return new Set(value);
}

function applies(rule: PathRule, path: string): boolean {
  return rule === true || (rule !== false && rule.has(path));
}

/** Deeper arguments than this are refused (a cycle, or nothing a tool should take). */
const MAX_DEPTH = 64;

/**
 * Builds a tool's cache keys: the tool's name and version plus a SHA-256 of the canonical
 * form of its validated arguments, with volatile parameters left out and normalisation
 * applied. The key never holds the arguments themselves (bounded size, nothing sensitive).
 */
export class CacheKeyBuilder {
  readonly #volatile: ReadonlySet<string>;
  readonly #trim: PathRule;
  readonly #lowercase: PathRule;
  readonly #sortArrays: ReadonlySet<string>;
  readonly #tool: string;
  readonly #prefix: string;

  constructor(
    tool: string,
    version: string,
    volatile: readonly string[],
    normalize: NormalizeOptions = {},
  ) {
    this.#tool = tool;
    this.#prefix = `${tool}@${version}:`;
    this.#volatile = new Set(volatile);
    this.#trim = toRule(normalize.trim);
    this.#lowercase = toRule(normalize.lowercase);
    this.#sortArrays = new Set(normalize.sortArrays ?? []);
  }

  key(input: unknown): string {
    const digest = createHash('sha256').update(this.canonical(input)).digest('base64url');
    return this.#prefix + digest;
  }

  /** The canonical text the key hashes (exposed for tests and debugging). */
  canonical(input: unknown): string {
    return this.#write(input, '', 0);
  }

  #write(value: unknown, path: string, depth: number): string {
    if (depth > MAX_DEPTH) {
      throw new ToolError(
        'E_TOOL_ARGUMENTS',
        this.#tool,
        `arguments of tool '${this.#tool}' are nested deeper than ${MAX_DEPTH} levels`,
      );
    }
    switch (typeof value) {
      case 'string':
        return JSON.stringify(this.#normalizeString(value, path));
      case 'number':
        // String(-0) is '0'; NaN and ±Infinity stay distinct from the strings (those are quoted).
        return String(value);
      case 'boolean':
        return value ? 'true' : 'false';
      case 'bigint':
        return `${value}n`;
      case 'undefined':
      case 'function':
      case 'symbol':
        return 'undefined';
    }
    if (value === null) return 'null';
    if (value instanceof Date) return `D${JSON.stringify(value.toISOString())}`;
    if (Array.isArray(value) || value instanceof Set) {
      const items = [...(value as Iterable<unknown>)].map((item) =>
        this.#write(item, path, depth + 1),
      );
      if (value instanceof Set || this.#sortArrays.has(path)) items.sort();
      return `[${items.join(',')}]`;
    }
    const entries: Array<[string, unknown]> =
      value instanceof Map
        ? [...value.entries()].map(([key, item]) => [String(key), item])
        : Object.entries(value as Record<string, unknown>);
    const parts: string[] = [];
    for (const [key, item] of entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const itemPath = path === '' ? key : `${path}.${key}`;
      if (this.#volatile.has(itemPath)) continue;
      if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
      parts.push(`${JSON.stringify(key)}:${this.#write(item, itemPath, depth + 1)}`);
    }
    return `{${parts.join(',')}}`;
  }

  #normalizeString(value: string, path: string): string {
    let text = value;
    if (applies(this.#trim, path)) text = text.trim();
    if (applies(this.#lowercase, path)) text = text.toLowerCase();
    return text;
  }
}
