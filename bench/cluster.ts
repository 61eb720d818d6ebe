/**
 * `npm run bench:cluster`: one room of --room clients (default 1,000) with 16 senders, on
 *   - Pulse, one node (SQLite),
 *   - Pulse, `--workers 2` on one Redis (the two cores of this machine), and
 *   - Socket.IO 4.8 with @socket.io/redis-adapter, two nodes on one Redis (clients split
 *     between them), the anchor,
 * reporting deliveries per second and per server CPU-second, and the time until the LAST
 * recipient has a message (p50 / p99; with two workers most recipients sit on the other node
 * from the sender, so this is the cross-node figure). Loopback only; every phase is bounded.
 *
 * Not pinned: the two workers need both cores, so the generator (this process) shares them;
 * the figures are for comparing the two setups in one run, on an otherwise idle machine.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { io } from "socket.io-client";
import { SUBPROTOCOL } from "../src/protocol/messages.js";
import { RedisServer } from "../test/support/redis-server.js";
import { cpuSeconds } from "./lib/proc.js";
import { percentile, sleep, waitUntil } from "./lib/stats.js";

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const ROOM_SIZE = arg("room", 1_000);
const SENDERS = 16;
const WINDOW = 8;
const SECONDS = arg("seconds", 5);
const PROBES = arg("probes", 30);
const ROOM = "bench";

interface Member {
  /** Sends one chat message (an ack calls sendNext). */
  send(id: string, text: string): void;
  close(): void;
  received: number;
  /** Probe text -> receive time (ms, performance.now()). */
  probeSeen: Map<string, number>;
  acks: number;
  sendNext?: () => void;
}

/**
 * Source address of client i: 50 per address, so the per-IP connection cap (100) and the
 * new-connection burst (200) are never what the run measures.
 */
const sourceAddress = (i: number): string => `127.0.${1 + Math.floor(i / 12_500)}.${10 + (Math.floor(i / 50) % 250)}`;

/** A raw Pulse client: hello, join, answer pings, count messages; resolves once joined. */
function member(url: string, i: number): Promise<Member> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, [SUBPROTOCOL], { localAddress: sourceAddress(i) });
    const m: Member = {
      send: (id, text) => ws.send(JSON.stringify({ type: "send", room: ROOM, id, text })),
      close: () => ws.terminate(),
      received: 0,
      probeSeen: new Map(),
      acks: 0,
    };
    const timer = setTimeout(() => reject(new Error(`client ${i} not joined in 60 s`)), 60_000);
    ws.on("error", reject);
    ws.on("open", () => ws.send(JSON.stringify({ type: "hello", clientId: `bench-${i}`, nick: `u${i}` })));
    ws.on("message", (data: Buffer) => {
      const text = data.toString();
      // Cheap checks first: most frames are chat messages and need no parse.
      if (text.startsWith('{"type":"message"')) {
        m.received++;
        const probe = /"text":"(probe-\d+)"/.exec(text);
        if (probe) m.probeSeen.set(probe[1]!, performance.now());
        return;
      }
      if (text.startsWith('{"type":"ack"')) {
        m.acks++;
        m.sendNext?.();
        return;
      }
      const frame = JSON.parse(text) as { type: string; id?: number; sentAt?: number };
      if (frame.type === "ping") ws.send(JSON.stringify({ type: "pong", id: frame.id, sentAt: frame.sentAt }));
      else if (frame.type === "welcome") ws.send(JSON.stringify({ type: "join", room: ROOM }));
      else if (frame.type === "joined") {
        clearTimeout(timer);
        resolve(m);
      }
    });
  });
}

/** A Socket.IO client: join, count messages, ack-driven sends. */
function ioMember(url: string, i: number): Promise<Member> {
  return new Promise((resolve, reject) => {
    const socket = io(url, { transports: ["websocket"], reconnection: false, forceNew: true });
    const m: Member = {
      send: (id, text) => socket.emit("send", { room: ROOM, id, text }, () => {
        m.acks++;
        m.sendNext?.();
      }),
      close: () => socket.disconnect(),
      received: 0,
      probeSeen: new Map(),
      acks: 0,
    };
    const timer = setTimeout(() => reject(new Error(`client ${i} not joined in 60 s`)), 60_000);
    socket.on("connect_error", reject);
    socket.on("message", (msg: { text?: string }) => {
      m.received++;
      if (msg.text?.startsWith("probe-")) m.probeSeen.set(msg.text, performance.now());
    });
    socket.on("connect", () =>
      socket.emit("join", ROOM, () => {
        clearTimeout(timer);
        resolve(m);
      }),
    );
  });
}

interface Running {
  urls: string[];
  pids(): number[];
  stop(): Promise<void>;
}

interface Setup {
  id: string;
  label: string;
  connect: (url: string, i: number) => Promise<Member>;
  start(redisUrl: string, dir: string): Promise<Running>;
}

const SETUPS: Setup[] = [
  {
    id: "pulse-1",
    label: "Pulse, 1 node (SQLite)",
    connect: member,
    start: (_r, dir) => startNodes([["dist/cli/pulse.js", "serve", "--store", join(dir, "bench.db"), "--no-rate-limits"]]),
  },
  {
    id: "pulse-2w",
    label: "Pulse, 2 workers + Redis",
    connect: member,
    start: (redisUrl) => startNodes([["dist/cli/pulse.js", "serve", "--workers", "2", "--redis", redisUrl, "--no-rate-limits"]]),
  },
  {
    id: "socketio-redis",
    label: "Socket.IO + redis-adapter, 2 nodes",
    connect: ioMember,
    start: (redisUrl) => {
      const node = ["--import", "tsx", "bench/peers/socketio-redis-server.ts", "--redis", redisUrl];
      return startNodes([node, node]);
    },
  },
];

/** Starts each command (node arguments) on a free port and waits for its `listening on` line. */
async function startNodes(commands: string[][]): Promise<Running> {
  const started = await Promise.all(commands.map((args) => startNode(args)));
  return {
    urls: started.map((s) => `ws://127.0.0.1:${s.port}/`),
    pids: () => started.flatMap((s) => s.pids()),
    stop: async () => {
      for (const s of started) s.child.kill("SIGTERM");
      await sleep(1_000);
      for (const s of started) s.child.kill("SIGKILL");
    },
  };
}

async function startNode(args: string[]): Promise<{ child: ChildProcess; port: number; pids: () => number[] }> {
  const child = spawn(process.execPath, [...args, "--host", "127.0.0.1", "--port", "0", "--quiet"], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error("server not listening in 60 s")), 60_000);
    child.stdout!.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /listening on http:\/\/[^:]+:(\d+)/.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
  // The primary and its workers (node:cluster children).
  const pids = () => {
    let children: number[] = [];
    try {
      children = execFileSync("pgrep", ["-P", String(child.pid)], { encoding: "utf8" }).trim().split("\n").filter(Boolean).map(Number);
    } catch {
      children = [];
    }
    return [child.pid!, ...children];
  };
  return { child, port, pids };
}

const serverCpu = (pids: number[]): number => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);

async function run(setup: Setup, redisUrl: string) {
  const dir = mkdtempSync(join(tmpdir(), "pulse-bench-cluster-"));
  const server = await setup.start(redisUrl, dir);
  const members: Member[] = [];
  try {
    // Client i goes to node i mod n: senders and recipients alternate between nodes.
    for (let i = 0; i < ROOM_SIZE; i += 50) {
      members.push(...(await Promise.all(Array.from({ length: Math.min(50, ROOM_SIZE - i) }, (_, k) => setup.connect(server.urls[(i + k) % server.urls.length]!, i + k)))));
    }
    await sleep(2_000); // presence of the fill drains

    // Throughput: 16 senders, each keeping WINDOW sends in flight (a new one per ack).
    let running = true;
    let n = 0;
    const senders = members.slice(0, SENDERS);
    for (const s of senders) {
      s.sendNext = () => {
        if (running) s.send(`t${n++}`, "x".repeat(64));
      };
    }
    const received0 = members.reduce((sum, m) => sum + m.received, 0);
    const cpu0 = serverCpu(server.pids());
    const t0 = performance.now();
    for (const s of senders) for (let w = 0; w < WINDOW; w++) s.sendNext!();
    await sleep(SECONDS * 1_000);
    const wall = (performance.now() - t0) / 1_000;
    const delivered = members.reduce((sum, m) => sum + m.received, 0) - received0;
    const cpu = serverCpu(server.pids()) - cpu0;
    running = false;
    await sleep(2_000); // in-flight sends drain

    // Latency to the last recipient, one probe at a time.
    const samples: number[] = [];
    let timedOut = 0;
    for (let k = 0; k < PROBES; k++) {
      const text = `probe-${k}`;
      const sentAt = performance.now();
      members[k % SENDERS]!.send(`p${k}`, text);
      const all = await waitUntil(() => members.every((m) => m.probeSeen.has(text)), 5_000, 2);
      if (!all) {
        timedOut++;
        continue;
      }
      samples.push(Math.max(...members.map((m) => m.probeSeen.get(text)!)) - sentAt);
      await sleep(50);
    }
    return {
      id: setup.id,
      label: setup.label,
      deliveriesPerSecond: delivered / wall,
      deliveriesPerServerCpuSecond: delivered / cpu,
      serverCpuCores: cpu / wall,
      p50Ms: percentile(samples, 50),
      p99Ms: percentile(samples, 99),
      timedOut,
    };
  } finally {
    for (const m of members) m.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const redis = await RedisServer.start();
try {
  const results = [];
  for (const setup of SETUPS) {
    console.log(`${setup.label}: room of ${ROOM_SIZE}, ${SENDERS} senders, ${SECONDS} s ...`);
    const r = await run(setup, redis.url);
    console.log(`  ${Math.round(r.deliveriesPerSecond)} deliveries/s, ${Math.round(r.deliveriesPerServerCpuSecond)} per server CPU-s (${r.serverCpuCores.toFixed(2)} cores), last recipient p50 ${r.p50Ms.toFixed(1)} ms p99 ${r.p99Ms.toFixed(1)} ms${r.timedOut ? `, ${r.timedOut} probes timed out` : ""}`);
    results.push(r);
  }
  const table = [
    "| setup | deliveries/s | per server CPU-s | server cores | last recipient p50 | p99 |",
    "|---|---|---|---|---|---|",
    ...results.map((r) => `| ${r.label} | ${Math.round(r.deliveriesPerSecond)} | ${Math.round(r.deliveriesPerServerCpuSecond)} | ${r.serverCpuCores.toFixed(2)} | ${r.p50Ms.toFixed(1)} ms | ${r.p99Ms.toFixed(1)} ms |`),
  ].join("\n");
  console.log(`\n${table}`);
  writeFileSync(
    new URL("./results/cluster.md", import.meta.url),
    `<!-- Written by npm run bench:cluster (bench/cluster.ts). -->\nRoom of ${ROOM_SIZE}, ${SENDERS} senders with ${WINDOW} sends in flight each, ${SECONDS} s; ${PROBES} probes for latency. ` +
      `Load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(" ")}. Servers not pinned; the generator is this one process.\n\n${table}\n`,
  );
  const [one, two, anchor] = results;
  if (one && two) console.log(`\n2 workers / 1 node: ${(two.deliveriesPerSecond / one.deliveriesPerSecond).toFixed(2)}x deliveries/s; p99 ${(two.p99Ms / one.p99Ms).toFixed(2)}x`);
  if (two && anchor) console.log(`2 workers / Socket.IO + redis-adapter: ${(two.deliveriesPerSecond / anchor.deliveriesPerSecond).toFixed(2)}x deliveries/s, ${(two.deliveriesPerServerCpuSecond / anchor.deliveriesPerServerCpuSecond).toFixed(2)}x per server CPU-s`);
} finally {
  await redis.dispose();
}
