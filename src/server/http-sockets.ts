import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { IPV6_SITE_SHARE, type PeerKey } from "./client-address.js";
import { FULL_RETRY_AFTER_S, refuseAndClose } from "./connection-caps.js";
import { Holdings } from "./holdings.js";
import { KeyCounts } from "./key-counts.js";

/**
 * A socket still speaking HTTP with no traffic either way for this long is closed (Node's
 * `server.timeout`): the headers and request timeouts end when the request has arrived, so a
 * client that never read its answer (the page's largest file, a refusal) kept the socket.
 */
export const HTTP_IDLE_TIMEOUT_MS = 10_000;

/**
 * What became of a new socket: counted; refused (and closed) because its address, its IPv6
 * network or the server had enough; or counted in the place of another holder's oldest socket,
 * which was closed.
 */
export type HttpSocketAdmission = "counted" | "address_full" | "network_full" | "server_full" | "took_a_place" | "cooling";

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
 * a /48, free from tunnel brokers, holds 65,536 /64s, and with a cap per /64 only, 110 of them
 * would hold the server's whole socket limit.
 *
 * In all, the sockets counted here may take what the server's socket limit leaves
 * (`room()`). When that is taken, a new socket takes the place of the oldest socket of the
 * holder with the most (a holder: an IPv4 address, or an IPv6 client's /48), which is closed at
 * once; if the newcomer's own holder is the one with the most, or would be after the swap, the
 * newcomer is refused (503) instead. Before, the limit was only Node's, at accept: 110 IPv4
 * addresses holding their 100 silent sockets each, opening a new one whenever one closed, kept
 * everyone else out (`bench/socket-lockout.ts`); now an attacker needs as many addresses as
 * there are places, each holding one socket, and even then holds no place for longer than the
 * headers timeout.
 */
export class HttpSockets {
  private readonly perPeer = new KeyCounts();
  /** Counted sockets by holder: the peer's /48 for IPv6, its address for IPv4. */
  private readonly holdings = new Holdings<Duplex>();
  /** The key and holder each counted socket was counted under (not a property: see ConnectionCaps.handshaking). */
  private readonly counted = new WeakMap<Duplex, { key: string; holder: string }>();
  /** One 'close' listener for all counted sockets (`this` is the socket). */
  private readonly onClose: (this: Duplex) => void;
  /**
   * Sockets refused (at accept, or a request on them) and closing: Node parses every request of
   * a read at once, so what came in the same read still reaches the server; none of it is served.
   */
  private readonly refused = new WeakSet<Duplex>();

  constructor(
    private readonly maxPerPeer: number,
    /** The peer's limit key and IPv6 site, or null for a peer not counted (a trusted proxy). */
    private readonly keyOf: (socket: Socket) => PeerKey | null,
    /** How many sockets still speaking HTTP the server has room for now. */
    private readonly room: () => number,
    /** Milliseconds before a peer just refused for its request rate may open sockets again (see CoolingAddresses). */
    private readonly coolingMs: (peer: PeerKey) => number = () => 0,
  ) {
    const sockets = this;
    this.onClose = function (this: Duplex): void {
      sockets.release(this);
    };
  }

  /** Sockets counted now, in all. */
  get count(): number {
    return this.holdings.size;
  }

  /** Sockets counted under a holder: an IPv6 site (a /48 key, as PeerKey.siteKey has it) or an IPv4 address. */
  countOf(holder: string): number {
    return this.holdings.countOf(holder);
  }

  /** A new TCP connection: counted, counted in another's place, or answered and closed. */
  admit(socket: Socket): HttpSocketAdmission {
    const peer = this.keyOf(socket);
    if (peer === null) return "counted";
    const { limitKey: key, siteKey: site } = peer;
    const cooling = this.coolingMs(peer);
    if (cooling > 0) {
      this.turnAway(socket, 429, "Too Many Requests: this address went over its request rate", Math.ceil(cooling / 1000));
      return "cooling";
    }
    const holder = site ?? key;
    const full = this.perPeer.get(key) >= this.maxPerPeer ? "address" : site !== null && this.holdings.countOf(site) >= this.maxPerPeer * IPV6_SITE_SHARE ? "network" : null;
    if (full) {
      this.turnAway(socket, 429, `Too Many Requests: too many connections still speaking HTTP from this ${full}`);
      return full === "address" ? "address_full" : "network_full";
    }
    let admission: HttpSocketAdmission = "counted";
    if (this.holdings.size >= this.room()) {
      const largest = this.holdings.largest();
      // After the swap the largest must still hold at least as many as the newcomer's holder:
      // otherwise two holders would trade one place back and forth.
      if (largest === undefined || largest === holder || this.holdings.countOf(largest) < this.holdings.countOf(holder) + 2) {
        this.turnAway(socket, 503, "Service Unavailable: too many connections");
        return "server_full";
      }
      // Uncounted now, not at its 'close' (the next turn): a second newcomer in this turn must
      // not find the same socket still counted and close it again.
      const oldest = this.holdings.oldestOf(largest)!;
      oldest.off("close", this.onClose);
      this.release(oldest);
      oldest.destroy();
      admission = "took_a_place";
    }
    this.perPeer.add(key);
    this.holdings.add(holder, socket);
    this.counted.set(socket, { key, holder });
    socket.on("close", this.onClose);
    return admission;
  }

  /** A request on the socket was refused and the socket closes after that answer: serve nothing more on it. */
  markRefused(socket: Duplex): void {
    this.refused.add(socket);
  }

  /** Whether the socket was refused (markRefused, or turned away at accept): whatever was parsed on it is not served. */
  wasRefused(socket: Duplex): boolean {
    return this.refused.has(socket);
  }

  private turnAway(socket: Socket, status: number, text: string, retryAfterS = FULL_RETRY_AFTER_S): void {
    this.refused.add(socket);
    refuseAndClose(socket, status, text, retryAfterS);
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
    this.holdings.remove(counted.holder, socket);
  }
}
