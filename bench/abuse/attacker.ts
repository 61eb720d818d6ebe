/**
 * One attacker, as its own process (so its CPU is measured apart from the honest clients'):
 * `node --import tsx bench/abuse/attacker.ts <kind> <port> <localAddress> <seconds>`.
 * Every kind reconnects at once when it is cut, so the attack lasts the whole window; it
 * prints one JSON line with what it managed at the end.
 */
import type { Socket } from "node:net";
import WebSocket from "ws";
import { ATTACK_KINDS, type AttackKind, BOMB_ROOM, HONEST_ROOM } from "./shared.js";

const [kindArg, portArg, localAddress, secondsArg] = process.argv.slice(2);
const kind = kindArg as AttackKind;
if (!ATTACK_KINDS.includes(kind)) throw new Error(`unknown attack '${kindArg}'`);
const url = `ws://127.0.0.1:${portArg}`;
const endAt = Date.now() + Number(secondsArg) * 1000;
/** `acked`: sends the server stored; `rateLimited`: refusals answered with an error frame. */
const tally = { kind, connections: 0, refused: 0, closes: {} as Record<string, number>, framesSent: 0, acked: 0, rateLimited: 0 };
let n = 0;

/** Opens a connection and says hello; resolves with the socket and the welcome's epoch. */
function open(): Promise<{ ws: WebSocket; epoch: string } | null> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, ["pulse.v1"], { localAddress });
    const nick = `mallory${process.pid % 1000}x${n++}`;
    ws.on("error", () => resolve(null));
    ws.on("unexpected-response", (_req, res) => {
      tally.refused++;
      res.resume();
      resolve(null);
    });
    ws.on("close", (code) => (tally.closes[code] = (tally.closes[code] ?? 0) + 1));
    ws.once("open", () => {
      tally.connections++;
      ws.send(JSON.stringify({ type: "hello", clientId: `${nick}-c`, nick, userKey: `k-${nick}` }));
    });
    ws.on("message", (data) => {
      const text = data.toString();
      if (text.startsWith('{"type":"ack"')) tally.acked++;
      else if (text.includes('"rate_limited"')) tally.rateLimited++;
      if (text.includes('"type":"welcome"')) resolve({ ws, epoch: (JSON.parse(text) as { epoch: string }).epoch });
    });
  });
}

/**
 * Sends as fast as the socket takes frames, with its buffer kept short so the attacker itself
 * does not balloon. When the buffer is full (the server is not reading) it waits a few
 * milliseconds instead of spinning: it shares core 1 with the honest clients, and a spinning
 * process there (even at nice 19) delayed their event loop by tens of milliseconds, which
 * measured this machine rather than the server. The server sees the same offered load.
 */
async function pump(ws: WebSocket, frame: () => string): Promise<void> {
  while (ws.readyState === WebSocket.OPEN && Date.now() < endAt) {
    for (let i = 0; i < 200 && ws.bufferedAmount < 1_000_000; i++) {
      ws.send(frame());
      tally.framesSent++;
    }
    if (ws.bufferedAmount >= 1_000_000) await new Promise((r) => setTimeout(r, 5));
    else await new Promise((r) => setImmediate(r));
  }
}

async function once(): Promise<void> {
  const link = await open();
  if (!link) return new Promise((r) => setTimeout(r, 50));
  const { ws, epoch } = link;
  const closed = new Promise<void>((r) => ws.once("close", () => r()));
  switch (kind) {
    case "message-flood": {
      ws.send(JSON.stringify({ type: "join", room: HONEST_ROOM }));
      const text = "f".repeat(4_000);
      let id = 0;
      await pump(ws, () => JSON.stringify({ type: "send", room: HONEST_ROOM, id: `f${id++}`, text }));
      break;
    }
    case "ping-flood": {
      let id = 0;
      await pump(ws, () => `{"type":"ping","id":${id++},"sentAt":1}`);
      break;
    }
    case "join-leave-churn": {
      const join = JSON.stringify({ type: "join", room: HONEST_ROOM });
      const leave = JSON.stringify({ type: "leave", room: HONEST_ROOM });
      let i = 0;
      await pump(ws, () => (i++ % 2 === 0 ? join : leave));
      break;
    }
    case "replay-bomb": {
      // Join the bomb room from the start, read the answer, leave, again: as fast as served.
      while (ws.readyState === WebSocket.OPEN && Date.now() < endAt) {
        const joined = new Promise<void>((r) => {
          const onMessage = (data: Buffer) => {
            if (data.includes('"type":"joined"') || data.includes('"type":"error"')) {
              ws.off("message", onMessage);
              r();
            }
          };
          ws.on("message", onMessage);
          void closed.then(() => r());
        });
        ws.send(JSON.stringify({ type: "join", room: BOMB_ROOM, since: 0, epoch }));
        tally.framesSent++;
        await joined;
        ws.send(JSON.stringify({ type: "leave", room: BOMB_ROOM }));
      }
      break;
    }
    case "non-reader": {
      // Join the busy room, ask for history pages, and never read another byte.
      ws.send(JSON.stringify({ type: "join", room: HONEST_ROOM }));
      await new Promise((r) => setTimeout(r, 200));
      (ws as unknown as { _socket: Socket })._socket.pause();
      await pump(ws, () => JSON.stringify({ type: "history", room: HONEST_ROOM, before: 1e9 }));
      break;
    }
  }
  if (Date.now() >= endAt) ws.terminate();
  await closed;
}

while (Date.now() < endAt) await once();
console.log(JSON.stringify(tally));
process.exit(0);
