import { pingRedis } from '../../src/cache/stores/redis-store.js';

/** Base URL of the Redis server tests use; each suite picks its own database and key prefix. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** `REDIS_URL` pointed at database `db`. */
export function redisUrl(db: number): string {
  const url = new URL(REDIS_URL);
  url.pathname = `/${db}`;
  return url.toString();
}

/**
 * Whether Redis answers. Under CI it must: an unreachable Redis fails the run. Elsewhere
 * the Redis suites are skipped with a loud notice.
 */
export async function redisAvailable(): Promise<boolean> {
  if (await pingRedis(REDIS_URL)) return true;
  if (process.env.CI) {
    throw new Error(`Redis is required under CI but ${REDIS_URL} is unreachable`);
  }
  console.warn(
    `\n!!! Redis at ${REDIS_URL} is unreachable: Redis tests are SKIPPED. Start Redis or set REDIS_URL. !!!\n`,
  );
  return false;
}
