/**
 * Pulse with its SQLite store against the same server with the memory store, in one run:
 * persisted messages per second (acked, so committed) and deliveries per second through a
 * room, then the time to replay 10,000 missed messages to one resuming client.
 *
 *   npm run bench:store          (the raw SqliteStore figure alone: bench/store-append.ts)
 *
 * The server runs pinned to core 0 (taskset), this process drives the load from core 1.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { execFileSync } from "node:child_process";
import WebSocket from "ws";
import { spawnPinned, waitForLine, stopProcess, SERVER_CORE, LOAD_CORE } from "./lib/spawn.js";
import { cpuMeter } from "./lib/proc.js";
import { median } from "./lib/stats.js";
import { textTable } from "./lib/table.js";

const SENDERS = 4;
const RECEIVERS = 16;
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20_000);
const WINDOW = 200;
const REPLAY = 10_000;
const RUNS = 3;

const MESSAGE = { type: "message" };

interface Peer {
  ws: WebSocket;
  onFrame: (m: { type: string; [k: string]: unknown }) => void;
}

async function connect(port: number, nick: string): Promise<Peer & { epoch: string }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}`, ["pulse.v1"]);
  const peer: Peer & { epoch: string } = { ws, onFrame: () => {}, epoch: "" };
  ws.on("message", (data: Buffer) => {
    // Keep the generator cheap: a chat message is only counted, never parsed. The server writes
    // `{"type":"message",...`, so byte 9 tells the type apart.
    if (data[9] === 0x6d /* m */) return peer.onFrame(MESSAGE);
    const m = JSON.parse(String(data)) as { type: string; id?: number; sentAt?: number; epoch?: string };
    if (m.type === "ping") ws.send(JSON.stringify({ type: "pong", id: m.id, sentAt: m.sentAt }));
    peer.onFrame(m);
  });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const welcome = new Promise<void>((resolve) => (peer.onFrame = (m) => {
    if (m.type === "welcome") {
      peer.epoch = String(m.epoch);
      resolve();
    }
  }));
  ws.send(JSON.stringify({ type: "hello", clientId: nick, nick }));
  await welcome;
  return peer;
}

async function joinRoom(peer: Peer, room: string, since?: number, epoch?: string): Promise<{ messages: unknown[] }> {
  return new Promise((resolve) => {
    peer.onFrame = (m) => m.type === "joined" && resolve(m as unknown as { messages: unknown[] });
    peer.ws.send(JSON.stringify({ type: "join", room, ...(since !== undefined ? { since, epoch } : {}) }));
  });
}

async function startPulse(store: string): Promise<{ port: number; pid: number; stop: () => Promise<void> }> {
  const child = spawnPinned(SERVER_CORE, process.execPath, ["dist/cli/pulse.js", "serve", "--port", "0", "--host", "127.0.0.1", "--store", store, "--quiet"]);
  let out = "";
  child.stdout?.on("data", (c: Buffer) => (out += String(c)));
  await waitForLine(child, "listening on");
  const port = Number(/:(\d+)\s/.exec(out)![1]);
  return { port, pid: child.pid!, stop: () => stopProcess(child) };
}

/** Senders keep WINDOW unacked messages in flight; returns persisted/s, deliveries/s, server CPU. */
async function throughput(port: number, pid: number, room: string, readers: number) {
  const receivers = await Promise.all(Array.from({ length: readers }, (_, i) => connect(port, `r${i}`)));
  const senders = await Promise.all(Array.from({ length: SENDERS }, (_, i) => connect(port, `s${i}`)));
  for (const p of [...receivers, ...senders]) await joinRoom(p, room);
  let delivered = 0;
  for (const r of receivers) r.onFrame = (m) => m.type === "message" && delivered++;
  const perSender = MESSAGES / SENDERS;
  const meter = cpuMeter(pid);
  const t0 = performance.now();
  await Promise.all(senders.map((s, i) => new Promise<void>((resolve) => {
    let sent = 0;
    let acked = 0;
    const next = () => sent < perSender && s.ws.send(JSON.stringify({ type: "send", room, id: `${room}-${i}-${sent++}`, text: `message ${sent} from sender ${i}, a short chat line` }));
    s.onFrame = (m) => {
      if (m.type !== "ack") return;
      acked++;
      next();
      if (acked === perSender) resolve();
    };
    for (let k = 0; k < WINDOW; k++) next();
  })));
  const persistedSeconds = (performance.now() - t0) / 1000;
  while (delivered < MESSAGES * readers) await new Promise((r) => setTimeout(r, 5));
  const allSeconds = (performance.now() - t0) / 1000;
  const cpu = meter.stop();
  for (const p of [...receivers, ...senders]) p.ws.terminate();
  return { persistedPerS: MESSAGES / persistedSeconds, deliveriesPerS: (MESSAGES * (readers + SENDERS)) / allSeconds, serverCpuShare: cpu.share };
}

/** A client that last saw seq 0 resumes and receives REPLAY messages in its `joined`. */
async function replay(port: number, room: string): Promise<number> {
  const filler = await connect(port, "filler");
  await joinRoom(filler, room);
  await new Promise<void>((resolve) => {
    let acked = 0;
    filler.onFrame = (m) => m.type === "ack" && ++acked === REPLAY && resolve();
    for (let i = 0; i < REPLAY; i++) filler.ws.send(JSON.stringify({ type: "send", room, id: `f${i}`, text: `missed message ${i}, a short chat line` }));
  });
  filler.ws.terminate();
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const reader = await connect(port, `reader${i}`);
    const t0 = performance.now();
    const joined = await joinRoom(reader, room, 0, reader.epoch);
    times.push(performance.now() - t0);
    if (joined.messages.length !== REPLAY) throw new Error(`replayed ${joined.messages.length}, expected ${REPLAY}`);
    reader.ws.terminate();
  }
  return median(times);
}

async function measure(store: string) {
  const server = await startPulse(store);
  try {
    const runs = [];
    const alone = [];
    for (let r = 0; r < RUNS; r++) {
      alone.push(await throughput(server.port, server.pid, `alone-${r}`, 0));
      runs.push(await throughput(server.port, server.pid, `room-${r}`, RECEIVERS));
    }
    return {
      persistedAlonePerS: median(alone.map((x) => x.persistedPerS)),
      persistedPerS: median(runs.map((x) => x.persistedPerS)),
      deliveriesPerS: median(runs.map((x) => x.deliveriesPerS)),
      serverCpuShare: median(runs.map((x) => x.serverCpuShare)),
      replayMs: await replay(server.port, "replay"),
    };
  } finally {
    await server.stop();
  }
}

execFileSync("taskset", ["-cp", String(LOAD_CORE), String(process.pid)], { stdio: "ignore" });
const dir = mkdtempSync(join(tmpdir(), "pulse-bench-store-"));
try {
  const sqlite = await measure(join(dir, "pulse.db"));
  const memory = await measure("memory");
  const row = (name: string, m: typeof sqlite) => [name, Math.round(m.persistedAlonePerS).toLocaleString("en"), Math.round(m.persistedPerS).toLocaleString("en"), Math.round(m.deliveriesPerS).toLocaleString("en"), `${Math.round(m.serverCpuShare * 100)} %`, m.replayMs.toFixed(1)];
  console.log(`Pulse store benchmark: ${MESSAGES.toLocaleString("en")} messages from ${SENDERS} senders (window ${WINDOW} each), in a room of the senders alone and with ${RECEIVERS} more readers, median of ${RUNS}; replay of ${REPLAY.toLocaleString("en")} messages, median of 5`);
  console.log(textTable(["store", "persisted msg/s", `persisted msg/s, +${RECEIVERS} readers`, "deliveries/s", "server CPU", "replay 10k (ms)"], [
    row("SQLite (default)", sqlite),
    row("memory", memory),
    ["SQLite / memory", (sqlite.persistedAlonePerS / memory.persistedAlonePerS).toFixed(2), (sqlite.persistedPerS / memory.persistedPerS).toFixed(2), (sqlite.deliveriesPerS / memory.deliveriesPerS).toFixed(2), "", (sqlite.replayMs / memory.replayMs).toFixed(2)],
  ]));
  console.log(`targets: >= 20,000 persisted msg/s with SQLite (${sqlite.persistedAlonePerS >= 20_000 ? "met" : "NOT met"}); replay of 10,000 < 200 ms (${sqlite.replayMs < 200 ? "met" : "NOT met"})`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
