/**
 * One attacker, as its own process (so its CPU is measured apart from the honest clients'):
 * `node --import tsx bench/abuse/attacker.ts <kind> <port> <localAddress> <seconds>`.
 * Every kind reconnects at once when it is cut, so the attack lasts the whole window; it
 * prints one JSON line with what it managed at the end.
 */
import { connect, type Socket } from "node:net";
import WebSocket from "ws";
import { ATTACK_KINDS, type AttackKind, BOMB_ROOM, HONEST_ROOM } from "./shared.js";

const [kindArg, portArg, localAddress, secondsArg] = process.argv.slice(2);
const kind = kindArg as AttackKind;
if (!ATTACK_KINDS.includes(kind)) throw new Error(`unknown attack '${kindArg}'`);
const url = `ws://127.0.0.1:${portArg}`;
const endAt = Date.now() + Number(secondsArg) * 1000;
/**
 * `acked`: sends the server stored; `rateLimited`: refusals answered with an error frame;
 * `pagesServed`: page-flood answers of 200 (`framesSent` counts its requests, `refused` and
 * `closes` its other answers, by status).
 */
const tally = { kind, connections: 0, refused: 0, closes: {} as Record<string, number>, framesSent: 0, acked: 0, rateLimited: 0, pagesServed: 0 };
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
    case "ping-frame-flood": {
      // WebSocket ping frames, a few per millisecond: in larger bursts the server reads more
      // than 60 at once and ws itself cuts the connection (60 pongs unwritten).
      while (ws.readyState === WebSocket.OPEN && Date.now() < endAt) {
        for (let i = 0; i < 8; i++) ws.ping();
        tally.framesSent += 8;
        await new Promise((r) => setTimeout(r, 1));
      }
      break;
    }
    case "pong-frame-flood": {
      // WebSocket pong frames nobody asked for, as fast as the socket takes them.
      while (ws.readyState === WebSocket.OPEN && Date.now() < endAt) {
        for (let i = 0; i < 200 && ws.bufferedAmount < 1_000_000; i++) ws.pong();
        tally.framesSent += 200;
        if (ws.bufferedAmount >= 1_000_000) await new Promise((r) => setTimeout(r, 5));
        else await new Promise((r) => setImmediate(r));
      }
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

/** Requests in flight on each page-flood socket: a pipeline that never runs dry. */
const PIPELINE = 8;
/** Page-flood sockets at once: well within one address's 100 HTTP sockets. */
const PAGE_SOCKETS = 16;
/** The largest file the page serves: the most bytes one request makes the server write. */
const PAGE_REQUEST = `GET /app.js.map HTTP/1.1\r\nHost: 127.0.0.1:${portArg}\r\n\r\n`;

/**
 * One keep-alive HTTP socket asking for the page's largest file again and again, PIPELINE
 * requests ahead of the answers. Answers are not parsed: the first one's size is learnt from
 * its Content-Length, and the rest are counted by bytes (every answer to it has that size).
 * An answer of another size (a refusal) ends the socket; the attack then opens another.
 */
function pageFloodSocket(): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port: Number(portArg), localAddress });
    let answerBytes = 0;
    let received = 0;
    let asked = 0;
    let head = "";
    const ask = (n: number) => {
      socket.write(PAGE_REQUEST.repeat(n));
      asked += n;
      tally.framesSent += n;
    };
    socket.on("connect", () => {
      tally.connections++;
      ask(1);
    });
    socket.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (answerBytes === 0) {
        head += chunk.toString("latin1", 0, Math.min(chunk.length, 4096));
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        const status = Number(head.slice(9, 12));
        const length = Number(/content-length: (\d+)/i.exec(head.slice(0, end))?.[1] ?? NaN);
        if (status !== 200 || !Number.isFinite(length)) {
          tally.refused++;
          tally.closes[status] = (tally.closes[status] ?? 0) + 1;
          socket.destroy();
          return;
        }
        answerBytes = end + 4 + length;
      }
      const answered = Math.floor(received / answerBytes);
      tally.pagesServed += answered - Math.floor((received - chunk.length) / answerBytes);
      if (Date.now() < endAt && asked - answered < PIPELINE) ask(PIPELINE - (asked - answered));
      else if (Date.now() >= endAt) socket.destroy();
    });
    socket.on("error", () => {});
    socket.on("close", () => resolve());
  });
}

if (kind === "page-flood") {
  await Promise.all(
    Array.from({ length: PAGE_SOCKETS }, async () => {
      while (Date.now() < endAt) {
        await pageFloodSocket();
        if (Date.now() < endAt) await new Promise((r) => setTimeout(r, 50));
      }
    }),
  );
} else {
  while (Date.now() < endAt) await once();
}
console.log(JSON.stringify(tally));
process.exit(0);
