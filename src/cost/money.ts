/**
 * Exact money. Amounts are integer **nano-dollars** (1e-9 USD) held in JS numbers, exact up to
 * `Number.MAX_SAFE_INTEGER` nanos (about $9 million). Prices are integer **pico-dollars per
 * token** (1e-12 USD): $X per 1M tokens is X × 1e6 pico/token, so every price written with up to
 * six decimals per 1M tokens is exact.
 *
 * Conversions go through the decimal text of a value (`String(0.1)` is `'0.1'`), never through
 * float multiplication, so `usdToNanos(0.1)` is exactly 100_000_000 and a LiteLLM price of
 * `1.5e-7` USD per token is exactly 150_000 pico. Floats are never accumulated.
 */
import { ConfigError, SluiceError } from '../shared/errors.js';

/** An amount of money in integer nano-dollars (1e-9 USD). */
export type Nanos = number;
/** A price in integer pico-dollars (1e-12 USD) per token. */
export type PicosPerToken = number;

/** Nano-dollars in one US dollar. */
export const NANOS_PER_USD = 1_000_000_000;
/** Pico-dollars in one nano-dollar. */
export const PICOS_PER_NANO = 1_000;

const PICOS_PER_NANO_BIG = 1_000n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const DECIMAL_PATTERN = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** How a decimal that does not land on a whole unit is turned into an integer. */
export type DecimalRounding = 'exact' | 'half-up';

/** A parsed decimal: `sign × digits × 10^exponent`. */
interface Decimal {
  negative: boolean;
  digits: bigint;
  exponent: number;
}

function parseDecimal(value: number | string, label: string): Decimal {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ConfigError(`${label} must be a finite number`);
    text = String(value);
  } else if (typeof value === 'string') {
    text = value.trim();
  } else {
    throw new ConfigError(`${label} must be a number or a decimal string, got ${typeof value}`);
  }
  const match = DECIMAL_PATTERN.exec(text);
  const whole = match?.[2] ?? '';
  const fraction = match?.[3] ?? '';
  if (match === null || whole.length + fraction.length === 0) {
    throw new ConfigError(`${label} must be a decimal number, got '${text}'`);
  }
  const exponent = Number(match[4] ?? '0');
  if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > 400) {
    throw new ConfigError(`${label} is out of range: '${text}'`);
  }
  return {
    negative: match[1] === '-',
    digits: BigInt(`${whole}${fraction}` || '0'),
    exponent: exponent - fraction.length,
  };
}

/**
 * Converts a decimal value to an integer count of `10^-scale` units, exactly or rounding half
 * away from zero. Throws a `ConfigError` naming `label` when rounding is needed but `exact` was
 * asked for, or when the result is not a safe integer.
 */
function toScaledInteger(
  value: number | string,
  scale: number,
  rounding: DecimalRounding,
  label: string,
  unit: string,
): number {
  const decimal = parseDecimal(value, label);
  const shift = decimal.exponent + scale;
  let magnitude: bigint;
  if (shift >= 0) {
    magnitude = decimal.digits * 10n ** BigInt(shift);
  } else {
    const divisor = 10n ** BigInt(-shift);
    const remainder = decimal.digits % divisor;
    magnitude = decimal.digits / divisor;
    if (remainder !== 0n) {
      if (rounding === 'exact') {
        throw new ConfigError(`${label} has more precision than one ${unit}: '${value}'`);
      }
      if (remainder * 2n >= divisor) magnitude += 1n;
    }
  }
  if (magnitude > MAX_SAFE) throw new ConfigError(`${label} is too large: '${value}'`);
  const result = Number(magnitude);
  return decimal.negative && result !== 0 ? -result : result;
}

/**
 * Converts US dollars to nano-dollars through the value's decimal text (`5` → 5_000_000_000,
 * `0.1` → 100_000_000 exactly). Digits below one nano-dollar are rounded half away from zero,
 * so float noise such as `0.1 + 0.2` still gives 300_000_000.
 */
export function usdToNanos(usd: number | string, label = 'amount'): Nanos {
  return toScaledInteger(usd, 9, 'half-up', label, 'nano-dollar');
}

/** Converts nano-dollars to a float of US dollars. For display only: never add these up. */
export function nanosToUsd(nanos: Nanos): number {
  return nanos / NANOS_PER_USD;
}

/** Formats nano-dollars as US dollars with exactly nine decimals, e.g. `'0.000123450'`. */
export function formatUsd(nanos: Nanos): string {
  if (!Number.isSafeInteger(nanos)) {
    throw new SluiceError('E_MONEY', `formatUsd expects integer nano-dollars, got ${nanos}`);
  }
  const magnitude = Math.abs(nanos);
  const fraction = magnitude % NANOS_PER_USD;
  const whole = (magnitude - fraction) / NANOS_PER_USD;
  return `${nanos < 0 ? '-' : ''}${whole}.${String(fraction).padStart(9, '0')}`;
}

/**
 * Converts a price in US dollars per million tokens to integer pico-dollars per token, exactly
 * (`0.15` → 150_000, `'2.5'` → 2_500_000). Throws a `ConfigError` for a negative price or one
 * with more precision than a pico-dollar per token (more than six decimals per 1M tokens).
 */
export function perMillionToPico(usdPerMillion: number | string, label = 'price'): PicosPerToken {
  const picos = toScaledInteger(usdPerMillion, 6, 'exact', label, 'pico-dollar per token');
  if (picos < 0) throw new ConfigError(`${label} must not be negative, got '${usdPerMillion}'`);
  return picos;
}

/**
 * Converts a price in US dollars per token (LiteLLM's unit, e.g. `1.5e-7`) to integer
 * pico-dollars per token through the number's shortest decimal text, so `1.5e-7` is exactly
 * 150_000. With `rounding: 'half-up'` (the default), digits below one pico-dollar, which only
 * float noise produces (`2.9999900000000002e-6`), are rounded to the nearest pico.
 */
export function perTokenToPico(
  usdPerToken: number | string,
  label = 'price',
  rounding: DecimalRounding = 'half-up',
): PicosPerToken {
  const picos = toScaledInteger(usdPerToken, 12, rounding, label, 'pico-dollar per token');
  if (picos < 0) throw new ConfigError(`${label} must not be negative, got '${usdPerToken}'`);
  return picos;
}

/** Converts pico-dollars per token back to US dollars per million tokens, for display. */
export function picoToPerMillion(picos: PicosPerToken): number {
  return picos / 1_000_000;
}

/** Rounds a non-negative amount of pico-dollars to nano-dollars, half up. */
export function picosToNanosHalfUp(picos: bigint): Nanos {
  return toSafeNumber((picos + PICOS_PER_NANO_BIG / 2n) / PICOS_PER_NANO_BIG);
}

/**
 * `picosToNanosHalfUp` for an amount held in a number: exact for a non-negative integer up to
 * `Number.MAX_SAFE_INTEGER - 500` picos (the caller checks), without a BigInt per step. The
 * division is exact too: the remainder is taken off before dividing, so the quotient is a whole
 * number that a double holds exactly.
 */
export function safePicosToNanosHalfUp(picos: number): Nanos {
  const shifted = picos + PICOS_PER_NANO / 2;
  return (shifted - (shifted % PICOS_PER_NANO)) / PICOS_PER_NANO;
}

/** Rounds a non-negative amount of pico-dollars up to whole nano-dollars (for reservations). */
export function picosToNanosCeil(picos: bigint): Nanos {
  return toSafeNumber((picos + PICOS_PER_NANO_BIG - 1n) / PICOS_PER_NANO_BIG);
}

function toSafeNumber(value: bigint): number {
  if (value > MAX_SAFE || value < -MAX_SAFE) {
    throw new SluiceError('E_MONEY', `amount ${value} nano-dollars is beyond exact range`);
  }
  return Number(value);
}
