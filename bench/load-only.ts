/**
 * node --import tsx bench/load-only.ts [--only pulse,ws] [--probes N]: the quick suite's load
 * part alone (memory per idle connection, heartbeat CPU, room fill, latency, throughput), for
 * checking a server change without the storm and dead-peer scenarios. Prints, writes nothing.
 */
import { execFileSync } from "node:child_process";
import { loadavg } from "node:os";
import { LOAD_CORE } from "./lib/spawn.js";
import { runLoadSuite } from "./scenarios/load-suite.js";
import { SYSTEMS } from "./systems.js";

const arg = (name: string): string | undefined => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : undefined);
const only = (arg("only") ?? "pulse,ws").split(",");
execFileSync("taskset", ["-pc", String(LOAD_CORE), String(process.pid)], { stdio: "ignore" });
console.log(`load average at start: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
for (const [i, s] of SYSTEMS.filter((x) => only.includes(x.id)).entries()) {
  const r = await runLoadSuite(s, 9300 + i * 10, { sizes: [1_000, 5_000], latencySizes: [1_000, 5_000], probes: Number(arg("probes") ?? 5), heartbeatSeconds: 8, throughputSeconds: 2, fillCapMs: 20_000 }, (l) => console.log(l));
  console.log(JSON.stringify({ system: s.id, memory: r.memory, heartbeat: r.heartbeat, fill: r.fill }));
}
console.log(`load average at end: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
process.exit(0);
