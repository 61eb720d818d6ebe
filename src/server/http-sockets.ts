import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { IPV6_SITE_SHARE, type PeerKey } from "./client-address.js";
import { FULL_RETRY_AFTER_S, httpRefusal } from "./connection-caps.js";
import { KeyCounts } from "./key-counts.js";

/**
 * TCP connections still speaking HTTP, counted per peer address: page loads, and WebSocket
 * handshakes whose upgrade request has not arrived yet. The connection caps count a socket only
 * from its upgrade request on, so before this one address could open sockets that send nothing
 * (each held until the headers timeout) up to the process's file limit, and nobody else got in.
 *
 * Over `maxPerPeer` a new socket is answered HTTP 429 and closed. A socket stops counting at its
 * upgrade request (the caps take over) or its close; an open WebSocket carries nothing from here:
 * no listener, no entry.
 *
 * The /64s of an IPv6 /48 (PeerKey.siteKey) also share a cap of IPV6_SITE_SHARE times `maxPerPeer`:
 * a /48, free from tunnel brokers, holds 65,536 /64s, and 110 of them with 100 silent sockets
 * each would be the server's whole socket limit at the defaults (maxConnections +
 * maxHttpSockets, 11,000), past which Node closes every new socket at accept.
 */
export class HttpSockets {
  private readonly perPeer = new KeyCounts();
  private readonly perSite = new KeyCounts();
  /** The key (and IPv6 site) each counted socket was counted under (not a property: see ConnectionCaps.handshaking). */
  private readonly counted = new WeakMap<Duplex, { key: string; site: string | null }>();
  /** One 'close' listener for all counted sockets (`this` is the socket). */
  private readonly onClose: (this: Duplex) => void;

  constructor(
    private readonly maxPerPeer: number,
    /** The peer's limit key and IPv6 site, or null for a peer not counted (a trusted proxy). */
    private readonly keyOf: (socket: Socket) => PeerKey | null,
  ) {
    const sockets = this;
    this.onClose = function (this: Duplex): void {
      sockets.release(this);
    };
  }

  /** Sockets counted under an IPv6 site (a /48 key, as PeerKey.siteKey has it). */
  countOfSite(site: string): number {
    return this.perSite.get(site);
  }

  /** A new TCP connection: counted, or answered 429 and closed when its peer has enough. */
  admit(socket: Socket): void {
    const peer = this.keyOf(socket);
    if (peer === null) return;
    const { limitKey: key, siteKey: site } = peer;
    const full = this.perPeer.get(key) >= this.maxPerPeer ? "address" : site !== null && this.perSite.get(site) >= this.maxPerPeer * IPV6_SITE_SHARE ? "network" : null;
    if (full) {
      socket.end(httpRefusal(429, `Too Many Requests: too many connections still speaking HTTP from this ${full}`, FULL_RETRY_AFTER_S));
      socket.destroySoon();
      return;
    }
    this.perPeer.add(key);
    if (site !== null) this.perSite.add(site);
    this.counted.set(socket, { key, site });
    socket.on("close", this.onClose);
  }

  /** The socket's upgrade request arrived: from here the connection caps count it. */
  upgrading(socket: Duplex): void {
    socket.off("close", this.onClose);
    this.release(socket);
  }

  private release(socket: Duplex): void {
    const counted = this.counted.get(socket);
    if (counted === undefined) return;
    this.counted.delete(socket);
    this.perPeer.remove(counted.key);
    if (counted.site !== null) this.perSite.remove(counted.site);
  }
}
