/**
 * Socket.IO peer: rooms via socket.join, broadcast via io.to(room).emit (sender included, like
 * the others), and Socket.IO's own heartbeat (server ping every pingInterval, dead after
 * pingTimeout more; defaults 25 s / 20 s). WebSocket transport only, so no long-polling costs.
 *
 * node --expose-gc --import tsx bench/peers/socketio-server.ts --port 9002 [--interval-ms 25000 --timeout-ms 20000]
 */
import { createServer } from "node:http";
import { Server } from "socket.io";
import { argNumber, startStatsEndpoint } from "./node-stats.js";

const port = argNumber("port", 9002);

const http = createServer();
const io = new Server(http, {
  transports: ["websocket"],
  perMessageDeflate: false,
  pingInterval: argNumber("interval-ms", 25_000),
  pingTimeout: argNumber("timeout-ms", 20_000),
  serveClient: false,
});

startStatsEndpoint(argNumber("stats-port", port + 1000), () => io.engine.clientsCount);

io.on("connection", (socket) => {
  socket.on("join", (room: unknown, ack?: (r: unknown) => void) => {
    if (typeof room !== "string") return;
    void socket.join(room);
    ack?.({ room });
  });
  socket.on("send", (msg: { room?: unknown; id?: unknown; text?: unknown }) => {
    if (typeof msg?.room !== "string" || !socket.rooms.has(msg.room)) return;
    io.to(msg.room).emit("message", { room: msg.room, id: msg.id, text: msg.text });
  });
});

http.listen(port, "127.0.0.1", () => console.log(`ready ${port}`));
