// Time enters the engine only through a Clock, so tests and the simulator can control it.
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told: for tests, the simulator and clock-jump fault injection. */
export class ManualClock implements Clock {
  private current: number;
  constructor(start: number | string = '2026-01-01T00:00:00.000Z') {
    this.current = typeof start === 'string' ? Date.parse(start) : start;
  }
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
  set(ms: number | string): void {
    this.current = typeof ms === 'string' ? Date.parse(ms) : ms;
  }
}

let lastMs = Number.NaN;
let lastIso = '';

/**
 * The ISO-8601 form of an instant. Every command stamps its time, and thousands share a
 * millisecond under load: the last answer is reused, which saves the Date and the formatting and
 * lets those commands' events share one string.
 */
export const isoOf = (ms: number): string => {
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastIso;
};
