/**
 * Off-peak windows: a daily span of wall-clock time in a time zone, such as 01:00–06:00 in
 * `Europe/Paris`, during which deferred work may run. A window may wrap midnight (22:00–05:00).
 */
import { ConfigError } from '../shared/errors.js';

/** A daily window, as configured. */
export interface OffPeakWindow {
  /** Start, `'HH:MM'` (24-hour), inclusive. */
  start: string;
  /** End, `'HH:MM'` (24-hour), exclusive; earlier than `start` for a window across midnight. */
  end: string;
  /**
   * IANA time zone the times are read in.
   * @default 'UTC'
   */
  timeZone?: string;
}

/** A checked window: tells whether an instant falls inside it. */
export interface OffPeakSchedule {
  readonly start: string;
  readonly end: string;
  readonly timeZone: string;
  /** Whether `time` (milliseconds since the epoch) is inside the window. */
  contains(time: number): boolean;
}

const TIME_PATTERN = /^([01]\d|2[0-3]):([0-5]\d)$/;

function minuteOfDay(name: string, value: string): number {
  const match = typeof value === 'string' ? TIME_PATTERN.exec(value.trim()) : null;
  if (match === null) {
    throw new ConfigError(
      `offPeak.${name} must be a time 'HH:MM' from 00:00 to 23:59, got '${value}'`,
    );
  }
  return Number(match[1]) * 60 + Number(match[2]);
}

/** Parses and checks a window; throws a `ConfigError` for bad times, an empty window or an unknown zone. */
export function createOffPeakSchedule(window: OffPeakWindow): OffPeakSchedule {
  const start = minuteOfDay('start', window.start);
  const end = minuteOfDay('end', window.end);
  if (start === end) {
    throw new ConfigError(
      `offPeak.start and offPeak.end are both ${window.start}: the window would be empty`,
    );
  }
  const timeZone = window.timeZone ?? 'UTC';
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
  } catch (error) {
    throw new ConfigError(`offPeak.timeZone '${timeZone}' is not a known IANA time zone`, {
      cause: error,
    });
  }
  const localMinute = (time: number): number => {
    let hour = 0;
    let minute = 0;
    for (const part of format.formatToParts(time)) {
      if (part.type === 'hour') hour = Number(part.value) % 24;
      else if (part.type === 'minute') minute = Number(part.value);
    }
    return hour * 60 + minute;
  };
  return {
    start: window.start,
    end: window.end,
    timeZone,
    contains(time) {
      const minute = localMinute(time);
      return start < end ? minute >= start && minute < end : minute >= start || minute < end;
    },
  };
}
