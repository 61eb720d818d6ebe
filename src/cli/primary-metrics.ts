import { readdirSync } from "node:fs";
import { listenForOps, type OpsRoutes } from "../server/ops-routes.js";

/** Why the primary of `--workers` closed a connection instead of dealing it (see ConnectionDealer). */
export type DealerCloseReason =
  /** More trusted proxies' heads than it reads at once. */
  | "reading_limit"
  /** A trusted proxy's head not whole within its time, or the socket closed first. */
  | "head_not_whole"
  /** No worker ready, and as many held as it holds. */
  | "waiting_limit"
  /** As many on their way to one worker as it sends. */
  | "in_flight_limit"
  /** As many of one client key (address) on their way to a worker as it sends. */
  | "key_in_flight_limit"
  /** Waited its time for a worker (none ready, or queued for one passed over). */
  | "waited_too_long"
  /** Written to a worker that died before taking it, or the handover itself failed. */
  | "handover_failed"
  /** Reset by its client before the primary accepted it: no address to deal it by. */
  | "reset_before_accept";

export const DEALER_CLOSE_REASONS: readonly DealerCloseReason[] = ["reading_limit", "head_not_whole", "waiting_limit", "in_flight_limit", "key_in_flight_limit", "waited_too_long", "handover_failed", "reset_before_accept"];

/** What the primary knows of its workers and the connections it holds, at one moment. */
export interface PrimaryStats {
  workers: { ready: number; starting: number; passedOver: number };
  /** Sockets the primary holds: waiting for any worker, on their way to one, having their head read. */
  held: { waiting: number; inFlight: number; readingHead: number };
  /** Connections accepted since the start. */
  accepted: number;
  closed: Record<DealerCloseReason, number>;
  /** Workers that exited while the server ran (each replaced if it lived long enough). */
  workerExits: number;
}

/**
 * The primary's metrics in Prometheus text. Written by hand, not with the workers' registry: the
 * primary only deals connections and stays small. Process figures use the names Prometheus
 * clients give them, so one dashboard reads workers and primary alike.
 */
export function primaryMetricsText(stats: PrimaryStats): string {
  const lines: string[] = [];
  const family = (name: string, type: "gauge" | "counter", help: string, samples: Array<[string, number]>) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  };
  const { workers, held } = stats;
  family("pulse_primary_workers", "gauge", "Workers by state: ready (dealt connections), starting (not ready yet), passed_over (acknowledged no connection for 10 s while one waited; its addresses go to the next worker until it is back).", [
    ['{state="ready"}', workers.ready],
    ['{state="starting"}', workers.starting],
    ['{state="passed_over"}', workers.passedOver],
  ]);
  family("pulse_primary_sockets_held", "gauge", "Sockets the primary holds: waiting for any worker to be ready, on their way to a worker, or having a trusted proxy's request head read.", [
    ['{state="waiting"}', held.waiting],
    ['{state="in_flight"}', held.inFlight],
    ['{state="reading_head"}', held.readingHead],
  ]);
  family("pulse_primary_connections_accepted_total", "counter", "Connections the primary accepted, to deal to a worker.", [["", stats.accepted]]);
  family("pulse_primary_connections_closed_total", "counter", "Connections the primary closed instead of dealing them, by why (see docs/security.md, Several workers).", DEALER_CLOSE_REASONS.map((reason) => [`{reason="${reason}"}`, stats.closed[reason]]));
  family("pulse_primary_worker_exits_total", "counter", "Workers that exited while the server ran.", [["", stats.workerExits]]);
  const cpu = process.cpuUsage();
  family("process_cpu_seconds_total", "counter", "User and system CPU time of the primary, in seconds.", [["", (cpu.user + cpu.system) / 1e6]]);
  family("process_resident_memory_bytes", "gauge", "Resident memory of the primary, in bytes.", [["", process.memoryUsage.rss()]]);
  const fds = openFds();
  if (fds !== null) family("process_open_fds", "gauge", "File descriptors the primary holds open.", [["", fds]]);
  return `${lines.join("\n")}\n`;
}

/** Descriptors open in this process, from /proc (Linux); null elsewhere. */
function openFds(): number | null {
  try {
    return readdirSync("/proc/self/fd").length - 1; // the directory being read is one
  } catch {
    return null;
  }
}

/**
 * `/metrics`, `/healthz` (the primary runs) and `/readyz` (a worker is ready to be dealt
 * connections) of the primary, on a port of its own (see primaryMetricsPort), with the bounds
 * of the workers' metrics listeners.
 */
export function listenForPrimaryOps(stats: () => PrimaryStats, port: number, host: string): Promise<{ port: number; close(): void }> {
  const routes: OpsRoutes = {
    handle(req, res) {
      const path = (req.url ?? "").split("?")[0];
      if (path === "/healthz") res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true }));
      else if (path === "/readyz") {
        const ready = stats().workers.ready > 0;
        res.writeHead(ready ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify(ready ? { ready: true } : { ready: false, reason: "no worker is ready" }));
      } else if (path === "/metrics") res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }).end(primaryMetricsText(stats()));
      else return false;
      return true;
    },
  };
  return listenForOps(routes, port, host).then(({ server, port: bound }) => ({ port: bound, close: () => server.close() }));
}
