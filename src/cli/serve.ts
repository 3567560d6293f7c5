import { parseArgs } from 'node:util';
import { isLoopback, loadConfig } from '../gateway/config.js';
import { createGateway } from '../gateway/gateway.js';
import { ConfigError } from '../shared/errors.js';

/** `sluice serve [--config FILE] [--host H] [--port N]`: runs the gateway until SIGINT/SIGTERM. */
export async function runServe(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      host: { type: 'string' },
      port: { type: 'string', short: 'p' },
    },
    strict: true,
  });
  const config = loadConfig(values.config);
  const host = values.host ?? config.server.host;
  const port = values.port === undefined ? config.server.port : parsePort(values.port);
  if (config.keys.length === 0 && !isLoopback(host)) {
    throw new ConfigError(
      `--host ${host}: with no keys configured the gateway runs open and binds loopback only`,
    );
  }
  const gateway = createGateway(config);
  let url: string;
  try {
    ({ url } = await gateway.listen({ host, port }));
  } catch (error) {
    // The port is taken, or budgets could not be restored: close what the gateway opened
    // (Redis connections, files) so the process can exit with the error.
    await gateway.close().catch(() => {});
    throw error;
  }
  gateway.app.log.info(
    { url, config: config.source, providers: config.providers.map((provider) => provider.name) },
    `sluice gateway listening on ${url} (OpenAI base URL: ${url}/v1, dashboard: ${url}/dashboard)`,
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      gateway.app.log.warn(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    gateway.app.log.info(
      `${signal}: draining in-flight requests (up to ${config.server.shutdownTimeoutMs} ms)`,
    );
    gateway.close().then(
      () => process.exit(0),
      (error: unknown) => {
        gateway.app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new ConfigError(`--port must be a whole number from 0 to 65535, got '${text}'`);
  }
  return port;
}
