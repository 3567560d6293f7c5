/** Where Sluice reads the time. Inject a manual clock in tests instead of sleeping. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: Date.now };

let cachedNow = 0;
let cacheValid = false;
const invalidate = () => {
  cacheValid = false;
};

/**
 * The system clock read at most once per millisecond: the first read caches `Date.now()`
 * and an unref'd 1 ms timer clears it (lru-cache's `ttlResolution`). Reading the clock on
 * every cache hit costs as much as the hit itself; TTLs do not need sub-millisecond time.
 * Inside one long synchronous stretch the time does not advance.
 */
export const coarseClock: Clock = {
  now(): number {
    if (!cacheValid) {
      cachedNow = Date.now();
      cacheValid = true;
      setTimeout(invalidate, 1).unref();
    }
    return cachedNow;
  },
};

/** A clock that only moves when told to; for tests and simulations. */
export class ManualClock implements Clock {
  private current: number;

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  advance(milliseconds: number): void {
    this.current += milliseconds;
  }

  set(time: number): void {
    this.current = time;
  }
}
