/**
 * Plain `ws` peer: the minimal chat server people write from the ws README. JSON frames in the
 * same shape as Pulse's (join -> joined, send -> message to every member, sender included), and
 * the README heartbeat: a sweep every intervalMs pings each socket with a protocol ping frame and
 * terminates any that did not pong since the previous sweep (so detection takes 1-2 intervals).
 *
 * node --expose-gc --import tsx bench/peers/ws-server.ts --port 9001 --stats-port 10001 [--interval-ms 30000]
 */
import { createServer } from "node:http";
import { WebSocketServer, type WebSocket } from "ws";
import { joinedFrame, messageFrame, parsePeerRequest } from "./chat-frames.js";
import { argNumber, startStatsEndpoint } from "./node-stats.js";

const port = argNumber("port", 9001);
const intervalMs = argNumber("interval-ms", 30_000); // the README's 30 s

interface Member extends WebSocket {
  alive: boolean;
}
const rooms = new Map<string, Set<Member>>();
const http = createServer();
const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: 64 * 1024 });
startStatsEndpoint(argNumber("stats-port", port + 1000), () => wss.clients.size);

wss.on("connection", (raw) => {
  const ws = raw as Member;
  ws.alive = true;
  const joined = new Set<string>();
  ws.on("pong", () => (ws.alive = true));
  ws.on("error", () => ws.terminate());
  ws.on("message", (data) => {
    const msg = parsePeerRequest(data);
    if (!msg) return;
    if (msg.type === "join") {
      let members = rooms.get(msg.room);
      if (!members) rooms.set(msg.room, (members = new Set()));
      members.add(ws);
      joined.add(msg.room);
      ws.send(joinedFrame(msg.room));
    } else if (joined.has(msg.room)) {
      const frame = messageFrame(msg);
      for (const member of rooms.get(msg.room) ?? []) member.send(frame);
    }
  });
  ws.on("close", () => {
    for (const room of joined) rooms.get(room)?.delete(ws);
  });
});

setInterval(() => {
  for (const client of wss.clients) {
    const ws = client as Member;
    if (!ws.alive) {
      ws.terminate();
      continue;
    }
    ws.alive = false;
    ws.ping();
  }
}, intervalMs);

http.listen(port, "127.0.0.1", () => console.log(`ready ${port}`));
