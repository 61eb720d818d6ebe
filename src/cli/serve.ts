import cluster from "node:cluster";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { startServer } from "../server/index.js";
import { detectionBoundMs, responderGraceMs } from "../liveness/settings.js";
import { parseWorkers, runPrimary, WORKERS_NEED_REDIS } from "./workers.js";
import { redactedUrl } from "../store/redis-store.js";

const USAGE = `pulse serve [options]
  --port N            TCP port (env PULSE_PORT, default 8080; 0 = any free port)
  --host ADDR         interface to bind (env PULSE_HOST, default 0.0.0.0)
  --store SPEC        SQLite file, ":memory:" or "memory" (env PULSE_STORE, default ./data/pulse.db)
  --redis URL         redis://host:port: share messages, presence and fan-out with every node on this
                      Redis (env PULSE_REDIS_URL; replaces --store; default none)
  --workers N         worker processes sharing the port, "auto" = one per core (env PULSE_WORKERS,
                      default 1; above 1 needs --redis)
  --interval-ms N     clients ping after this long idle (env PULSE_INTERVAL_MS, default 5000)
  --suspect-ms N      silence that makes a peer suspect (env PULSE_SUSPECT_MS, default 8000)
  --timeout-ms N      silence that makes a peer dead (env PULSE_TIMEOUT_MS, default 12000)
  --retain-per-room N messages kept per room (env PULSE_RETAIN_PER_ROOM, default 100000)
  --check-ms N        how often the server checks every connection (env PULSE_CHECK_MS, default 1000;
                      interval-ms + check-ms must stay below suspect-ms)
  --allowed-origin O  an Origin allowed to connect (repeatable; default: same origin and non-browser clients)
  --allowed-host H    a host name the server answers to (repeatable; "*" any; default: this machine's
                      names and addresses, localhost). Behind a proxy: the public name.
  --jwt-secret S      token mode, HS256 (env PULSE_JWT_SECRET; at least 32 bytes)
  --jwt-public-key F  token mode, EdDSA / ES256 / RS256: PEM public key file (env PULSE_JWT_PUBLIC_KEY)
  --nickname-hold-ms N  a nickname stays its owner's this long after it left (env PULSE_NICKNAME_HOLD_MS,
                      default 86400000 = 24 h)
  --stats-token T     /stats also answers "Authorization: Bearer T" (env PULSE_STATS_TOKEN; default loopback only)
  --no-rate-limits    turn the per-connection and per-IP rate limits off (env PULSE_RATE_LIMITS=off; for benchmarks)
  --quiet             no per-connection log lines`;

export async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: "string" },
      host: { type: "string" },
      store: { type: "string" },
      redis: { type: "string" },
      workers: { type: "string" },
      "interval-ms": { type: "string" },
      "suspect-ms": { type: "string" },
      "timeout-ms": { type: "string" },
      "check-ms": { type: "string" },
      "retain-per-room": { type: "string" },
      "allowed-origin": { type: "string", multiple: true },
      "allowed-host": { type: "string", multiple: true },
      "jwt-secret": { type: "string" },
      "jwt-public-key": { type: "string" },
      "nickname-hold-ms": { type: "string" },
      "stats-token": { type: "string" },
      quiet: { type: "boolean" },
      "no-rate-limits": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const env = process.env;
  const int = (flag: string | undefined, envName: string): number | undefined => {
    const raw = flag ?? env[envName];
    if (raw === undefined || raw === "") return undefined;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${envName.toLowerCase()}: '${raw}' is not a whole number`);
    return n;
  };
  const liveness = Object.fromEntries(
    Object.entries({
      intervalMs: int(values["interval-ms"], "PULSE_INTERVAL_MS"),
      suspectMs: int(values["suspect-ms"], "PULSE_SUSPECT_MS"),
      timeoutMs: int(values["timeout-ms"], "PULSE_TIMEOUT_MS"),
    }).filter(([, v]) => v !== undefined),
  );
  const redis = values.redis ?? (env.PULSE_REDIS_URL || undefined);
  const workers = parseWorkers(values.workers ?? env.PULSE_WORKERS);
  if (workers > 1 && !redis) throw new Error(WORKERS_NEED_REDIS);
  if (workers > 1 && cluster.isPrimary) return runPrimary(workers);
  const jwtSecret = values["jwt-secret"] ?? env.PULSE_JWT_SECRET;
  const jwtKeyFile = values["jwt-public-key"] ?? env.PULSE_JWT_PUBLIC_KEY;
  if (jwtSecret && jwtKeyFile) throw new Error("give either --jwt-secret or --jwt-public-key, not both");
  const auth = jwtSecret ? { secret: jwtSecret } : jwtKeyFile ? { publicKeyPem: readFileSync(jwtKeyFile, "utf8") } : "anonymous";
  const server = await startServer({
    port: int(values.port, "PULSE_PORT") ?? 8080,
    host: values.host ?? env.PULSE_HOST ?? "0.0.0.0",
    store: values.store ?? env.PULSE_STORE,
    redis,
    liveness,
    checkMs: int(values["check-ms"], "PULSE_CHECK_MS"),
    retainPerRoom: int(values["retain-per-room"], "PULSE_RETAIN_PER_ROOM"),
    allowedOrigins: values["allowed-origin"],
    allowedHosts: values["allowed-host"],
    auth,
    nicknameHoldMs: int(values["nickname-hold-ms"], "PULSE_NICKNAME_HOLD_MS"),
    statsToken: values["stats-token"] ?? env.PULSE_STATS_TOKEN,
    ...(values["no-rate-limits"] || env.PULSE_RATE_LIMITS === "off" ? { rateLimits: false as const } : {}),
    log: values.quiet ? () => {} : undefined,
  });
  const { liveness: l, checkMs } = server.options;
  const shownHost = server.options.host === "0.0.0.0" ? "127.0.0.1" : server.options.host;
  // Tests and scripts wait for this exact line.
  console.log(`listening on http://${shownHost.includes(":") ? `[${shownHost}]` : shownHost}:${server.port}`);
  console.log(`store: ${server.options.redis ? `Redis ${redactedUrl(server.options.redis)} (shared with every node on it)` : String(server.options.store)}`);
  console.log(`identity: ${auth === "anonymous" ? "anonymous (signed resume tokens)" : "token (JWT in hello)"}`);
  console.log(`liveness: clients ping every ${l.intervalMs} ms idle, the server pings a client unheard for ${l.intervalMs + responderGraceMs(l, checkMs)} ms, suspect after ${l.suspectMs} ms, dead after ${l.timeoutMs} ms (worst case ${detectionBoundMs(l, checkMs)} ms)`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: telling clients to reconnect, closing`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    server.close().then(() => process.exit(0), (err) => {
      console.error(err);
      process.exit(1);
    });
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

