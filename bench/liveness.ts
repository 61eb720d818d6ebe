/**
 * npm run bench:liveness — what idle connections cost Pulse at its default heartbeat
 * (5 s ping interval, 12 s timeout): 1k, 5k and 10k clients, each pinging after 5 s idle like
 * the reference client (the server answers), spread over several generator processes and
 * source addresses. At each size: server CPU as % of one core
 * over three heartbeat intervals, RSS per connection, event-loop delay p99. Targets at 10k:
 * CPU <= 5 %, delay p99 <= 10 ms, <= 8 KiB per connection.
 *
 * --system ws|socketio|bun|pulse-mem measures a peer the same way (at its own defaults).
 * Writes bench/results/liveness.json and liveness.md (which docs/benchmarks.md includes).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { Fleet } from "./load/fleet.js";
import { machineInfo } from "./lib/machine.js";
import { LOAD_CORE } from "./lib/spawn.js";
import { markdownTable, textTable } from "./lib/table.js";
import { memoryAt, memoryBaseline, meter } from "./scenarios/load-suite.js";
import { startSystem, systemById } from "./systems.js";

const SIZES = [1_000, 5_000, 10_000];
const WINDOW_MS = 15_000; // three default intervals
const TARGET = { cpuPercent: 5, delayP99Ms: 10, bytesPerConn: 8 * 1024 };

const systemArg = process.argv.includes("--system") ? process.argv[process.argv.indexOf("--system") + 1] : undefined;
const def = systemById(systemArg ?? "pulse");
execFileSync("taskset", ["-pc", String(LOAD_CORE), String(process.pid)], { stdio: "ignore" });

const port = 9800;
const server = await startSystem(def, port, false);
const fleet = await Fleet.start(4, { kind: def.kind, host: "127.0.0.1", port, reconnect: false, track: false });
const points: { connections: number; cpuPercent: number; rssPerConnKiB: number; heapPerConnKiB: number; delayP99Ms: number | null; generatorCpuPercent: number }[] = [];
try {
  const base = await memoryBaseline(server);
  for (const n of SIZES) {
    const mem = await memoryAt(server, fleet, n, base);
    await fleet.settle(1_000);
    await server.stats({ reset: true });
    const cpu = await meter(server.pid, fleet, WINDOW_MS);
    const stats = await server.stats();
    points.push({
      connections: mem.connections,
      cpuPercent: cpu.server * 100,
      rssPerConnKiB: mem.rssPerConnBytes / 1024,
      heapPerConnKiB: mem.heapPerConnBytes / 1024,
      delayP99Ms: stats.eventLoopDelayP99Ms,
      generatorCpuPercent: cpu.generator * 100,
    });
    console.log(`  ${def.id}: ${mem.connections} idle: ${(cpu.server * 100).toFixed(2)} % CPU, ${(mem.rssPerConnBytes / 1024).toFixed(1)} KiB/conn, loop p99 ${stats.eventLoopDelayP99Ms?.toFixed(2)} ms`);
  }
} finally {
  await fleet.close();
  await server.stop("SIGTERM");
}

const header = ["idle connections", "server CPU (% of a core)", "RSS per connection (KiB)", "heap per connection after GC (KiB)", "event-loop delay p99 (ms)", "generator CPU (%)"];
const rows = points.map((p) => [
  String(p.connections),
  p.cpuPercent.toFixed(2),
  p.rssPerConnKiB.toFixed(1),
  p.heapPerConnKiB.toFixed(2),
  p.delayP99Ms === null ? "n/a" : p.delayP99Ms.toFixed(2),
  p.generatorCpuPercent.toFixed(1),
]);
const last = points.at(-1);
const verdict = last
  ? [
      `CPU ${last.cpuPercent.toFixed(2)} % (target <= ${TARGET.cpuPercent} %): ${last.cpuPercent <= TARGET.cpuPercent ? "met" : "missed"}`,
      `event-loop delay p99 ${last.delayP99Ms?.toFixed(2)} ms (target <= ${TARGET.delayP99Ms} ms): ${last.delayP99Ms !== null && last.delayP99Ms <= TARGET.delayP99Ms ? "met" : "missed"}`,
      `RSS ${last.rssPerConnKiB.toFixed(1)} KiB per connection (target <= 8 KiB): ${last.rssPerConnKiB * 1024 <= TARGET.bytesPerConn ? "met" : "missed"}`,
    ]
  : [];
console.log(`\n${def.label}, default heartbeat, ${new Date().toISOString()}\n`);
console.log(textTable(header, rows));
console.log(`\nAt ${last?.connections ?? 0}: ${verdict.join("; ")}`);

const dir = new URL("./results/", import.meta.url);
mkdirSync(dir, { recursive: true });
const suffix = systemArg ? `-${def.id}` : "";
writeFileSync(new URL(`liveness${suffix}.json`, dir), JSON.stringify({ system: def.id, at: new Date().toISOString(), machine: machineInfo(), windowMs: WINDOW_MS, points }, null, 2) + "\n");
if (!systemArg) {
  const md = `${def.label} at its default heartbeat, ${WINDOW_MS / 1000} s windows, measured ${new Date().toISOString()}.\n\n${markdownTable(header, rows)}\n\nAt ${last?.connections ?? 0} idle: ${verdict.join("; ")}.`;
  writeFileSync(new URL("liveness.md", dir), md + "\n");
}
process.exit(0);
