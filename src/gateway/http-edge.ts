import {
  type IncomingMessage,
  type ServerOptions,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import {
  type HttpError,
  headersTooLarge,
  invalidRequest,
  malformedRequest,
  requestTimeout,
} from './errors.js';

/**
 * The gateway's HTTP edge: what the server answers before, or instead of, a route. Everything
 * here is server-level (Node's http server options and its `clientError` event) or runs only on
 * an error; nothing adds work to a request that is served normally.
 */

/** The `server` settings the edge needs (from the resolved configuration). */
export interface EdgeSettings {
  readonly bodyLimit: number;
  /** The whole request (headers and body) must arrive within this, from its first byte. */
  readonly bodyTimeoutMs: number;
  /** The request line and headers must arrive within this (at most `bodyTimeoutMs`). */
  readonly headersTimeoutMs: number;
}

/**
 * How much of a refused request's body is read and discarded before answering: 4 × bodyLimit,
 * and at least 16 MiB (more than loopback socket buffers hold, so that a client uploading a body
 * somewhat over a small limit still gets its answer).
 */
export function discardLimitOf(bodyLimit: number): number {
  return Math.max(4 * bodyLimit, 16 * 1024 * 1024);
}

export interface HttpEdge {
  /** Options for `Fastify(...)`. */
  readonly options: {
    readonly requestTimeout: number;
    readonly http: ServerOptions;
    readonly clientErrorHandler: (error: ClientError, socket: Socket) => void;
    readonly frameworkErrors: (
      error: FastifyError,
      request: FastifyRequest,
      reply: FastifyReply,
    ) => void;
  };
  /**
   * The refusal that ended a request while it was still arriving (its body timed out: the 408
   * already written), for the error handler to record instead of the read error it sees.
   */
  refusalOf(request: IncomingMessage): HttpError | undefined;
  /** See `afterBody`: `send` runs once the refused request's body is read and dropped. */
  afterBody(request: IncomingMessage, send: (close: boolean) => void): void;
}

/**
 * The edge for one server. Node's `requestTimeout` is the body timeout, and its connections are
 * checked often enough for a timeout to fire within a tenth of itself (at most 1 s late); Node
 * checks every 30 s by default, so a 30 s timeout could take a minute.
 */
export function createHttpEdge(
  settings: EdgeSettings,
  onRefused: (error: HttpError, cause: ClientError) => void,
): HttpEdge {
  const headersTimeout = Math.min(settings.headersTimeoutMs, settings.bodyTimeoutMs);
  const discardLimit = discardLimitOf(settings.bodyLimit);
  const timedOut = new WeakMap<Socket, HttpError>();
  return {
    options: {
      requestTimeout: settings.bodyTimeoutMs,
      http: {
        headersTimeout,
        requestTimeout: settings.bodyTimeoutMs,
        connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(headersTimeout / 10))),
      },
      clientErrorHandler: answerClientError(settings, (error, cause, socket) => {
        if (error.status === 408) timedOut.set(socket, error);
        onRefused(error, cause);
      }),
      // A URL that cannot be decoded; fastify answers it before any hook or handler.
      frameworkErrors: (error, _request, reply) => {
        void reply
          .code(400)
          .type('application/json; charset=utf-8')
          .send(invalidRequest(error.message).toBody());
      },
    },
    refusalOf: (request) => timedOut.get(request.socket),
    afterBody: (request, send) => afterBody(request, discardLimit, send),
  };
}

/**
 * A connection-level error: raised by Node's HTTP parser or its request timers. `code` is
 * `HPE_*` from the parser, `ERR_HTTP_REQUEST_TIMEOUT`, or a socket error such as `ECONNRESET`.
 */
interface ClientError extends Error {
  code?: string;
}

/**
 * Answers what Node's http server refuses by itself, in OpenAI's shape, then closes the
 * connection: 408 for a request that did not arrive in time, 431 for headers over
 * `maxHeaderSize`, 400 for anything that is not HTTP/1.1. `onRefused` sees each answer
 * (the route is unknown: the request never reached the router, or was still arriving).
 */
export function answerClientError(
  settings: EdgeSettings,
  onRefused: (error: HttpError, cause: ClientError, socket: Socket) => void,
): (error: ClientError, socket: Socket) => void {
  return (error, socket) => {
    // A reset connection has no one to answer.
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const httpError =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? requestTimeout(
            Math.min(settings.headersTimeoutMs, settings.bodyTimeoutMs),
            settings.bodyTimeoutMs,
          )
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? headersTooLarge()
          : malformedRequest();
    onRefused(httpError, error, socket);
    // As Node does: no answer on a connection whose response has already started (its status
    // line is out; a second one would corrupt it). `_httpMessage` is the response in flight.
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (socket.writable && inFlight?.headersSent !== true) {
      socket.write(rawResponse(httpError));
    }
    socket.destroy();
  };
}

/** An HTTP/1.1 response written straight to a socket, closing it. */
function rawResponse(error: HttpError): string {
  const body = JSON.stringify(error.toBody());
  return (
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}\r\n` +
    'content-type: application/json; charset=utf-8\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    'connection: close\r\n\r\n' +
    body
  );
}

/**
 * Calls `send` once the rest of a refused request's body has been read and discarded, so that a
 * client still uploading (Node's `fetch`, on a keep-alive connection) receives the answer instead
 * of a connection reset mid-upload. Up to `discardLimit` bytes are read, never kept; a body
 * declared (or found) larger is not read: `send(true)` answers at once and closes the connection.
 * A body that stalls is ended by the body timeout (408). A request already read sends at once.
 */
export function afterBody(
  request: IncomingMessage,
  discardLimit: number,
  send: (close: boolean) => void,
): void {
  if (request.complete || request.destroyed) {
    send(false);
    return;
  }
  if (Number(request.headers['content-length']) > discardLimit) {
    send(true);
    return;
  }
  let discarded = 0;
  let sent = false;
  const settle = (close: boolean) => {
    if (sent) return;
    sent = true;
    request.off('data', onData);
    request.off('end', onEnd);
    request.off('close', onEnd);
    request.off('error', onEnd);
    send(close);
  };
  const onData = (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > discardLimit) settle(true);
  };
  const onEnd = () => settle(false);
  request.on('data', onData);
  request.once('end', onEnd);
  // Closed before its end (the client went away, or the body timeout fired).
  request.once('close', onEnd);
  request.once('error', onEnd);
  request.resume();
}
