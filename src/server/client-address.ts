import { isIP } from "node:net";
import type { IncomingMessage } from "node:http";

/**
 * The address a request comes from, for the per-address limits (connection caps, new
 * connections per second, rate limits) and the logs.
 *
 * `X-Forwarded-For` is a claim anyone can write, so it is believed only from the proxies the
 * deployer names (`trustedProxies`): behind one, every client would otherwise have the proxy's
 * address and share one address's limits (100 connections and 20 new ones a second for the
 * whole site). The header is read from the right, the side our own proxies appended: the first
 * address that is not one of them is the client. Anything a client put further left is never
 * read. A malformed entry stops the walk at the proxy that passed it on (that proxy's address is
 * used), so a client cannot pick an address by sending garbage.
 */
export function clientAddress(req: IncomingMessage, trustedProxies: ReadonlySet<string>): string {
  const peer = canonicalAddress(req.socket.remoteAddress ?? "") ?? "unknown";
  if (!trustedProxies.has(peer)) return peer;
  const forwarded = req.headers["x-forwarded-for"];
  if (forwarded === undefined) return peer;
  const hops = (Array.isArray(forwarded) ? forwarded.join(",") : forwarded).split(",");
  let relay = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = canonicalAddress(hops[i]!.trim());
    if (hop === null) return relay;
    if (!trustedProxies.has(hop)) return hop;
    relay = hop;
  }
  return relay;
}

/** The trusted proxies' addresses, canonical; throws on one that is not an IP address. */
export function trustedProxySet(addresses: readonly string[]): Set<string> {
  const set = new Set<string>();
  for (const a of addresses) {
    const canonical = canonicalAddress(a.trim());
    if (canonical === null) throw new RangeError(`trustedProxies: '${a}' is not an IP address`);
    set.add(canonical);
  }
  return set;
}

/** An IP address in one spelling (IPv4-mapped IPv6 as IPv4, IPv6 compressed), or null. */
function canonicalAddress(text: string): string | null {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(text);
  const address = mapped ? mapped[1]! : text;
  const version = isIP(address);
  if (version === 4) return address;
  // The URL parser writes an IPv6 address in its one compressed, lower-case form.
  if (version === 6) return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  return null;
}
