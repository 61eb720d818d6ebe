import { smallInteger } from "../liveness/clock.js";

/** Reads the time; a fake clock drives it in tests. */
export interface TimeSource {
  now(): number;
}

/**
 * A token bucket, as one number: the time at which it is full again (at or before now, it is
 * full), or null for one nobody has taken from yet (full too). Its tokens are
 * burst - (fullAt - now) / msPerToken, and taking n pushes fullAt n token-times later.
 *
 * Held as its tokens and the time they were counted, a bucket was an object of its own with
 * its rate and clock copied in, and its fractional token count a separate 16-byte heap number:
 * 80 bytes each. fullAt moves by whole milliseconds at a rate that divides 1000 (every default
 * but the byte rates), so counted on the limiter's clock (from its start) it stays a small
 * integer, which V8 keeps inside the object holding it, with no box.
 */
export type Bucket = number | null;

/**
 * A token bucket's rate and burst, and the arithmetic of every bucket that has them. A bucket
 * holds up to `burst` tokens and refills at `perSecond`; a request costing n tokens passes
 * when n are there, otherwise it is refused with the wait until they would be. Pure
 * arithmetic on timestamps: no timers, so a late event loop cannot make it wrong.
 */
export class BucketRate {
  /** Milliseconds a token takes to come back. */
  private readonly msPerToken: number;
  /** Milliseconds an empty bucket takes to be full. */
  readonly msToFill: number;

  constructor(
    readonly perSecond: number,
    readonly burst: number,
  ) {
    if (!(perSecond > 0) || !(burst > 0)) throw new RangeError(`a token bucket needs perSecond > 0 and burst > 0, got ${perSecond} / ${burst}`);
    this.msPerToken = smallInteger(1000 / perSecond);
    this.msToFill = burst * this.msPerToken;
  }

  /**
   * Milliseconds until `cost` tokens are in the bucket: 0 when they are now. A cost above the
   * burst is charged as a full bucket, so a single large request is never refused forever.
   */
  waitMs(bucket: Bucket, now: number, cost = 1): number {
    const missing = this.owedMs(bucket, now) + this.costMs(cost) - this.msToFill;
    return missing > 0 ? Math.ceil(missing) : 0;
  }

  /** The bucket once `cost` tokens are taken at `now`. Only after waitMs said 0: nothing is refused here. */
  take(bucket: Bucket, now: number, cost = 1): number {
    // A small integer when it is one (see Bucket): arithmetic on doubles may give 200 as a heap number.
    return smallInteger(now + this.owedMs(bucket, now) + this.costMs(cost));
  }

  /** Tokens there now (for tests and stats). */
  available(bucket: Bucket, now: number): number {
    return this.burst - this.owedMs(bucket, now) / this.msPerToken;
  }

  /** Milliseconds until the bucket is full again (0 when it is). */
  msUntilFull(bucket: Bucket, now: number): number {
    return Math.ceil(this.owedMs(bucket, now));
  }

  /**
   * The refill still to come. Never more than a full one: taking only ever moves fullAt up to
   * that far ahead, but on a clock that stepped back a bucket would owe the step too, and wait
   * longer than an empty bucket does.
   */
  private owedMs(bucket: Bucket, now: number): number {
    return bucket === null ? 0 : Math.min(Math.max(bucket - now, 0), this.msToFill);
  }

  /** Milliseconds that `cost` tokens take to come back (a cost above the burst counts as the burst). */
  costMs(cost: number): number {
    return Math.min(cost, this.burst) * this.msPerToken;
  }
}
