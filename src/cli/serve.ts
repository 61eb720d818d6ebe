import cluster from "node:cluster";
import { readFileSync } from "node:fs";
import type { Socket } from "node:net";
import type { ServerOptions } from "../server/index.js";
import { resolveOptions } from "../server/options.js";
import { detectionBoundMs, responderGraceMs } from "../liveness/settings.js";
import { usage } from "./config-schema.js";
import { ConfigError, effectiveConfig, loadConfig, toServerOptions } from "./config.js";
import { readDenyFile } from "./deny-file.js";
import { createLogOutput } from "./log-output.js";
import { DEALT_CONNECTION, HANDED_BACK, WORKER_READY, type DealtConnection, type HandedBack } from "./connection-dealer.js";
import { DEALT_PORT_ENV, parseWorkers, runPrimary, WORKER_SLOT_ENV, workerMetricsPort, workerMetricsPortsProblem, WORKERS_NEED_REDIS } from "./workers.js";

export async function serve(argv: string[]): Promise<void> {
  const config = loadConfig(argv, process.env);
  if (config.help) {
    console.log(usage());
    return;
  }
  const v = config.values;
  const workers = parseWorkers(v.workers as string | undefined);
  if (workers > 1 && v.redis === undefined) throw new ConfigError(WORKERS_NEED_REDIS);
  const denyFile = v.denyFile as string | undefined;
  if (workers > 1 && cluster.isPrimary) {
    const { host, port, trustedProxies, ipv6PrefixBits, metricsPort, metricsHost } = resolveOptions(toServerOptions(v) as ServerOptions);
    const metricsProblem = workerMetricsPortsProblem(metricsPort ?? undefined, workers, port);
    if (metricsProblem !== null) throw new ConfigError(metricsProblem);
    return runPrimary(workers, { host, port, addresses: { trustedProxies, ipv6PrefixBits } }, {
      forwardHangup: denyFile !== undefined,
      ...(metricsPort !== null ? { metrics: { port: metricsPort, host: metricsHost } } : {}),
    });
  }
  // The server (its stores, Redis client, tables) is loaded here, not by the primary of
  // `--workers`, which only deals connections.
  const [{ startServer }, { redactedUrl }] = await Promise.all([import("../server/index.js"), import("../store/redis-store.js")]);
  // A worker of `--workers`: the primary holds the port and deals it connections.
  const dealtPort = cluster.isWorker ? process.env[DEALT_PORT_ENV] : undefined;
  const level = v.quiet === true ? "warn" : ((v.logLevel as string | undefined) ?? "info");
  const logger = await createLogOutput(level, (v.logFormat as "json" | "pretty" | undefined) ?? "json");
  // Start-up lines are written whatever the level: scripts wait for "listening on".
  const startup = logger.child({}, { level: "info" });
  const jwtKeyFile = v.jwtPublicKey as string | undefined;
  let publicKeyPem: string | undefined;
  if (jwtKeyFile !== undefined) {
    try {
      publicKeyPem = readFileSync(jwtKeyFile, "utf8");
    } catch (err) {
      throw new ConfigError(`jwtPublicKey: cannot read ${jwtKeyFile}: ${(err as Error).message}`);
    }
  }
  const auth = v.jwtSecret !== undefined ? { secret: v.jwtSecret as string } : publicKeyPem !== undefined ? { publicKeyPem } : "anonymous";
  startup.info({ event: "config", config: effectiveConfig(config) }, "effective configuration");
  const denied = denyFile !== undefined ? readDenyFile(denyFile) : undefined;
  const server = await startServer({
    ...(toServerOptions(v) as ServerOptions),
    auth,
    logger,
    ...(v.noRateLimits === true ? { rateLimits: false as const } : {}),
    ...(denied ? { denied } : {}),
    ...(dealtPort !== undefined ? { port: Number(dealtPort), listen: false } : {}),
    ...(dealtPort !== undefined && v.metricsPort !== undefined ? { metricsPort: workerMetricsPort(v.metricsPort as number, Number(process.env[WORKER_SLOT_ENV] ?? 0)) } : {}),
  });
  if (dealtPort !== undefined) {
    // One function for every dealt socket: the server keeps it with each trusted proxy's socket.
    const handBack = (handed: Socket, handedHead: Buffer, key: string) => {
      const back: HandedBack = { type: HANDED_BACK, key, head: handedHead.toString("latin1") };
      process.send?.(back, handed, (err: Error | null) => {
        if (err) handed.destroy();
      });
    };
    process.on("message", (message: Partial<DealtConnection> | null, socket?: Socket) => {
      if (message?.type !== DEALT_CONNECTION) return;
      // The socket is missing when it closed on its way from the primary.
      if (!socket) return;
      const head = typeof message.head === "string" ? Buffer.from(message.head, "latin1") : undefined;
      server.takeSocket(socket, head, typeof message.key === "string" ? { key: message.key, handBack } : undefined);
    });
    process.send?.({ type: WORKER_READY });
  }
  const { liveness: l, checkMs } = server.options;
  const shownHost = server.options.host === "0.0.0.0" ? "127.0.0.1" : server.options.host;
  const url = `http://${shownHost.includes(":") ? `[${shownHost}]` : shownHost}:${server.port}`;
  // Tests and scripts wait for "listening on <url>".
  startup.info({ event: "server_listening", url, metricsPort: server.metricsPort }, `listening on ${url}`);
  const storeText = server.options.redis ? `Redis ${redactedUrl(server.options.redis)} (shared with every node on it)` : String(server.options.store);
  startup.info({ event: "server_store", store: storeText }, `store: ${storeText}`);
  startup.info({ event: "server_identity", identity: auth === "anonymous" ? "anonymous" : "token" }, `identity: ${auth === "anonymous" ? "anonymous (signed resume tokens)" : "token (JWT in hello)"}`);
  startup.info({ event: "server_liveness", liveness: l, checkMs }, `liveness: clients ping every ${l.intervalMs} ms idle, the server pings a client unheard for ${l.intervalMs + responderGraceMs(l, checkMs)} ms, suspect after ${l.suspectMs} ms, dead after ${l.timeoutMs} ms (worst case ${detectionBoundMs(l, checkMs)} ms)`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    startup.info({ event: "server_draining", reason: signal }, `${signal}: telling clients to reconnect, closing`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    server.close().then(
      () => {
        startup.info({ event: "server_closed" }, "closed");
        process.exit(0);
      },
      (err: Error) => {
        logger.error({ event: "server_closed", err: err.message }, "close failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  // Only with a deny file: otherwise SIGHUP keeps its usual meaning (the terminal went away: stop).
  if (denyFile !== undefined) {
    process.on("SIGHUP", () => {
      try {
        server.deny(readDenyFile(denyFile)); // logs deny_list_loaded
      } catch (err) {
        logger.error({ event: "deny_list_refused", err: (err as Error).message }, `SIGHUP: ${denyFile} not loaded, the previous deny list stays`);
      }
    });
  }
}

