import { BucketRate, type Bucket, type TimeSource } from "./token-bucket.js";
import { clockFromNow, forwardOnly, systemClock } from "../liveness/clock.js";
import type { AddressRate } from "./rate-limits.js";

/** Least recently seen buckets looked at per request, so a request costs O(1) however many are tracked. */
const SWEEP_PER_REQUEST = 8;

/**
 * One kind of request per client address (its limit key: an IPv4 address, an IPv6 client's
 * /64), as token buckets checked before the request is served: new connections at the HTTP
 * upgrade, and the HTTP requests that are not upgrades. Each request takes a token, and
 * without one it is answered 429 with the wait until there is one.
 *
 * The map of buckets is bounded, since an attacker can cycle source addresses (counting IPv6
 * by /64 stops one host, but a /48 holds 65,536 of them, and a botnet has many): a bucket
 * back at its burst is the same as no bucket, so each request drops the full ones among the
 * least recently seen; and at `maxTrackedIps` the least recently seen address is forgotten
 * whatever its bucket holds (it starts again with a full burst). At the default upgrade rate a
 * bucket that took one token is full again 50 ms later, so only addresses that connected in the
 * last moments are tracked; filling 10,000 slots would take some 200,000 upgrades a second.
 */
export class AddressRateLimiter {
  /** Each address's bucket (see Bucket), in order of last request, least recent first (a Map keeps insertion order). */
  private readonly buckets = new Map<string, Bucket>();
  /** Null with rate limits off. */
  private readonly bucketRate: BucketRate | null;
  private readonly maxTrackedIps: number;
  private readonly clock: TimeSource;

  /** `clock`: counted from the start and never going back, like the rate limiter's (see RateLimiter). */
  constructor(rate: AddressRate | null, clock: TimeSource = clockFromNow(systemClock)) {
    this.bucketRate = rate && new BucketRate(rate.perSecond, rate.burst);
    this.maxTrackedIps = rate?.maxTrackedIps ?? 0;
    this.clock = forwardOnly(clock);
  }

  /** Addresses with a bucket now (for stats and tests). */
  get trackedIps(): number {
    return this.buckets.size;
  }

  /** Charges one request to `ip`: 0 when it may be served, else the milliseconds until it may. */
  take(ip: string): number {
    const rate = this.bucketRate;
    if (!rate) return 0;
    const now = this.clock.now();
    this.dropFull(rate, now);
    const held = this.buckets.get(ip);
    if (held !== undefined) this.buckets.delete(ip); // set again below, as the most recently seen
    else if (this.buckets.size >= this.maxTrackedIps) this.buckets.delete(this.buckets.keys().next().value!);
    const bucket = held ?? null; // none yet: a full one
    const wait = rate.waitMs(bucket, now);
    this.buckets.set(ip, wait === 0 ? rate.take(bucket, now) : bucket);
    return wait;
  }

  private dropFull(rate: BucketRate, now: number): void {
    let looked = 0;
    for (const [ip, bucket] of this.buckets) {
      if (++looked > SWEEP_PER_REQUEST) break;
      if (rate.msUntilFull(bucket, now) === 0) this.buckets.delete(ip);
    }
  }
}

/** `rate` for `k` addresses together: k times the rate and the burst, the same tracking bound. */
export const timesRate = (rate: AddressRate, k: number): AddressRate => ({ perSecond: rate.perSecond * k, burst: rate.burst * k, maxTrackedIps: rate.maxTrackedIps });
