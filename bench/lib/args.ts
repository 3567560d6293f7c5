import { parseArgs } from 'node:util';
import { ConfigError } from '../../src/shared/errors.js';

export interface BenchArgs {
  /** Write the figures to this JSON file. */
  json: string | undefined;
  /** Shorter runs, for smoke tests. */
  quick: boolean;
  /** Values of the suite's own string options (named in `parseBenchArgs`'s `extra`). */
  extra: Record<string, string | undefined>;
}

/**
 * Parses the flags every bench suite accepts: `--json FILE`, `--quick`; plus, for one suite,
 * the string options named in `extra` (e.g. `['policies']` for `--policies lru,tinylfu`).
 */
export function parseBenchArgs(args: string[], extra: readonly string[] = []): BenchArgs {
  const options: Record<string, { type: 'string' } | { type: 'boolean'; default: boolean }> = {
    json: { type: 'string' },
    quick: { type: 'boolean', default: false },
  };
  for (const name of extra) options[name] = { type: 'string' };
  const { values } = parseArgs({ args, options, allowPositionals: false });
  const text = (name: string): string | undefined => {
    const value = values[name];
    return typeof value === 'string' ? value : undefined;
  };
  const extraValues: Record<string, string | undefined> = {};
  for (const name of extra) extraValues[name] = text(name);
  return { json: text('json'), quick: values.quick === true, extra: extraValues };
}

/** A suite's numeric flag: above 0 and at most `max`; undefined when not given. */
export function positiveNumber(
  flag: string,
  text: string | undefined,
  max: number,
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0 || value > max) {
    throw new ConfigError(`--${flag} must be a number above 0 and at most ${max}, got '${text}'`);
  }
  return value;
}
