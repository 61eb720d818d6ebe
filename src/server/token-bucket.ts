/** Reads the time; a fake clock drives it in tests. */
export interface TimeSource {
  now(): number;
}

/**
 * A token bucket: holds up to `burst` tokens, refills at `perSecond`. A request costing n
 * tokens passes when n are there; otherwise it is refused with the wait until they would be.
 * Pure arithmetic on timestamps: no timers, so a late event loop cannot make it wrong.
 */
export class TokenBucket {
  // `tokens` is fractional: starting as a number, V8 keeps it as a double updated in place.
  // `at` comes from a clock counted from the limiter's start (a small integer): left generic
  // like LivenessEngine's timestamps, it is stored in the bucket itself, with no box.
  private tokens = NaN;
  private at: number;

  constructor(
    readonly perSecond: number,
    readonly burst: number,
    private readonly clock: TimeSource,
  ) {
    if (!(perSecond > 0) || !(burst > 0)) throw new RangeError(`a token bucket needs perSecond > 0 and burst > 0, got ${perSecond} / ${burst}`);
    this.tokens = burst;
    this.at = clock.now();
  }

  /**
   * Takes `cost` tokens: 0 when granted, else the milliseconds until they would be there
   * (nothing is taken then). A cost above the burst is charged as a full bucket, so a single
   * large request is never refused forever.
   */
  take(cost = 1): number {
    this.refill();
    const need = Math.min(cost, this.burst);
    if (this.tokens >= need) {
      this.tokens -= need;
      return 0;
    }
    return Math.ceil(((need - this.tokens) / this.perSecond) * 1000);
  }

  /** Gives back tokens taken for a request that was refused further on. */
  refund(cost = 1): void {
    this.tokens = Math.min(this.burst, this.tokens + Math.min(cost, this.burst));
  }

  /** Tokens there now (for tests and stats). */
  available(): number {
    this.refill();
    return this.tokens;
  }

  /** Milliseconds until the bucket is full again (0 when it is). */
  msUntilFull(): number {
    this.refill();
    return Math.ceil(((this.burst - this.tokens) / this.perSecond) * 1000);
  }

  private refill(): void {
    const now = this.clock.now();
    if (now > this.at) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    }
    this.at = now;
  }
}
