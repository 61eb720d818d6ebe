/**
 * `npm run bench:abuse`: one attacker per kind (message flood, ping flood, WebSocket ping-frame
 * and pong-frame floods, join/leave churn, replay bomb, non-reader, page flood) against 200 honest clients
 * chatting in one room, each
 * run against a fresh server (and a fresh copy of the store) with the default limits. Per run:
 * the server's CPU and RSS growth, honest clients' delivery latency p50/p99, honest deliveries
 * lost. The server is pinned to core 0; the honest clients (this process) and the attacker (a
 * child process at nice 19, so it takes only the CPU they leave idle) share core 1.
 *
 * Each attack is measured beside its own no-attack run, one right after the other, in each of
 * several rounds: on a shared machine the load drifts over minutes, and a baseline measured
 * once at the start compared a later attack with another machine. The table shows medians over
 * the rounds, and the p99 ratio is the median of the per-round (attack / its baseline) ratios.
 *
 * Options: --seconds N (measured window per run, default 15), --clients N (default 200),
 * --rounds N (default 3), --only KIND (that attack only), --server PATH (the pulse.js to run,
 * default dist/cli/pulse.js: an older build can be measured with the same bench);
 * BENCH_NODE_FLAGS="--cpu-prof --cpu-prof-dir=bench/results/raw" profiles the server.
 */
import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { PulseClient } from "../src/client/pulse-client.js";
import type { WebSocketFactory } from "../src/client/types.js";
import { SqliteStore } from "../src/store/index.js";
import { cpuSeconds, rssBytes } from "./lib/proc.js";
import { listeningPort, LOAD_CORE, SERVER_CORE, spawnPinned, stopProcess } from "./lib/spawn.js";
import { median, percentile, sleep, waitUntil } from "./lib/stats.js";
import { markdownTable, textTable } from "./lib/table.js";
import { ATTACK_KINDS, BOMB_ROOM, HONEST_ROOM, type AttackKind } from "./abuse/shared.js";

const { values } = parseArgs({ options: { seconds: { type: "string" }, clients: { type: "string" }, rounds: { type: "string" }, only: { type: "string" }, server: { type: "string" } } });
const WINDOW_S = Number(values.seconds ?? 15);
const CLIENTS = Number(values.clients ?? 200);
const ROUNDS = Number(values.rounds ?? 3);
const SERVER_SCRIPT = values.server ?? "dist/cli/pulse.js";
/** BENCH_NODE_FLAGS adds flags to the server, e.g. "--cpu-prof --cpu-prof-dir=bench/results/raw". */
const EXTRA_FLAGS = (process.env.BENCH_NODE_FLAGS ?? "").split(" ").filter(Boolean);
/** Each honest client says something every this often (200 clients: 20 messages/s in the room, 4,000 deliveries/s). */
const SAY_EVERY_MS = 10_000;
const log = (s: string) => console.log(s);

interface RunResult {
  attack: AttackKind | "none";
  serverCpuPercent: number;
  rssGrowthMiB: number;
  p50Ms: number;
  p99Ms: number;
  sent: number;
  lostDeliveries: number;
  /**
   * This process (all honest clients) over the window: its CPU and its event-loop delay p99.
   * Latency is read here, so a busy client process shows up in it as much as a busy server.
   */
  honestCpuPercent: number;
  honestLoopDelayP99Ms: number;
  /** Its longest single event-loop delay: one stall there delays every delivery it holds. */
  honestLoopDelayMaxMs: number;
  /** The machine's 1-minute load average at the end of the window (2 cores, shared). */
  loadAverage1m: number;
  attacker: string;
}

/** A database with the bomb room filled through the store API (text `send` would refuse). */
async function bombStore(dir: string): Promise<string> {
  const path = join(dir, "abuse.db");
  const store = new SqliteStore({ path });
  const text = "\u0001".repeat(4_000);
  for (let start = 0; start < 10_000; start += 2_000) {
    await Promise.all(Array.from({ length: 2_000 }, (_, i) => store.append({ room: BOMB_ROOM, userId: "filler", clientId: "filler", id: `b${start + i}`, from: "filler", text, ts: Date.now() })));
  }
  await store.close();
  return path;
}

async function startPulse(storePath: string): Promise<{ pid: number; port: number; stop(): Promise<void> }> {
  const child = spawnPinned(SERVER_CORE, process.execPath, [...EXTRA_FLAGS, SERVER_SCRIPT, "serve", "--port", "0", "--host", "127.0.0.1", "--store", storePath, "--quiet"]);
  const port = await listeningPort(child);
  return { pid: child.pid!, port, stop: () => stopProcess(child, "SIGTERM", 5_000) };
}

/** WebSocket bound to a source address: the per-IP caps see 50 honest clients per address. */
const wsFrom = (localAddress: string): WebSocketFactory =>
  class extends WebSocket {
    constructor(url: string, protocols: string | string[]) {
      super(url, protocols, { localAddress });
    }
  } as unknown as WebSocketFactory;

async function run(attack: AttackKind | "none", storePath: string): Promise<RunResult> {
  const server = await startPulse(storePath);
  const url = `ws://127.0.0.1:${server.port}`;
  const clients: PulseClient[] = [];
  const latencies: number[] = [];
  const received = new Map<string, number>(); // honest message -> receivers
  let measuring = false;
  let sent = 0;
  const sentIds: string[] = [];
  try {
    for (let i = 0; i < CLIENTS; i++) {
      const c = new PulseClient({ url, nick: `h${i}`, WebSocket: wsFrom(`127.0.0.${10 + Math.floor(i / 50)}`) });
      c.on("message", (m) => {
        const [tag, id, at] = m.text.split(" ");
        if (tag !== "h") return;
        received.set(id!, (received.get(id!) ?? 0) + 1);
        if (measuring) latencies.push(Date.now() - Number(at));
      });
      c.join(HONEST_ROOM);
      clients.push(c);
    }
    const tJoin = performance.now();
    // The count, not the names: a room above onlineListMax (100) sends its count only.
    const allIn = await waitUntil(() => clients.every((c) => c.onlineCount(HONEST_ROOM) >= CLIENTS), 60_000, 200);
    log(`  ${attack}: ${CLIENTS} honest clients in the room after ${Math.round(performance.now() - tJoin)} ms${allIn ? "" : " (not all saw the full room)"}`);
    const sayers = clients.map((c, i) =>
      setTimeout(() => {
        const say = () => {
          if (!measuring) return; // only messages sent in the window are followed
          const id = `${i}-${sent++}`;
          sentIds.push(id);
          c.send(HONEST_ROOM, `h ${id} ${Date.now()}`);
        };
        say();
        (sayers as unknown as NodeJS.Timeout[])[i] = setInterval(say, SAY_EVERY_MS);
      }, (SAY_EVERY_MS * i) / CLIENTS),
    );
    const attacker =
      attack === "none"
        ? null
        : // At the lowest priority: it shares the load core with the honest clients and must not
          // starve them of CPU (that would measure this machine, not the server); it still gets
          // every cycle they leave idle.
          spawn("nice", ["-n", "19", "taskset", "-c", String(LOAD_CORE), process.execPath, "--import", "tsx", "bench/abuse/attacker.ts", attack, String(server.port), "127.0.0.100", String(WINDOW_S + 4)], { stdio: ["ignore", "pipe", "inherit"] });
    let attackerOut = "";
    attacker?.stdout!.on("data", (d: Buffer) => (attackerOut += String(d)));
    // Growth is counted from before the attack: its first seconds are part of what it costs.
    const rss0 = rssBytes(server.pid);
    let rssPeak = rss0;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssBytes(server.pid))), 200);
    await sleep(2_000); // the attack gets going
    const cpu0 = cpuSeconds(server.pid);
    const honestCpu0 = process.cpuUsage();
    const honestLoop = monitorEventLoopDelay({ resolution: 10 });
    honestLoop.enable();
    const t0 = performance.now();
    measuring = true;
    await sleep(WINDOW_S * 1000);
    measuring = false;
    const cpu = cpuSeconds(server.pid) - cpu0;
    const wall = (performance.now() - t0) / 1000;
    honestLoop.disable();
    const honestCpu = process.cpuUsage(honestCpu0);
    clearInterval(sampler);
    for (const t of sayers as unknown as NodeJS.Timeout[]) clearInterval(t);
    if (attacker) await new Promise((r) => attacker.once("exit", r));
    // Deliveries still in flight when the window closed are waited for, not counted as lost.
    await waitUntil(() => clients.every((c) => c.outboxEntries().length === 0), 20_000, 200);
    await sleep(2_000);
    // Each message reaches every honest client, its sender included.
    const lost = sentIds.reduce((n, id) => n + Math.max(0, CLIENTS - (received.get(id) ?? 0)), 0);
    return {
      attack,
      serverCpuPercent: (cpu / wall) * 100,
      rssGrowthMiB: (rssPeak - rss0) / 2 ** 20,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      sent: sentIds.length,
      lostDeliveries: lost,
      honestCpuPercent: ((honestCpu.user + honestCpu.system) / 1e6 / wall) * 100,
      // The monitor's resolution is part of every sample: subtracted, as in the other benches.
      honestLoopDelayP99Ms: Math.max(0, honestLoop.percentile(99) / 1e6 - 10),
      honestLoopDelayMaxMs: Math.max(0, honestLoop.max / 1e6 - 10),
      loadAverage1m: loadavg()[0]!,
      attacker: attackerOut.trim(),
    };
  } finally {
    for (const c of clients) c.close();
    await server.stop();
  }
}

/** The figures of one attack kind over the rounds: medians, and the median of per-round p99 ratios. */
interface Summary {
  attack: AttackKind | "none";
  rounds: RunResult[];
  /** Each round's baseline (the no-attack run just before this attack); empty for "none". */
  baselines: RunResult[];
}

const med = (runs: RunResult[], pick: (r: RunResult) => number): number => median(runs.map(pick));

function summaryRow(s: Summary): string[] {
  const ratios = s.baselines.map((b, i) => s.rounds[i]!.p99Ms / b.p99Ms);
  return [
    s.attack,
    `${med(s.rounds, (r) => r.serverCpuPercent).toFixed(0)} %`,
    `${med(s.rounds, (r) => r.rssGrowthMiB).toFixed(1)} MiB`,
    `${med(s.rounds, (r) => r.p50Ms)} ms`,
    `${med(s.rounds, (r) => r.p99Ms)} ms`,
    s.attack === "none" ? "1.00x" : `${median(ratios).toFixed(2)}x (${ratios.map((x) => x.toFixed(2)).join(", ")})`,
    String(med(s.rounds, (r) => r.sent)),
    String(Math.max(...s.rounds.map((r) => r.lostDeliveries))),
    `${med(s.rounds, (r) => r.honestCpuPercent).toFixed(0)} %`,
    `${med(s.rounds, (r) => r.honestLoopDelayP99Ms).toFixed(0)} ms`,
  ];
}

const dir = mkdtempSync(join(tmpdir(), "pulse-abuse-"));
try {
  log(`filling the bomb room (10,000 x 4,000 control characters)...`);
  const template = await bombStore(dir);
  let runs = 0;
  /** Every run gets its own copy of the store: nickname holds and the lobby's history stay behind. */
  const freshStore = (): string => {
    const path = join(dir, `run-${runs++}.db`);
    copyFileSync(template, path);
    return path;
  };
  const kinds = ATTACK_KINDS.filter((k) => !values.only || k === values.only);
  const none: Summary = { attack: "none", rounds: [], baselines: [] };
  const attacks = new Map<AttackKind, Summary>(kinds.map((k) => [k, { attack: k, rounds: [], baselines: [] }]));
  const report = (r: RunResult) =>
    log(`${r.attack}: server CPU ${r.serverCpuPercent.toFixed(0)} %, RSS +${r.rssGrowthMiB.toFixed(1)} MiB, honest p50 ${r.p50Ms} ms p99 ${r.p99Ms} ms, ${r.sent} sent, ${r.lostDeliveries} deliveries lost; honest process CPU ${r.honestCpuPercent.toFixed(0)} %, its loop delay p99 ${r.honestLoopDelayP99Ms.toFixed(0)} ms max ${r.honestLoopDelayMaxMs.toFixed(0)} ms, load average ${r.loadAverage1m.toFixed(1)}${r.attacker ? `; attacker ${r.attacker}` : ""}`);
  for (let round = 1; round <= ROUNDS; round++) {
    log(`round ${round} of ${ROUNDS}`);
    for (const kind of kinds) {
      const baseline = await run("none", freshStore());
      report(baseline);
      const attacked = await run(kind, freshStore());
      report(attacked);
      none.rounds.push(baseline);
      attacks.get(kind)!.rounds.push(attacked);
      attacks.get(kind)!.baselines.push(baseline);
    }
  }
  const header = ["attack", "server CPU", "server RSS growth", "honest p50", "honest p99", "p99 vs none (rounds)", "honest msgs", "deliveries lost (worst)", "honest clients' CPU", "their loop delay p99"];
  const rows = [none, ...attacks.values()].map(summaryRow);
  log(`\nmedians of ${ROUNDS} rounds\n${textTable(header, rows)}`);
  const results = [none, ...attacks.values()];
  writeFileSync(new URL("./results/abuse.json", import.meta.url), JSON.stringify({ windowS: WINDOW_S, clients: CLIENTS, rounds: ROUNDS, server: SERVER_SCRIPT, results }, null, 2) + "\n");
  writeFileSync(new URL("./results/abuse.md", import.meta.url), `Medians of ${ROUNDS} rounds; the p99 ratio is the median of each round's (attack / the no-attack run just before it).\n\n${markdownTable(header, rows)}\n`);
  log(`\nresults in bench/results/abuse.json and bench/results/abuse.md`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
