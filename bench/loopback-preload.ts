/**
 * Preloaded (`node --import`) into a third-party server that the gateway benchmark starts
 * (Portkey's gateway, which binds every interface and has no host option):
 *
 * - every TCP `listen` is forced onto 127.0.0.1, whatever host the server asked for;
 * - once a server listens, `{ type: 'ready', url: 'http://127.0.0.1:PORT' }` goes to the parent
 *   over the IPC channel (so the server can be started on port 0);
 * - the process exits when its parent goes away (the IPC channel closes).
 *
 * Unix-socket and handle listens are left alone.
 */
import net from 'node:net';

const LOOPBACK = '127.0.0.1';

type ListenArguments = unknown[];

/** The same arguments, with the host (if any form of one applies) replaced by 127.0.0.1. */
function onLoopback(args: ListenArguments): ListenArguments {
  const [first, ...rest] = args;
  if (typeof first === 'object' && first !== null) {
    const options = first as net.ListenOptions;
    if (options.path !== undefined || 'fd' in options || '_handle' in options) return args;
    return [{ ...options, host: LOOPBACK }, ...rest];
  }
  if (typeof first === 'function') return [0, LOOPBACK, ...args];
  const isPort =
    first === undefined ||
    first === null ||
    typeof first === 'number' ||
    (typeof first === 'string' && /^\d+$/.test(first.trim()));
  if (!isPort) return args; // a pipe or socket path
  const port = first ?? 0;
  // listen(port, [host], [backlog], [callback]): the host is the second argument when it is a
  // string (or undefined / null, as some frameworks pass it), otherwise it is absent.
  const [second, ...others] = rest;
  if (typeof second === 'string' || second === undefined || second === null) {
    return [port, LOOPBACK, ...others];
  }
  return [port, LOOPBACK, ...rest];
}

const originalListen = net.Server.prototype.listen;
net.Server.prototype.listen = function listenOnLoopback(
  this: net.Server,
  ...args: ListenArguments
): net.Server {
  this.once('listening', () => {
    const address = this.address();
    if (address !== null && typeof address === 'object') {
      process.send?.({ type: 'ready', url: `http://${LOOPBACK}:${address.port}` });
    }
  });
  return (originalListen as (...parameters: ListenArguments) => net.Server).apply(
    this,
    onLoopback(args),
  );
} as typeof net.Server.prototype.listen;

if (process.send !== undefined) process.once('disconnect', () => process.exit(0));
