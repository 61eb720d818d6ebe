/**
 * The side-by-side benchmark. `--quick` (npm run bench, under 5 minutes) or `--full`
 * (npm run bench:full). `--only pulse,ws` restricts the systems while developing.
 *
 * Servers take turns on core 0, one at a time; the generator and this coordinator stay on
 * core 1. Results go to bench/results/<mode>.json, the chart to bench/results/<mode>.svg, and
 * the report to docs/benchmarks.md. `--report-only` rewrites the report and chart from the saved
 * results of that mode (after editing bench/report-notes.md) without measuring again.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { machineInfo } from "./lib/machine.js";
import { LOAD_CORE } from "./lib/spawn.js";
import { chartSvg, markdownReport, printTable, type RunResult, type SystemResult } from "./report.js";
import { runDeadPeer } from "./scenarios/dead-peer.js";
import { runLoadSuite, type LoadConfig } from "./scenarios/load-suite.js";
import { runStorm } from "./scenarios/storm.js";
import { SHARED_INTERVAL_MS, SYSTEMS } from "./systems.js";

const mode = process.argv.includes("--full") ? "full" : "quick";
const onlyArg = process.argv[process.argv.indexOf("--only") + 1];
const only = process.argv.includes("--only") && onlyArg ? onlyArg.split(",") : null;

const SUITES = {
  quick: {
    loadSystems: ["pulse", "ws", "socketio", "bun"],
    load: { sizes: [1_000, 5_000], latencySizes: [1_000, 5_000], probes: 15, heartbeatSeconds: 8, throughputSeconds: 3, fillCapMs: 20_000 },
    stormClients: 2_000,
    stormSystems: ["pulse", "ws", "socketio", "bun"],
    deadPeerCapS: 30,
  },
  full: {
    loadSystems: ["pulse", "pulse-mem", "ws", "socketio", "bun"],
    load: { sizes: [1_000, 5_000, 10_000], latencySizes: [1_000, 5_000, 10_000], probes: 50, heartbeatSeconds: 20, throughputSeconds: 10, fillCapMs: 120_000 },
    stormClients: 5_000,
    stormSystems: ["pulse", "pulse-mem", "ws", "socketio", "bun"],
    deadPeerCapS: 150,
  },
} satisfies Record<string, { load: LoadConfig } & Record<string, unknown>>;

const suite = SUITES[mode];
const dir = new URL("./results/", import.meta.url);

/** Chart, report and table from a run's results. */
function publish(run: RunResult, writeDocs: boolean): void {
  writeFileSync(new URL(`${run.mode}.svg`, dir), chartSvg(run));
  const livenessFile = new URL("liveness.md", dir);
  const liveness = existsSync(livenessFile) ? readFileSync(livenessFile, "utf8") : null;
  if (writeDocs) writeFileSync(new URL("../docs/benchmarks.md", import.meta.url), markdownReport(run, liveness, `../bench/results/${run.mode}.svg`));
  console.log(`\n${printTable(run)}`);
}

if (process.argv.includes("--report-only")) {
  publish(JSON.parse(readFileSync(new URL(`${mode}.json`, dir), "utf8")) as RunResult, true);
  process.exit(0);
}
const wanted = (id: string): boolean => !only || only.includes(id);
const log = (s: string): void => console.log(s);

// The coordinator belongs with the load, off the server's core.
execFileSync("taskset", ["-pc", String(LOAD_CORE), String(process.pid)], { stdio: "ignore" });

const started = Date.now();
// Other work on this shared machine skews CPU figures; the load average says how much there was.
const loadAtStart = loadavg();
const results: Record<string, SystemResult> = {};
const systems = SYSTEMS.filter((s) => wanted(s.id) && (suite.loadSystems.includes(s.id) || suite.stormSystems.includes(s.id)));
for (const s of systems) results[s.id] = { label: s.label, version: s.version, errors: [] };

async function attempt(id: string, what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    results[id]!.errors.push(`${what}: ${(err as Error).message}`);
    log(`  ${id}: ${what} failed: ${(err as Error).message}`);
  }
}

log(`bench ${mode}: ${systems.map((s) => s.id).join(", ")}; shared heartbeat interval ${SHARED_INTERVAL_MS} ms`);
for (const [i, s] of systems.entries()) {
  if (!suite.loadSystems.includes(s.id)) continue;
  log(`load: ${s.label}`);
  await attempt(s.id, "load", async () => void (results[s.id]!.load = await runLoadSuite(s, 9100 + i * 10, suite.load, log)));
}
for (const [i, s] of systems.entries()) {
  if (!suite.stormSystems.includes(s.id)) continue;
  log(`reconnect storm: ${s.label}`);
  await attempt(s.id, "storm", async () => void (results[s.id]!.storm = await runStorm(s, 9200 + i * 10, suite.stormClients, 60_000, log)));
}
log(`dead-peer detection at defaults, all systems side by side (cap ${suite.deadPeerCapS} s)`);
await Promise.all(
  systems.map((s, i) =>
    attempt(s.id, "dead-peer", async () => void (results[s.id]!.deadPeer = await runDeadPeer(s, 9500 + i * 10, 100 + i * 4, suite.deadPeerCapS))),
  ),
);

const run: RunResult = {
  mode,
  startedAt: new Date(started).toISOString(),
  durationS: (Date.now() - started) / 1000,
  machine: machineInfo(),
  config: { ...suite, sharedHeartbeatIntervalMs: SHARED_INTERVAL_MS, loadAverage: { start: loadAtStart, end: loadavg() } },
  systems: results,
};
mkdirSync(dir, { recursive: true });
writeFileSync(new URL(`${mode}.json`, dir), JSON.stringify(run, null, 2) + "\n");
publish(run, !only);
for (const [id, r] of Object.entries(results)) if (r.errors.length) log(`${id}: ${r.errors.join("; ")}`);
log(`\n${Math.round(run.durationS)} s; results in bench/results/${mode}.json${only ? "" : ", report in docs/benchmarks.md"}`);
process.exit(0);
