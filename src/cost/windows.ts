import { type Duration, parseDuration } from '../shared/duration.js';
import { ConfigError } from '../shared/errors.js';

/** `daily`, `weekly` (ISO weeks, from Monday) and `monthly` follow the calendar of a time zone. */
export type CalendarWindow = 'daily' | 'weekly' | 'monthly';

/** A budget window as configured: a calendar period, or `{ rolling: '24h' }`. */
export type WindowSpec = CalendarWindow | { rolling: Duration };

/** Where "now" falls: the bucket to charge and the buckets that count. */
export interface WindowPosition {
  /** Identifier of the current bucket (a calendar period, or one slice of a rolling window). */
  readonly bucket: string;
  /** Identifiers of every bucket whose spend counts now (one for calendar windows). */
  readonly counted: readonly string[];
  /** Epoch ms when the current window started (for rolling: now minus the duration). */
  readonly start: number;
  /** Epoch ms when the spend counted now starts to fall away (calendar: the next period). */
  readonly reset: number;
  /** Identifier of the window for once-per-window alerts. */
  readonly window: string;
}

/** Slices per rolling window: spend ages out one slice at a time. */
export const ROLLING_SLICES = 24;

/** Computes window positions for one budget, in one time zone. */
export class BudgetWindow {
  readonly spec: WindowSpec;
  readonly timeZone: string;
  readonly #rollingMs: number | undefined;
  readonly #parts: Intl.DateTimeFormat;
  #cached: { from: number; position: WindowPosition } | undefined;

  constructor(spec: WindowSpec, timeZone = 'UTC') {
    this.spec = spec;
    this.timeZone = timeZone;
    try {
      this.#parts = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw new ConfigError(
        `unknown time zone '${timeZone}'; expected an IANA name such as 'Europe/Paris'`,
      );
    }
    if (typeof spec === 'object') {
      const ms = parseDuration(spec.rolling, 'window.rolling');
      if (ms < ROLLING_SLICES * 1_000) {
        throw new ConfigError(`window.rolling must be at least ${ROLLING_SLICES} s, got ${ms} ms`);
      }
      this.#rollingMs = ms;
    } else if (!['daily', 'weekly', 'monthly'].includes(spec)) {
      throw new ConfigError(
        `window must be daily, weekly, monthly or { rolling: '24h' }, got '${String(spec)}'`,
      );
    }
  }

  /** Length of one slice of a rolling window, ms; undefined for calendar windows. */
  get sliceMs(): number | undefined {
    return this.#rollingMs === undefined ? undefined : this.#rollingMs / ROLLING_SLICES;
  }

  /** A short name for logs and the admin API: `daily`, `rolling:86400000`. */
  get name(): string {
    return this.#rollingMs === undefined ? (this.spec as string) : `rolling:${this.#rollingMs}`;
  }

  /**
   * Where `now` falls. The last answer is reused while `now` stays inside its bucket, so the
   * calendar arithmetic (Intl, a few microseconds) runs once per bucket, not per request.
   */
  position(now: number): WindowPosition {
    const cached = this.#cached;
    if (cached !== undefined && now >= cached.from && now < cached.position.reset) {
      if (this.#rollingMs === undefined) return cached.position;
      // A rolling window's start moves with now; its buckets do not within one slice.
      return { ...cached.position, start: now - this.#rollingMs };
    }
    const position = this.#compute(now);
    const from =
      this.#rollingMs === undefined
        ? position.start
        : position.reset - this.#rollingMs / ROLLING_SLICES;
    this.#cached = { from, position };
    return position;
  }

  #compute(now: number): WindowPosition {
    const rollingMs = this.#rollingMs;
    if (rollingMs !== undefined) {
      const slice = rollingMs / ROLLING_SLICES;
      const index = Math.floor(now / slice);
      const counted: string[] = [];
      for (let offset = ROLLING_SLICES - 1; offset >= 0; offset--)
        counted.push(`r${index - offset}`);
      return {
        bucket: `r${index}`,
        counted,
        start: now - rollingMs,
        reset: (index + 1) * slice,
        window: `r${index}`,
      };
    }
    const local = this.#local(now);
    let start: [number, number, number];
    let next: [number, number, number];
    let bucket: string;
    switch (this.spec as CalendarWindow) {
      case 'daily':
        start = [local.year, local.month, local.day];
        next = [local.year, local.month, local.day + 1];
        bucket = `d${iso(start)}`;
        break;
      case 'weekly': {
        const weekday =
          (new Date(Date.UTC(local.year, local.month - 1, local.day)).getUTCDay() + 6) % 7;
        start = [local.year, local.month, local.day - weekday];
        next = [local.year, local.month, local.day - weekday + 7];
        bucket = `w${iso(start)}`;
        break;
      }
      case 'monthly':
        start = [local.year, local.month, 1];
        next = [local.year, local.month + 1, 1];
        bucket = `m${local.year}-${String(local.month).padStart(2, '0')}`;
        break;
    }
    return {
      bucket,
      counted: [bucket],
      start: this.#midnight(start),
      reset: this.#midnight(next),
      window: bucket,
    };
  }

  #local(instant: number): {
    year: number;
    month: number;
    day: number;
    hour: number;
    minute: number;
    second: number;
  } {
    const fields: Record<string, number> = {};
    for (const part of this.#parts.formatToParts(instant)) {
      if (part.type !== 'literal') fields[part.type] = Number(part.value);
    }
    return {
      year: fields.year ?? 1970,
      month: fields.month ?? 1,
      day: fields.day ?? 1,
      hour: fields.hour ?? 0,
      minute: fields.minute ?? 0,
      second: fields.second ?? 0,
    };
  }

  /** The instant of local midnight on a (possibly unnormalised) calendar date in the zone. */
  #midnight([year, month, day]: [number, number, number]): number {
    const target = Date.UTC(year, month - 1, day);
    // Start from the date at UTC midnight and correct by the zone's offset; twice, so a DST
    // change between the guess and the answer is taken into account.
    let guess = target;
    for (let attempt = 0; attempt < 3; attempt++) {
      const local = this.#local(guess);
      const asUtc = Date.UTC(
        local.year,
        local.month - 1,
        local.day,
        local.hour,
        local.minute,
        local.second,
      );
      const next = guess - (asUtc - target);
      if (next === guess) break;
      guess = next;
    }
    return guess;
  }
}

function iso([year, month, day]: [number, number, number]): string {
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.toISOString().slice(0, 10);
}
