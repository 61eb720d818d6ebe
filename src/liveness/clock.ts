/** Time source and timers, injected everywhere something waits so tests can drive time. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * `base`'s time, counted from the moment this is called. A server's liveness engines keep
 * several timestamps per connection: counted from the server's start they stay small integers
 * for 24 days, which V8 stores in the object itself; epoch milliseconds (1.7e12) need a
 * separate 16-byte heap number for each. Differences, the only thing decisions use, are the
 * same.
 */
export function clockFromNow(base: Clock): Clock {
  const origin = base.now();
  return { now: () => base.now() - origin, setTimeout: (fn, ms) => base.setTimeout(fn, ms), clearTimeout: (handle) => base.clearTimeout(handle) };
}
