/**
 * One load-generator process (run pinned to the load core). Holds up to ~5,000 client sockets
 * bound to one 127.0.0.x source address and obeys the coordinator over IPC. The hot path, a
 * message frame arriving, is one counter bump and a clock read; nothing is parsed unless loss
 * accounting (`track`) asks for ids.
 */
import { io, type Socket as IoSocket } from "socket.io-client";
import { backoffMs } from "./backoff.js";
import type { Request, Status, WorkerConfig } from "./ipc.js";
import { Tag, helloFrame, joinFrame, pingFrame, sendFrame, typeTag } from "./protocol.js";
import { RawWs } from "./raw-ws.js";
import { idlePingAt, msIntoSlot } from "../../src/liveness/settings.js";
import type { LivenessSettings } from "../../src/protocol/messages.js";

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Clients sit in rooms of this many (per worker), so joining stays linear for every system. */
const GROUP = 100;
const BIG = "big";
const groupRoom = (index: number): string => `${config.name}-g${Math.floor(index / GROUP)}`;

interface Conn {
  index: number;
  /** Member of the shared room used for latency and throughput. */
  inBig: boolean;
  ws?: RawWs;
  io?: IoSocket;
  ready: boolean;
  /** Message frames received on this connection. */
  recv: number;
  attempt: number;
  lastSeq?: number;
  epoch?: string;
  retryAfterMs?: number;
  seen?: Set<string>;
  /** The resume token from the last welcome. */
  token?: string;
  lastInboundMs: number;
  lastSentMs: number;
  /** The server's clock minus our hrtime ms, from welcome.serverTime (as the reference client reads it). */
  serverOffsetMs: number | null;
}

let config: WorkerConfig;
const conns: Conn[] = [];
let msgCount = 0;
/** hrtime ms of the last inbound frame other than a heartbeat: the coordinator waits for quiet before measuring. */
let lastAnyMs = 0;
/** Inbound frames other than heartbeats, and their payload bytes (raw clients), since the last `traffic` op. */
const traffic = { frames: 0, bytes: 0 };
let bigPending = 0;
let onBigJoined: (() => void) | null = null;
let lastMsgMs = 0;
let armed: { expect: number; seq: number } | null = null;
let readyTimes: number[] = [];
let onReady: (() => void) | null = null;
let flood: { senders: number; window: number; text: string; sent: number } | null = null;
let trickleTimer: NodeJS.Timeout | null = null;
/** Reconnect-storm traffic: each group's first client sends; per group, what the server took. */
const trickle = { next: 0, acked: new Map<string, Set<string>>(), outbox: new Map<number, Map<string, string>>() };
const seqKey = (seq: number): string => `#${seq}`;
const ackedIn = (room: string): Set<string> => {
  let set = trickle.acked.get(room);
  if (!set) trickle.acked.set(room, (set = new Set()));
  return set;
};

const reply = (seq: number, body: object = {}): void => void process.send!({ re: seq, ...body });
const event = (body: object): void => void process.send!({ event: true, ...body });

function markReady(c: Conn): void {
  if (c.ready) return;
  c.ready = true;
  c.attempt = 0;
  readyTimes.push(nowMs());
  if (config.track && config.kind === "pulse") resendOutbox(c);
  onReady?.();
}

function onMessage(c: Conn, payload: Buffer | { id?: string; seq?: number } | undefined): void {
  msgCount++;
  c.recv++;
  lastMsgMs = nowMs();
  if (config.track) {
    const m = Buffer.isBuffer(payload) ? (JSON.parse(String(payload)) as { id?: string; seq?: number; text?: string }) : payload;
    // Pulse broadcasts carry no sender ids: its messages are known by the seq their ack gave.
    const key = m?.id ?? (m?.seq !== undefined ? seqKey(m.seq) : undefined);
    if (key) (c.seen ??= new Set()).add(key);
    if (m?.seq && m.seq > (c.lastSeq ?? 0)) c.lastSeq = m.seq;
  }
  if (armed && msgCount >= armed.expect) {
    reply(armed.seq, { lastMs: lastMsgMs });
    armed = null;
  }
  if (flood && c.index === 0) pumpFlood(c);
}

// ---------------------------------------------------------------- raw WebSocket clients

function openRaw(c: Conn): void {
  c.ws = new RawWs(
    {
      host: config.host,
      port: config.port,
      localAddress: config.localAddress,
      ...(config.kind === "pulse" ? { protocol: "pulse.v1" } : {}),
    },
    {
      onOpen: (ws) => {
        c.lastSentMs = nowMs();
        ws.sendText(config.kind === "pulse" ? helloFrame(`${config.name}-${c.index}`, `${config.name}-${c.index}`, c.token) : joinFrame(groupRoom(c.index)));
      },
      onText: (ws, payload) => {
        c.lastInboundMs = nowMs();
        const tag = typeTag(payload);
        // Heartbeats never stop, so they must not count against "quiet".
        if (tag !== Tag.ping && tag !== Tag.pong) {
          lastAnyMs = c.lastInboundMs;
          traffic.frames++;
          traffic.bytes += payload.length;
        }
        if (tag === Tag.message) onMessage(c, payload);
        else if (tag === Tag.ping) {
          // A Pulse pong echoes the ping with its type changed: flip "ping" to "pong" in place.
          const pong = Buffer.from(payload);
          pong[pong.indexOf('"ping"') + 2] = 0x6f; // 'o'
          ws.sendText(pong);
          c.lastSentMs = c.lastInboundMs;
        } else if (tag === Tag.welcome) onWelcome(c, ws, payload);
        else if (tag === Tag.joined) onJoined(c, payload);
        else if (tag === Tag.ack && config.track) onAck(c, payload);
        else if (tag === Tag.goaway) c.retryAfterMs = (JSON.parse(String(payload)) as { retryAfterMs?: number }).retryAfterMs;
      },
      onPing: () => (c.lastInboundMs = nowMs()),
      onClose: () => onClosed(c),
    },
  );
}

let liveness: LivenessSettings | undefined;
let heartbeatTimer: NodeJS.Timeout | null = null;
/**
 * Pulse clients heartbeat by the reference client's rule: a ping after intervalMs without
 * sending (the server answers, and pings only clients it has not heard from), sent at the last
 * multiple of welcome.liveness.pingSlotMs in the server's clock up to then (see idlePingAt). A
 * client's own timer fires at that instant; here one timer per worker fires just after each
 * slot boundary and sends every ping due by then, which is the same instant to within a
 * millisecond or two.
 *
 * BENCH_PING_TICK_MS (bench:liveness --ping-tick-ms N) models a client that ignores the slots:
 * a ping at intervalMs of its own idleness, checked every N ms; at 10, close to one timer per
 * connection, pings reach the server spread out, the unflattering case.
 */
const PING_TICK_MS = process.env.BENCH_PING_TICK_MS ? Number(process.env.BENCH_PING_TICK_MS) : null;
/** How long after a slot boundary the worker's timer fires: its clock and the clients' offsets differ by a little. */
const SLOT_TIMER_LAG_MS = 2;
function pingDue(c: Conn, now: number): boolean {
  if (PING_TICK_MS !== null) return now - c.lastSentMs >= liveness!.intervalMs;
  return now >= idlePingAt(liveness!, c.lastSentMs, c.serverOffsetMs);
}
function sendDuePings(): void {
  const now = nowMs();
  for (const c of conns) {
    if (!c.ready || !c.ws || !pingDue(c, now)) continue;
    c.lastSentMs = now;
    c.ws.sendText(pingFrame(nextPingId++, Date.now()));
  }
}
let nextPingId = 1;
function startHeartbeat(offsetMs: number | null): void {
  if (heartbeatTimer || !liveness) return;
  const slot = liveness.pingSlotMs ?? 0;
  if (PING_TICK_MS !== null || slot === 0 || offsetMs === null) {
    heartbeatTimer = setInterval(sendDuePings, PING_TICK_MS ?? 10);
    heartbeatTimer.unref();
    return;
  }
  const untilNextSlot = (): number => slot - msIntoSlot(nowMs(), offsetMs, slot) + SLOT_TIMER_LAG_MS;
  const tick = (): void => {
    sendDuePings();
    heartbeatTimer = setTimeout(tick, untilNextSlot());
    heartbeatTimer.unref();
  };
  heartbeatTimer = setTimeout(tick, untilNextSlot());
  heartbeatTimer.unref();
}
function onWelcome(c: Conn, ws: RawWs, payload: Buffer): void {
  const w = JSON.parse(String(payload)) as { epoch?: string; token?: string; serverTime?: number; liveness?: LivenessSettings };
  liveness = w.liveness;
  // The hello went out at lastSentMs; serverTime was stamped between it and now.
  c.serverOffsetMs = typeof w.serverTime === "number" ? w.serverTime - (c.lastSentMs + nowMs()) / 2 : null;
  startHeartbeat(c.serverOffsetMs);
  // The same user on every reconnect, so the nickname is still ours.
  c.token = w.token;
  // Resume only within the same store epoch; a new epoch means our sequence numbers are void.
  const resume = c.lastSeq !== undefined && w.epoch === c.epoch;
  c.epoch = w.epoch;
  c.lastSentMs = nowMs();
  ws.sendText(resume ? joinFrame(groupRoom(c.index), c.lastSeq, c.epoch) : joinFrame(groupRoom(c.index)));
}

const BIG_JOINED = Buffer.from(`"room":"${BIG}"`);
function onJoined(c: Conn, payload: Buffer): void {
  if (bigPending > 0 && payload.subarray(0, 64).indexOf(BIG_JOINED) >= 0) return bigJoined();
  if (config.track && config.kind === "pulse") {
    // Whatever the join hands back (a resumed gap follows as message frames; a resync page
    // comes inline) counts as received.
    const j = JSON.parse(String(payload)) as { seq?: number; messages?: { seq: number }[] };
    for (const m of j.messages ?? []) onMessage(c, m);
    if (c.lastSeq === undefined) c.lastSeq = j.seq ?? 0;
  }
  markReady(c);
}

function onClosed(c: Conn): void {
  const wasReady = c.ready;
  c.ready = false;
  if (config.watchPingGapMs !== undefined || config.kind === "socketio") {
    if (wasReady && watching) detected("close");
    return;
  }
  if (!config.reconnect) return;
  const delay = c.retryAfterMs ?? backoffMs(c.attempt++);
  c.retryAfterMs = undefined;
  setTimeout(() => openRaw(c), delay).unref();
}

// ---------------------------------------------------------------- Socket.IO clients

function openIo(c: Conn): void {
  // Socket.IO's own reconnection (1 s doubling to 5 s, +-50 %) is the peer's behaviour under test.
  const s = io(`http://${config.host}:${config.port}`, {
    transports: ["websocket"],
    forceNew: true,
    localAddress: config.localAddress,
  } as Parameters<typeof io>[1]);
  c.io = s;
  s.on("connect", () => s.emit("join", groupRoom(c.index), () => markReady(c)));
  s.on("message", (m: { id?: string }) => {
    lastAnyMs = nowMs();
    traffic.frames++;
    onMessage(c, m);
  });
  s.on("disconnect", (reason) => {
    c.ready = false;
    if (watching) detected(reason);
  });
}

// ---------------------------------------------------------------- sending

function sendFrom(c: Conn, room: string, id: string, text: string): void {
  c.lastSentMs = nowMs();
  if (c.io) c.io.emit("send", { room, id, text });
  else c.ws?.sendText(sendFrame(room, id, text));
}

function bigJoined(): void {
  if (--bigPending === 0) onBigJoined?.();
}

/** The first `count` connections (in total) join the shared room. */
function joinBig(count: number): Promise<void> {
  const todo = conns.slice(0, count).filter((c) => !c.inBig && c.ready);
  if (todo.length === 0) return Promise.resolve();
  for (const c of todo) c.ws?.socket.once("close", () => c.inBig && bigPending > 0 && bigJoined());
  bigPending = todo.length;
  const done = new Promise<void>((resolve) => (onBigJoined = resolve));
  for (const c of todo) {
    c.inBig = true;
    if (c.io)
      c.io.emit("join", BIG, () => {
        lastAnyMs = nowMs();
        traffic.frames++;
        bigJoined();
      });
    else c.ws?.sendText(joinFrame(BIG));
  }
  return done;
}

/** Round-robin over the senders, keeping at most `window` messages in flight as conn 0 sees them. */
function pumpFlood(observer: Conn): void {
  const f = flood!;
  while (f.sent - observer.recv < f.window) {
    const sender = conns[f.sent % f.senders]!;
    sendFrom(sender, BIG, `f${f.sent}`, f.text);
    f.sent++;
  }
}

function onAck(c: Conn, payload: Buffer): void {
  const a = JSON.parse(String(payload)) as { id: string; room: string; seq: number };
  ackedIn(a.room).add(seqKey(a.seq));
  trickle.outbox.get(c.index)?.delete(a.id);
}

/** Pulse's outbox semantics: anything not acked is sent again, with the same id, after a reconnect. */
function resendOutbox(c: Conn): void {
  for (const [id, text] of trickle.outbox.get(c.index) ?? []) sendFrom(c, groupRoom(c.index), id, text);
}

function trickleOnce(): void {
  const n = trickle.next++;
  for (let i = 0; i < conns.length; i += GROUP) {
    const c = conns[i]!;
    const room = groupRoom(i);
    const id = `${config.name}-t${i}-${n}`;
    if (config.kind === "pulse") {
      let box = trickle.outbox.get(i);
      if (!box) trickle.outbox.set(i, (box = new Map()));
      box.set(id, id);
      if (c.ready) sendFrom(c, room, id, id);
    } else if (c.ready) {
      // Peers have no acknowledgement: what was written on an open connection counts as sent.
      sendFrom(c, room, id, id);
      ackedIn(room).add(id);
    }
  }
}

// ---------------------------------------------------------------- dead-peer watch

let watching = false;
let watchTimer: NodeJS.Timeout | null = null;
function detected(reason: string): void {
  if (!watching) return;
  watching = false;
  if (watchTimer) clearInterval(watchTimer);
  event({ detectedMs: nowMs(), reason });
}

function startWatch(): void {
  watching = true;
  const c = conns[0]!;
  if (config.kind === "socketio") return; // its client decides; we hear it as 'disconnect'
  watchTimer = setInterval(() => {
    const now = nowMs();
    if (config.kind === "pulse" && liveness) {
      if (now - c.lastInboundMs > liveness.timeoutMs) {
        detected("liveness timeout");
        c.ws?.destroy();
      } else if (now - c.lastSentMs > liveness.intervalMs) {
        c.lastSentMs = now;
        c.ws?.sendText(JSON.stringify({ type: "ping", id: Math.floor(now), sentAt: Date.now() }));
      }
    } else if (config.kind === "json" && now - c.lastInboundMs > config.watchPingGapMs!) {
      detected("no ping");
      c.ws?.destroy();
    }
  }, 50);
}

// ---------------------------------------------------------------- command loop

async function connect(count: number, concurrency: number): Promise<{ ready: number }> {
  const start = conns.length;
  const target = start + count;
  let next = start;
  let settled = 0;
  await new Promise<void>((resolve) => {
    const deadline = setTimeout(resolve, 60_000); // a bounded wait even if some never join
    const launch = (): void => {
      while (next < target && next - start - settled < concurrency) {
        const c: Conn = { index: next++, inBig: false, ready: false, recv: 0, attempt: 0, lastInboundMs: nowMs(), lastSentMs: nowMs(), serverOffsetMs: null };
        conns.push(c);
        if (config.kind === "socketio") openIo(c);
        else openRaw(c);
      }
    };
    onReady = () => {
      settled++;
      if (conns.length === target && conns.every((c) => c.ready)) {
        clearTimeout(deadline);
        resolve();
      } else launch();
    };
    launch();
  });
  onReady = null;
  return { ready: conns.filter((c) => c.ready).length };
}

function status(): Status {
  const s = { total: conns.length, ready: conns.filter((c) => c.ready).length, readyTimes };
  readyTimes = [];
  return s;
}

process.on("message", (req: Request) => {
  switch (req.op) {
    case "init":
      config = req.config;
      return reply(req.seq);
    case "connect":
      return void connect(req.count, req.concurrency).then((r) => reply(req.seq, r));
    case "arm":
      if (msgCount >= req.expect) return reply(req.seq, { lastMs: lastMsgMs });
      armed = { expect: req.expect, seq: req.seq };
      return;
    case "send": {
      const t = nowMs();
      sendFrom(conns[req.conn]!, BIG, req.id, req.text);
      return reply(req.seq, { sentMs: t });
    }
    case "join-big":
      // Only open members can receive: a connection the server dropped must not be waited for.
      return void joinBig(req.count).then(() => reply(req.seq, { inBig: conns.filter((c) => c.inBig && c.ready).length, dropped: conns.filter((c) => !c.ready).length }));
    case "disarm":
      armed = null;
      return reply(req.seq);
    case "quiet":
      return reply(req.seq, { quietMs: nowMs() - lastAnyMs, lastMs: lastAnyMs });
    case "traffic": {
      const t = { ...traffic };
      traffic.frames = traffic.bytes = 0;
      return reply(req.seq, t);
    }
    case "count": {
      const n = msgCount;
      msgCount = 0;
      return reply(req.seq, { count: n });
    }
    case "flood":
      flood = { senders: req.senders, window: req.window, text: req.text, sent: 0 };
      // Start the window relative to what conn 0 has already seen.
      flood.sent = conns[0]!.recv;
      pumpFlood(conns[0]!);
      return reply(req.seq);
    case "flood-stop":
      flood = null;
      return reply(req.seq);
    case "trickle":
      trickleTimer = setInterval(trickleOnce, req.periodMs);
      return reply(req.seq);
    case "trickle-stop": {
      if (trickleTimer) clearInterval(trickleTimer);
      let unacked = 0;
      for (const box of trickle.outbox.values()) unacked += box.size;
      let accepted = 0;
      for (const set of trickle.acked.values()) accepted += set.size;
      return reply(req.seq, { accepted, unacked });
    }
    case "status":
      return reply(req.seq, status());
    case "loss": {
      // Every message the server accepted in a group must have reached every member of it.
      let missing = 0;
      for (const c of conns) for (const id of trickle.acked.get(groupRoom(c.index)) ?? []) if (!c.seen?.has(id)) missing++;
      return reply(req.seq, { missing });
    }
    case "watch":
      startWatch();
      return reply(req.seq);
    case "close":
      for (const c of conns) {
        c.ws?.destroy();
        c.io?.disconnect();
      }
      reply(req.seq);
      return void setTimeout(() => process.exit(0), 50);
  }
});
process.on("disconnect", () => process.exit(0));
