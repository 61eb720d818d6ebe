/**
 * Socket.IO with @socket.io/redis-adapter: the anchor for several nodes on one Redis. Same
 * events as socketio-server.ts, plus an ack on `send` once the broadcast is handed to the
 * adapter (so senders can keep a fixed window in flight, as with Pulse's acks).
 *
 * node --import tsx bench/peers/socketio-redis-server.ts --port 0 --redis redis://127.0.0.1:6379
 */
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { argNumber } from "./node-stats.js";

const port = argNumber("port", 0);
const redisUrl = process.argv[process.argv.indexOf("--redis") + 1] ?? "redis://127.0.0.1:6379";
const pub = new Redis(redisUrl);
const sub = pub.duplicate();

const http = createServer();
const io = new Server(http, { transports: ["websocket"], perMessageDeflate: false, serveClient: false, adapter: createAdapter(pub, sub) });

io.on("connection", (socket) => {
  socket.on("join", (room: unknown, ack?: (r: unknown) => void) => {
    if (typeof room !== "string") return;
    void socket.join(room);
    ack?.({ room });
  });
  socket.on("send", (msg: { room?: unknown; id?: unknown; text?: unknown }, ack?: () => void) => {
    if (typeof msg?.room !== "string" || !socket.rooms.has(msg.room)) return;
    io.to(msg.room).emit("message", { room: msg.room, id: msg.id, text: msg.text });
    ack?.();
  });
});

http.listen(port, "127.0.0.1", () => {
  const address = http.address();
  console.log(`listening on http://127.0.0.1:${typeof address === "object" && address ? address.port : port}`);
});
