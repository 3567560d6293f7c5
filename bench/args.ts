import { parseArgs } from 'node:util';

export interface BenchArgs {
  /** Write the figures to this JSON file. */
  json: string | undefined;
  /** Shorter runs, for smoke tests. */
  quick: boolean;
}

/** Parses the flags every bench suite accepts: `--json FILE`, `--quick`. */
export function parseBenchArgs(args: string[]): BenchArgs {
  const { values } = parseArgs({
    args,
    options: { json: { type: 'string' }, quick: { type: 'boolean', default: false } },
    allowPositionals: false,
  });
  return { json: values.json, quick: values.quick ?? false };
}
