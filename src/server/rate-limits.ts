import { BucketRate, type Bucket, type TimeSource } from "./token-bucket.js";
import { clockFromNow, forwardOnly, systemClock } from "../liveness/clock.js";
import { IPV6_SITE_SHARE } from "./client-address.js";

/** A sustained rate and the burst allowed on top of it. */
export interface Rate {
  perSecond: number;
  burst: number;
}

/** Requests per client IP address, checked before they are served (see AddressRateLimiter). */
export interface AddressRate extends Rate {
  /**
   * Addresses whose bucket is kept at once. A bucket back at its burst is dropped (it is the
   * same as none); at this many, the least recently seen address is forgotten and starts again
   * with a full burst.
   */
  maxTrackedIps: number;
}

/**
 * One kind of request, limited per connection and per client address (an IPv6 client: its
 * /64, see ClientAddress.limitKey). The /64s of an IPv6 /48 also share buckets of
 * IPV6_SITE_SHARE (10) times the per-address rate and burst, for these kinds (see RateLimiter)
 * and for new connections and HTTP requests (see AddressAndSiteRate).
 */
export interface RatePair {
  perConnection: Rate;
  perIp: Rate;
}

/**
 * Rate limits, as token buckets. Over a limit a request is refused with an `error` of code
 * `rate_limited` and `retryAfterMs` (a refused `send` is not stored: the client resends it
 * with the same id). Pings over the limit are dropped without an answer: an error frame would
 * cost as much as the pong.
 */
export interface RateLimitSettings {
  /** `send` messages. Default 10/s, burst 20 per connection; 20/s, burst 60 per IP. */
  messages: RatePair;
  /**
   * `send` text bytes (UTF-8). Every byte is multiplied by the room's size on the way out: a
   * flood of 4 KB messages at 50/s into a room of 200 pushed others' p99 to seconds. Default
   * 16 KiB/s, burst 64 KiB per connection; 64 KiB/s, burst 256 KiB per IP.
   */
  messageBytes: RatePair;
  /**
   * Copies of `send` messages the server writes: a message costs one per member of its room
   * (the sender included; on every node, as far as this node knows them). The message and
   * byte rates above are the same in a room of 2 and a room of 5,000, but the server's work is
   * not: one connection sending at those rates into a room of 5,000 idle members took the
   * server from 6 % to 69 % of a core and held the event loop 117 ms at p99 (bench/room-flood.ts).
   * This rate only bites in large rooms (at the defaults, above 500 members, where the
   * message rate stops being the tighter one): a sender's messages come slower as its room grows.
   * Default 5,000/s, burst 20,000 per connection; 10,000/s, burst 40,000 per IP.
   */
  deliveries: RatePair;
  /** `ping`, `pong` and frames that are not requests (bad JSON, unknown types). Default 5/s, burst 20 per connection; 100/s, burst 400 per IP. */
  pings: RatePair;
  /** `join` and `leave`. Default 5/s, burst 40 per connection (a reconnect rejoins up to maxRooms at once); 50/s, burst 400 per IP. */
  membership: RatePair;
  /**
   * `history` and `who`. A history page costs one more per 32 KiB it carries beyond the first
   * (charged once built), a join's replay one per `historyLimit` messages of its gap beyond the
   * first (asked before it is read). Default 20/s, burst 40 per connection; 100/s, burst 200 per IP.
   */
  history: RatePair;
  /**
   * Sustained abuse: refusals are themselves counted in a bucket of this rate and burst; a
   * connection that empties it is closed with 4005 (retryable). Default 10/s, burst 100.
   */
  refusals: Rate;
  /**
   * New connections per client IP: every upgrade takes a token (and every anonymous `hello`
   * creates an identity and may hold a nickname, so this bounds those too); over it the
   * upgrade is answered HTTP 429 with `Retry-After`. Default 20/s, burst 200 (twice the
   * per-IP connection cap, so a whole NAT reconnecting at once gets in); 10,000 addresses
   * tracked at most.
   */
  upgrades: AddressRate;
  /**
   * HTTP requests that are not upgrades (the chat page's files, `/stats`, `/healthz`, anything
   * answered 403 or 404) per client IP; over it the request is answered HTTP 429 with
   * `Retry-After` and its socket closed. The chat page is four files (index.html, app.js,
   * style.css, sw.js). Default 50/s, burst 500 (over a hundred page loads at once behind one
   * NAT); 10,000 addresses tracked at most.
   */
  httpRequests: AddressRate;
}

export type RateKind = Exclude<keyof RateLimitSettings, "refusals" | "upgrades" | "httpRequests">;

export const DEFAULT_RATE_LIMITS: RateLimitSettings = {
  messages: { perConnection: { perSecond: 10, burst: 20 }, perIp: { perSecond: 20, burst: 60 } },
  messageBytes: { perConnection: { perSecond: 16 * 1024, burst: 64 * 1024 }, perIp: { perSecond: 64 * 1024, burst: 256 * 1024 } },
  deliveries: { perConnection: { perSecond: 5_000, burst: 20_000 }, perIp: { perSecond: 10_000, burst: 40_000 } },
  pings: { perConnection: { perSecond: 5, burst: 20 }, perIp: { perSecond: 100, burst: 400 } },
  membership: { perConnection: { perSecond: 5, burst: 40 }, perIp: { perSecond: 50, burst: 400 } },
  history: { perConnection: { perSecond: 20, burst: 40 }, perIp: { perSecond: 100, burst: 200 } },
  refusals: { perSecond: 10, burst: 100 },
  upgrades: { perSecond: 20, burst: 200, maxTrackedIps: 10_000 },
  httpRequests: { perSecond: 50, burst: 500, maxTrackedIps: 10_000 },
};

const KINDS: RateKind[] = ["messages", "messageBytes", "deliveries", "pings", "membership", "history"];

/** What `admit` decides. */
export type Admission =
  | { ok: true }
  /** Refused: retry after this long. `abusive` when the connection keeps ignoring refusals. */
  | { ok: false; retryAfterMs: number; abusive: boolean };

const GRANTED: Admission = { ok: true };

/** Partial settings merged over the defaults, kind by kind. */
export type RateLimitOptions = {
  [K in keyof RateLimitSettings]?: K extends "refusals" ? Partial<Rate> : K extends "upgrades" | "httpRequests" ? Partial<AddressRate> : { perConnection?: Partial<Rate>; perIp?: Partial<Rate> };
};

export function resolveRateLimits(o: RateLimitOptions | false | undefined): RateLimitSettings | false {
  if (o === false) return false;
  const d = DEFAULT_RATE_LIMITS;
  const pair = (k: RateKind): RatePair => ({
    perConnection: { ...d[k].perConnection, ...o?.[k]?.perConnection },
    perIp: { ...d[k].perIp, ...o?.[k]?.perIp },
  });
  const resolved: RateLimitSettings = {
    messages: pair("messages"),
    messageBytes: pair("messageBytes"),
    deliveries: pair("deliveries"),
    pings: pair("pings"),
    membership: pair("membership"),
    history: pair("history"),
    refusals: { ...d.refusals, ...o?.refusals },
    upgrades: { ...d.upgrades, ...o?.upgrades },
    httpRequests: { ...d.httpRequests, ...o?.httpRequests },
  };
  for (const k of KINDS) for (const r of [resolved[k].perConnection, resolved[k].perIp]) checkRate(k, r);
  checkRate("refusals", resolved.refusals);
  for (const k of ["upgrades", "httpRequests"] as const) {
    checkRate(k, resolved[k]);
    const { maxTrackedIps } = resolved[k];
    if (!Number.isSafeInteger(maxTrackedIps) || maxTrackedIps < 1) throw new RangeError(`rateLimits.${k}.maxTrackedIps must be a positive integer, got ${maxTrackedIps}`);
  }
  return resolved;
}

function checkRate(name: string, r: Rate): void {
  if (!(r.perSecond > 0) || !(r.burst > 0)) throw new RangeError(`rateLimits.${name}: perSecond and burst must be positive, got ${r.perSecond} / ${r.burst}`);
}

/**
 * One side's buckets (a connection's, or an address's): a field per kind, each a bare number
 * (see Bucket) in the object itself, with the rates shared by the limiter. Objects per bucket,
 * even made only for the kinds used, cost an idle connection that only pings 160 bytes.
 *
 * Null, not 0, until first taken from: V8 gives a field one representation in every object of
 * a class. A field that only ever held numbers becomes a 16-byte box in each once any of them
 * holds a fraction (a byte at 16 KiB/s is 1000/16384 ms): one connection's first send would
 * cost every idle one 16 bytes. A field that held null too keeps small integers inline, and
 * only a fraction is a separate number.
 */
class Buckets implements Record<RateKind, Bucket> {
  messages: Bucket = null;
  messageBytes: Bucket = null;
  deliveries: Bucket = null;
  pings: Bucket = null;
  membership: Bucket = null;
  history: Bucket = null;

  /** Milliseconds until every bucket is full again (0 when all are). */
  msUntilFull(rates: Record<RateKind, BucketRate>, now: number): number {
    let ms = 0;
    for (const k of KINDS) ms = Math.max(ms, rates[k].msUntilFull(this[k], now));
    return ms;
  }
}

const ratesOf = (settings: RateLimitSettings, side: "perConnection" | "perIp", times = 1): Record<RateKind, BucketRate> => {
  const out = {} as Record<RateKind, BucketRate>;
  for (const k of KINDS) out[k] = new BucketRate(settings[k][side].perSecond * times, settings[k][side].burst * times);
  return out;
};

/** The rates of a limiter's buckets, made once: its buckets are bare numbers. */
interface BucketRates {
  perConnection: Record<RateKind, BucketRate>;
  perIp: Record<RateKind, BucketRate>;
  /** An IPv6 /48's: IPV6_SITE_SHARE times an address's. */
  perSite: Record<RateKind, BucketRate>;
  refusals: BucketRate;
}

/** The buckets an address (or an IPv6 site) shares across its connections. */
class SharedEntry extends Buckets {
  connections = 0;
  /** With no connection left: when every bucket is full again and the entry can go. */
  refilledAt = 0;
  /**
   * An IPv6 /64's site (its /48), whose buckets its connections draw from as well; null for
   * IPv4 addresses, for keys of a /48 or wider, and for a site itself. Set again by every
   * connection of the address, so it is never a site entry that was forgotten.
   */
  site: SharedEntry | null = null;
  /** Until when retries of refused requests are already spread (see retryAfter). */
  private retriesSpreadUntil = 0;

  constructor(
    readonly key: string,
    readonly table: SharedTable,
  ) {
    super();
  }

  /**
   * The `retryAfterMs` of a request of `cost` that this entry's bucket refused, `waitMs` before
   * it has the tokens: after the retries already told to come back, each a cost's refill later,
   * never beyond a whole bucket's refill. Every connection of an address (or of a site) refused
   * by the same bucket was told the same wait, and came back together to find one request's
   * worth: 100 senders of one /48 made 43,945 refusals in 12 s, each a 4 KB frame read and
   * parsed, for 2,604 messages stored (bench/room-flood.ts --site-only).
   */
  retryAfter(rate: BucketRate, waitMs: number, cost: number, now: number): number {
    const at = Math.min(Math.max(now + waitMs, this.retriesSpreadUntil), now + rate.msToFill);
    this.retriesSpreadUntil = Math.ceil(at + rate.costMs(cost));
    return Math.max(waitMs, Math.ceil(at - now));
  }
}

/**
 * Addresses kept after their last connection, waiting for their buckets to refill, at most.
 * Past it the oldest are forgotten early (they get a fresh burst back, as before these were
 * kept at all): memory stays bounded whatever the number of addresses.
 */
const MAX_IDLE_IPS = 10_000;

/**
 * The entries of one level (addresses, or IPv6 sites), each shared by its connections.
 *
 * An entry outlives its last connection until its buckets would be full again (a few seconds
 * at the defaults). Dropped at once, they gave a client that reconnects whenever it is cut
 * (4005) a fresh per-IP burst each time: a message flood got about seven times its per-IP rate
 * into a room that way (bench:abuse). Their number is bounded by the connections plus
 * MAX_IDLE_IPS.
 */
class SharedTable {
  private readonly entries = new Map<string, SharedEntry>();
  /** Keys with no connection, oldest first: key -> refilledAt. */
  private readonly idle = new Map<string, number>();

  constructor(
    readonly rates: Record<RateKind, BucketRate>,
    private readonly clock: TimeSource,
  ) {}

  get size(): number {
    this.forgetRefilled();
    return this.entries.size;
  }

  /** `key`'s entry, with one more connection. */
  acquire(key: string): SharedEntry {
    this.forgetRefilled();
    let entry = this.entries.get(key);
    if (!entry) this.entries.set(key, (entry = new SharedEntry(key, this)));
    this.idle.delete(key);
    entry.connections++;
    return entry;
  }

  /** One connection of `entry` ended. */
  ended(entry: SharedEntry): void {
    if (--entry.connections > 0) return;
    const now = this.clock.now();
    const refillMs = entry.msUntilFull(this.rates, now);
    if (refillMs === 0) {
      this.entries.delete(entry.key);
      return;
    }
    entry.refilledAt = now + refillMs;
    this.idle.set(entry.key, entry.refilledAt);
    if (this.idle.size > MAX_IDLE_IPS) {
      const [oldest] = this.idle.keys();
      this.idle.delete(oldest!);
      this.entries.delete(oldest!);
    }
    this.forgetRefilled();
  }

  /**
   * Drops idle entries whose buckets are full again, oldest first. Refill times are all of a
   * few seconds, so stopping at the first one still refilling leaves few behind (and those go
   * on a later call).
   */
  private forgetRefilled(): void {
    const now = this.clock.now();
    for (const [key, refilledAt] of this.idle) {
      if (refilledAt > now) break;
      this.idle.delete(key);
      this.entries.delete(key);
    }
  }
}

/**
 * The server's rate limits: per-address buckets shared by that address's connections, per-site
 * buckets shared by the /64s of an IPv6 /48, and a limiter per connection.
 *
 * Why sites: an IPv6 client is counted by its /64, and a /48 (free from tunnel brokers) holds
 * 65,536 of them. With buckets per /64 only, one /48 with 100 connections, each from a /64 of
 * its own, had 100 times an address's message and byte rates: 6,205 messages of 4,000
 * characters stored in 12 s, and into a room of 5,000 the server at 91 % of a core with its
 * event loop held 753 ms at p99 (bench/room-flood.ts --site-only). A site now draws, on top of
 * each /64's own buckets, from buckets of IPV6_SITE_SHARE times an address's rates, as its
 * connection cap and its new connections are (see ConnectionCaps, pulse-server.ts).
 */
export class RateLimiter {
  private readonly addresses: SharedTable | null;
  private readonly sites: SharedTable | null;

  /** Null with rate limits off. */
  readonly rates: BucketRates | null;
  readonly clock: TimeSource;

  /**
   * `clock`: by default the wall clock counted from the limiter's start, so a bucket's time
   * stays a small integer that V8 keeps in the object holding it (epoch milliseconds need a
   * separate 16-byte heap number each). Read never going back (see forwardOnly).
   */
  constructor(settings: RateLimitSettings | false, clock: TimeSource = clockFromNow(systemClock)) {
    this.clock = forwardOnly(clock);
    this.rates =
      settings === false
        ? null
        : {
            perConnection: ratesOf(settings, "perConnection"),
            perIp: ratesOf(settings, "perIp"),
            perSite: ratesOf(settings, "perIp", IPV6_SITE_SHARE),
            refusals: new BucketRate(settings.refusals.perSecond, settings.refusals.burst),
          };
    this.addresses = this.rates && new SharedTable(this.rates.perIp, this.clock);
    this.sites = this.rates && new SharedTable(this.rates.perSite, this.clock);
  }

  /** Addresses whose buckets are held (with connections, or refilling after their last). */
  get trackedIps(): number {
    return this.addresses?.size ?? 0;
  }

  /** IPv6 sites whose buckets are held, likewise. */
  get trackedSites(): number {
    return this.sites?.size ?? 0;
  }

  /**
   * A limiter for a new connection from `ip` (its limit key), in the IPv6 site `site` (see
   * siteKeyOf: null for IPv4 and wide keys); call its `release` when the connection ends.
   */
  forConnection(ip: string, site: string | null = null): ConnectionRateLimiter {
    if (this.addresses === null || this.sites === null) return UNLIMITED;
    const address = this.addresses.acquire(ip);
    address.site = site === null ? null : this.sites.acquire(site);
    // No closure per connection: the limiter and the entry are all it needs to release.
    return new ConnectionRateLimiter(this, address);
  }
}

/**
 * A connection's limits: its own buckets (it is them: one object per connection, not one
 * holding another, is 32 bytes less on each), its address's, and a count of its refusals.
 */
export class ConnectionRateLimiter extends Buckets {
  private released = false;
  /** The bucket counting this connection's refusals (null like the others, see Buckets). */
  private refusals: Bucket = null;

  constructor(
    private readonly limiter: RateLimiter | null,
    private readonly address: SharedEntry | null,
  ) {
    super();
  }

  /**
   * Charges a request of `kind` to this connection and its IP; a send also its text `bytes`
   * and one delivery per member of its room (`recipients`). Every bucket it needs is asked
   * before any is taken from, so a refusal takes nothing: a send refused for its bytes or its
   * deliveries keeps its message token too.
   */
  admit(kind: RateKind, bytes = 0, recipients = 0): Admission {
    if (!this.limiter || !this.address) return GRANTED;
    const now = this.limiter.clock.now();
    const isSend = kind === "messages";
    const wait =
      this.waitMs(kind, 1, now) ||
      (isSend && bytes > 0 ? this.waitMs("messageBytes", bytes, now) : 0) ||
      (isSend && recipients > 0 ? this.waitMs("deliveries", recipients, now) : 0);
    if (wait > 0) return { ok: false, retryAfterMs: wait, abusive: this.refuse(now) };
    this.take(kind, 1, now);
    if (isSend && bytes > 0) this.take("messageBytes", bytes, now);
    if (isSend && recipients > 0) this.take("deliveries", recipients, now);
    return GRANTED;
  }

  /**
   * Takes `cost` of `kind` from every bucket, whether or not they have it: for work already done
   * whose size was known only then. What a bucket did not have is owed: it stays empty that
   * much longer (a cost counts at most a whole burst), and the next requests wait.
   */
  charge(kind: RateKind, cost: number): void {
    if (!this.limiter || !this.address) return;
    this.take(kind, cost, this.limiter.clock.now());
  }

  /**
   * Takes `cost` of `kind` when every bucket has it now (a cost above a bucket's burst takes it
   * whole, see BucketRate.waitMs); otherwise takes nothing and returns false, counting no
   * refusal: for work the server may decline without the client having done wrong (a replay,
   * answered with the latest page instead).
   */
  tryTake(kind: RateKind, cost: number): boolean {
    if (!this.limiter || !this.address) return true;
    const now = this.limiter.clock.now();
    const rates = this.limiter.rates!;
    const { address } = this;
    const site = address.site;
    const short =
      rates.perConnection[kind].waitMs(this[kind], now, cost) > 0 ||
      rates.perIp[kind].waitMs(address[kind], now, cost) > 0 ||
      (site !== null && rates.perSite[kind].waitMs(site[kind], now, cost) > 0);
    if (short) return false;
    this.take(kind, cost, now);
    return true;
  }

  /**
   * A request refused for another reason than its own buckets (it waits behind an earlier
   * refused send): counted like any refusal. Returns whether the connection is now abusive.
   */
  refuseOther(): boolean {
    return this.limiter !== null && this.refuse(this.limiter.clock.now());
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    const { address } = this;
    if (!address) return;
    if (address.site) address.site.table.ended(address.site);
    address.table.ended(address);
  }

  /** Counts a refusal; true when the connection has now ignored too many. */
  private refuse(now: number): boolean {
    const rate = this.limiter!.rates!.refusals;
    const wait = rate.waitMs(this.refusals, now);
    if (wait === 0) this.refusals = rate.take(this.refusals, now);
    return wait > 0;
  }

  /**
   * The wait for `cost` of `kind`: the connection's bucket first, then the address's, then its
   * site's. A shared bucket's refusals are spread (see SharedEntry.retryAfter).
   */
  private waitMs(kind: RateKind, cost: number, now: number): number {
    const rates = this.limiter!.rates!;
    const own = rates.perConnection[kind].waitMs(this[kind], now, cost);
    if (own > 0) return own;
    const address = this.address!;
    const byAddress = rates.perIp[kind].waitMs(address[kind], now, cost);
    if (byAddress > 0) return address.retryAfter(rates.perIp[kind], byAddress, cost, now);
    const site = address.site;
    const bySite = site ? rates.perSite[kind].waitMs(site[kind], now, cost) : 0;
    return bySite > 0 ? site!.retryAfter(rates.perSite[kind], bySite, cost, now) : 0;
  }

  private take(kind: RateKind, cost: number, now: number): void {
    const rates = this.limiter!.rates!;
    const { address } = this;
    this[kind] = rates.perConnection[kind].take(this[kind], now, cost);
    address![kind] = rates.perIp[kind].take(address![kind], now, cost);
    if (address!.site) address!.site[kind] = rates.perSite[kind].take(address!.site[kind], now, cost);
  }
}

const UNLIMITED = new ConnectionRateLimiter(null, null);
