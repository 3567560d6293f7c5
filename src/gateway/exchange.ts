import type { Reservation } from '../cost/budgets.js';
import type { RateLimitTicket } from '../routing/rate-limit.js';
import type { RequestTrace } from '../telemetry/tracing.js';
import type { AccountedTarget } from './accounting.js';
import type { Caller } from './auth.js';
import type { HttpError } from './errors.js';
import type { StreamEvent } from './sse.js';

/** Token counts as OpenAI-compatible upstreams report them. */
export interface Usage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
  completion_tokens_details?: { reasoning_tokens?: number } | null;
}

/** What the gateway caches for a JSON answer: the upstream's body, byte for byte. */
export interface CachedJson {
  readonly kind: 'json';
  readonly status: number;
  readonly body: string;
  /** Epoch milliseconds when the upstream answered. */
  readonly createdAt: number;
  readonly usage: Usage | undefined;
}

/** What the gateway caches for a stream: every data event, replayed in order. */
export interface CachedStream {
  readonly kind: 'stream';
  readonly events: readonly StreamEvent[];
  readonly createdAt: number;
  readonly usage: Usage | undefined;
}

export type CachedAnswer = CachedJson | CachedStream;

/**
 * `hit`: answered from the exact cache; `semantic-hit`: from the semantic cache (a verified
 * paraphrase); `miss`: fetched (and stored); `bypass`: the cache was not consulted.
 */
export type CacheResult = 'hit' | 'semantic-hit' | 'miss' | 'bypass';

/** The per-request state the gateway keeps from the first byte to the last. */
export interface Exchange {
  readonly requestId: string;
  /** `performance.now()` when the request arrived. */
  readonly startedAt: number;
  caller: Caller | undefined;
  route: string;
  /** The model asked for, once resolved; empty before (or for a route that names none). */
  model: string;
  cache: CacheResult;
  /** Milliseconds spent waiting on an upstream or on another request's upstream call. */
  waitMs: number;
  /** The budget reservation held for this request's upstream call. */
  reservation: Reservation | undefined;
  /** The ledger row is written (once per request). */
  recorded: boolean;
  /** What the request cost, nano-dollars (0 for hits), once recorded. */
  costNanos: number;
  /** The deployment that answered, when it is not the planned one (a fallback). */
  answeredBy: AccountedTarget | undefined;
  /** Extra response headers (`x-sluice-route`, rate-limit headers). */
  headers: Record<string, string>;
  /** The rate-limit ticket held for this request. */
  rateLimit: RateLimitTicket | undefined;
  /** The planned deployment's provider, once the model is resolved. */
  provider: string | undefined;
  /** The token usage of the answer (the replayed one for a hit), once recorded. */
  usage: Usage | undefined;
  /** The request's span (chat and embeddings). */
  trace: RequestTrace | undefined;
  /** Sluice's response headers are set and the request observed (once, as the reply leaves). */
  finished: boolean;
  /**
   * The error the request ended with, if any: its status may differ from the one sent (a
   * stream cut after its 200); metrics count the request by it.
   */
  failure: HttpError | undefined;
}

/** Reported once per completed model call, for cost tracking and logs. */
export interface ExchangeRecord {
  readonly requestId: string;
  readonly route: string;
  readonly caller: string;
  readonly namespace: string;
  readonly model: string;
  readonly provider: string;
  readonly status: number;
  readonly cache: CacheResult;
  /** For a hit, the usage of the answer it replayed: what the hit avoided paying for. */
  readonly usage: Usage | undefined;
  /** What the request cost, nano-dollars (0 for a hit or an error). */
  readonly costNanos: number;
  /** What a hit avoided paying, nano-dollars. */
  readonly avoidedNanos: number;
  readonly durationMs: number;
}

/** The index of the first character at or after `from` that is not JSON whitespace. */
function skipSpace(text: string, from: number): number {
  let index = from;
  for (; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code !== 32 && code !== 10 && code !== 13 && code !== 9) break;
  }
  return index;
}

/**
 * Extracts `usage` from an upstream JSON body; undefined if absent or unparsable. Parses only
 * the usage object (found from the end, where OpenAI-compatible bodies put it), falling back
 * to the whole body when that fails.
 */
export function usageOf(body: string): Usage | undefined {
  const key = body.lastIndexOf('"usage"');
  if (key === -1) return undefined;
  // `"usage"`, optional whitespace, `:`, optional whitespace, then the object's `{`.
  let open = skipSpace(body, key + 7);
  if (body.charCodeAt(open) === 58) open = skipSpace(body, open + 1);
  else open = -1;
  if (open !== -1 && body.charCodeAt(open) === 123) {
    let depth = 0;
    for (let index = open; index < body.length; index++) {
      const code = body.charCodeAt(index);
      if (code === 123) depth++;
      else if (code === 125 && --depth === 0) {
        try {
          return JSON.parse(body.slice(open, index + 1)) as Usage;
        } catch {
          break;
        }
      } else if (code === 34) {
        // Skip a string (keys only, in practice), honouring escapes.
        for (index++; index < body.length && body.charCodeAt(index) !== 34; index++) {
          if (body.charCodeAt(index) === 92) index++;
        }
      }
    }
  }
  try {
    const usage = (JSON.parse(body) as { usage?: unknown }).usage;
    return usage !== null && typeof usage === 'object' ? (usage as Usage) : undefined;
  } catch {
    return undefined;
  }
}
