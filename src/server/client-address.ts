import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { formatIp, parseIp, prefixKey, type IpAddress } from "./ip-address.js";
import { AddressRanges, parseRange } from "./address-ranges.js";

/** Where a request comes from. */
export interface ClientAddress {
  /** The client's whole address, for the logs. */
  readonly ip: string;
  /**
   * What the per-address limits (connection caps, new connections per second, rate limits)
   * count by: the address for IPv4, its first `ipv6PrefixBits` bits for IPv6 (see prefixKey).
   */
  readonly limitKey: string;
  /**
   * The IPv6 /48 the client is in, which some limits also count by (see siteKeyOf); null for
   * IPv4 clients and when the limit key is a /48 or wider. Read from the parsed address, so
   * the key is not parsed again.
   */
  readonly siteKey: string | null;
}

/** Entries in `trustedProxies` at most: a cloud provider's published edge ranges fit many times. */
export const MAX_TRUSTED_PROXIES = 1024;
/**
 * `X-Forwarded-For` entries read at most, from the right. Each trusted hop adds one; a chain
 * longer than this is not a deployment but someone inside a trusted range writing entries, and
 * reading the whole header (up to Node's 16 KiB header limit, thousands of entries) for every
 * upgrade would be theirs to spend. Past it the walk stops as if the header had ended.
 */
export const MAX_FORWARDED_HOPS = 32;
/**
 * An entry longer than this (an address is at most 78 characters, zone included) is malformed
 * without being read to its end, so each hop costs at most this many characters and the walk
 * at most MAX_FORWARDED_HOPS times it, however long the header.
 */
const MAX_ENTRY_CHARS = 128;
export const IPV6_PREFIX_BITS = { min: 32, max: 128, default: 64 } as const;

export interface ClientAddressOptions {
  /** Reverse proxies, as addresses or CIDR ranges (see ServerOptions.trustedProxies). */
  trustedProxies: readonly string[];
  /** IPv6 clients are counted by this prefix (see ServerOptions.ipv6PrefixBits). */
  ipv6PrefixBits: number;
}

/**
 * Reads a request's client address. Checks the options first and throws a RangeError that
 * names the bad one, so a typo stops the start instead of trusting the wrong proxies.
 *
 * `X-Forwarded-For` is a claim anyone can write, so it is believed only from the proxies the
 * deployer names (`trustedProxies`): behind one, every client would otherwise have the proxy's
 * address and share one address's limits (100 connections and 20 new ones a second for the
 * whole site). The header is read from the right, the side our own proxies appended: the first
 * address that is not one of them is the client. Anything a client put further left is never
 * read. A malformed entry stops the walk at the proxy that passed it on (that proxy's address is
 * used), so a client cannot pick an address by sending garbage.
 */
export function clientAddressReader(options: ClientAddressOptions): (req: IncomingMessage) => ClientAddress {
  const trusted = trustedProxyRanges(options.trustedProxies);
  const bits = options.ipv6PrefixBits;
  if (!Number.isInteger(bits) || bits < IPV6_PREFIX_BITS.min || bits > IPV6_PREFIX_BITS.max) {
    throw new RangeError(`ipv6PrefixBits: ${bits} is not a whole number from ${IPV6_PREFIX_BITS.min} to ${IPV6_PREFIX_BITS.max}`);
  }
  return (req) => {
    const address = clientIp(req, trusted);
    if (!address) return UNKNOWN;
    const ip = formatIp(address);
    return { ip, limitKey: limitKeyOf(address, ip, bits), siteKey: siteKeyFor(address, bits) };
  };
}

/**
 * The limit key of a socket's peer itself, before any request was read (no X-Forwarded-For):
 * null for a trusted proxy, whose sockets carry many clients, and for a socket already closed.
 * The options are those clientAddressReader checked.
 */
export function peerKeyReader(options: ClientAddressOptions): (socket: Socket) => PeerKey | null {
  const trusted = trustedProxyRanges(options.trustedProxies);
  const bits = options.ipv6PrefixBits;
  return (socket) => {
    const peer = parseIp(socket.remoteAddress ?? "");
    if (!peer || trusted.has(peer)) return null;
    return { limitKey: limitKeyOf(peer, formatIp(peer), bits), siteKey: siteKeyFor(peer, bits) };
  };
}

/**
 * What the primary of `pulse serve --workers N` deals connections to workers by, so that every
 * per-address budget is counted whole by one process: the client's IPv6 /48 when its limit key
 * is narrower (its /64s share the site's caps), else its limit key. `keyOf` reads
 * `X-Forwarded-For` (the header's value, as received) only from a trusted proxy, like
 * clientAddressReader; `trustedPeer` says whether a peer's request must be read for it.
 * The options are those clientAddressReader checked.
 */
export function affinityKeyReader(options: ClientAddressOptions): { trustedPeer(remote: string): boolean; keyOf(remote: string, forwardedFor?: string): string } {
  const trusted = trustedProxyRanges(options.trustedProxies);
  const bits = options.ipv6PrefixBits;
  return {
    trustedPeer: (remote) => {
      const peer = parseIp(remote);
      return peer !== null && trusted.has(peer);
    },
    keyOf: (remote, forwardedFor) => {
      const peer = parseIp(remote);
      if (!peer) return UNKNOWN.limitKey;
      const client = forwardedFor !== undefined && trusted.has(peer) ? walkForwarded(forwardedFor, peer, trusted) : peer;
      return siteKeyFor(client, bits) ?? limitKeyOf(client, formatIp(client), bits);
    },
  };
}

/** A peer's keys, as ClientAddress has them. */
export type PeerKey = Pick<ClientAddress, "limitKey" | "siteKey">;

/** The same string as `ip` when the key is the whole address: written once, held once per connection. */
const limitKeyOf = (address: IpAddress, ip: string, bits: number): string =>
  address.family === 4 || bits === IPV6_PREFIX_BITS.max ? ip : prefixKey(address, bits);

/**
 * The prefix of an IPv6 site: RIRs give an end site at most a /48, and one is free for the
 * asking from tunnel brokers, so one attacker may hold 65,536 /64s.
 */
export const IPV6_SITE_BITS = 48;

/**
 * How many addresses' worth an IPv6 site may take together: the default of its connection cap
 * (maxConnectionsPerIpv6Site) and its new connections per second, in multiples of one
 * address's. A site is a home, an office or a campus behind one /48, as a NAT is behind one
 * IPv4 address, but it often holds many more hosts.
 */
export const IPV6_SITE_SHARE = 10;

/** The /48 of an IPv6 address counted by its first `bits` bits; null for IPv4 and when `bits` is 48 or fewer. */
const siteKeyFor = (address: IpAddress, bits: number): string | null => (address.family === 6 && bits > IPV6_SITE_BITS ? prefixKey(address, IPV6_SITE_BITS) : null);

/**
 * The /48 that an IPv6 limit key's client is in, as a key of its own (ConnectionCaps counts
 * connections by it too); null for IPv4 clients, unknown ones, and keys of a /48 or wider,
 * which the per-address caps already count whole.
 */
export function siteKeyOf(limitKey: string): string | null {
  if (!limitKey.includes(":")) return null;
  const slash = limitKey.lastIndexOf("/");
  const bits = slash < 0 ? IPV6_PREFIX_BITS.max : Number(limitKey.slice(slash + 1));
  if (!(bits > IPV6_SITE_BITS)) return null;
  const address = limitKeyAddress(limitKey);
  return address ? siteKeyFor(address, bits) : null;
}

/** The address a limit key starts with (an IPv6 key's prefix, without its length); null for "unknown". */
export function limitKeyAddress(limitKey: string): IpAddress | null {
  const slash = limitKey.lastIndexOf("/");
  return parseIp(slash < 0 ? limitKey : limitKey.slice(0, slash));
}

/** A socket that closed before its address was read; all such share one key. */
const UNKNOWN: ClientAddress = { ip: "unknown", limitKey: "unknown", siteKey: null };

/**
 * The shortest prefix a trusted range may have, by family: the widest private block of each,
 * 10.0.0.0/8 and fc00::/7. A wider range always holds other people's networks, and everyone in
 * a trusted range can write X-Forwarded-For and pick an address: 0.0.0.0/0 would let any client
 * escape the per-address limits.
 */
export const WIDEST_TRUSTED_PREFIX = { 4: 8, 6: 7 } as const;

/** The trusted proxies as ranges; throws a RangeError naming the first bad entry. */
export function trustedProxyRanges(entries: readonly string[]): AddressRanges {
  if (entries.length > MAX_TRUSTED_PROXIES) {
    throw new RangeError(`trustedProxies: ${entries.length} entries, at most ${MAX_TRUSTED_PROXIES}; use CIDR ranges (10.0.0.0/8) to cover many proxies in one entry`);
  }
  return new AddressRanges(
    entries.map((entry) => {
      const range = parseRange(entry.trim());
      if (typeof range === "string") throw new RangeError(`trustedProxies: '${entry.slice(0, 80)}' ${range}`);
      const widest = WIDEST_TRUSTED_PREFIX[range.family];
      if (range.bits < widest) {
        throw new RangeError(`trustedProxies: '${entry.slice(0, 80)}' is wider than /${widest}: it trusts other people's networks, whose clients could then pick their own address; name your proxies' own subnets`);
      }
      return range;
    }),
  );
}

function clientIp(req: IncomingMessage, trusted: AddressRanges): IpAddress | null {
  const peer = parseIp(req.socket.remoteAddress ?? "");
  if (!peer || !trusted.has(peer)) return peer;
  const forwarded = req.headers["x-forwarded-for"];
  if (forwarded === undefined) return peer;
  return walkForwarded(Array.isArray(forwarded) ? forwarded.join(",") : forwarded, peer, trusted);
}

/** From the right: past trusted proxies, to the first other address (see clientAddressReader). */
function walkForwarded(header: string, peer: IpAddress, trusted: AddressRanges): IpAddress {
  let relay = peer;
  let end = header.length;
  for (let hops = 0; hops < MAX_FORWARDED_HOPS && end >= 0; hops++) {
    const comma = previousComma(header, end);
    if (comma === null) return relay; // too long to be an address
    const hop = parseIp(header.slice(comma + 1, end).trim());
    if (hop === null) return relay;
    if (!trusted.has(hop)) return hop;
    relay = hop;
    end = comma;
  }
  return relay;
}

/** The last comma before `end` (-1: the entry starts the header), or null if the entry is longer than MAX_ENTRY_CHARS. */
function previousComma(header: string, end: number): number | null {
  const stop = Math.max(-1, end - MAX_ENTRY_CHARS - 1);
  for (let i = end - 1; i > stop; i--) if (header.charCodeAt(i) === 0x2c) return i;
  return stop === -1 ? -1 : null;
}
