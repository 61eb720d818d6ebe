import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Metrics } from "./metrics.js";
import { statsAllowed } from "./request-guard.js";
import { HTTP_IDLE_TIMEOUT_MS } from "./http-sockets.js";

/** Why the server is not ready, or null when it is. */
export type Readiness = () => Promise<string | null>;

/** A readiness check that hangs is a failed one: answer within this. */
const READY_CHECK_TIMEOUT_MS = 2_000;

export interface OpsRoutes {
  /** Answers /metrics, /healthz and /readyz; false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse, access: "guarded" | "open"): boolean;
}

/**
 * The operator's endpoints:
 * - `/healthz`: the process is alive and its HTTP loop answers (200 while it runs, draining too:
 *   restarting a draining server would cut the drain short).
 * - `/readyz`: send traffic here? 503 while draining, or when the store does not answer a read
 *   within READY_CHECK_TIMEOUT_MS; the body says why.
 * - `/metrics`: Prometheus text. On the main port only to loopback requests not relayed by a
 *   proxy, or with the stats token (same rule as /stats); on the metrics port to whoever reaches it.
 */
export function opsRoutes(metrics: Metrics, readiness: Readiness, statsToken: string | null): OpsRoutes {
  return {
    handle(req, res, access) {
      const path = (req.url ?? "").split("?")[0];
      if (path === "/healthz") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true }));
        return true;
      }
      if (path === "/readyz") {
        void withTimeout(readiness(), READY_CHECK_TIMEOUT_MS).then((notReady) => {
          res.writeHead(notReady === null ? 200 : 503, { "content-type": "application/json" });
          res.end(JSON.stringify(notReady === null ? { ready: true } : { ready: false, reason: notReady }));
        });
        return true;
      }
      if (path === "/metrics") {
        if (access === "guarded" && !statsAllowed(req, statsToken)) {
          res.writeHead(403, { "content-type": "text/plain" }).end("metrics are served to loopback, with the stats token, or on --metrics-port\n");
          return true;
        }
        metrics.text().then(
          (text) => res.writeHead(200, { "content-type": metrics.contentType }).end(text),
          (err: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${err.message}\n`),
        );
        return true;
      }
      return false;
    },
  };
}

async function withTimeout(check: Promise<string | null>, ms: number): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`no answer within ${ms} ms`), ms)));
  try {
    return await Promise.race([check.catch((err: Error) => err.message), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Sockets the operator's port keeps open at once: scrapers and probes need a few; more are
 * refused at accept, so this port cannot take the descriptors the main port counts on.
 */
const OPS_MAX_SOCKETS = 64;

/** A second HTTP listener for /metrics, /healthz and /readyz only (`metricsPort`). */
export async function listenForOps(routes: OpsRoutes, port: number, host: string): Promise<{ server: Server; port: number }> {
  // Its own bounds, as the main port's: stalled sockets found every second, not every 30 s, an
  // idle timeout, and at most OPS_MAX_SOCKETS open. Without them, silent sockets to this port
  // took every file descriptor the process had, and the main port reset everyone (an audit,
  // with the descriptors limited to 1,024).
  const server = createServer({ connectionsCheckingInterval: 1_000 }, (req, res) => {
    if (!routes.handle(req, res, "open")) res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.timeout = HTTP_IDLE_TIMEOUT_MS;
  server.maxConnections = OPS_MAX_SOCKETS;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    // exclusive: in a worker of `pulse serve --workers`, a port of its own, not one node:cluster
    // shares among the workers (port 0 gave every worker the same port, and scrapes alternated).
    server.listen({ port, host, exclusive: true }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  return { server, port: typeof address === "object" && address ? address.port : port };
}
