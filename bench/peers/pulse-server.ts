/**
 * Pulse as shipped (compiled dist/, run by the bench the way `pulse serve` runs it) plus the
 * bench's side stats port, so Pulse's heap after GC and event-loop delay are read exactly like
 * the Node peers'. Needs `npm run build` first.
 *
 * node --expose-gc bench/... --port 9000 --store memory|<sqlite path> [--interval-ms N --suspect-ms N --timeout-ms N] [--per-connection-limits]
 * Liveness flags left out mean Pulse's defaults.
 */
import { argNumber, argString, startStatsEndpoint } from "./node-stats.js";

const port = argNumber("port", 9000);

const WIDE = { perSecond: 1_000_000, burst: 1_000_000 };
const PER_CONNECTION_LIMITS_ONLY = {
  messages: { perIp: WIDE },
  messageBytes: { perIp: WIDE },
  deliveries: { perIp: WIDE },
  pings: { perIp: WIDE },
  membership: { perIp: WIDE },
  history: { perIp: WIDE },
  upgrades: WIDE,
};

const liveness: Record<string, number> = {};
for (const key of ["intervalMs", "suspectMs", "timeoutMs"] as const) {
  const flag = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const value = argNumber(flag, NaN);
  if (!Number.isNaN(value)) liveness[key] = value;
}

// Imported by path at run time so this file type-checks before the server exists.
const entry = new URL("../../dist/server/index.js", import.meta.url).href;
const { startServer } = (await import(entry)) as {
  startServer(o: object): Promise<{ port: number; close(): Promise<void>; stats(): { connections: number } }>;
};
const server = await startServer({
  port,
  host: "127.0.0.1",
  log: () => {}, // per-connection log lines would cost CPU in the measurements
  store: argString("store", "memory"),
  // The benchmarks measure throughput; limits would measure themselves. --per-connection-limits
  // (bench:liveness --rate-limits): the default per-connection limits on, since their buckets are
  // part of a connection's memory, and the per-address ones opened wide, since the generator runs
  // thousands of clients from each of a few addresses.
  rateLimits: process.argv.includes("--per-connection-limits") ? PER_CONNECTION_LIMITS_ONLY : false,
  maxConnections: 100_000, // the load runs open thousands of connections from a few addresses
  maxConnectionsPerIp: 100_000,
  ...(Object.keys(liveness).length ? { liveness } : {}),
});
startStatsEndpoint(argNumber("stats-port", port + 1000), () => server.stats().connections);
const stop = (): void => {
  void server.close().finally(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
console.log(`ready ${server.port}`);
