#!/usr/bin/env node
import { SluiceError } from '../shared/errors.js';

const USAGE = `Usage: sluice <command> [options]

Commands:
  demo                      Two processes share a Redis-backed tiered cache: hit ratios,
                            cross-process single-flight, invalidation latency, L3 restarts
  bench <suite> [--json F]  Run a benchmark suite and print a table:
                            cache-ops   throughput and latency vs lru-cache, bentocache
                            hit-ratio   eviction hit ratio on reference traces [--policies a,b]

Options:
  -h, --help                Show this help`;

const SUITES: Record<string, () => Promise<{ run(args: string[]): Promise<void> }>> = {
  'cache-ops': () => import('../../bench/cache-ops.js'),
  'hit-ratio': () => import('../../bench/hit-ratio.js'),
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'demo': {
      const { runDemo } = await import('./demo.js');
      await runDemo(rest);
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
    const message =
      error instanceof SluiceError ? `${error.code}: ${error.message}` : (error as Error).stack;
    console.error(message);
    process.exitCode = 1;
  },
);
