import cluster, { type Worker } from "node:cluster";
import { availableParallelism } from "node:os";
import type { ClientAddressOptions } from "../server/client-address.js";
import type { Socket } from "node:net";
import { ConnectionDealer, HANDED_BACK, WORKER_READY, type HandedBack } from "./connection-dealer.js";
import { listenForPrimaryOps } from "./primary-metrics.js";

/** Parses `--workers`: a whole number >= 1, or "auto" (one per core). Default 1. */
export function parseWorkers(raw: string | undefined): number {
  if (raw === undefined || raw === "") return 1;
  if (raw === "auto") return availableParallelism();
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--workers: '${raw}' is not a whole number >= 1 or "auto"`);
  return n;
}

export const WORKERS_NEED_REDIS =
  "--workers above 1 needs --redis: each worker is its own process with its own memory, so without a shared Redis " +
  "the workers behind one port would keep different messages, sequence numbers and presence: several chats that look like one";

/** A worker that dies sooner than this after its start is not replaced (it would only crash again). */
const MIN_LIFETIME_MS = 5_000;

/** The environment variable that tells a worker the primary's port: it binds none of its own. */
export const DEALT_PORT_ENV = "PULSE_DEALT_PORT";
/** The environment variable that tells a worker its slot, 0..N-1 (its `--metrics-port` is the given one plus this). */
export const WORKER_SLOT_ENV = "PULSE_WORKER_SLOT";

/**
 * A worker's own metrics port: `--metrics-port` plus its slot, so every worker's metrics are
 * scraped as a target of their own. One port shared by the workers answered each scrape from
 * another worker in turn: the series mixed the processes' counters, and rate() read every switch
 * as a reset. 0 stays 0 (each worker takes a free port, printed in its "listening on" line).
 */
export function workerMetricsPort(metricsPort: number, slot: number): number {
  return metricsPort === 0 ? 0 : metricsPort + slot;
}

/**
 * The primary's own metrics port: the one after the workers' (`--metrics-port` + N), or 0 (a
 * free port, printed in its "primary metrics on" line).
 */
export function primaryMetricsPort(metricsPort: number, workers: number): number {
  return workerMetricsPort(metricsPort, workers); // the slot after the last worker's
}

/**
 * Why N workers and the primary cannot have their metrics ports (`--metrics-port` to
 * `--metrics-port` + N), or null when they can. Checked at start: a worker that fails to bind
 * exits at once and is not replaced, and the server ran on with fewer workers.
 */
export function workerMetricsPortsProblem(metricsPort: number | undefined, workers: number, port: number): string | null {
  if (metricsPort === undefined || metricsPort === 0) return null;
  const last = primaryMetricsPort(metricsPort, workers);
  const taken = `with --workers ${workers} the workers and the primary take ports ${metricsPort}-${last}`;
  if (last > 65535) return `--metrics-port ${metricsPort}: ${taken}, past 65535`;
  if (port >= metricsPort && port <= last) return `--metrics-port ${metricsPort}: ${taken}, which holds --port ${port}`;
  return null;
}

/**
 * The primary of `pulse serve --workers N`: listens on the port itself and deals each
 * connection to a worker by its client's address (see ConnectionDealer), forks N workers (each
 * runs `pulse serve` with the same arguments), replaces a worker that crashes, and passes
 * SIGTERM / SIGINT on so every worker drains its clients (and SIGHUP, with a deny file, so
 * every worker reloads it).
 */
export async function runPrimary(
  count: number,
  listen: { host: string; port: number; addresses: ClientAddressOptions },
  { forwardHangup = false, metrics }: { forwardHangup?: boolean; metrics?: { port: number; host: string } } = {},
): Promise<void> {
  const dealer = new ConnectionDealer(count, listen.addresses, (line) => console.log(line));
  const port = await dealer.listen(listen.port, listen.host);
  let workerExits = 0;
  // Before the workers start: a port it cannot have stops the server at once.
  const ops = metrics ? await listenForPrimaryOps(() => ({ ...dealer.stats(), workerExits }), primaryMetricsPort(metrics.port, count), metrics.host) : null;
  if (ops && metrics) console.log(`primary metrics on http://${metrics.host.includes(":") ? `[${metrics.host}]` : metrics.host}:${ops.port}/metrics`);
  let stopping = false;
  const startedAt = new Map<Worker, number>();
  const fork = (slot: number) => {
    const worker = cluster.fork({ [DEALT_PORT_ENV]: String(port), [WORKER_SLOT_ENV]: String(slot) });
    dealer.seat(slot, worker);
    startedAt.set(worker, Date.now());
    worker.on("message", (message: { type?: unknown } | null, socket?: Socket) => {
      if (message?.type === WORKER_READY) dealer.markReady(worker);
      else if (message?.type === HANDED_BACK && socket) dealer.handedBack(socket, message as HandedBack);
    });
  };
  for (let slot = 0; slot < count; slot++) fork(slot);
  cluster.on("exit", (worker, code, signal) => {
    const lived = Date.now() - (startedAt.get(worker) ?? 0);
    const slot = dealer.slotOf(worker);
    dealer.vacate(worker);
    startedAt.delete(worker);
    workerExits++;
    if (stopping) {
      if (startedAt.size === 0) process.exit(0);
      return;
    }
    console.log(`worker ${worker.process.pid} exited (${signal ?? code}) after ${lived} ms`);
    if (lived >= MIN_LIFETIME_MS && slot >= 0) fork(slot);
    else if (startedAt.size === 0) process.exit(1);
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping ${startedAt.size} worker(s)`);
    dealer.close();
    ops?.close();
    for (const worker of startedAt.keys()) worker.process.kill(signal);
    // A worker still there after 15 s (stopped, or stuck) is killed: left behind, a stopped one
    // outlived the primary and held its port's clients until someone sent it SIGCONT.
    const force = setTimeout(() => {
      for (const worker of startedAt.keys()) worker.process.kill("SIGKILL");
      process.exit(1);
    }, 15_000);
    force.unref();
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  // With a deny file every worker reloads it on SIGHUP (each keeps its own list).
  if (forwardHangup) {
    process.on("SIGHUP", () => {
      for (const worker of startedAt.keys()) worker.process.kill("SIGHUP");
    });
  }
}
