import type { Pool } from 'undici';
import { HttpError, upstreamTimeout, upstreamUnreachable } from '../errors.js';

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'ETIMEDOUT',
]);

/** Maps an undici or socket failure of a provider's call to the gateway's 502 or 504. */
export function transportError(provider: string, timeoutMs: number, error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  const code = (error as { code?: string }).code ?? '';
  if (TIMEOUT_CODES.has(code)) return upstreamTimeout(provider, timeoutMs, error);
  return upstreamUnreachable(provider, error);
}

/** Closes a pool once its pending calls finish; calls still pending after `graceMs` are aborted. */
export async function closePool(pool: Pool, graceMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const graceful = pool.close().then(() => true);
  const expired = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), graceMs);
  });
  const closed = await Promise.race([graceful, expired]);
  clearTimeout(timer);
  if (!closed) await pool.destroy();
}
