// @ts-nocheck -- runs only under Bun, whose types (@types/bun) are not a dependency of this repo.
/**
 * Bun peer: Bun.serve's WebSocket with its native pub/sub (ws.subscribe + server.publish, which
 * reaches every subscriber, sender included), and Bun's own heartbeat: `idleTimeout` seconds
 * (default 120) with `sendPings` (default on), which pings an idle socket and closes it when
 * nothing comes back in time.
 *
 * bun bench/peers/bun-server.ts --port 9003 --stats-port 10003 [--idle-timeout-s 120]
 *
 * Stats: Bun has no monitorEventLoopDelay, so event-loop delay is sampled as the lateness of a
 * 10 ms timer (the same resolution the Node peers use); heap comes from bun:jsc after Bun.gc.
 */
import { heapStats } from "bun:jsc";
import { joinedFrame, messageFrame, parsePeerRequest } from "./chat-frames.ts";

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const port = arg("port", 9003);
const idleTimeoutS = arg("idle-timeout-s", 120);

type Data = { rooms: Set<string> };
let connections = 0;
const server = Bun.serve<Data, undefined>({
  port,
  hostname: "127.0.0.1",
  fetch(req, srv) {
    if (srv.upgrade(req, { data: { rooms: new Set() } })) return undefined;
    return new Response("websocket only", { status: 426 });
  },
  websocket: {
    idleTimeout: idleTimeoutS,
    sendPings: true,
    perMessageDeflate: false,
    maxPayloadLength: 64 * 1024,
    open() {
      connections++;
    },
    close() {
      connections--;
    },
    message(ws, data) {
      const msg = parsePeerRequest(data);
      if (!msg) return;
      if (msg.type === "join") {
        ws.subscribe(msg.room);
        ws.data.rooms.add(msg.room);
        ws.send(joinedFrame(msg.room));
      } else if (ws.data.rooms.has(msg.room)) {
        server.publish(msg.room, messageFrame(msg));
      }
    },
  },
});

// Event-loop delay: how late a 10 ms timer fires, kept since the last reset.
let lateness: number[] = [];
let expected = performance.now() + 10;
setInterval(() => {
  const now = performance.now();
  lateness.push(Math.max(0, now - expected));
  expected = now + 10;
}, 10);

Bun.serve({
  port: arg("stats-port", port + 1000),
  hostname: "127.0.0.1",
  fetch(req) {
    const url = new URL(req.url);
    if (url.searchParams.has("gc")) Bun.gc(true);
    const sorted = [...lateness].sort((a, b) => a - b);
    const body = {
      eventLoopDelayP99Ms: sorted.length ? sorted[Math.ceil(sorted.length * 0.99) - 1] : null,
      eventLoopDelayMaxMs: sorted.length ? sorted[sorted.length - 1] : null,
      heapUsedBytes: heapStats().heapSize,
      rssBytes: process.memoryUsage.rss(),
      connections,
    };
    if (url.searchParams.has("reset")) lateness = [];
    return Response.json(body);
  },
});

console.log(`ready ${port}`);
