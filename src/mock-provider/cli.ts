import { parseArgs } from 'node:util';
import { ConfigError } from '../shared/errors.js';
import { MAX_ANSWER_WORDS } from './answers.js';
import { createMockProvider, type MockProviderOptions } from './server.js';

const USAGE = `Usage: sluice mock-provider [options]

An OpenAI-compatible upstream (/v1/chat/completions, /v1/embeddings, /v1/models, and the
Batch API: /v1/files, /v1/batches) with deterministic answers, for tests, demos and
benchmarks. Runs until SIGINT or SIGTERM.

Options:
  --port N             Port to listen on; 0 picks a free one          (default 9000)
  --host H             Address to listen on                           (default 127.0.0.1)
  --ttft MS            Time to first token, milliseconds              (default 0)
  --token-ms MS        Latency per further output token, milliseconds (default 0)
  --max-tokens N       Longest answer without max_tokens, words       (default 64)
  --error-429-rate R   Share of requests answered 429, 0 to 1         (default 0)
  --error-500-rate R   Share of requests answered 500, 0 to 1         (default 0)
  --timeout-rate R     Share of requests never answered, 0 to 1       (default 0)
  --cut-rate R         Share of answers cut midway, 0 to 1            (default 0)
  --seed N             Seed of the fault generator, an integer        (default 1)
  --batch-delay MS     Time a Batch API batch takes, milliseconds     (default 0)
  --api-key KEY        Require "authorization: Bearer KEY"            (default: no check)
  -h, --help           Show this help

Per request, the header x-mock-fault: 429|500|timeout|cut|400 forces a fault and
x-mock-ttft-ms / x-mock-token-ms set the latency.`;

/** What the command line asks for: where to listen and how the mock behaves. */
export interface MockProviderCommand {
  /**
   * Port to listen on; 0 picks a free one.
   * @default 9000
   */
  port: number;
  /**
   * Address to listen on.
   * @default '127.0.0.1'
   */
  host: string;
  /** Latency, length, fault and key settings, as `createMockProvider` takes them. */
  options: MockProviderOptions;
}

/** Parses one numeric flag, refusing anything but a number in [min, max]. */
function numberFlag(
  flag: string,
  value: string,
  { min, max, integer }: { min: number; max: number; integer: boolean },
): number {
  const parsed = value.trim() === '' ? Number.NaN : Number(value);
  const valid = integer ? Number.isSafeInteger(parsed) : Number.isFinite(parsed);
  if (!valid || parsed < min || parsed > max) {
    const kind = integer ? 'an integer' : 'a number';
    throw new ConfigError(`--${flag} must be ${kind} from ${min} to ${max}, got '${value}'`);
  }
  return parsed;
}

const MILLISECONDS = { min: 0, max: Number.MAX_SAFE_INTEGER, integer: false };
const RATE = { min: 0, max: 1, integer: false };

/**
 * Parses `sluice mock-provider` arguments; undefined for `--help`. Throws a `ConfigError` that
 * names the flag for unknown flags and bad values.
 */
export function parseMockProviderArgs(args: string[]): MockProviderCommand | undefined {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        ttft: { type: 'string' },
        'token-ms': { type: 'string' },
        'max-tokens': { type: 'string' },
        'error-429-rate': { type: 'string' },
        'error-500-rate': { type: 'string' },
        'timeout-rate': { type: 'string' },
        'cut-rate': { type: 'string' },
        seed: { type: 'string' },
        'batch-delay': { type: 'string' },
        'api-key': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}\n\n${USAGE}`, { cause: error });
  }
  if (values.help === true) return undefined;
  const text = (flag: string): string | undefined => {
    const value = values[flag];
    return typeof value === 'string' ? value : undefined;
  };
  const number = (
    flag: string,
    bounds: { min: number; max: number; integer: boolean },
  ): number | undefined => {
    const value = text(flag);
    return value === undefined ? undefined : numberFlag(flag, value, bounds);
  };
  const options: MockProviderOptions = {
    ttftMs: number('ttft', MILLISECONDS),
    tokenMs: number('token-ms', MILLISECONDS),
    maxTokens: number('max-tokens', { min: 1, max: MAX_ANSWER_WORDS, integer: true }),
    error429Rate: number('error-429-rate', RATE),
    error500Rate: number('error-500-rate', RATE),
    timeoutRate: number('timeout-rate', RATE),
    cutRate: number('cut-rate', RATE),
    seed: number('seed', {
      min: Number.MIN_SAFE_INTEGER,
      max: Number.MAX_SAFE_INTEGER,
      integer: true,
    }),
    batchDelayMs: number('batch-delay', MILLISECONDS),
    apiKey: text('api-key'),
  };
  const host = text('host') ?? '127.0.0.1';
  if (host.trim() === '') throw new ConfigError('--host must not be empty');
  return {
    port: number('port', { min: 0, max: 65_535, integer: true }) ?? 9000,
    host,
    options,
  };
}

/**
 * `sluice mock-provider`: starts the mock, prints
 * `mock provider listening on http://HOST:PORT/v1`, and runs until SIGINT or SIGTERM (or
 * until `signal` aborts), then closes it, hung requests included.
 */
export async function runMockProvider(
  args: string[],
  { signal }: { signal?: AbortSignal } = {},
): Promise<void> {
  const command = parseMockProviderArgs(args);
  if (command === undefined) {
    console.log(USAGE);
    return;
  }
  const provider = createMockProvider(command.options);
  const { url } = await provider.listen(command.port, command.host);
  console.log(`mock provider listening on ${url}`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (signal?.aborted) stop();
    else signal?.addEventListener('abort', stop, { once: true });
  });
  await provider.close();
}
