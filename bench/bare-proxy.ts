/**
 * The floor of the gateway benchmark: the least a Node gateway can do on the same stack as
 * Sluice (fastify in front, an undici keep-alive pool behind). One route,
 * `POST /v1/chat/completions`, forwards the request body untouched (not even parsed as JSON) to
 * the upstream and answers with the upstream's status, content type and body. No validation,
 * no cache, no metrics, no logging.
 */
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { Pool } from 'undici';

/** Where the bare proxy forwards to, and how many connections it may hold. */
export interface BareProxyOptions {
  /** The upstream's base URL, ending in `/v1` (the mock provider's `url`). */
  upstreamUrl: string;
  /**
   * Most concurrent connections to the upstream: the same as Sluice's provider pool.
   * @default 64 (connections)
   */
  connections?: number;
}

/** A running bare proxy. */
export interface BareProxy {
  /** Starts listening on 127.0.0.1; `url` is the origin (no `/v1`). */
  listen(port?: number): Promise<{ url: string; port: number }>;
  /** Stops listening and closes the upstream pool. */
  close(): Promise<void>;
}

/** Upstream connections by default: the same as Sluice's provider pool (`DEFAULTS`). */
export const BARE_PROXY_CONNECTIONS = 64;

/** Upstream timeouts: generous, they only bound a hung benchmark. */
const UPSTREAM_TIMEOUT_MS = 30_000;

export function createBareProxy({
  upstreamUrl,
  connections = BARE_PROXY_CONNECTIONS,
}: BareProxyOptions): BareProxy {
  const upstream = new URL(upstreamUrl);
  const path = `${upstream.pathname.replace(/\/+$/, '')}/chat/completions`;
  const pool = new Pool(upstream.origin, {
    connections,
    keepAliveTimeout: 10_000,
    headersTimeout: UPSTREAM_TIMEOUT_MS,
    bodyTimeout: UPSTREAM_TIMEOUT_MS,
  });
  const upstreamHeaders = { 'content-type': 'application/json' };

  const app = Fastify({ logger: false, keepAliveTimeout: 30_000 });
  // Bodies pass through as bytes: a proxy that does not look inside the request.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
    done(null, body);
  });
  app.post('/v1/chat/completions', async (request, reply) => {
    const answer = await pool.request({
      method: 'POST',
      path,
      headers: upstreamHeaders,
      body: request.body as Buffer,
    });
    const body = Buffer.from(await answer.body.arrayBuffer());
    const contentType = answer.headers['content-type'];
    return reply
      .code(answer.statusCode)
      .header('content-type', typeof contentType === 'string' ? contentType : 'application/json')
      .send(body);
  });

  return {
    async listen(port = 0) {
      await app.listen({ host: '127.0.0.1', port });
      const bound = (app.server.address() as AddressInfo).port;
      return { url: `http://127.0.0.1:${bound}`, port: bound };
    },
    async close() {
      await app.close();
      await pool.close();
    },
  };
}
