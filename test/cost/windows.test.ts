import { describe, expect, it } from 'vitest';
import { BudgetWindow } from '../../src/cost/windows.js';

const HOUR = 3_600_000;

describe('budget windows', () => {
  it('daily windows follow midnight in the configured time zone', () => {
    const paris = new BudgetWindow('daily', 'Europe/Paris');
    // 2026-03-10 23:30 UTC is already March 11 in Paris (UTC+1 in winter).
    const position = paris.position(Date.UTC(2026, 2, 10, 23, 30));
    expect(position.bucket).toBe('d2026-03-11');
    expect(position.start).toBe(Date.UTC(2026, 2, 10, 23, 0));
    expect(position.reset).toBe(Date.UTC(2026, 2, 11, 23, 0));
    const utc = new BudgetWindow('daily').position(Date.UTC(2026, 2, 10, 23, 30));
    expect(utc.bucket).toBe('d2026-03-10');
    expect(utc.reset).toBe(Date.UTC(2026, 2, 11));
  });

  it('a day across a daylight-saving change is 23 hours long', () => {
    const newYork = new BudgetWindow('daily', 'America/New_York');
    // Clocks spring forward on 2026-03-08 at 02:00 local time.
    const position = newYork.position(Date.UTC(2026, 2, 8, 12));
    expect(position.reset - position.start).toBe(23 * HOUR);
    expect(position.start).toBe(Date.UTC(2026, 2, 8, 5));
  });

  it('weekly windows start on Monday, monthly on the first', () => {
    // 2026-11-22 is a Sunday.
    const week = new BudgetWindow('weekly').position(Date.UTC(2026, 10, 22, 12));
    expect(week.bucket).toBe('w2026-11-16');
    expect(week.reset).toBe(Date.UTC(2026, 10, 23));
    const month = new BudgetWindow('monthly').position(Date.UTC(2026, 11, 31, 23, 59));
    expect(month.bucket).toBe('m2026-12');
    expect(month.reset).toBe(Date.UTC(2027, 0, 1));
  });

  it('rolling windows count the last slices and age out one slice at a time', () => {
    const rolling = new BudgetWindow({ rolling: '24h' });
    const now = Date.UTC(2026, 0, 1, 12, 30);
    const position = rolling.position(now);
    expect(position.counted).toHaveLength(24);
    expect(position.counted.at(-1)).toBe(position.bucket);
    const later = rolling.position(now + HOUR);
    expect(later.counted).not.toContain(position.counted[0]);
    expect(later.counted).toContain(position.bucket);
  });

  it('refuses an unknown time zone and a tiny rolling window', () => {
    expect(() => new BudgetWindow('daily', 'Mars/Olympus')).toThrow(/unknown time zone/);
    expect(() => new BudgetWindow({ rolling: '1s' })).toThrow(/at least 24 s/);
    expect(() => new BudgetWindow('hourly' as 'daily')).toThrow(/daily, weekly, monthly/);
  });
});
