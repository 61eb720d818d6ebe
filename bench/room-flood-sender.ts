/**
 * One sender of bench/room-flood.ts, as its own process: `node --import tsx
 * bench/room-flood-sender.ts <port> <localAddress> <room> <text length> <seconds>`. It is the
 * reference client library (`PulseClient`) kept 20 messages ahead of the server's acks: it
 * follows the protocol (waits out every `retryAfterMs`, answers pings), so it is never cut,
 * and it sends as much as the rate limits let one address send. Prints its count of stored
 * messages as JSON at the end.
 */
import WebSocket from "ws";
import { PulseClient } from "../src/client/pulse-client.js";
import type { WebSocketFactory } from "../src/client/types.js";

const [port, localAddress, room, textLength, seconds] = process.argv.slice(2);
/** Messages queued ahead of the acks: more than the client keeps in flight (10), so it never waits on us. */
const AHEAD = 20;

const bound = class extends WebSocket {
  constructor(url: string, protocols: string | string[]) {
    super(url, protocols, { localAddress });
  }
} as unknown as WebSocketFactory;
const client = new PulseClient({ url: `ws://127.0.0.1:${port}`, nick: `loud${process.pid}`, WebSocket: bound });
const text = "x".repeat(Number(textLength));
let acked = 0;
client.on("outbox", (entry) => {
  if (entry.status !== "sent") return;
  acked++;
  client.send(room!, text);
});
client.join(room!);
for (let i = 0; i < AHEAD; i++) client.send(room!, text);
await new Promise((r) => setTimeout(r, Number(seconds) * 1000));
client.close();
console.log(JSON.stringify({ acked }));
process.exit(0);
