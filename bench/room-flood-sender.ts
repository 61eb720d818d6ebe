/**
 * The senders of bench/room-flood.ts, as a process of their own: `node --import tsx
 * bench/room-flood-sender.ts <port> <localAddress> <room> <text length> <seconds>
 * [forwarded address...]`. Each sender is the reference client library (`PulseClient`) kept 20
 * messages ahead of the server's acks: it follows the protocol (waits out every
 * `retryAfterMs`, answers pings), so it is never cut, and it sends as much as the rate limits
 * let it. Without forwarded addresses there is one sender; with them, one per address, each
 * connecting from `localAddress` (a proxy the server trusts) with that address in
 * X-Forwarded-For. A send the server refuses for good (`forbidden`: a read-only room) is
 * dropped and another sent in its place, as a hostile sender would. Prints the counts of
 * stored, refused (rate_limited) and forbidden sends of all senders as JSON at the end.
 */
import WebSocket from "ws";
import { PulseClient } from "../src/client/pulse-client.js";
import type { WebSocketFactory } from "../src/client/types.js";

const [port, localAddress, room, textLength, seconds, ...forwarded] = process.argv.slice(2);
/** Messages queued ahead of the acks: more than the client keeps in flight (10), so it never waits on us. */
const AHEAD = 20;

const text = "x".repeat(Number(textLength));
let acked = 0;
/** Sends the server refused with rate_limited (each resent later by the client library). */
let refused = 0;
const RATE_LIMITED = Buffer.from('"code":"rate_limited"');
/** Sends the server refused for good with forbidden (a read-only room). */
let forbidden = 0;

function sender(forwardedFor: string | null): PulseClient {
  const headers = forwardedFor === null ? {} : { "x-forwarded-for": forwardedFor };
  const bound = class extends WebSocket {
    constructor(url: string, protocols: string | string[]) {
      super(url, protocols, { localAddress, headers });
      this.on("message", (data: Buffer) => void (data.includes(RATE_LIMITED) && refused++));
    }
  } as unknown as WebSocketFactory;
  const client = new PulseClient({ url: `ws://127.0.0.1:${port}`, nick: `loud${process.pid}x${Math.random().toString(36).slice(2, 8)}`, WebSocket: bound });
  client.on("outbox", (entry) => {
    if (entry.status === "failed") {
      forbidden++;
      client.discard(entry.id);
    } else if (entry.status === "sent") acked++;
    else return;
    client.send(room!, text);
  });
  client.join(room!);
  for (let i = 0; i < AHEAD; i++) client.send(room!, text);
  return client;
}

const clients = forwarded.length === 0 ? [sender(null)] : forwarded.map(sender);
await new Promise((r) => setTimeout(r, Number(seconds) * 1000));
for (const c of clients) c.close();
console.log(JSON.stringify({ acked, refused, forbidden }));
process.exit(0);
