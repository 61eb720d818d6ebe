/**
 * Every setting of `pulse serve`, once: its flag, environment variable, key in the --config
 * file, type, default and meaning. The parser (config.ts), `pulse serve --help` and the
 * README's configuration table are all made from this list, so they cannot drift apart.
 *
 * Adding a setting is ONE entry below. `to` says where the value goes in `startServer()`'s
 * options (a dotted path; default: the same key). Entries with `to: null` are used by the CLI
 * itself (logging, the config file, token mode). `default` is the value the server uses when
 * the setting is absent (a test checks it against `resolveOptions`); `defaultText` is how
 * help and README show it when the value alone would not say enough.
 */

export type ConfigType =
  | { kind: "integer"; min: number; max: number }
  | { kind: "number"; min: number; max: number }
  | { kind: "string"; maxLength: number }
  | { kind: "list"; maxItems: number; maxLength: number }
  | { kind: "boolean" }
  | { kind: "choice"; choices: readonly string[] };

export interface ConfigEntry {
  /** Key in the config file and in the effective configuration. */
  key: string;
  /** Command-line flag, without the dashes. Lists repeat the flag. */
  flag: string;
  /** Environment variable; lists are comma-separated there. */
  env: string | null;
  type: ConfigType;
  default?: unknown;
  defaultText?: string;
  /** Printed as *** in the effective configuration. */
  secret?: boolean;
  /** Where the value goes in startServer's options; null: the CLI uses it. Default: `key`. */
  to?: string | null;
  /** The meaning, one line: help and README print it. */
  help: string;
}

const MS_DAY = 24 * 60 * 60 * 1000;
const int = (min: number, max: number): ConfigType => ({ kind: "integer", min, max });
const ms = int(1, 7 * MS_DAY);
const str = (maxLength = 1024): ConfigType => ({ kind: "string", maxLength });
const list: ConfigType = { kind: "list", maxItems: 64, maxLength: 255 };

export const CONFIG_SCHEMA: readonly ConfigEntry[] = [
  { key: "config", flag: "config", env: "PULSE_CONFIG", type: str(), to: null, defaultText: "none", help: "read settings from this JSON file: one object whose keys are the `config key` names (`port`, `intervalMs`, ...); flags and environment win over it" },
  { key: "port", flag: "port", env: "PULSE_PORT", type: int(0, 65535), default: 8080, help: "TCP port (0: any free port)" },
  { key: "host", flag: "host", env: "PULSE_HOST", type: str(255), default: "0.0.0.0", help: "interface to bind" },
  { key: "store", flag: "store", env: "PULSE_STORE", type: str(), default: "./data/pulse.db", help: "SQLite file, `:memory:`, or `memory`" },
  { key: "redis", flag: "redis", env: "PULSE_REDIS_URL", type: str(), secret: true, defaultText: "none", help: "`redis://host:port`: keep messages, presence and nickname holds in this Redis and fan out through it, shared with every node on it (replaces `--store`)" },
  { key: "workers", flag: "workers", env: "PULSE_WORKERS", type: str(16), to: null, defaultText: "1", help: "worker processes behind the port, `auto` = one per core; above 1 needs `--redis`. The primary deals each connection by its client's address, so every per-address limit is counted by one worker; the server-wide ones (`max-connections`, `max-http-sockets`, the queued-bytes budget) are each worker's own" },
  { key: "intervalMs", flag: "interval-ms", env: "PULSE_INTERVAL_MS", type: ms, default: 5000, to: "liveness.intervalMs", help: "clients ping after this long without sending anything; the server pings a client it has not heard from for this plus a grace (1 s at the defaults)" },
  { key: "suspectMs", flag: "suspect-ms", env: "PULSE_SUSPECT_MS", type: ms, default: 8000, to: "liveness.suspectMs", help: "silence that makes the peer `suspect` (\"server not responding\")" },
  { key: "timeoutMs", flag: "timeout-ms", env: "PULSE_TIMEOUT_MS", type: ms, default: 12000, to: "liveness.timeoutMs", help: "silence that makes the peer `dead`: terminate / reconnect" },
  { key: "pingSlotMs", flag: "ping-slot-ms", env: "PULSE_PING_SLOT_MS", type: int(0, 7 * MS_DAY), default: 250, defaultText: "250 (0 when interval-ms is under 500)", to: "liveness.pingSlotMs", help: "idle clients ping on multiples of this in the server's clock, up to this much early, so the server reads their pings in bursts; 0: no slots; at most interval-ms / 2" },
  { key: "checkMs", flag: "check-ms", env: "PULSE_CHECK_MS", type: ms, default: 1000, help: "how often the server checks all its connections; `interval-ms + check-ms` must stay below `suspect-ms`" },
  { key: "retainPerRoom", flag: "retain-per-room", env: "PULSE_RETAIN_PER_ROOM", type: int(1, 1e9), default: 100000, help: "messages kept per room; older ones are trimmed" },
  { key: "retainBytesPerRoom", flag: "retain-bytes-per-room", env: "PULSE_RETAIN_BYTES_PER_ROOM", type: int(1, 2 ** 50), default: 64 * 1024 * 1024, defaultText: "67108864 (64 MiB)", help: "bytes kept per room (5,120 for the room, and per message its UTF-8 text, sender, room and ids plus 256); the oldest messages are trimmed, the newest is always kept" },
  { key: "retainBytesTotal", flag: "retain-bytes-total", env: "PULSE_RETAIN_BYTES_TOTAL", type: int(1, 2 ** 50), default: 1024 * 1024 * 1024, defaultText: "1073741824 (1 GiB)", help: "bytes kept in all rooms together, counted as for `retain-bytes-per-room`; over it the largest room loses its oldest messages until it holds less than the next largest, then that one (a room down to one message goes whole), at most 1,000 messages per write (at least `retain-bytes-per-room`)" },
  { key: "allowedOrigins", flag: "allowed-origin", env: "PULSE_ALLOWED_ORIGINS", type: list, defaultText: "same origin", help: "an Origin allowed to open a WebSocket (repeatable), compared by scheme, host and port" },
  { key: "readOnlyRooms", flag: "read-only-room", env: "PULSE_READ_ONLY_ROOMS", type: list, defaultText: "none", help: "a room (or `prefix*`, or `*` for all) where only identities whose token's `write` claim names it may send (repeatable); everyone else joins and reads" },
  { key: "frameAncestors", flag: "frame-ancestor", env: "PULSE_FRAME_ANCESTORS", type: list, defaultText: "none", help: "an origin (`https://example.com`) whose pages may show the chat page in a frame, besides this server (repeatable); others cannot (clickjacking)" },
  { key: "allowedHosts", flag: "allowed-host", env: "PULSE_ALLOWED_HOSTS", type: list, defaultText: "this machine's names and addresses, `localhost`", help: "a host name the server answers to (repeatable; `*`: any). Behind a proxy or a DNS name: set it to the public name" },
  { key: "trustedProxies", flag: "trusted-proxy", env: "PULSE_TRUSTED_PROXIES", type: { kind: "list", maxItems: 1024, maxLength: 255 }, defaultText: "none", help: "the address or CIDR range (`10.0.0.0/8`, `fd00::/8`; none wider than /8 or IPv6 /7) of reverse proxies in front of the server (repeatable, at most 1024): from them, and only from them, the client's address is read from `X-Forwarded-For` for the per-address limits and the logs" },
  { key: "maxConnections", flag: "max-connections", env: "PULSE_MAX_CONNECTIONS", type: int(1, 1e7), default: 10000, help: "WebSocket connections in all; above it an upgrade gets 503 with Retry-After" },
  { key: "maxConnectionsPerIp", flag: "max-connections-per-ip", env: "PULSE_MAX_CONNECTIONS_PER_IP", type: int(1, 1e7), default: 100, help: "connections per client address; above it an upgrade gets 429 with Retry-After (behind a proxy: see `--trusted-proxy`)" },
  { key: "maxConnectionsPerIpv6Site", flag: "max-connections-per-ipv6-site", env: "PULSE_MAX_CONNECTIONS_PER_IPV6_SITE", type: int(1, 1e7), default: 1000, defaultText: "10 x `max-connections-per-ip` (1000)", help: "connections from one IPv6 /48 (a site; each of its /64s is also an address with its own cap); above it an upgrade gets 429 with Retry-After. Applies when `ipv6-prefix-bits` is above 48" },
  { key: "maxHttpSockets", flag: "max-http-sockets", env: "PULSE_MAX_HTTP_SOCKETS", type: int(1, 1e7), default: 1000, help: "TCP connections still speaking HTTP (page loads, handshakes not yet upgraded) beyond `max-connections` (they may also use the places WebSockets leave free); when all are taken a newcomer takes the place of the oldest socket of the address (IPv6: /48) holding the most, or is answered 503 if its own holds the most" },
  { key: "maxHttpSocketsPerIp", flag: "max-http-sockets-per-ip", env: "PULSE_MAX_HTTP_SOCKETS_PER_IP", type: int(1, 1e7), default: 100, defaultText: "`max-connections-per-ip` (100)", help: "TCP connections still speaking HTTP from one peer address (trusted proxies not counted; the /64s of one IPv6 /48 together 10 times this); more get 429 and are closed" },
  { key: "ipv6PrefixBits", flag: "ipv6-prefix-bits", env: "PULSE_IPV6_PREFIX_BITS", type: int(32, 128), default: 64, help: "the per-address limits count an IPv6 client by this many leading bits of its address (one host usually holds a /64); `128`: each address on its own. IPv4 clients are counted by their whole address" },
  { key: "denyFile", flag: "deny-file", env: "PULSE_DENY_FILE", type: str(), to: null, defaultText: "none", help: "a file of client addresses or CIDR ranges and `user:<userId>` lines (`#` comments) to shut out: their requests and upgrades get 403, their connections close with 4500; read at start and again on SIGHUP" },
  { key: "jwtSecret", flag: "jwt-secret", env: "PULSE_JWT_SECRET", type: str(), secret: true, to: null, defaultText: "(anonymous mode)", help: "token mode with HS256: a JWT in `hello` is required (at least 32 bytes)" },
  { key: "jwtPublicKey", flag: "jwt-public-key", env: "PULSE_JWT_PUBLIC_KEY", type: str(), to: null, defaultText: "(anonymous mode)", help: "token mode with EdDSA / ES256 / RS256: a PEM public key file" },
  { key: "nicknameHoldMs", flag: "nickname-hold-ms", env: "PULSE_NICKNAME_HOLD_MS", type: int(0, 365 * MS_DAY), default: MS_DAY, defaultText: "86400000 (24 h)", help: "a nickname stays its owner's after its last connection, across restarts, for as long as it was used online, at most this long" },
  { key: "nicknameHoldMinMs", flag: "nickname-hold-min-ms", env: "PULSE_NICKNAME_HOLD_MIN_MS", type: int(0, 365 * MS_DAY), default: 10 * 60_000, defaultText: "600000 (10 min)", help: "...and at least this long, so a reconnect or a restart never frees it (above nickname-hold-ms it acts as that)" },
  { key: "statsToken", flag: "stats-token", env: "PULSE_STATS_TOKEN", type: str(), secret: true, defaultText: "none", help: "`/stats` and `/metrics` also answer `Authorization: Bearer <token>` (else loopback only)" },
  { key: "metricsPort", flag: "metrics-port", env: "PULSE_METRICS_PORT", type: int(0, 65535), defaultText: "none", help: "also serve `/metrics`, `/healthz`, `/readyz` on this port, to anyone who reaches it; with `--workers N`, worker i (0..N-1) serves its own on this port + i, and the primary its own on this port + N" },
  { key: "metricsHost", flag: "metrics-host", env: "PULSE_METRICS_HOST", type: str(255), default: "127.0.0.1", help: "interface for `--metrics-port`" },
  { key: "logLevel", flag: "log-level", env: "PULSE_LOG_LEVEL", type: { kind: "choice", choices: ["debug", "info", "warn", "error"] }, default: "info", to: null, help: "least severe log event written (startup lines are always written)" },
  { key: "logFormat", flag: "log-format", env: "PULSE_LOG_FORMAT", type: { kind: "choice", choices: ["json", "pretty"] }, default: "json", to: null, help: "`json`: one JSON object per line; `pretty`: for people (needs the `pino-pretty` package)" },
  { key: "noRateLimits", flag: "no-rate-limits", env: "PULSE_NO_RATE_LIMITS", type: { kind: "boolean" }, default: false, to: null, help: "turn the per-connection and per-IP rate limits off (for benchmarks; see docs/security.md)" },
  { key: "quiet", flag: "quiet", env: "PULSE_QUIET", type: { kind: "boolean" }, default: false, to: null, help: "same as `--log-level warn`" },
  { key: "logBurst", flag: "log-burst", env: "PULSE_LOG_BURST", type: int(1, 1_000_000), default: 20, to: "logBudget.burst", help: "lines of each warning or error event written at once; past them the log budget writes `log-per-second` and counts the rest in a `log_suppressed` line every 10 s (an outage or a client cannot fill the disk with repeats)" },
  { key: "logPerSecond", flag: "log-per-second", env: "PULSE_LOG_PER_SECOND", type: int(1, 1_000_000), default: 1, to: "logBudget.perSecond", help: "lines of each warning or error event written per second once its `log-burst` is spent" },
];

export const entryByKey = new Map(CONFIG_SCHEMA.map((e) => [e.key, e]));

/** How a default shows in help and README. */
export const shownDefault = (e: ConfigEntry): string => e.defaultText ?? (e.default === undefined ? "none" : String(e.default));

/** `pulse serve --help`, made from the schema. */
export function usage(): string {
  const rows = CONFIG_SCHEMA.map((e) => {
    const arg = e.type.kind === "boolean" ? "" : e.type.kind === "integer" || e.type.kind === "number" ? " N" : e.type.kind === "choice" ? ` ${e.type.choices.join("|")}` : " VALUE";
    const env = e.env ? `env ${e.env}, ` : "";
    return `  --${e.flag}${arg}\n      ${e.help.replaceAll("`", "")} (${env}default ${shownDefault(e).replaceAll("`", "")})`;
  });
  return `pulse serve [options]\nPrecedence: flags, then environment, then the --config file, then defaults.\n${rows.join("\n")}\n  --help, -h\n      this text`;
}

/** The README's configuration table, made from the schema (a test compares them). */
export function markdownTable(): string {
  const head = "| flag | environment | config key | default | meaning |\n|---|---|---|---|---|";
  const code = (s: string) => (/^[`(]/.test(s) || /^[\d.]+( \(.*\))?$/.test(s) || s === "none" || s.includes(" ") ? s : `\`${s}\``);
  const rows = CONFIG_SCHEMA.map((e) => `| \`--${e.flag}\` | ${e.env ? `\`${e.env}\`` : ""} | \`${e.key}\` | ${code(shownDefault(e))} | ${e.help} |`);
  return [head, ...rows].join("\n");
}
