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
  return { now: () => smallInteger(base.now() - origin), setTimeout: (fn, ms) => base.setTimeout(fn, ms), clearTimeout: (handle) => base.clearTimeout(handle) };
}

/**
 * `base`'s time, never going back: a step back (the wall clock set back) counts as no time
 * passing, and time goes on from there. For rate limits, which keep only the time at which
 * each bucket is full again: on a clock set back 10 s, every bucket would look 10 s emptier
 * (down to empty), the refusal counter too, so a connection refused once more would be closed
 * as abusive.
 */
export function forwardOnly(base: { now(): number }): { now(): number } {
  let last = base.now();
  let behind = 0;
  return {
    now: () => {
      const t = base.now() + behind;
      if (t >= last) return (last = t);
      behind += last - t;
      return last;
    },
  };
}

/**
 * The same number, as V8's small integer when it is one. A difference of two epoch times is a
 * double until the code computing it is optimised: the first connections' engines kept it as a
 * 16-byte heap number in every timestamp that was never written again (a server engine's
 * lastSentAt: a box on each of the first ~1,000 connections). `| 0` yields an int32, which V8
 * keeps unboxed at every tier; a value beyond int32 (after 24 days) is returned as it is.
 */
export function smallInteger(n: number): number {
  const int = n | 0;
  return int === n ? int : n;
}
