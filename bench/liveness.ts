/**
 * npm run bench:liveness — what idle connections cost Pulse at its default heartbeat
 * (5 s ping interval, 12 s timeout, 250 ms ping slot): 1k, 5k and 10k clients, each pinging after
 * 5 s idle on the server's 250 ms slots like the reference client (the server answers), spread
 * over several generator processes and source addresses. At each size: server CPU as % of one core
 * over three heartbeat intervals, RSS per connection, event-loop delay p99, and the server's read
 * and write system calls per connection per 5 s (on loopback most of an idle server's CPU is
 * spent in them, and they are the same for every system that sends one heartbeat each way per
 * interval: what is left to compare is the work around them). Targets at 10k:
 * CPU <= 5 %, delay p99 <= 10 ms, <= 8 KiB per connection.
 *
 * Pulse and plain ws run one after the other in the same invocation, and the report gives their
 * ratios. --rounds N (default 3) repeats both, alternating which goes first, and reports each
 * figure's median over the rounds and the median of the per-round ratios: on a shared machine
 * one round's ratio moves by half either way. --system ws|socketio|bun|pulse-mem measures one
 * system alone (at its own defaults). --ping-tick-ms N: Pulse clients that ignore the ping
 * slots, each pinging at 5 s of its own idleness, checked every N ms; 10 is close to a timer per
 * connection (pings reach the server spread out), the unflattering case for Pulse.
 * --rate-limits: Pulse with its default per-connection rate limits on (elsewhere they are off:
 * the generator runs thousands of clients per address), for their share of the memory.
 * --port N (default 9800): the first server's port (the second's is N + 10, each with its stats
 * port 1,000 above).
 *
 * Heap per connection is given two ways: the growth since the server had no client, per
 * connection (what the server allocates once, such as code compiled for the first hellos, is
 * charged to the connections), and the growth since the previous size per connection added
 * (at 1k: since a warm-up of 500 clients), which leaves most of that out.
 * Writes bench/results/liveness.json and liveness.md (which docs/benchmarks.md includes).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { Fleet } from "./load/fleet.js";
import { machineInfo } from "./lib/machine.js";
import { LOAD_CORE } from "./lib/spawn.js";
import { markdownTable, textTable } from "./lib/table.js";
import { memoryAt, memoryBaseline, memoryWarmup, meter } from "./scenarios/load-suite.js";
import { median } from "./lib/stats.js";
import { startSystem, systemById } from "./systems.js";

const SIZES = [1_000, 5_000, 10_000];
const PULSE_DEFAULT_INTERVAL_MS = 5_000;
const WINDOW_MS = 15_000; // three default intervals
const TARGET = { cpuPercent: 5, delayP99Ms: 10, bytesPerConn: 8 * 1024 };

const systemArg = process.argv.includes("--system") ? process.argv[process.argv.indexOf("--system") + 1] : undefined;
const pingTickArg = process.argv.includes("--ping-tick-ms") ? Number(process.argv[process.argv.indexOf("--ping-tick-ms") + 1]) : null;
if (pingTickArg !== null && (!Number.isInteger(pingTickArg) || pingTickArg < 1 || pingTickArg > 1_000)) throw new Error("--ping-tick-ms takes an integer from 1 to 1000");
// Read by the generator workers (see startHeartbeat in load/worker.ts).
if (pingTickArg !== null) process.env.BENCH_PING_TICK_MS = String(pingTickArg);
const portArg = process.argv.includes("--port") ? Number(process.argv[process.argv.indexOf("--port") + 1]) : 9800;
if (!Number.isInteger(portArg) || portArg < 1024 || portArg > 60_000) throw new Error("--port takes an integer from 1024 to 60000");
// --rate-limits: Pulse with its default per-connection rate limits on (see bench/peers/pulse-server.ts).
const rateLimitsArg = process.argv.includes("--rate-limits");
const roundsArg = process.argv.includes("--rounds") ? Number(process.argv[process.argv.indexOf("--rounds") + 1]) : 3;
if (!Number.isInteger(roundsArg) || roundsArg < 1 || roundsArg > 20) throw new Error("--rounds takes an integer from 1 to 20");
// Pulse and plain ws in the same run (the machine is shared: only a same-run ratio means much).
const defs = systemArg ? [systemById(systemArg)] : [systemById("pulse"), systemById("ws")];
execFileSync("taskset", ["-pc", String(LOAD_CORE), String(process.pid)], { stdio: "ignore" });

type Point = { connections: number; cpuPercent: number; rssPerConnKiB: number; heapPerConnKiB: number; heapPerAddedConnKiB: number; addedSince: number; delayP99Ms: number | null; generatorCpuPercent: number; syscallsPerConnPerInterval: number };

async function measure(def: ReturnType<typeof systemById>, k: number): Promise<Point[]> {
  const port = portArg + k * 10;
  // Plain ws at Pulse's default interval, so the CPU ratio compares like with like.
  const extra = def.id === "ws" ? ["--interval-ms", String(PULSE_DEFAULT_INTERVAL_MS)] : def.kind === "pulse" && rateLimitsArg ? ["--per-connection-limits"] : [];
  const server = await startSystem(def, port, false, true, extra);
  const fleet = await Fleet.start(4, { kind: def.kind, host: "127.0.0.1", port, reconnect: false, track: false }, 2 + k * 4);
  const points: Point[] = [];
  try {
    const base = await memoryBaseline(server);
    let previous = await memoryWarmup(server, fleet);
    for (const n of SIZES) {
      const mem = await memoryAt(server, fleet, n, base, previous);
      previous = mem;
      await fleet.settle(1_000);
      await server.stats({ reset: true });
      const cpu = await meter(server.pid, fleet, WINDOW_MS);
      const stats = await server.stats();
      points.push({
        connections: mem.connections,
        cpuPercent: cpu.server * 100,
        rssPerConnKiB: mem.rssPerConnBytes / 1024,
        heapPerConnKiB: mem.heapPerConnBytes / 1024,
        heapPerAddedConnKiB: mem.heapPerAddedConnBytes / 1024,
        addedSince: mem.addedSince,
        delayP99Ms: stats.eventLoopDelayP99Ms,
        generatorCpuPercent: cpu.generator * 100,
        // Reads and writes per connection per 5 s interval: on loopback most of an idle server's
        // CPU is these calls (the receiver's TCP work is done in the sender's write).
        syscallsPerConnPerInterval: ((cpu.serverReadsPerSecond + cpu.serverWritesPerSecond) * (PULSE_DEFAULT_INTERVAL_MS / 1000)) / mem.connections,
      });
      console.log(`  ${def.id}: ${mem.connections} idle: ${(cpu.server * 100).toFixed(2)} % CPU, ${(mem.rssPerConnBytes / 1024).toFixed(1)} KiB/conn, heap ${(mem.heapPerConnBytes / 1024).toFixed(2)} KiB/conn (${(mem.heapPerAddedConnBytes / 1024).toFixed(2)} per connection added since ${mem.addedSince}), loop p99 ${stats.eventLoopDelayP99Ms?.toFixed(2)} ms, ${(cpu.serverReadsPerSecond).toFixed(0)} reads and ${cpu.serverWritesPerSecond.toFixed(0)} writes/s`);
    }
  } finally {
    await fleet.close();
    await server.stop("SIGTERM");
  }
  return points;
}

const loadAtStart = loadavg();
/** Per round, per system (in defs' order): the points at each size. */
const rounds: Point[][][] = [];
for (let round = 0; round < roundsArg; round++) {
  console.log(`round ${round + 1} of ${roundsArg}`);
  const order = round % 2 === 0 ? [...defs.keys()] : [...defs.keys()].reverse();
  const bySystem: Point[][] = [];
  for (const k of order) bySystem[k] = await measure(defs[k]!, k);
  rounds.push(bySystem);
}
const medianPoint = (k: number, i: number): Point => {
  const all = rounds.map((r) => r[k]![i]!);
  const m = (f: (p: Point) => number) => median(all.map(f));
  const delays = all.flatMap((p) => (p.delayP99Ms === null ? [] : [p.delayP99Ms]));
  return {
    connections: Math.round(m((p) => p.connections)),
    cpuPercent: m((p) => p.cpuPercent),
    rssPerConnKiB: m((p) => p.rssPerConnKiB),
    heapPerConnKiB: m((p) => p.heapPerConnKiB),
    heapPerAddedConnKiB: m((p) => p.heapPerAddedConnKiB),
    addedSince: Math.round(m((p) => p.addedSince)),
    delayP99Ms: delays.length ? median(delays) : null,
    generatorCpuPercent: m((p) => p.generatorCpuPercent),
    syscallsPerConnPerInterval: m((p) => p.syscallsPerConnPerInterval),
  };
};
const runs = defs.map((def, k) => ({ id: def.id, label: def.label, points: SIZES.map((_, i) => medianPoint(k, i)) }));
const loadAtEnd = loadavg();

const header = ["system", "idle connections", "server CPU (% of a core)", "RSS per connection (KiB)", "heap per connection after GC (KiB, growth since no client)", "heap per connection added (KiB, growth since the previous size)", "event-loop delay p99 (ms)", "generator CPU (%)", "server read + write calls per connection per 5 s"];
const rows = runs.flatMap((r) =>
  r.points.map((p) => [
    r.label,
    String(p.connections),
    p.cpuPercent.toFixed(2),
    p.rssPerConnKiB.toFixed(1),
    p.heapPerConnKiB.toFixed(2),
    `${p.heapPerAddedConnKiB.toFixed(2)} (since ${p.addedSince})`,
    p.delayP99Ms === null ? "n/a" : p.delayP99Ms.toFixed(2),
    p.generatorCpuPercent.toFixed(1),
    p.syscallsPerConnPerInterval.toFixed(2),
  ]),
);
const pulse = runs.find((r) => r.id === "pulse");
const ws = runs.find((r) => r.id === "ws");
const pulseK = defs.findIndex((d) => d.id === "pulse");
const wsK = defs.findIndex((d) => d.id === "ws");
/** The median over the rounds of one round's Pulse / ws ratio. */
const ratio = (i: number, f: (p: Point) => number): string => median(rounds.map((r) => f(r[pulseK]![i]!) / f(r[wsK]![i]!))).toFixed(2);
const ratioRows = pulse && ws
  ? pulse.points.map((p, i) => [String(p.connections), ratio(i, (x) => x.cpuPercent), ratio(i, (x) => x.rssPerConnKiB), ratio(i, (x) => x.heapPerConnKiB), ratio(i, (x) => x.heapPerAddedConnKiB)])
  : [];
const ratioHeader = ["idle connections", "CPU, Pulse / ws", "RSS per connection, Pulse / ws", "heap per connection (since no client), Pulse / ws", "heap per connection added (since the previous size), Pulse / ws"];
const last = pulse?.points.at(-1);
const verdict = last
  ? [
      `CPU ${last.cpuPercent.toFixed(2)} % (target <= ${TARGET.cpuPercent} %): ${last.cpuPercent <= TARGET.cpuPercent ? "met" : "missed"}`,
      `event-loop delay p99 ${last.delayP99Ms?.toFixed(2)} ms (target <= ${TARGET.delayP99Ms} ms): ${last.delayP99Ms !== null && last.delayP99Ms <= TARGET.delayP99Ms ? "met" : "missed"}`,
      `RSS ${last.rssPerConnKiB.toFixed(1)} KiB per connection (target <= 8 KiB): ${last.rssPerConnKiB * 1024 <= TARGET.bytesPerConn ? "met" : "missed"}`,
    ]
  : [];
const load = `load average ${loadAtStart.map((l) => l.toFixed(1)).join(" / ")} at the start, ${loadAtEnd.map((l) => l.toFixed(1)).join(" / ")} at the end (1 / 5 / 15 min, 2 cores)`;
console.log(`\nDefault heartbeats, medians of ${roundsArg} rounds, ${new Date().toISOString()}; ${load}\n`);
console.log(textTable(header, rows));
if (ratioRows.length) console.log(`\n${textTable(ratioHeader, ratioRows)}`);
if (last) console.log(`\nPulse at ${last.connections}: ${verdict.join("; ")}`);

const dir = new URL("./results/", import.meta.url);
mkdirSync(dir, { recursive: true });
// The default run feeds docs/benchmarks.md (liveness.md); others are kept beside it.
const suffix = `${systemArg ? `-${systemArg}` : ""}${pingTickArg !== null ? `-tick${pingTickArg}` : ""}${rateLimitsArg ? "-limits" : ""}`;
writeFileSync(new URL(`liveness${suffix}.json`, dir), JSON.stringify({ systems: runs, rounds: rounds.map((r) => r.map((points, k) => ({ id: defs[k]!.id, points }))), at: new Date().toISOString(), machine: machineInfo(), loadAverage: { start: loadAtStart, end: loadAtEnd }, windowMs: WINDOW_MS }, null, 2) + "\n");
if (!systemArg) {
  const md = [
    `Pulse at its default heartbeat${rateLimitsArg ? " with its default per-connection rate limits on (per-address ones opened wide for the generator)" : ""} (${pingTickArg === null ? "clients ping after 5 s idle on the server's 250 ms ping slots, as the reference client does; the server answers" : `clients that ignore the ping slots ping after 5 s idle, checked every ${pingTickArg} ms; the server answers`}) and plain ws with its README sweep set to the same 5 s, ${WINDOW_MS / 1000} s windows, ${roundsArg} rounds alternating which system goes first; each figure is the median over the rounds, each ratio the median of the rounds' ratios. Measured ${new Date().toISOString()}; ${load}: a shared machine, so read the ratios rather than the absolute figures.`,
    markdownTable(header, rows),
    ratioRows.length ? markdownTable(ratioHeader, ratioRows) : "",
    last ? `Pulse at ${last.connections} idle: ${verdict.join("; ")}.` : "",
  ].filter(Boolean).join("\n\n");
  writeFileSync(new URL(`liveness${suffix}.md`, dir), md + "\n");
}
process.exit(0);
