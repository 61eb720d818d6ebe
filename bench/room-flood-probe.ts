/**
 * The bystander of bench/room-flood.ts, as its own process: `node --import tsx
 * bench/room-flood-probe.ts <port> <seconds>`. A reference client alone in a small room of its
 * own sends a short message every 200 ms (half its rate limit) and times each until it comes back to it: another
 * room's chat latency while the large room is flooded. Prints p50, p99 and max (ms) as JSON.
 */
import WebSocket from "ws";
import { PulseClient } from "../src/client/pulse-client.js";
import type { WebSocketFactory } from "../src/client/types.js";
import { percentile } from "./lib/stats.js";

const [port, seconds] = process.argv.slice(2);
const ROOM = "quiet";
const EVERY_MS = 200;

const client = new PulseClient({ url: `ws://127.0.0.1:${port}`, nick: `bystander${process.pid}`, WebSocket: WebSocket as unknown as WebSocketFactory });
const latencies: number[] = [];
client.on("message", (m) => {
  const [tag, at] = m.text.split(" ");
  if (m.room === ROOM && tag === "probe") latencies.push(performance.now() - Number(at));
});
client.join(ROOM);
const timer = setInterval(() => client.send(ROOM, `probe ${performance.now()}`), EVERY_MS);
await new Promise((r) => setTimeout(r, Number(seconds) * 1000));
clearInterval(timer);
client.close();
const round = (x: number) => Math.round(x * 10) / 10;
console.log(JSON.stringify({ samples: latencies.length, p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)), max: round(Math.max(...latencies)) }));
process.exit(0);
