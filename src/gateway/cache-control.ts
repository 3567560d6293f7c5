import { invalidRequest } from './errors.js';

/** What a request asks of the response cache. */
export interface CacheDirectives {
  /** Look the request up in the cache. */
  readonly lookup: boolean;
  /** Store the answer. */
  readonly store: boolean;
  /** Oldest cached answer accepted, in milliseconds; undefined for any fresh one. */
  readonly maxAgeMs: number | undefined;
  /** TTL for the stored answer, in milliseconds; undefined for the configured one. */
  readonly ttlMs: number | undefined;
}

export const DEFAULT_DIRECTIVES: CacheDirectives = {
  lookup: true,
  store: true,
  maxAgeMs: undefined,
  ttlMs: undefined,
};

const MAX_TTL_SECONDS = 365 * 86_400;

/**
 * Reads `Cache-Control` (`no-cache`: skip the lookup but store; `no-store`: neither;
 * `max-age=N`: accept an answer at most N seconds old) and `x-sluice-cache-ttl: N` (seconds).
 */
export function parseCacheDirectives(
  cacheControl: string | undefined,
  ttlHeader: string | undefined,
): CacheDirectives {
  if (cacheControl === undefined && ttlHeader === undefined) return DEFAULT_DIRECTIVES;
  let lookup = true;
  let store = true;
  let maxAgeMs: number | undefined;
  if (cacheControl !== undefined) {
    for (const part of cacheControl.split(',')) {
      const directive = part.trim().toLowerCase();
      if (directive === 'no-cache') lookup = false;
      else if (directive === 'no-store') {
        lookup = false;
        store = false;
      } else if (directive.startsWith('max-age=')) {
        maxAgeMs = seconds(directive.slice(8), 'cache-control') * 1_000;
      }
      // Other directives (private, must-revalidate, ...) do not apply to a request: ignored.
    }
  }
  const ttlMs =
    ttlHeader === undefined ? undefined : seconds(ttlHeader, 'x-sluice-cache-ttl') * 1_000;
  return { lookup, store, maxAgeMs, ttlMs };
}

function seconds(text: string, header: string): number {
  const trimmed = text.trim();
  if (!/^\d{1,10}$/.test(trimmed)) {
    throw invalidRequest(
      `${header}: expected a whole number of seconds, got '${text.slice(0, 32)}'`,
    );
  }
  return Math.min(Number(trimmed), MAX_TTL_SECONDS);
}
