/**
 * The systems under test and how to start each one pinned to the server core, either with the
 * shared heartbeat interval (so heartbeat costs compare like for like) or at its own defaults
 * (dead-peer detection).
 */
import type { ChildProcess } from "node:child_process";
import { readFileSync, rmSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
import type { ProtocolKind } from "./load/protocol.js";
import { SERVER_CORE, spawnPinned, stopProcess, waitForLine } from "./lib/spawn.js";

/**
 * The common heartbeat interval. Bun's uWS timer ticks every 4 s and pings at idleTimeout minus
 * one tick (measured: idleTimeout 8 s -> a ping every 4 s), so 4 s is the nearest interval
 * every system can be set to exactly.
 */
export const SHARED_INTERVAL_MS = 4_000;

export interface ServerStats {
  eventLoopDelayP99Ms: number | null;
  heapUsedBytes: number;
  rssBytes: number;
  connections: number;
}

export interface RunningServer {
  readonly pid: number;
  readonly port: number;
  /** GET the side stats port; gc=1 collects first, reset=1 restarts the delay histogram. */
  stats(opts?: { gc?: boolean; reset?: boolean }): Promise<ServerStats>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface SystemDef {
  id: string;
  label: string;
  kind: ProtocolKind;
  version: string;
  /** The silence after which this system's *client* gives up on a server, for the json watch. */
  clientPingGapMs?: number;
  /** Extra args: shared heartbeat interval, or none for defaults. */
  args(shared: boolean): string[];
  command(): [string, string[]];
}

const require = createRequire(import.meta.url);
const versionOf = (pkg: string): string => (require(`${pkg}/package.json`) as { version: string }).version;
/** BENCH_NODE_FLAGS adds flags to the Node servers, e.g. "--cpu-prof --cpu-prof-dir=bench/results/raw". */
const EXTRA_FLAGS = (process.env.BENCH_NODE_FLAGS ?? "").split(" ").filter(Boolean);
const NODE_PEER = (file: string): [string, string[]] => [process.execPath, ["--expose-gc", ...EXTRA_FLAGS, "--import", "tsx", file]];
const SQLITE_DIR = "bench/results/raw";

export const SYSTEMS: SystemDef[] = [
  {
    id: "pulse",
    label: "Pulse (SQLite)",
    kind: "pulse",
    version: JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version as string,
    args: (shared) => ["--store", `${SQLITE_DIR}/pulse-bench.db`, ...(shared ? ["--interval-ms", String(SHARED_INTERVAL_MS)] : [])],
    command: () => NODE_PEER("bench/peers/pulse-server.ts"),
  },
  {
    id: "pulse-mem",
    label: "Pulse (memory)",
    kind: "pulse",
    version: "same",
    args: (shared) => ["--store", "memory", ...(shared ? ["--interval-ms", String(SHARED_INTERVAL_MS)] : [])],
    command: () => NODE_PEER("bench/peers/pulse-server.ts"),
  },
  {
    id: "ws",
    label: "plain ws",
    kind: "json",
    version: versionOf("ws"),
    // The README client pattern: give up when no ping came for the server's interval + 1 s.
    clientPingGapMs: 31_000,
    args: (shared) => (shared ? ["--interval-ms", String(SHARED_INTERVAL_MS)] : []),
    command: () => NODE_PEER("bench/peers/ws-server.ts"),
  },
  {
    id: "socketio",
    label: "Socket.IO",
    kind: "socketio",
    version: versionOf("socket.io"),
    args: (shared) => (shared ? ["--interval-ms", String(SHARED_INTERVAL_MS)] : []),
    command: () => NODE_PEER("bench/peers/socketio-server.ts"),
  },
  {
    id: "bun",
    label: "Bun",
    kind: "json",
    version: String(execFileSync("node_modules/.bin/bun", ["--version"])).trim(),
    // Same README client pattern against Bun's default ping (idleTimeout 120 s, ping one 4 s tick before).
    clientPingGapMs: 117_000,
    args: (shared) => (shared ? ["--idle-timeout-s", String((2 * SHARED_INTERVAL_MS) / 1000)] : []),
    command: () => ["node_modules/.bin/bun", ["bench/peers/bun-server.ts"]],
  },
];

export function systemById(id: string): SystemDef {
  const s = SYSTEMS.find((x) => x.id === id);
  if (!s) throw new Error(`unknown system ${id}`);
  return s;
}

/** Starts `def` on `port` (stats on port + 1000), pinned to the server core. */
export async function startSystem(def: SystemDef, port: number, shared: boolean, fresh = true, extraArgs: string[] = []): Promise<RunningServer> {
  if (def.id === "pulse" && fresh) {
    // "As shipped" is a SQLite file; start each run from an empty one.
    mkdirSync(SQLITE_DIR, { recursive: true });
    for (const suffix of ["", "-wal", "-shm"]) rmSync(`${SQLITE_DIR}/pulse-bench.db${suffix}`, { force: true });
  }
  const [cmd, base] = def.command();
  const child: ChildProcess = spawnPinned(SERVER_CORE, cmd, [...base, "--port", String(port), "--stats-port", String(port + 1000), ...def.args(shared), ...extraArgs]);
  await waitForLine(child, "ready");
  child.stdout?.resume(); // keep draining its log so it never blocks on a full pipe
  const statsUrl = `http://127.0.0.1:${port + 1000}/stats`;
  return {
    pid: child.pid!,
    port,
    async stats(opts = {}) {
      const q = [opts.gc ? "gc=1" : "", opts.reset ? "reset=1" : ""].filter(Boolean).join("&");
      const res = await fetch(`${statsUrl}?${q}`);
      return (await res.json()) as ServerStats;
    },
    stop: (signal = "SIGTERM") => stopProcess(child, signal),
  };
}
