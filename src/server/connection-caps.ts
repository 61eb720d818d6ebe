import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { siteKeyOf } from "./client-address.js";
import { KeyCounts } from "./key-counts.js";

/** Why an upgrade is refused, as the HTTP status, text and `Retry-After` (seconds) to answer with. */
export type CapRefusal = { status: 503 | 429; text: string; retryAfterS: number };

/**
 * `Retry-After` of a refusal for being full, in seconds. Nobody knows when a slot frees; this
 * keeps refused clients from hammering, and the client library adds its jittered backoff on
 * top, so they do not all come back in the same second.
 */
export const FULL_RETRY_AFTER_S = 5;

/**
 * A refusal written straight to a socket that is not served by the HTTP server any more (an
 * upgrade) or not yet (a socket refused at accept). `retryAfterS`: when to try again, in whole
 * seconds as HTTP has them.
 */
export const httpRefusal = (status: number, text: string, retryAfterS?: number): string =>
  `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\n${retryAfterS === undefined ? "" : `Retry-After: ${retryAfterS}\r\n`}Content-Type: text/plain\r\n\r\n${text}\n`;

/**
 * Writes `httpRefusal` and closes the socket once it is written. `end` alone closes only our
 * side: Node's HTTP server allows half-open sockets, and nothing times out a socket it no
 * longer serves, so a peer that never closed its side kept the file descriptor for good (one
 * address held 11,100 refused upgrades open in 15 s, and every newcomer was reset at accept).
 */
export function refuseAndClose(socket: Duplex, status: number, text: string, retryAfterS?: number): void {
  socket.end(httpRefusal(status, text, retryAfterS));
  if (socket.writableFinished) return void socket.destroy();
  // A peer that does not read (behind an answer it asked for and never read, or with a zero
  // window) never lets the refusal finish: without a deadline the socket was held for good,
  // and with it what the kernel still had queued for it (229 KB each in an audit).
  const deadline = setTimeout(() => abort(socket), REFUSAL_DEADLINE_MS);
  deadline.unref();
  socket.once("finish", () => {
    clearTimeout(deadline);
    socket.destroy();
  });
  socket.once("close", () => clearTimeout(deadline));
}

/** How long a refusal may take to reach its peer before the socket is reset. */
export const REFUSAL_DEADLINE_MS = 2_000;

/** Closes at once with a TCP reset, which also drops what the kernel still holds to send. */
function abort(socket: Duplex): void {
  const tcp = socket as Partial<Socket>;
  if (typeof tcp.resetAndDestroy === "function" && !socket.destroyed) tcp.resetAndDestroy();
  else socket.destroy();
}

/**
 * Counts connections, in all and per client address, from the upgrade request on (a socket
 * still in its handshake holds a file descriptor too). A client address here is its limit key
 * (ClientAddress.limitKey): an IPv4 address, or an IPv6 client's /64. IPv6 clients are also
 * counted by their /48 (siteKeyOf), with a cap of their own: a site's many /64s would
 * otherwise each get a whole per-address cap, and one /48 could take every connection of the
 * server. Over a cap the upgrade is answered 503 (server full) or 429 (this address or site
 * has enough), with `Retry-After`; a client that is refused may retry later and gets in once
 * others leave.
 */
export class ConnectionCaps {
  private total = 0;
  private readonly perIp = new KeyCounts();
  /** Connections per IPv6 /48 that has any (derived from the limit key, so nothing more is kept per connection). */
  private readonly perSite = new KeyCounts();
  /**
   * The address of each socket still in its handshake. Not a property on the socket: one that
   * stays after the handshake (even set to undefined) grows the socket's property store of
   * every open connection.
   */
  private readonly handshaking = new WeakMap<Duplex, string>();
  /** One 'close' listener for all sockets in their handshake (`this` is the socket). */
  private readonly releaseSlot: (this: Duplex) => void;

  constructor(
    private readonly maxConnections: number,
    private readonly maxPerIp: number,
    private readonly maxPerIpv6Site: number,
  ) {
    const caps = this;
    this.releaseSlot = function (this: Duplex): void {
      const ip = caps.handshaking.get(this);
      if (ip === undefined) return;
      caps.handshaking.delete(this);
      caps.release(ip);
    };
  }

  get count(): number {
    return this.total;
  }

  /**
   * Takes a slot for `ip` (and its IPv6 site, `siteKeyOf(ip)`, which the caller may have at hand
   * already), or says why not. Call `release(ip)` when the socket closes.
   */
  acquire(ip: string, site: string | null = siteKeyOf(ip)): CapRefusal | null {
    if (this.total >= this.maxConnections) return { status: 503, text: "Service Unavailable: too many connections", retryAfterS: FULL_RETRY_AFTER_S };
    if (this.perIp.get(ip) >= this.maxPerIp) return { status: 429, text: "Too Many Requests: too many connections from this address", retryAfterS: FULL_RETRY_AFTER_S };
    if (site !== null && this.perSite.get(site) >= this.maxPerIpv6Site) {
      return { status: 429, text: "Too Many Requests: too many connections from this network", retryAfterS: FULL_RETRY_AFTER_S };
    }
    this.take(ip, site);
    return null;
  }

  /**
   * Gives `ip`'s slot back when `socket` closes, unless a connection took it over first (see
   * handOver). A shared listener, not a closure per socket.
   */
  releaseOnClose(socket: Duplex, ip: string): void {
    this.handshaking.set(socket, ip);
    socket.on("close", this.releaseSlot);
  }

  /**
   * The connection on `socket` is open and takes its slot over (it calls `release(ip)` when it
   * ends): the socket's listener and slot go, so an open connection carries neither (an array
   * of two 'close' listeners and the slot object, about 100 bytes each).
   */
  handOver(socket: Duplex, ip: string): void {
    socket.off("close", this.releaseSlot);
    // Already released (the socket closed first): count it again, as its connection will
    // release it when it ends. ws accepts in the same turn as the upgrade, so this is a guard.
    if (!this.handshaking.delete(socket)) this.retake(ip);
  }

  private retake(ip: string): void {
    this.take(ip, siteKeyOf(ip));
  }

  private take(ip: string, site: string | null): void {
    this.total++;
    this.perIp.add(ip);
    if (site !== null) this.perSite.add(site);
  }

  release(ip: string): void {
    if (this.perIp.get(ip) === 0) return;
    this.total--;
    this.perIp.remove(ip);
    const site = siteKeyOf(ip);
    if (site !== null) this.perSite.remove(site);
  }
}

