import { BucketRate, type Bucket, type TimeSource } from "./token-bucket.js";
import { clockFromNow, forwardOnly, systemClock } from "../liveness/clock.js";
import type { AddressRate } from "./rate-limits.js";
import { IPV6_SITE_SHARE } from "./client-address.js";

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
const timesRate = (rate: AddressRate, k: number): AddressRate => ({ perSecond: rate.perSecond * k, burst: rate.burst * k, maxTrackedIps: rate.maxTrackedIps });

/** Who was over the rate: the address itself, or its IPv6 site. */
export interface RateRefusal {
  waitMs: number;
  scope: "address" | "network";
}

/**
 * One kind of request per client address, and per IPv6 site (its /48, see siteKeyOf) at
 * IPV6_SITE_SHARE times an address's rate and burst: each of a site's 65,536 /64s has a bucket
 * of its own, so one site alone could otherwise open connections (each `hello` a new identity,
 * a name held) or ask for pages as fast as the server can answer. The address is asked first,
 * so an address over its own rate does not spend its site's.
 */
export class AddressAndSiteRate {
  private readonly address: AddressRateLimiter;
  private readonly site: AddressRateLimiter;

  constructor(rate: AddressRate | null, clock?: TimeSource) {
    this.address = new AddressRateLimiter(rate, clock);
    this.site = new AddressRateLimiter(rate && timesRate(rate, IPV6_SITE_SHARE), clock);
  }

  /** Addresses with a bucket now (for stats and tests). */
  get trackedIps(): number {
    return this.address.trackedIps;
  }

  /** Charges one request to `key` and its `site`: null when it may be served. */
  take(key: string, site: string | null): RateRefusal | null {
    const waitMs = this.address.take(key);
    if (waitMs > 0) return { waitMs, scope: "address" };
    const siteWaitMs = site === null ? 0 : this.site.take(site);
    return siteWaitMs > 0 ? { waitMs: siteWaitMs, scope: "network" } : null;
  }
}
