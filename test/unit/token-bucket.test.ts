import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { BucketRate, type Bucket, type TimeSource } from "../../src/server/token-bucket.js";
import { DEFAULT_RATE_LIMITS, type Rate } from "../../src/server/rate-limits.js";
import { FakeClock } from "../support/fake-clock.js";

/** A bucket of `rate` held as its limiter holds it (one number), on `clock`. */
function bucketOn(perSecond: number, burst: number, clock: TimeSource) {
  const rate = new BucketRate(perSecond, burst);
  let bucket: Bucket = null;
  return {
    take(cost = 1): number {
      const wait = rate.waitMs(bucket, clock.now(), cost);
      if (wait === 0) bucket = rate.take(bucket, clock.now(), cost);
      return wait;
    },
    available: () => rate.available(bucket, clock.now()),
    msUntilFull: () => rate.msUntilFull(bucket, clock.now()),
  };
}

describe("BucketRate", () => {
  it("grants a burst, then refuses with the wait until the next token", () => {
    const clock = new FakeClock();
    const b = bucketOn(10, 3, clock);
    assert.equal(b.take(), 0);
    assert.equal(b.take(), 0);
    assert.equal(b.take(), 0);
    assert.equal(b.take(), 100, "one token takes 100 ms at 10/s");
    clock.advance(50);
    assert.equal(b.take(), 50);
    clock.advance(50);
    assert.equal(b.take(), 0);
    assert.equal(b.take(), 100);
  });

  it("refills at its rate up to the burst, never beyond", () => {
    const clock = new FakeClock();
    const b = bucketOn(2, 5, clock);
    for (let i = 0; i < 5; i++) assert.equal(b.take(), 0);
    clock.advance(60_000);
    assert.equal(b.available(), 5);
  });

  it("charges costs (bytes) and a cost above the burst as a full bucket", () => {
    const clock = new FakeClock();
    const b = bucketOn(1_000, 4_000, clock);
    assert.equal(b.take(3_000), 0);
    assert.equal(b.take(3_000), 2_000, "2,000 bytes missing at 1,000/s");
    clock.advance(3_000); // full again
    assert.equal(b.take(10_000), 0, "larger than the burst: takes the full bucket");
    assert.equal(b.take(1), 1);
  });

  it("does not count time backwards when the clock steps back", () => {
    const clock = new FakeClock();
    const b = bucketOn(1, 1, clock);
    assert.equal(b.take(), 0);
    clock.jump(-10_000);
    assert.equal(b.take(), 1_000);
  });

  it("keeps the time at which a ping bucket is full again a small integer", () => {
    // What the memory saving rests on: at 5/s a token is 200 ms, so on a clock counted from
    // the start, fullAt stays an integer (V8 keeps it unboxed).
    const rate = new BucketRate(DEFAULT_RATE_LIMITS.pings.perConnection.perSecond, DEFAULT_RATE_LIMITS.pings.perConnection.burst);
    let fullAt: Bucket = null;
    for (const now of [0, 1, 7, 1_234, 1_235, 99_999]) {
      fullAt = rate.take(fullAt, now);
      assert.ok(Number.isInteger(fullAt), String(fullAt));
    }
  });
});

/**
 * The bucket as it was before it became one number: its tokens, counted at `at`, copied from
 * the TokenBucket it replaced (the clock's time passed in). The reference for the decisions.
 */
class CountedBucket {
  private tokens: number;
  private at: number;

  constructor(
    readonly perSecond: number,
    readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  take(now: number, cost = 1): number {
    this.refill(now);
    const need = Math.min(cost, this.burst);
    if (this.tokens >= need) {
      this.tokens -= need;
      return 0;
    }
    return Math.ceil(((need - this.tokens) / this.perSecond) * 1000);
  }

  /** The wait before rounding up (≤ 0: granted), to tell a rounding tie from a real difference. */
  exactWait(now: number, cost = 1): number {
    this.refill(now);
    return ((Math.min(cost, this.burst) - this.tokens) / this.perSecond) * 1000;
  }

  refund(cost = 1): void {
    this.tokens = Math.min(this.burst, this.tokens + Math.min(cost, this.burst));
  }

  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  msUntilFull(now: number): number {
    this.refill(now);
    return Math.ceil(((this.burst - this.tokens) / this.perSecond) * 1000);
  }

  private refill(now: number): void {
    if (now > this.at) this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
  }
}

/** Within float rounding of a whole millisecond: where the two can round a wait differently. */
const nearWholeMs = (ms: number): boolean => Math.abs(ms - Math.round(ms)) < 1e-6;

const DEFAULT_RATES: Rate[] = [
  ...(["messages", "messageBytes", "deliveries", "pings", "membership", "history"] as const).flatMap((k) => [DEFAULT_RATE_LIMITS[k].perConnection, DEFAULT_RATE_LIMITS[k].perIp]),
  DEFAULT_RATE_LIMITS.refusals,
  DEFAULT_RATE_LIMITS.upgrades,
];

/** `wait` is the old bucket's wait for `cost` at `now` (taking as it did), or differs only by a rounding tie. */
function assertSameWait(wait: number, old: CountedBucket, now: number, cost = 1): void {
  const exact = old.exactWait(now, cost);
  const oldWait = old.take(now, cost);
  if (wait !== oldWait) assert.ok(nearWholeMs(exact) && Math.abs(wait - oldWait) <= 1, `${cost} at ${now}: ${wait} against ${oldWait} (${exact})`);
}

describe("BucketRate decides as the token-counting bucket did", () => {
  // Times from a clock counted from the limiter's start, as the limiter's are.
  it("refills over time: a token per 200 ms at the default ping rate", () => {
    const rate = new BucketRate(5, 20);
    const old = new CountedBucket(5, 20, 0);
    let fullAt: Bucket = null;
    for (let i = 0; i < 20; i++) {
      assertSameWait(rate.waitMs(fullAt, 0), old, 0);
      fullAt = rate.take(fullAt, 0);
    }
    for (const now of [0, 100, 200, 350, 1_000, 3_999, 4_000, 9_000]) {
      assert.ok(Math.abs(rate.available(fullAt, now) - old.available(now)) < 1e-9, `available at ${now}`);
    }
    assert.equal(rate.available(fullAt, 300), 1.5);
    assert.equal(rate.available(fullAt, 9_000), 20, "never beyond the burst");
  });

  it("refuses with the wait in ms until enough tokens, and takes nothing then", () => {
    const rate = new BucketRate(10, 20);
    const old = new CountedBucket(10, 20, 0);
    let fullAt = rate.take(null, 0, 20);
    assert.equal(old.take(0, 20), 0);
    // The token taken at 100 ms leaves 0.01 at 101, 3.5 at 450.
    const waits = [[0, 1, 100], [30, 1, 70], [30, 5, 470], [100, 1, 0], [101, 2, 199], [450, 5, 150], [500, 5, 100], [600, 5, 0]] as const;
    for (const [now, cost, ms] of waits) {
      assert.equal(rate.waitMs(fullAt, now, cost), ms, `wait for ${cost} at ${now}`);
      // The old bucket said 471 for 5 at 30 ms: 0.3 tokens refilled were 0.30000000000000004.
      assertSameWait(ms, old, now, cost);
      if (ms === 0) fullAt = rate.take(fullAt, now, cost);
    }
    assert.equal(rate.available(fullAt, 600), 0, "the refused ones took nothing: all 5 were there at 600 ms");
  });

  it("charges a cost above the burst as a full bucket", () => {
    const rate = new BucketRate(16 * 1024, 64 * 1024);
    const old = new CountedBucket(16 * 1024, 64 * 1024, 0);
    assert.equal(rate.waitMs(null, 0, 1_000_000), 0);
    assert.equal(old.take(0, 1_000_000), 0);
    const fullAt = rate.take(null, 0, 1_000_000);
    assert.equal(rate.available(fullAt, 0), 0, "the whole burst, no more");
    assert.equal(rate.msUntilFull(fullAt, 0), 4_000);
    assert.equal(rate.waitMs(fullAt, 1_000, 1_000_000), 3_000, "a full bucket again: 3 s more");
    assertSameWait(3_000, old, 1_000, 1_000_000);
  });

  it("gives msUntilFull as the old bucket did, 0 when full", () => {
    const rate = new BucketRate(64 * 1024, 256 * 1024);
    const old = new CountedBucket(64 * 1024, 256 * 1024, 0);
    assert.equal(rate.msUntilFull(null, 0), 0);
    assert.equal(old.msUntilFull(0), 0);
    let fullAt: Bucket = null;
    const expected = [[0, 4_000, 62], [0, 4_000, 123], [10, 100_000, 1_638], [11, 1, 1_637]] as const;
    for (const [now, cost, ms] of expected) {
      fullAt = rate.take(fullAt, now, cost);
      old.take(now, cost);
      assert.equal(rate.msUntilFull(fullAt, now), ms, `after ${cost} at ${now}`);
      assert.equal(old.msUntilFull(now), ms);
    }
    for (const later of [12, 500, 1_000, 1_647, 1_648, 10_000]) assert.equal(rate.msUntilFull(fullAt, later), old.msUntilFull(later), `at ${later}`);
    assert.equal(rate.msUntilFull(fullAt, 1_647), 1);
    assert.equal(rate.msUntilFull(fullAt, 1_648), 0);
  });

  it("a send refused further on keeps its token: nothing taken equals the old take and refund, capped at full", () => {
    // The old limiter took a send's message token, then gave it back (refund, capped at a full
    // bucket) when the bytes were refused; the limiter now asks every bucket before taking.
    const rate = new BucketRate(10, 20);
    for (const taken of [0, 1, 19]) {
      const old = new CountedBucket(10, 20, 0);
      let fullAt: Bucket = null;
      if (taken > 0) {
        fullAt = rate.take(fullAt, 0, taken);
        old.take(0, taken);
      }
      assert.equal(old.take(5), 0);
      old.refund();
      assert.ok(Math.abs(rate.available(fullAt, 5) - old.available(5)) < 1e-9, `${taken} taken before`);
      assert.ok(Math.abs(rate.available(fullAt, 5) - Math.min(20, 20 - taken + 0.05)) < 1e-9, "the tokens taken, refilled for 5 ms, never beyond the burst");
    }
  });

  it("agrees with it over random requests and pauses, at the default rates and others", () => {
    const anyRate = fc.oneof(
      fc.constantFrom(...DEFAULT_RATES),
      fc.record({ perSecond: fc.integer({ min: 1, max: 100_000 }), burst: fc.integer({ min: 1, max: 300_000 }) }),
    );
    // Mostly back to back, so buckets empty and requests are refused; a cost of a few tokens,
    // or any up to half again the burst.
    const pause = fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.integer({ min: 0, max: 50 }), weight: 3 }, fc.integer({ min: 0, max: 1_000 }), fc.integer({ min: 0, max: 20_000 }));
    const rateAndRun = anyRate.chain((r) =>
      fc.tuple(fc.constant(r), fc.array(fc.record({ pauseMs: pause, cost: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: Math.ceil(r.burst * 1.5) })) }), { minLength: 50, maxLength: 300 })),
    );
    fc.assert(
      fc.property(rateAndRun, ([{ perSecond, burst }, run]) => {
        const rate = new BucketRate(perSecond, burst);
        const old = new CountedBucket(perSecond, burst, 0);
        let fullAt: Bucket = null;
        let now = 0;
        for (const { pauseMs, cost } of run) {
          now += pauseMs;
          const exact = old.exactWait(now, cost);
          const oldWait = old.take(now, cost);
          const wait = rate.waitMs(fullAt, now, cost);
          if (wait !== oldWait) {
            // Only a rounding tie at a whole millisecond may tell them apart (the old bucket's
            // refill is rounded: 30 ms at 10/s is 0.30000000000000004 tokens). A tie between a
            // grant and a 1 ms wait leaves their states apart, so the run ends there.
            assert.ok(nearWholeMs(exact) && Math.abs(wait - oldWait) <= 1, `at ${now}, ${cost} of ${perSecond}/s burst ${burst}: ${wait} against ${oldWait} (${exact})`);
            if (wait === 0 || oldWait === 0) return;
          }
          if (wait === 0) fullAt = rate.take(fullAt, now, cost);
          const tokens = old.available(now);
          // Beyond 1e-9 of the burst, the bucket's time (a double near `now`) is exact to about an
          // ulp per take; at 78,268/s a token is 0.0128 ms, and an ulp at 131 s is a billionth
          // of that (fast-check seed 37061224 found it).
          const timeUlps = (run.length * Number.EPSILON * (now + 1)) / (1000 / perSecond);
          assert.ok(Math.abs(rate.available(fullAt, now) - tokens) <= 1e-9 * burst + timeUlps, `tokens at ${now}`);
          const untilFull = rate.msUntilFull(fullAt, now);
          const oldUntilFull = old.msUntilFull(now);
          // The old bucket often said 1 ms for a refill of 1e-13 left by its rounding.
          if (untilFull !== oldUntilFull) assert.ok(nearWholeMs(((burst - tokens) / perSecond) * 1000) && Math.abs(untilFull - oldUntilFull) <= 1, `until full at ${now}`);
        }
      }),
      { numRuns: 1_000 },
    );
  });
});
