import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { affinityKeyReader, type ClientAddressOptions } from "./client-address.js";
import { stopReading } from "./stop-reading.js";

/** Gives a socket back to whoever dealt it, with the request read from it, to be dealt by `key`. */
export type HandBack = (socket: Socket, head: Buffer, key: string) => void;

/**
 * The sockets a worker of `pulse serve --workers` was dealt (PulseServer.takeSocket), with the
 * client key each was dealt by. A trusted proxy's socket is dealt by its first request's client;
 * a proxy that keeps its sockets alive may send another client's upgrade on it. That upgrade is
 * handed back to be dealt by its own client's key: counted here, a client holding its whole
 * per-address cap on its own worker got as many connections again on this one (an audit: 200
 * against a cap of 100 with two workers).
 *
 * Only a trusted proxy's socket is kept: any other socket's key is its peer address, which no
 * request on it can change, so it never goes back (and costs no entry).
 */
export class DealtSockets {
  private readonly dealt = new WeakMap<Socket, { key: string; handBack: HandBack }>();
  private readonly affinity: ReturnType<typeof affinityKeyReader>;

  /** `released`: a socket is about to be handed back (called before its `handBack`), and is no longer the caller's. */
  constructor(
    addresses: ClientAddressOptions,
    private readonly released: (socket: Socket) => void = () => {},
  ) {
    this.affinity = affinityKeyReader(addresses);
  }

  /** A socket dealt by `key`; `handBack` gives it back to the dealer (one function per dealer, not per socket). */
  take(socket: Socket, key: string, handBack: HandBack): void {
    if (!this.affinity.trustedPeer(socket.remoteAddress ?? "")) return;
    this.dealt.set(socket, { key, handBack });
  }

  /**
   * Whether an upgrade request belongs to another worker; if so, the socket was handed back
   * (with the request rebuilt, and whatever followed it) and the caller must not touch it again.
   */
  handedBack(req: IncomingMessage, socket: Socket, head: Buffer): boolean {
    const dealt = this.dealt.get(socket);
    if (!dealt) return false;
    const forwarded = req.headers["x-forwarded-for"];
    const key = this.affinity.keyOf(socket.remoteAddress ?? "", Array.isArray(forwarded) ? forwarded.join(", ") : forwarded);
    if (key === dealt.key) return false;
    this.dealt.delete(socket);
    this.released(socket);
    dealt.handBack(socket, Buffer.concat([requestHead(req), head, ...stopReading(socket)]), key);
    return true;
  }
}

/** A request's head as it came (Node keeps the header names' case and order in rawHeaders). */
function requestHead(req: IncomingMessage): Buffer {
  let text = `${req.method ?? "GET"} ${req.url ?? "/"} HTTP/${req.httpVersion}\r\n`;
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) text += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
  return Buffer.from(`${text}\r\n`, "latin1");
}
