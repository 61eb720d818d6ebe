/**
 * Turns a run's results into the printed table, docs/benchmarks.md and the SVG chart. Every
 * Pulse figure sits beside each peer's figure from the same run, with the ratio Pulse / peer.
 */
import { existsSync, readFileSync } from "node:fs";
import type { MachineInfo } from "./lib/machine.js";
import { barChartSvg, type Panel } from "./lib/svg-chart.js";
import { markdownTable, textTable, type Row } from "./lib/table.js";
import type { DeadPeerResult } from "./scenarios/dead-peer.js";
import type { LoadResult } from "./scenarios/load-suite.js";
import type { StormResult } from "./scenarios/storm.js";

export interface SystemResult {
  label: string;
  version: string;
  load?: LoadResult;
  storm?: StormResult;
  deadPeer?: DeadPeerResult;
  errors: string[];
}

export interface RunResult {
  mode: "quick" | "full";
  startedAt: string;
  durationS: number;
  machine: MachineInfo;
  config: object;
  systems: Record<string, SystemResult>;
}

interface Metric {
  name: string;
  better: "lower" | "higher";
  unit: string;
  get(s: SystemResult): number | null | undefined;
  digits?: number;
  /** How a null (gave up waiting) is shown: "> capS". */
  capS?: number;
}

const KiB = 1024;
const PULSE = "pulse";

/** The rows of the table, built from whatever sizes the run measured. */
function metrics(run: RunResult): Metric[] {
  const any = Object.values(run.systems).find((s) => s.load)?.load;
  const out: Metric[] = [];
  for (const m of any?.memory ?? []) {
    const n = m.connections;
    const at = (s: SystemResult) => s.load?.memory.find((x) => x.connections === n);
    out.push({ name: `RSS per idle connection, ${n}`, better: "lower", unit: "KiB", get: (s) => at(s) && at(s)!.rssPerConnBytes / KiB, digits: 1 });
    out.push({ name: `heap per idle connection after GC, ${n}`, better: "lower", unit: "KiB", get: (s) => at(s) && at(s)!.heapPerConnBytes / KiB, digits: 2 });
    // Leaves out most of what a server allocates once (compiled code), which the row above charges to the connections.
    out.push({ name: `  heap per connection added since ${m.addedSince}`, better: "lower", unit: "KiB", get: (s) => at(s)?.heapPerAddedConnBytes !== undefined ? at(s)!.heapPerAddedConnBytes / KiB : undefined, digits: 2 });
  }
  if (any) {
    const n = any.heartbeat.connections;
    out.push({ name: `heartbeat CPU, ${n} idle`, better: "lower", unit: "% of a core", get: (s) => s.load?.heartbeat.serverCpuPercent, digits: 2 });
    out.push({ name: `event-loop delay p99, ${n} idle`, better: "lower", unit: "ms", get: (s) => s.load?.heartbeat.eventLoopDelayP99Ms, digits: 1 });
    out.push({ name: `  generator CPU during it`, better: "lower", unit: "% of a core", get: (s) => s.load?.heartbeat.generatorCpuPercent, digits: 1 });
  }
  const loads = Object.values(run.systems).flatMap((s) => (s.load ? [s.load] : []));
  const fillCap = (run.config as { load?: { fillCapMs?: number } }).load?.fillCapMs;
  const fills = [...new Set(loads.flatMap((l) => (l.fill ?? []).map((x) => x.room)))].sort((a, b) => a - b);
  for (const room of fills) {
    const at = (s: SystemResult) => s.load?.fill?.find((x) => x.room === room);
    const gaveUp = (s: SystemResult) => s.load?.fillTimedOut !== undefined && s.load.fillTimedOut.room <= room;
    const cap = fillCap ? { capS: fillCap / 1000 } : {};
    const joins = Object.values(run.systems).map(at).find((f) => f)?.joins ?? room;
    out.push({ name: `room ${room} filled (${joins} joins): every join answered`, better: "lower", unit: "s", get: (s) => (gaveUp(s) ? null : at(s) && at(s)!.answeredMs / 1000), digits: 2, ...cap });
    out.push({ name: `  ... and the presence traffic drained`, better: "lower", unit: "s", get: (s) => (gaveUp(s) ? null : at(s) && at(s)!.drainedMs / 1000), digits: 2, ...cap });
    out.push({ name: `  server CPU per join, until drained`, better: "lower", unit: "us", get: (s) => at(s)?.serverUsPerJoin, digits: 0 });
    out.push({ name: `  frames received per join`, better: "lower", unit: "", get: (s) => at(s)?.framesPerJoin, digits: 2 });
    out.push({ name: `  bytes received per join`, better: "lower", unit: "B", get: (s) => at(s)?.bytesPerJoin ?? undefined, digits: 0 });
  }
  const rooms = [...new Set(loads.flatMap((l) => l.latency.map((x) => x.room)))].sort((a, b) => a - b);
  for (const room of rooms) {
    const l = { room };
    const at = (s: SystemResult) => s.load?.latency.find((x) => x.room === l.room);
    // Results saved before fills were measured apart carry one figure: answered, then 2 s of quiet.
    const legacyFill = (s: SystemResult) => (at(s) as { fillMs?: number } | undefined)?.fillMs;
    if (fills.length === 0 && Object.values(run.systems).some((s) => legacyFill(s) !== undefined)) {
      out.push({ name: `room ${room} filled: all joined, then 2 s of quiet (older runs)`, better: "lower", unit: "s", get: (s) => (s.load?.fillTimedOut && s.load.fillTimedOut.room <= room ? null : legacyFill(s) && legacyFill(s)! / 1000), digits: 1, ...(fillCap ? { capS: fillCap / 1000 } : {}) });
    }
    out.push({ name: `broadcast to last recipient p50, room ${l.room}`, better: "lower", unit: "ms", get: (s) => at(s)?.p50Ms, digits: 1 });
    out.push({ name: `broadcast to last recipient p99, room ${l.room}`, better: "lower", unit: "ms", get: (s) => at(s)?.p99Ms, digits: 1 });
    out.push({ name: `  server CPU per delivery, room ${l.room}`, better: "lower", unit: "us", get: (s) => at(s)?.serverUsPerFrame, digits: 1 });
    out.push({ name: `  generator CPU per delivery, room ${l.room}`, better: "lower", unit: "us", get: (s) => at(s)?.generatorUsPerFrame, digits: 1 });
  }
  if (any?.throughput) {
    const t = any.throughput;
    out.push({ name: `deliveries per server CPU-second, ${t.senders} senders, room ${t.room}`, better: "higher", unit: "/s", get: (s) => s.load?.throughput?.deliveriesPerServerCpuSecond, digits: 0 });
    out.push({ name: `  deliveries per second (wall)`, better: "higher", unit: "/s", get: (s) => s.load?.throughput?.deliveriesPerSecond, digits: 0 });
    out.push({ name: `  server CPU`, better: "lower", unit: "% of a core", get: (s) => s.load?.throughput?.serverCpuPercent, digits: 0 });
    out.push({ name: `  generator CPU`, better: "lower", unit: "% of a core", get: (s) => s.load?.throughput?.generatorCpuPercent, digits: 0 });
  }
  const storm = Object.values(run.systems).find((s) => s.storm)?.storm;
  if (storm) {
    out.push({ name: `reconnect storm, ${storm.clients} clients: all back`, better: "lower", unit: "s", get: (s) => s.storm && (s.storm.allBackMs === null ? null : s.storm.allBackMs / 1000), digits: 2 });
    out.push({ name: `  peak (re)joins per second`, better: "higher", unit: "/s", get: (s) => s.storm?.peakJoinsPerSecond, digits: 0 });
    out.push({ name: `  deliveries lost`, better: "lower", unit: "", get: (s) => s.storm?.lostDeliveries, digits: 0 });
  }
  const dead = Object.values(run.systems).find((s) => s.deadPeer)?.deadPeer;
  if (dead) {
    const capS = dead.capS;
    out.push({ name: `dead client (SIGSTOP) noticed by server, defaults`, better: "lower", unit: "s", get: (s) => s.deadPeer?.serverDetectsS, digits: 1, capS });
    out.push({ name: `  ... and its TCP end closed`, better: "lower", unit: "s", get: (s) => s.deadPeer?.serverReleasesS, digits: 1, capS });
    out.push({ name: `black-holed server noticed by client, defaults`, better: "lower", unit: "s", get: (s) => s.deadPeer?.clientDetectsS, digits: 1, capS });
  }
  return out;
}

const fmt = (v: number | null | undefined, digits = 1, cap?: number): string =>
  v === undefined || Number.isNaN(v) ? "n/a" : v === null ? (cap ? `> ${cap}` : "none") : v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

function rows(run: RunResult): { header: Row; body: Row[] } {
  const ids = Object.keys(run.systems);
  const peers = ids.filter((id) => !id.startsWith(PULSE));
  const header = ["metric", "unit", ...ids.map((id) => run.systems[id]!.label), ...peers.map((p) => `Pulse/${run.systems[p]!.label}`)];
  const body = metrics(run).map((m) => {
    const pulse = run.systems[PULSE] ? m.get(run.systems[PULSE]!) : undefined;
    return [
      m.name,
      m.unit,
      ...ids.map((id) => fmt(m.get(run.systems[id]!), m.digits, m.capS)),
      ...peers.map((p) => {
        const peer = m.get(run.systems[p]!);
        return typeof pulse === "number" && typeof peer === "number" && peer !== 0 ? `${(pulse / peer).toFixed(2)}x` : "-";
      }),
    ];
  });
  return { header, body };
}

export function printTable(run: RunResult): string {
  const { header, body } = rows(run);
  return textTable(header, body);
}

/** Headline panels for the chart. */
export function chartSvg(run: RunResult): string {
  const ms = metrics(run);
  const pick = (prefix: string): Metric | undefined => [...ms].reverse().find((m) => m.name.startsWith(prefix));
  const chosen = [
    pick("RSS per idle connection"),
    pick("heartbeat CPU"),
    pick("broadcast to last recipient p99"),
    pick("deliveries per server CPU-second"),
    pick("dead client (SIGSTOP)"),
    pick("black-holed server"),
  ].filter((m): m is Metric => m !== undefined);
  const panels: Panel[] = chosen.map((m) => ({
    title: `${m.name} (${m.unit})`,
    better: m.better,
    bars: Object.values(run.systems).map((s) => {
      const v = m.get(s);
      return { label: s.label, value: typeof v === "number" && !Number.isNaN(v) ? v : null, text: fmt(v, m.digits, m.capS) };
    }),
  }));
  return barChartSvg(panels, `npm run bench${run.mode === "full" ? ":full" : ""}, ${run.startedAt}, ${run.machine.cpu}, ${run.machine.cores} cores`);
}

export function markdownReport(run: RunResult, liveness: string | null, chartPath: string): string {
  const { header, body } = rows(run);
  const notes = new URL("./report-notes.md", import.meta.url);
  const versions = Object.values(run.systems).map((s) => `${s.label} ${s.version}`).join(", ");
  return [
    "# Benchmarks",
    "",
    "<!-- Generated by `npm run bench` / `npm run bench:full` (bench/report.ts); edit bench/report-notes.md instead. -->",
    "",
    `Pulse beside plain \`ws\`, Socket.IO and Bun, all measured in one run (${run.mode} suite, ${run.startedAt}, ${Math.round(run.durationS)} s).`,
    "Ratios are Pulse (SQLite, as shipped) divided by the peer: below 1 is better for \"lower is better\" rows, above 1 for throughput.",
    "",
    `![chart](${chartPath})`,
    "",
    markdownTable(header, body),
    "",
    liveness ? `## Liveness at defaults (\`npm run bench:liveness\`)\n\n${liveness}\n` : "",
    "## Machine and versions",
    "",
    `${run.machine.cpu}, ${run.machine.cores} cores, ${run.machine.memoryGiB} GiB, Linux ${run.machine.kernel}, Node ${run.machine.node}, ` +
      `${run.machine.openFilesPerProcess} open files per process, loopback only. ${versions}.`,
    "",
    "Configuration of this run:",
    "",
    "```json",
    JSON.stringify(run.config, null, 2),
    "```",
    "",
    existsSync(notes) ? readFileSync(notes, "utf8") : "",
  ].join("\n");
}
