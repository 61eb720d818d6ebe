/**
 * `npm run bench:cluster`: one room of --room members (default 1,000) with 16 senders, each
 * keeping 8 sends in flight, on
 *   - Pulse, one node (SQLite),
 *   - Pulse, `--workers 2` on one Redis (the two cores of this machine), and
 *   - Socket.IO 4.8 with @socket.io/redis-adapter, two nodes on one Redis (members split
 *     between them), the anchor,
 * reporting deliveries per second, the CPU each side spent per delivery, and the time until
 * the LAST member has a probe message (p50 / p99; with two nodes most members sit on the other
 * node from the sender, so this is the cross-node figure). Loopback only; every phase bounded.
 *
 * The generator is --generators processes (default 2), each holding every n-th member, their
 * sockets bound to 127.0.0.10, .11, ... (90 members per address: under Pulse's per-IP cap of
 * 100). Pulse runs with --no-rate-limits (the senders send far over the per-connection limit
 * on purpose). Nothing is pinned: on a two-core machine the servers, Redis and the generator
 * share the cores, and the CPU columns say who used what. --runs N repeats the three setups
 * N times, interleaved, and reports each figure's median.
 *
 * node --import tsx bench/cluster.ts [--room 1000] [--seconds 5] [--probes 30] [--generators 2] [--runs 1]
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { RedisServer } from "../test/support/redis-server.js";
import { cpuSeconds, runQueueWaitSeconds } from "./lib/proc.js";
import { median, percentile, sleep } from "./lib/stats.js";
import { Generators } from "./cluster/generators.js";
import type { MemberKind } from "./cluster/members.js";
import type { MemberPlan } from "./cluster/ipc.js";

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const ROOM_SIZE = arg("room", 1_000);
const SENDERS = 16;
const WINDOW = 8;
const SECONDS = arg("seconds", 5);
const PROBES = arg("probes", 30);
const GENERATORS = arg("generators", 2);
const RUNS = arg("runs", 1);
/** Members per source address: below Pulse's default maxConnectionsPerIp (100). */
const PER_ADDRESS = 90;
const PROBE_TIMEOUT_MS = 5_000;
const TEXT = "x".repeat(64);

interface Running {
  urls: string[];
  pids(): number[];
  stop(): Promise<void>;
}

interface Setup {
  id: string;
  label: string;
  kind: MemberKind;
  usesRedis: boolean;
  start(redisUrl: string, dir: string): Promise<Running>;
}

const PULSE = ["dist/cli/pulse.js", "serve", "--no-rate-limits"];
const SETUPS: Setup[] = [
  {
    id: "pulse-1",
    label: "Pulse, 1 node (SQLite)",
    kind: "pulse",
    usesRedis: false,
    start: (_r, dir) => startNodes([[...PULSE, "--store", join(dir, "bench.db")]]),
  },
  {
    id: "pulse-2w",
    label: "Pulse, 2 workers + Redis",
    kind: "pulse",
    usesRedis: true,
    start: (redisUrl) => startNodes([[...PULSE, "--workers", "2", "--redis", redisUrl]]),
  },
  {
    id: "socketio-redis",
    label: "Socket.IO + redis-adapter, 2 nodes",
    kind: "socketio",
    usesRedis: true,
    start: (redisUrl) => {
      const node = ["--import", "tsx", "bench/peers/socketio-redis-server.ts", "--redis", redisUrl];
      return startNodes([node, node]);
    },
  },
];

/** Servers still running when this process exits (a failed run) are killed with it. */
const serverProcesses = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of serverProcesses) child.kill("SIGKILL");
});

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
  serverProcesses.add(child);
  child.once("exit", () => serverProcesses.delete(child));
  const port = await new Promise<number>((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error("server not listening in 60 s")), 60_000);
    child.stdout!.on("data", (chunk: Buffer) => {
      // Connections the server gave up on (slow reader, silent client) would skew the run: show them.
      for (const line of chunk.toString().split("\n")) if (/slow_consumer|liveness_dead/.test(line)) console.error(`server: ${line.slice(0, 300)}`);
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
const serverWait = (pids: number[]): number => pids.reduce((sum, pid) => sum + runQueueWaitSeconds(pid), 0);

interface Result {
  deliveriesPerSecond: number;
  /** CPU used during the throughput window, in cores (CPU-seconds per second). */
  serverCores: number;
  redisCores: number;
  generatorCores: number;
  /** Time the server processes spent runnable but off the CPU (other work had it), per second. */
  serverWaitCores: number;
  /** Server CPU-microseconds per delivery: the nodes alone, and with Redis added. */
  serverUsPerDelivery: number;
  serverAndRedisUsPerDelivery: number;
  p50Ms: number;
  p99Ms: number;
  timedOut: number;
}

/** Member i: held by generator i mod n, on node floor(i / n) mod nodes, from 127.0.0.(10 + i / 90). */
function plan(generators: Generators, urls: string[]): MemberPlan[][] {
  const shares: MemberPlan[][] = Array.from({ length: generators.size }, () => []);
  for (let index = 0; index < ROOM_SIZE; index++) {
    const url = urls[Math.floor(index / generators.size) % urls.length]!;
    shares[generators.holderOf(index)]!.push({ index, url, localAddress: `127.0.0.${10 + Math.floor(index / PER_ADDRESS)}` });
  }
  return shares;
}

async function run(setup: Setup): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), "pulse-bench-cluster-"));
  // A fresh Redis per run: nothing of an earlier run's room weighs on this one.
  const redis = setup.usesRedis ? await RedisServer.start() : null;
  const server = await setup.start(redis?.url ?? "", dir);
  const generators = Generators.start(GENERATORS);
  try {
    const shares = plan(generators, server.urls);
    await generators.all((g) => ({ op: "connect", kind: setup.kind, members: shares[g]! }));
    await sleep(2_000); // presence of the fill drains

    const senders = Array.from({ length: SENDERS }, (_, i) => i);
    const received0 = await generators.received();
    const cpu0 = { server: serverCpu(server.pids()), redis: redis?.pid ? cpuSeconds(redis.pid) : 0, gen: generators.cpuSeconds(), wait: serverWait(server.pids()) };
    const t0 = performance.now();
    await generators.all((g) => ({ op: "flood", senders: senders.filter((i) => generators.holderOf(i) === g), window: WINDOW, text: TEXT, tag: setup.id }));
    await sleep(SECONDS * 1_000);
    const delivered = (await generators.received()) - received0;
    const wall = (performance.now() - t0) / 1_000;
    const cpu = {
      server: serverCpu(server.pids()) - cpu0.server,
      redis: (redis?.pid ? cpuSeconds(redis.pid) : 0) - cpu0.redis,
      gen: generators.cpuSeconds() - cpu0.gen,
      wait: serverWait(server.pids()) - cpu0.wait,
    };
    await generators.all({ op: "flood-stop" });
    await sleep(2_000); // in-flight sends drain

    // Latency to the last member, one probe at a time.
    const samples: number[] = [];
    let timedOut = 0;
    for (let k = 0; k < PROBES; k++) {
      const text = `probe-${k}`;
      const sender = k % SENDERS;
      const replies = await generators.all((g) => ({ op: "probe", text, sender: generators.holderOf(sender) === g ? sender : null, timeoutMs: PROBE_TIMEOUT_MS }));
      const sentAt = replies.find((r) => r.sentAt !== undefined)!.sentAt!;
      if (replies.some((r) => r.lastAt === null || r.lastAt === undefined)) timedOut++;
      else samples.push(Math.max(...replies.map((r) => r.lastAt!)) - sentAt);
      await sleep(50);
    }
    return {
      deliveriesPerSecond: delivered / wall,
      serverCores: cpu.server / wall,
      redisCores: cpu.redis / wall,
      generatorCores: cpu.gen / wall,
      serverWaitCores: cpu.wait / wall,
      serverUsPerDelivery: (cpu.server / delivered) * 1e6,
      serverAndRedisUsPerDelivery: ((cpu.server + cpu.redis) / delivered) * 1e6,
      p50Ms: percentile(samples, 50),
      p99Ms: percentile(samples, 99),
      timedOut,
    };
  } finally {
    await generators.close();
    await server.stop();
    await redis?.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (r: Result): string =>
  `${Math.round(r.deliveriesPerSecond)} deliveries/s; cores: server ${r.serverCores.toFixed(2)}, Redis ${r.redisCores.toFixed(2)}, generator ${r.generatorCores.toFixed(2)}; server waited for a CPU ${r.serverWaitCores.toFixed(2)} s/s; ` +
  `server CPU ${r.serverUsPerDelivery.toFixed(2)} us/delivery (${r.serverAndRedisUsPerDelivery.toFixed(2)} with Redis); last member p50 ${r.p50Ms.toFixed(1)} ms p99 ${r.p99Ms.toFixed(1)} ms${r.timedOut ? `, ${r.timedOut} probes timed out` : ""}`;

/** Each figure's median over the runs. */
function medianOf(results: Result[]): Result {
  const m = (pick: (r: Result) => number) => median(results.map(pick));
  return {
    deliveriesPerSecond: m((r) => r.deliveriesPerSecond),
    serverCores: m((r) => r.serverCores),
    redisCores: m((r) => r.redisCores),
    generatorCores: m((r) => r.generatorCores),
    serverWaitCores: m((r) => r.serverWaitCores),
    serverUsPerDelivery: m((r) => r.serverUsPerDelivery),
    serverAndRedisUsPerDelivery: m((r) => r.serverAndRedisUsPerDelivery),
    p50Ms: m((r) => r.p50Ms),
    p99Ms: m((r) => r.p99Ms),
    timedOut: results.reduce((n, r) => n + r.timedOut, 0),
  };
}

const byRun: Result[][] = SETUPS.map(() => []);
/** --only <setup id>: one setup (for a quick look; the ratios then need all three). */
const only = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
for (let r = 0; r < RUNS; r++) {
  for (const [i, setup] of SETUPS.entries()) {
    if (only !== undefined && setup.id !== only) continue;
    console.log(`run ${r + 1}/${RUNS}, ${setup.label}: room of ${ROOM_SIZE}, ${SENDERS} senders, ${SECONDS} s, ${GENERATORS} generator processes ...`);
    const result = await run(setup);
    console.log(`  ${fmt(result)}`);
    byRun[i]!.push(result);
  }
}
if (only !== undefined) process.exit(0);
const medians = byRun.map(medianOf);
/** Per-run ratio of setup a to setup b, then its median (the two were measured minutes apart, not days). */
const ratio = (a: number, b: number, pick: (r: Result) => number): number => median(byRun[a]!.map((r, k) => pick(r) / pick(byRun[b]![k]!)));
const table = [
  "| setup | deliveries/s | server cores | server waiting for a CPU | Redis cores | generator cores | server CPU-us per delivery (with Redis) | last member p50 | p99 |",
  "|---|---|---|---|---|---|---|---|---|",
  ...medians.map((r, i) =>
    `| ${SETUPS[i]!.label} | ${Math.round(r.deliveriesPerSecond)} | ${r.serverCores.toFixed(2)} | ${r.serverWaitCores.toFixed(2)} s/s | ${r.redisCores.toFixed(2)} | ${r.generatorCores.toFixed(2)} | ${r.serverUsPerDelivery.toFixed(2)} (${r.serverAndRedisUsPerDelivery.toFixed(2)}) | ${r.p50Ms.toFixed(1)} ms | ${r.p99Ms.toFixed(1)} ms |`),
].join("\n");
const ratios = [
  `2 workers / 1 node: ${ratio(1, 0, (r) => r.deliveriesPerSecond).toFixed(2)}x deliveries/s, p99 ${ratio(1, 0, (r) => r.p99Ms).toFixed(2)}x`,
  `2 workers / Socket.IO + redis-adapter: ${ratio(1, 2, (r) => r.deliveriesPerSecond).toFixed(2)}x deliveries/s, ${ratio(2, 1, (r) => r.serverUsPerDelivery).toFixed(2)}x less server CPU per delivery`,
].join("\n");
console.log(`\nmedians of ${RUNS} run(s):\n${table}\n\n${ratios}`);
writeFileSync(
  new URL("./results/cluster.md", import.meta.url),
  `<!-- Written by npm run bench:cluster (bench/cluster.ts). -->\nRoom of ${ROOM_SIZE}, ${SENDERS} senders with ${WINDOW} sends in flight each, ${SECONDS} s; ${PROBES} probes for latency; ` +
    `${GENERATORS} generator processes; median of ${RUNS} run(s), ratios the median of per-run ratios. Load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(" ")}. Nothing pinned.\n\n${table}\n\n${ratios}\n`,
);
