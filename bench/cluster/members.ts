/**
 * The room members of `npm run bench:cluster`, one per connection: a raw Pulse client and a
 * Socket.IO client with the same shape. Each counts the chat messages it receives, notes when
 * a probe arrived, and sends its next message when an ack frees a slot of its window.
 */
import { io } from "socket.io-client";
import { SUBPROTOCOL } from "../../src/protocol/messages.js";
import { RawWs } from "../load/raw-ws.js";
import { Tag, helloFrame, joinFrame, pingFrame, sendFrame, typeTag } from "../load/protocol.js";

export const ROOM = "bench";
/** A member not joined this long after its connect fails the run. */
const JOIN_DEADLINE_MS = 60_000;

/** Wall-clock time in ms with sub-ms resolution, comparable between processes of one machine. */
export const wallMs = (): number => performance.timeOrigin + performance.now();

export interface Member {
  /** Sends one chat message (an ack calls sendNext). */
  send(id: string, text: string): void;
  close(): void;
  received: number;
  /** Probe text -> receive time (wallMs). */
  probeSeen: Map<string, number>;
  acks: number;
  sendNext?: () => void;
}

export type MemberKind = "pulse" | "socketio";
export type Connect = (url: string, i: number, localAddress: string) => Promise<Member>;

const PROBE_MARK = Buffer.from('"text":"probe-');

/**
 * Pulse members ping after `intervalMs` without sending, as the reference client does: its
 * timer runs even while it works through a backlog of frames, so a generator that falls a few
 * seconds behind in reading is not taken for a dead client (the server's ping would wait
 * behind that backlog). Checked every 250 ms.
 */
const heartbeats = new Set<{ ws: RawWs; lastSentMs: number }>();
let intervalMs = 5_000;
let nextPingId = 1;
setInterval(() => {
  const now = performance.now();
  for (const h of heartbeats) {
    if (now - h.lastSentMs < intervalMs) continue;
    h.lastSentMs = now;
    h.ws.sendText(pingFrame(nextPingId++, Date.now()));
  }
}, 250).unref();

/**
 * A Pulse client on the generator's bare WebSocket (bench/load/raw-ws.ts: frames are counted
 * by peeking at their first bytes, so the generator spends little per delivery): hello, join,
 * answer pings, count messages; resolves once joined.
 */
function pulseMember(url: string, i: number, localAddress: string): Promise<Member> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    let joined = false;
    let closedWith = "no close frame";
    const timer = setTimeout(() => reject(new Error(`client ${i} not joined in ${JOIN_DEADLINE_MS} ms`)), JOIN_DEADLINE_MS);
    const ws = new RawWs({ host: hostname, port: Number(port), localAddress, protocol: SUBPROTOCOL }, {
      onOpen: (w) => {
        heartbeat.lastSentMs = performance.now();
        w.sendText(helloFrame(`bench-${i}`, `u${i}`));
      },
      onText: (w, payload) => {
        const tag = typeTag(payload);
        if (tag === Tag.message) {
          m.received++;
          const at = payload.indexOf(PROBE_MARK);
          if (at >= 0) m.probeSeen.set(payload.subarray(at + 8, payload.indexOf(0x22, at + 8)).toString(), wallMs());
        } else if (tag === Tag.ack) {
          m.acks++;
          m.sendNext?.();
        } else if (tag === Tag.ping) {
          // A Pulse pong echoes the ping with its type changed: flip "ping" to "pong".
          const pong = Buffer.from(payload);
          pong[pong.indexOf('"ping"') + 2] = 0x6f; // 'o'
          w.sendText(pong);
        } else if (tag === Tag.welcome) {
          intervalMs = (JSON.parse(payload.toString()) as { liveness: { intervalMs: number } }).liveness.intervalMs;
          w.sendText(joinFrame(ROOM));
        }
        else if (tag === Tag.joined && !joined) {
          joined = true;
          clearTimeout(timer);
          resolve(m);
        } else if (payload.indexOf('"type":"error"') >= 0) {
          // A refused send would silently shrink its sender's window: the run is void.
          console.error(`client ${i}: ${payload.toString()}`);
          process.exit(1);
        }
      },
      onCloseFrame: (_w, code, reason) => (closedWith = `${code} ${reason}`),
      onClose: () => {
        if (!joined) reject(new Error(`client ${i}: connection closed before joining (${closedWith}; refused upgrade?)`));
        else if (!closing) {
          console.error(`client ${i}: the server closed the connection during the run (${closedWith})`);
          process.exit(1);
        }
      },
    });
    let closing = false;
    const heartbeat = { ws, lastSentMs: performance.now() };
    heartbeats.add(heartbeat);
    const m: Member = {
      send: (id, text) => {
        heartbeat.lastSentMs = performance.now();
        ws.sendText(sendFrame(ROOM, id, text));
      },
      close: () => {
        closing = true;
        heartbeats.delete(heartbeat);
        ws.destroy();
      },
      received: 0,
      probeSeen: new Map(),
      acks: 0,
    };
  });
}

/** A Socket.IO client: join, count messages, ack-driven sends. */
function socketIoMember(url: string, i: number, localAddress: string): Promise<Member> {
  return new Promise((resolve, reject) => {
    const socket = io(url, { transports: ["websocket"], reconnection: false, forceNew: true, localAddress } as Parameters<typeof io>[1]);
    const m: Member = {
      send: (id, text) =>
        socket.emit("send", { room: ROOM, id, text }, () => {
          m.acks++;
          m.sendNext?.();
        }),
      close: () => socket.disconnect(),
      received: 0,
      probeSeen: new Map(),
      acks: 0,
    };
    const timer = setTimeout(() => reject(new Error(`client ${i} not joined in ${JOIN_DEADLINE_MS} ms`)), JOIN_DEADLINE_MS);
    socket.on("connect_error", reject);
    socket.on("message", (msg: { text?: string }) => {
      m.received++;
      if (msg.text?.startsWith("probe-")) m.probeSeen.set(msg.text, wallMs());
    });
    socket.on("connect", () =>
      socket.emit("join", ROOM, () => {
        clearTimeout(timer);
        resolve(m);
      }),
    );
  });
}

export const connectors: Record<MemberKind, Connect> = { pulse: pulseMember, socketio: socketIoMember };
