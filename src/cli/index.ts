#!/usr/bin/env node
import { SluiceError } from '../shared/errors.js';

const USAGE = `Usage: sluice <command> [options]

Commands:
  serve [--config FILE] [--host H] [--port N]
                            Run the OpenAI-compatible gateway (config: FILE, SLUICE_CONFIG,
                            or OPENAI_API_KEY/OPENAI_BASE_URL for one provider)
  mock-provider [--port N] [--ttft MS] [--token-ms MS] [--error-429-rate R]
                [--error-500-rate R] [--timeout-rate R] [--cut-rate R] [--seed N]
                            An OpenAI-compatible upstream for tests, demos and benchmarks
  demo [--sessions N] [--concurrency N] [--ttft-ms MS] [--token-ms MS]
                            Replay an agent workload straight to a mock upstream and through
                            the gateway; print requests, hit ratio, calls avoided, latency
  demo cache                Two processes share a Redis-backed tiered cache: hit ratios,
                            cross-process single-flight, invalidation latency, L3 restarts
  bench <suite> [--json F]  Run a benchmark suite and print a table:
                            cache-ops   throughput and latency vs lru-cache, bentocache
                            hit-ratio   eviction hit ratio on reference traces [--policies a,b]
                            budget      added latency of budgets and the ledger (embedded, Redis)
                            gateway     throughput and added latency vs a bare proxy and Portkey
                            routing     success under injected faults; cost of model: auto
                            semantic    paraphrase protocol, QQP precision, lookup latency
                            agent       context manager, tool cache, parallel tools, warm pools
                            soak        RSS, SQLite file sizes and spend kept over a run; hostile bodies

Options:
  -h, --help                Show this help`;

/** How long a failed command may take to close what it opened before the process exits. */
const EXIT_GRACE_MS = 1_000;

const SUITES: Record<string, () => Promise<{ run(args: string[]): Promise<void> }>> = {
  agent: () => import('../../bench/agent.js'),
  budget: () => import('../../bench/budget.js'),
  'cache-ops': () => import('../../bench/cache-ops.js'),
  gateway: () => import('../../bench/gateway.js'),
  'hit-ratio': () => import('../../bench/hit-ratio.js'),
  routing: () => import('../../bench/routing.js'),
  semantic: () => import('../../bench/semantic.js'),
  soak: () => import('../../bench/soak.js'),
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      const { runServe } = await import('./serve.js');
      await runServe(rest);
      return 0;
    }
    case 'mock-provider': {
      const { runMockProvider } = await import('../mock-provider/cli.js');
      await runMockProvider(rest);
      return 0;
    }
    case 'demo': {
      if (rest[0] === 'cache') {
        const { runDemo } = await import('./demo.js');
        await runDemo(rest.slice(1));
        return 0;
      }
      const { runGatewayDemo } = await import('./gateway-demo.js');
      await runGatewayDemo(rest);
      return 0;
    }
    case 'bench': {
      const [suite, ...args] = rest;
      const load = suite === undefined ? undefined : SUITES[suite];
      if (load === undefined) {
        console.error(
          `unknown or missing suite '${suite ?? ''}'; available: ${Object.keys(SUITES).join(', ')}`,
        );
        return 2;
      }
      let module: { run(args: string[]): Promise<void> };
      try {
        module = await load();
      } catch (error) {
        if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
        console.error(
          `the ${suite} benchmark needs Sluice's development dependencies (its baselines): run it from a clone after npm ci\n${(error as Error).message}`,
        );
        return 1;
      }
      await module.run(args);
      return 0;
    }
    case undefined:
    case '-h':
    case '--help':
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      console.error(`unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const code = (error as { code?: unknown }).code;
    const message =
      error instanceof SluiceError
        ? `${error.code}: ${error.message}`
        : typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')
          ? `${(error as Error).message}\n\n${USAGE}`
          : (error as Error).stack;
    console.error(message);
    process.exitCode = typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS') ? 2 : 1;
    // A failed command ends the process: what it opened is being closed, and whatever is
    // still open after a second (a Redis client retrying, a pool) must not keep it alive.
    setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
  },
);
