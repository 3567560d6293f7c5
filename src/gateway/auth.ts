import { hash, timingSafeEqual } from 'node:crypto';
import type { KeyConfig } from './config.js';
import { HttpError } from './errors.js';

/** Who a request comes from, once its key is checked. */
export interface Caller {
  /** The key's name (never the key itself); `'anonymous'` when the gateway runs open. */
  readonly name: string;
  /** The cache namespace this caller reads and writes. */
  readonly namespace: string;
  /** Models this caller may use; every model when undefined. */
  readonly models: ReadonlySet<string> | undefined;
  /** The key's tags, for `tag:` budgets. */
  readonly tags: readonly string[];
}

const ANONYMOUS: Caller = { name: 'anonymous', namespace: 'default', models: undefined, tags: [] };

function digest(key: string): Buffer {
  return hash('sha256', key, 'buffer');
}

/**
 * The gateway's virtual keys. A presented key is hashed and compared with every configured
 * key's digest in constant time, so neither the match nor its position leaks through timing.
 * Keys are never logged or echoed.
 */
export class KeyRing {
  readonly #entries: { digest: Buffer; caller: Caller }[];

  constructor(keys: readonly KeyConfig[]) {
    this.#entries = keys.map((key) => ({
      digest: digest(key.key),
      caller: {
        name: key.name,
        namespace: key.namespace,
        models: key.models === undefined ? undefined : new Set(key.models),
        tags: key.tags,
      },
    }));
  }

  /** True when no key is configured: every request is the anonymous caller. */
  get open(): boolean {
    return this.#entries.length === 0;
  }

  /** The caller for an `Authorization` header, or a 401 `HttpError`. */
  authenticate(authorization: string | undefined): Caller {
    if (this.#entries.length === 0) return ANONYMOUS;
    const presented = bearer(authorization);
    if (presented === undefined) {
      throw new HttpError(
        401,
        'authentication_error',
        'missing_api_key',
        'missing API key: send Authorization: Bearer <key>',
      );
    }
    const presentedDigest = digest(presented);
    let found: Caller | undefined;
    for (const entry of this.#entries) {
      if (timingSafeEqual(entry.digest, presentedDigest)) found = entry.caller;
    }
    if (found === undefined) {
      throw new HttpError(401, 'authentication_error', 'invalid_api_key', 'invalid API key');
    }
    return found;
  }
}

/** A secret compared in constant time (the admin key). */
export function secretMatches(expected: string, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  return timingSafeEqual(digest(expected), digest(presented));
}

export function bearer(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return match?.[1];
}
