import { TokenBucket, type TimeSource } from "./token-bucket.js";
import { clockFromNow, systemClock } from "../liveness/clock.js";

/** A sustained rate and the burst allowed on top of it. */
export interface Rate {
  perSecond: number;
  burst: number;
}

/** New WebSocket connections per client IP address, checked at the HTTP upgrade. */
export interface UpgradeRate extends Rate {
  /**
   * Addresses whose bucket is kept at once. A bucket back at its burst is dropped (it is the
   * same as none); at this many, the least recently seen address is forgotten and starts again
   * with a full burst.
   */
  maxTrackedIps: number;
}

/** One kind of request, limited per connection and per client address (an IPv6 client: its /64, see ClientAddress.limitKey). */
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
  /** `ping`, `pong` and frames that are not requests (bad JSON, unknown types). Default 5/s, burst 20 per connection; 100/s, burst 400 per IP. */
  pings: RatePair;
  /** `join` and `leave`. Default 5/s, burst 40 per connection (a reconnect rejoins up to maxRooms at once); 50/s, burst 400 per IP. */
  membership: RatePair;
  /** `history` and `who`. Default 20/s, burst 40 per connection; 100/s, burst 200 per IP. */
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
  upgrades: UpgradeRate;
}

export type RateKind = Exclude<keyof RateLimitSettings, "refusals" | "upgrades">;

export const DEFAULT_RATE_LIMITS: RateLimitSettings = {
  messages: { perConnection: { perSecond: 10, burst: 20 }, perIp: { perSecond: 20, burst: 60 } },
  messageBytes: { perConnection: { perSecond: 16 * 1024, burst: 64 * 1024 }, perIp: { perSecond: 64 * 1024, burst: 256 * 1024 } },
  pings: { perConnection: { perSecond: 5, burst: 20 }, perIp: { perSecond: 100, burst: 400 } },
  membership: { perConnection: { perSecond: 5, burst: 40 }, perIp: { perSecond: 50, burst: 400 } },
  history: { perConnection: { perSecond: 20, burst: 40 }, perIp: { perSecond: 100, burst: 200 } },
  refusals: { perSecond: 10, burst: 100 },
  upgrades: { perSecond: 20, burst: 200, maxTrackedIps: 10_000 },
};

const KINDS: RateKind[] = ["messages", "messageBytes", "pings", "membership", "history"];

/** What `admit` decides. */
export type Admission =
  | { ok: true }
  /** Refused: retry after this long. `abusive` when the connection keeps ignoring refusals. */
  | { ok: false; retryAfterMs: number; abusive: boolean };

const GRANTED: Admission = { ok: true };

/** Partial settings merged over the defaults, kind by kind. */
export type RateLimitOptions = {
  [K in keyof RateLimitSettings]?: K extends "refusals" ? Partial<Rate> : K extends "upgrades" ? Partial<UpgradeRate> : { perConnection?: Partial<Rate>; perIp?: Partial<Rate> };
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
    pings: pair("pings"),
    membership: pair("membership"),
    history: pair("history"),
    refusals: { ...d.refusals, ...o?.refusals },
    upgrades: { ...d.upgrades, ...o?.upgrades },
  };
  for (const k of KINDS) for (const r of [resolved[k].perConnection, resolved[k].perIp]) checkRate(k, r);
  checkRate("refusals", resolved.refusals);
  checkRate("upgrades", resolved.upgrades);
  const { maxTrackedIps } = resolved.upgrades;
  if (!Number.isSafeInteger(maxTrackedIps) || maxTrackedIps < 1) throw new RangeError(`rateLimits.upgrades.maxTrackedIps must be a positive integer, got ${maxTrackedIps}`);
  return resolved;
}

function checkRate(name: string, r: Rate): void {
  if (!(r.perSecond > 0) || !(r.burst > 0)) throw new RangeError(`rateLimits.${name}: perSecond and burst must be positive, got ${r.perSecond} / ${r.burst}`);
}

/**
 * One side's buckets (a connection's, or an address's), each made on the first request of its
 * kind. A bucket nobody took from is full, exactly like a fresh one, so making it late changes
 * no decision; and an idle connection that only pings holds one bucket instead of five (each
 * about 100 bytes of heap, on every connection).
 */
class Buckets implements Record<RateKind, TokenBucket | null> {
  // A field per kind (not an object of the made ones: that is one more object per connection).
  messages: TokenBucket | null = null;
  messageBytes: TokenBucket | null = null;
  pings: TokenBucket | null = null;
  membership: TokenBucket | null = null;
  history: TokenBucket | null = null;

  constructor(private readonly rates: Record<RateKind, Rate>, private readonly clock: TimeSource) {}

  of(kind: RateKind): TokenBucket {
    const made = this[kind];
    if (made) return made;
    const rate = this.rates[kind];
    return (this[kind] = new TokenBucket(rate.perSecond, rate.burst, this.clock));
  }

  /** Milliseconds until every bucket is full again (0 when all are, or none was made). */
  msUntilFull(): number {
    let ms = 0;
    for (const k of KINDS) ms = Math.max(ms, this[k]?.msUntilFull() ?? 0);
    return ms;
  }
}

const ratesOf = (settings: RateLimitSettings, side: "perConnection" | "perIp"): Record<RateKind, Rate> => {
  const out = {} as Record<RateKind, Rate>;
  for (const k of KINDS) out[k] = settings[k][side];
  return out;
};

/** The buckets an IP address shares across its connections. */
interface IpEntry {
  readonly ip: string;
  readonly buckets: Buckets;
  connections: number;
  /** With no connection left: when every bucket is full again and the entry can go. */
  refilledAt: number;
}

/**
 * Addresses kept after their last connection, waiting for their buckets to refill, at most.
 * Past it the oldest are forgotten early (they get a fresh burst back, as before these were
 * kept at all): memory stays bounded whatever the number of addresses.
 */
const MAX_IDLE_IPS = 10_000;

/**
 * The server's rate limits: per-IP buckets shared by that address's connections, and a
 * limiter per connection.
 *
 * An address's buckets outlive its last connection until they would be full again (a few
 * seconds at the defaults). Dropped at once, they gave a client that reconnects whenever it
 * is cut (4005) a fresh per-IP burst each time: a message flood got about seven times its
 * per-IP rate into a room that way (bench:abuse). Their number is bounded by the connections
 * plus MAX_IDLE_IPS.
 */
export class RateLimiter {
  private readonly ips = new Map<string, IpEntry>();
  /** Addresses with no connection, oldest first: ip -> refilledAt. */
  private readonly idle = new Map<string, number>();

  private readonly rates: { perConnection: Record<RateKind, Rate>; perIp: Record<RateKind, Rate> } | null;

  /**
   * `clock`: by default the wall clock counted from the limiter's start, so a bucket's time
   * stays a small integer that V8 keeps in the bucket (epoch milliseconds need a separate
   * 16-byte heap number per bucket).
   */
  constructor(private readonly settings: RateLimitSettings | false, private readonly clock: TimeSource = clockFromNow(systemClock)) {
    this.rates = settings === false ? null : { perConnection: ratesOf(settings, "perConnection"), perIp: ratesOf(settings, "perIp") };
  }

  /** Addresses whose buckets are held (with connections, or refilling after their last). */
  get trackedIps(): number {
    this.forgetRefilled();
    return this.ips.size;
  }

  /** A limiter for a new connection from `ip`; call its `release` when the connection ends. */
  forConnection(ip: string): ConnectionRateLimiter {
    if (this.settings === false || this.rates === null) return UNLIMITED;
    this.forgetRefilled();
    let entry = this.ips.get(ip);
    if (!entry) this.ips.set(ip, (entry = { ip, buckets: new Buckets(this.rates.perIp, this.clock), connections: 0, refilledAt: 0 }));
    this.idle.delete(ip);
    entry.connections++;
    // No closure per connection: the limiter and the entry are all it needs to release.
    return new ConnectionRateLimiter(this, new Buckets(this.rates.perConnection, this.clock), entry);
  }

  /** A refusal-counting bucket for a connection, made on its first refusal. */
  refusalBucket(): TokenBucket {
    const { perSecond, burst } = (this.settings as RateLimitSettings).refusals;
    return new TokenBucket(perSecond, burst, this.clock);
  }

  /** One connection of `entry`'s address ended. */
  connectionEnded(entry: IpEntry): void {
    if (--entry.connections === 0) this.keepUntilRefilled(entry.ip, entry);
  }

  private keepUntilRefilled(ip: string, entry: IpEntry): void {
    const now = this.clock.now();
    const refillMs = entry.buckets.msUntilFull();
    if (refillMs === 0) {
      this.ips.delete(ip);
      return;
    }
    entry.refilledAt = now + refillMs;
    this.idle.set(ip, entry.refilledAt);
    if (this.idle.size > MAX_IDLE_IPS) {
      const [oldest] = this.idle.keys();
      this.idle.delete(oldest!);
      this.ips.delete(oldest!);
    }
    this.forgetRefilled();
  }

  /**
   * Drops idle addresses whose buckets are full again, oldest first. Refill times are all of
   * a few seconds, so stopping at the first one still refilling leaves few behind (and those
   * go on a later call).
   */
  private forgetRefilled(): void {
    const now = this.clock.now();
    for (const [ip, refilledAt] of this.idle) {
      if (refilledAt > now) break;
      this.idle.delete(ip);
      this.ips.delete(ip);
    }
  }
}

export class ConnectionRateLimiter {
  private released = false;
  /** Counts this connection's refusals; made on the first. */
  private refusals: TokenBucket | null = null;

  constructor(
    private readonly limiter: RateLimiter | null,
    private readonly own: Buckets | null,
    private readonly address: IpEntry | null,
  ) {}

  /** Charges a request of `kind` (and, for sends, its text bytes) to this connection and its IP. */
  admit(kind: RateKind, bytes = 0): Admission {
    if (!this.own || !this.address) return GRANTED;
    let wait = this.charge(kind, 1);
    if (wait === 0 && kind === "messages" && bytes > 0) {
      wait = this.charge("messageBytes", bytes);
      // The message token is given back: the request as a whole was refused.
      if (wait > 0) this.refund(kind);
    }
    if (wait === 0) return GRANTED;
    return { ok: false, retryAfterMs: wait, abusive: this.refuse() };
  }

  /**
   * A request refused for another reason than its own buckets (it waits behind an earlier
   * refused send): counted like any refusal. Returns whether the connection is now abusive.
   */
  refuseOther(): boolean {
    return this.limiter !== null && this.refuse();
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.address) this.limiter?.connectionEnded(this.address);
  }

  /** Counts a refusal; true when the connection has now ignored too many. */
  private refuse(): boolean {
    return (this.refusals ??= this.limiter!.refusalBucket()).take() > 0;
  }

  /** Takes from the connection's bucket and then the IP's; on refusal nothing is taken. */
  private charge(kind: RateKind, cost: number): number {
    const own = this.own!.of(kind);
    const ip = this.address!.buckets.of(kind);
    const ownWait = own.take(cost);
    if (ownWait > 0) return ownWait;
    const ipWait = ip.take(cost);
    if (ipWait > 0) own.refund(cost);
    return ipWait;
  }

  private refund(kind: RateKind): void {
    this.own!.of(kind).refund(1);
    this.address!.buckets.of(kind).refund(1);
  }
}

const UNLIMITED = new ConnectionRateLimiter(null, null, null);
