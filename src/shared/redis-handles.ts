import type { Redis } from 'ioredis';

/**
 * Lets the process exit while `client` is idle, as it would without Sluice: the client's socket
 * and its reconnect timer hold the event loop only while a command is in flight. A script that
 * forgets `close()` then ends by itself, and no reply it awaits is cut off (a bare
 * `stream.unref()` would let the process exit with replies pending, which is why ioredis has no
 * such option: redis/ioredis#44). Only for clients Sluice creates and closes itself; a client
 * the caller hands in is left as it is.
 */
export function unrefWhenIdle(client: Redis): void {
  let inFlight = 0;
  const apply = () => {
    // `stream` is unset until the first connection attempt.
    const stream = client.stream as Redis['stream'] | undefined;
    if (inFlight > 0) stream?.ref();
    else stream?.unref();
  };
  const send = client.sendCommand.bind(client);
  const settled = () => {
    inFlight--;
    if (inFlight === 0) apply();
  };
  // Every command (pipelines and scripts too) goes through sendCommand.
  client.sendCommand = (command, stream) => {
    inFlight++;
    if (inFlight === 1) apply();
    command.promise.then(settled, settled);
    return send(command, stream);
  };
  client.on('connect', apply);
  client.on('reconnecting', () => {
    // ioredis keeps the retry timer in a private field and never unrefs it.
    (client as unknown as { reconnectTimeout?: NodeJS.Timeout | null }).reconnectTimeout?.unref();
  });
}
