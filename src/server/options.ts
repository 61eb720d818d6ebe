import type { LivenessSettings } from "../protocol/messages.js";
import { DEFAULT_LIVENESS, defaultPingSlotMs, defaultServerCheckMs, responderGraceMs, validateLiveness } from "../liveness/settings.js";
import type { LivenessEngineOptions } from "../liveness/liveness-engine.js";
import type { PulseStore } from "../store/identity-store.js";
import { widensToPrefix, type Authenticate } from "./identity/identity.js";
import type { JwtKey } from "./identity/jwt-auth.js";
// Not from the store index: the primary of `--workers` resolves options but opens no store.
import { DEFAULT_STORE_PATH } from "../store/store-path.js";
import type { RetentionOptions } from "../store/retention.js";
import { resolveResourceOptions, type ResolvedResourceOptions, type ResourceOptions } from "./resource-options.js";
import { pino } from "pino";
import { IPV6_PREFIX_BITS } from "./client-address.js";
import { canonicalOrigin } from "./request-guard.js";
import { lineLog, structuredLog, type LogFn, type StructuredLogger } from "./logger.js";
import { LOG_BUDGET_DEFAULTS, LogBudget, type LogBudgetOptions } from "./log-budget.js";

/** Everything a Pulse server can be told. Every option has a default; units are in the names. */
export interface ServerOptions extends ResourceOptions {
  /** TCP port; 0 picks a free one. Default 8080. */
  port?: number;
  /** Interface to bind. Default "0.0.0.0". */
  host?: string;
  /** "memory", a SQLite file path, ":memory:", or a store instance. Default "./data/pulse.db". */
  store?: string | PulseStore;
  /**
   * redis://host:port: keep messages, identities and presence in this Redis and fan out
   * through it, so every node on it serves one chat. Replaces `store`. Default none.
   */
  redis?: string;
  /**
   * Who may connect. "anonymous" (default): anyone; the server issues a signed resume token
   * that proves the same user on later visits. A JwtKey: a valid JWT in `hello` is required.
   */
  auth?: "anonymous" | JwtKey;
  /** Your own authentication (cookie session, API key...); replaces `auth` when given. */
  authenticate?: Authenticate;
  /**
   * A nickname stays its owner's after the owner's last connection for as long as the owner
   * used it (online time), at most this long. Default 24 h.
   */
  nicknameHoldMs?: number;
  /** ...and at least this long (a value above nicknameHoldMs acts as nicknameHoldMs). Default 10 min. */
  nicknameHoldMinMs?: number;
  /** Chat text may be at most this share (0..1) newlines and tabs. Default 0.5. */
  maxControlShare?: number;
  /** Messages kept per room when the store is opened from a spec; older ones are trimmed. Default 100000. */
  retainPerRoom?: number;
  /**
   * Bytes kept per room when the store is opened from a spec: ROOM_OVERHEAD_BYTES (5,120) for
   * the room, and for each message its messageBytes (UTF-8 text, sender, room and ids) plus 256;
   * over it the oldest messages are trimmed (the newest is always kept). Default 64 MiB.
   */
  retainBytesPerRoom?: number;
  /**
   * Bytes kept in all rooms together when the store is opened from a spec, counted as for
   * retainBytesPerRoom; over it the largest rooms lose their oldest messages first (a fair
   * share: see RetentionOptions.retainBytesTotal). Default 1 GiB.
   */
  retainBytesTotal?: number;
  /**
   * Heartbeat settings, advertised to clients in `welcome`. Default 5000 / 8000 / 12000 ms, and
   * pingSlotMs 250 (0 when intervalMs is under 500).
   */
  liveness?: Partial<LivenessSettings>;
  /**
   * How often all connections' liveness is evaluated. Default 1000 ms (less when the liveness
   * settings are tight). intervalMs + checkMs must stay below suspectMs.
   */
  checkMs?: number;
  /** Largest inbound frame; bigger ones close the connection with 1009. Default 64 KiB. */
  maxPayloadBytes?: number;
  /** Longest chat text in Unicode code points. Default 4000. */
  maxTextLength?: number;
  /** Rooms one connection may be in at once. Default 32. */
  maxRooms?: number;
  /** Longest nickname in code points, after NFKC. Default 32. */
  maxNickLength?: number;
  /** Messages returned on join and per history page at most. Default 50. */
  historyLimit?: number;
  /** A resume that missed more than this gets `recovered: false` and the latest page. Default 10000. */
  maxReplay?: number;
  /** A connection whose unsent bytes exceed this is terminated (it may resume). Default 4 MiB. */
  maxBufferedBytes?: number;
  /** Time allowed between the upgrade and `hello`. Default 5000 ms. */
  handshakeTimeoutMs?: number;
  /** Reconnect backoff advised to clients. Default 500 / 30000 ms. */
  retry?: { baseMs: number; capMs: number };
  /** Presence changes in a room are gathered this long and sent as one frame. Default 50 ms. */
  presenceBatchMs?: number;
  /**
   * Names a `joined` lists at most, and the largest `who` page. A room with more online gets
   * count-only presence frames. Default 100.
   */
  onlineListMax?: number;
  /**
   * A room with more than onlineListMax online sends its count at most this often, and within
   * that once its changes pause for presenceBatchMs. Default 1000 ms.
   */
  largeRoomPresenceMs?: number;
  /** On shutdown, clients are told to come back after a random delay in [0, this]. Default 3000 ms. */
  restartSpreadMs?: number;
  /**
   * Origins allowed to open a WebSocket (browsers send cookies on the upgrade, so an unchecked
   * Origin invites cross-site WebSocket hijacking). Default: requests without an Origin header
   * (non-browser clients) and same-origin requests (Origin host equals Host).
   */
  allowedOrigins?: string[];
  /**
   * Origins whose pages may show the chat page in a frame (`https://example.com`), besides
   * this server itself. Default: none, so another site cannot lay the page under its own
   * (clickjacking). An entry that is not an http(s) origin is refused at start.
   */
  frameAncestors?: string[];
  /**
   * Rooms where only identities whose `write` list names them may send (exact names, or
   * `prefix*`; "*" is every room): everyone else may join and read. For announcement rooms
   * and rooms too large for everyone to speak in (each message is written to every member).
   * Anonymous users have no `write` list, so they only read there; a token's `write` claim or
   * an `authenticate` hook gives one. Default: none.
   */
  readOnlyRooms?: string[];
  /**
   * Whom the operator shuts out: client addresses or CIDR ranges (`203.0.113.0/24`; IPv6 no
   * narrower than `ipv6PrefixBits`), answered 403 to every request and upgrade, and users
   * (`user:<userId>`), closed at `hello` with 4500. `PulseServer.deny()` replaces the list at
   * run time and closes the connections it now names. A bad entry is refused at start.
   * Default: none.
   */
  denied?: string[];
  /**
   * Host names (the Host header, without port) the server answers to; a DNS name that an
   * attacker points at this machine is refused (DNS rebinding). "*" allows any. Default: the
   * bound host, this machine's host name and interface addresses, localhost.
   */
  allowedHosts?: string[];
  /**
   * Reverse proxies in front of the server, as addresses (`127.0.0.1`) or CIDR ranges
   * (`10.0.0.0/8`, `fd00::/8`), at most 1024: from them (only), the client's address is read
   * from `X-Forwarded-For`, so per-address limits apply to each client and not to the proxy.
   * Default none.
   */
  trustedProxies?: string[];
  /**
   * The per-address limits count an IPv6 client by this many leading bits of its address (one
   * host usually holds a whole /64 and can use a new address for every connection); 32..128,
   * 128 = each address on its own. IPv4 clients are counted by their whole address. Default 64.
   */
  ipv6PrefixBits?: number;
  /** `/stats` answers loopback requests; with this set, also a `Authorization: Bearer <token>`. Default none. */
  statsToken?: string;
  /** Folder with the built chat page. Default: dist/web next to the server code. */
  webRoot?: string;
  /**
   * Serve /metrics, /healthz and /readyz on this port too (0: any free port), to whoever can
   * reach it: bind it to a private interface. Default none (the main port serves them, /metrics
   * to loopback or the stats token only).
   */
  metricsPort?: number;
  /** Interface for `metricsPort`. Default "127.0.0.1". */
  metricsHost?: string;
  /**
   * false: bind no port; connections come through `PulseServer.takeSocket` (the workers of
   * `pulse serve --workers`, to which the primary deals them) and `port` is only reported.
   * Default true.
   */
  listen?: boolean;
  /** Structured logs go here (a pino logger, see logger.ts); wins over `log`. */
  logger?: StructuredLogger;
  /**
   * Log lines as plain strings go here: the message, then the fields as key=value; pass
   * () => {} to silence. Default (neither this nor `logger`): pino JSON lines on stdout, level info.
   */
  log?: (line: string) => void;
  /**
   * How many lines of each warning or error event the log takes (see LogBudget): `burst` at
   * once, then `perSecond`; the rest are counted in a `log_suppressed` line every `reportMs`.
   * Default 20, then 1 per second, reported every 10 s.
   */
  logBudget?: LogBudgetOptions;
}

export type ResolvedOptions = Required<Omit<ServerOptions, "liveness" | "allowedOrigins" | "webRoot" | "retainPerRoom" | "retainBytesPerRoom" | "retainBytesTotal" | "redis" | "authenticate" | "statsToken" | "allowedHosts" | "log" | "logger" | "logBudget" | "metricsPort" | keyof ResourceOptions>> & ResolvedResourceOptions & {
  /** Every server log call goes through this (see logger.ts), within the log budget. */
  log: LogFn;
  /** Writes the count of lines the log budget left out since its last report (a closing server's last word). */
  reportLeftOutLogs: () => void;
  logBudget: Required<LogBudgetOptions>;
  metricsPort: number | null;
  /** null: the defaults, which depend on the bound address (see request-guard.ts). */
  allowedHosts: string[] | null;
  retainPerRoom: number | undefined;
  retainBytesPerRoom: number | undefined;
  retainBytesTotal: number | undefined;
  redis: string | null;
  authenticate: Authenticate | null;
  statsToken: string | null;
  liveness: LivenessSettings;
  allowedOrigins: string[] | null;
  webRoot: string | null;
  /**
   * Derived, not an option: the server answers pings and pings only a client it has not heard
   * from. One object for every connection's liveness engine (see LivenessEngine).
   */
  engineOptions: LivenessEngineOptions;
};

export function resolveOptions(o: ServerOptions): ResolvedOptions {
  const times = { ...DEFAULT_LIVENESS, ...o.liveness };
  const liveness = validateLiveness({ ...times, pingSlotMs: o.liveness?.pingSlotMs ?? defaultPingSlotMs(times) });
  const checkMs = o.checkMs ?? defaultServerCheckMs(liveness);
  const budget = {
    burst: o.logBudget?.burst ?? LOG_BUDGET_DEFAULTS.burst,
    perSecond: o.logBudget?.perSecond ?? LOG_BUDGET_DEFAULTS.perSecond,
    reportMs: o.logBudget?.reportMs ?? LOG_BUDGET_DEFAULTS.reportMs,
  };
  const logBudget = new LogBudget(o.logger ? structuredLog(o.logger) : o.log ? lineLog(o.log) : structuredLog(pino()), budget);
  return {
    ...resolveResourceOptions(o),
    port: o.port ?? 8080,
    host: o.host ?? "0.0.0.0",
    store: o.store ?? DEFAULT_STORE_PATH,
    auth: o.auth ?? "anonymous",
    authenticate: o.authenticate ?? null,
    nicknameHoldMs: o.nicknameHoldMs ?? 24 * 60 * 60 * 1000,
    nicknameHoldMinMs: o.nicknameHoldMinMs ?? 10 * 60 * 1000,
    maxControlShare: o.maxControlShare ?? 0.5,
    allowedHosts: o.allowedHosts ?? null,
    trustedProxies: o.trustedProxies ?? [],
    listen: o.listen ?? true,
    ipv6PrefixBits: o.ipv6PrefixBits ?? IPV6_PREFIX_BITS.default,
    statsToken: o.statsToken ?? null,
    retainPerRoom: o.retainPerRoom,
    retainBytesPerRoom: o.retainBytesPerRoom,
    retainBytesTotal: o.retainBytesTotal,
    redis: o.redis ?? null,
    liveness,
    checkMs,
    engineOptions: { role: { kind: "responder", graceMs: responderGraceMs(liveness, checkMs) } },
    maxPayloadBytes: o.maxPayloadBytes ?? 64 * 1024,
    maxTextLength: o.maxTextLength ?? 4_000,
    maxRooms: o.maxRooms ?? 32,
    maxNickLength: o.maxNickLength ?? 32,
    historyLimit: o.historyLimit ?? 50,
    maxReplay: o.maxReplay ?? 10_000,
    maxBufferedBytes: o.maxBufferedBytes ?? 4 * 1024 * 1024,
    handshakeTimeoutMs: o.handshakeTimeoutMs ?? 5_000,
    retry: o.retry ?? { baseMs: 500, capMs: 30_000 },
    restartSpreadMs: o.restartSpreadMs ?? 3_000,
    presenceBatchMs: o.presenceBatchMs ?? 50,
    onlineListMax: o.onlineListMax ?? 100,
    largeRoomPresenceMs: o.largeRoomPresenceMs ?? 1_000,
    allowedOrigins: o.allowedOrigins ?? null,
    frameAncestors: (o.frameAncestors ?? []).map(frameAncestorOrigin),
    readOnlyRooms: (o.readOnlyRooms ?? []).map(roomPattern),
    denied: o.denied ?? [],
    webRoot: o.webRoot ?? null,
    metricsPort: o.metricsPort ?? null,
    metricsHost: o.metricsHost ?? "127.0.0.1",
    log: logBudget.log,
    reportLeftOutLogs: () => logBudget.report(),
    logBudget: budget,
  };
}

/** An http(s) origin as CSP's `frame-ancestors` takes it (scheme, host, port); anything else is refused. */
function frameAncestorOrigin(entry: string): string {
  const origin = canonicalOrigin(entry);
  // The origin goes into a header's directive list: nothing but scheme, host and port (no
  // path, query or user), and no character that could end the directive.
  if (origin === null || new URL(entry).href !== `${origin}/` || !/^https?:\/\/[a-z0-9.:[\]-]+$/.test(origin)) {
    throw new RangeError(`frameAncestors: "${entry}" is not an http(s) origin such as https://example.com`);
  }
  return origin;
}

/**
 * A room pattern as rooms are named (NFKC, as the server keeps room names): a name of 1-64
 * characters, or a prefix of at most 64 followed by `*`. A name that NFKC would end in `*`
 * (`team＊`) is refused: only an ASCII `*` makes a prefix (as in a token's patterns, see
 * asRoomsAreNamed), and a deployer who meant the exact room should hear so at start.
 */
function roomPattern(entry: string): string {
  if (typeof entry === "string" && widensToPrefix(entry)) {
    throw new RangeError(`readOnlyRooms: "${entry}" ends in a character NFKC reads as *; write an ASCII * for a prefix`);
  }
  const pattern = typeof entry === "string" ? entry.normalize("NFKC") : "";
  const name = pattern.endsWith("*") ? pattern.slice(0, -1) : pattern;
  if ((name.length === 0 && pattern !== "*") || name.length > 64 || /[\p{Cc}\p{Cs}]/u.test(name)) {
    throw new RangeError(`readOnlyRooms: "${String(entry)}" is not a room name of 1-64 characters or a prefix followed by *`);
  }
  return pattern;
}

/** The retention options given, for a store the server opens itself (absent ones: the store's defaults). */
export function retentionOf(o: ResolvedOptions): RetentionOptions {
  return {
    ...(o.retainPerRoom !== undefined ? { retainPerRoom: o.retainPerRoom } : {}),
    ...(o.retainBytesPerRoom !== undefined ? { retainBytesPerRoom: o.retainBytesPerRoom } : {}),
    ...(o.retainBytesTotal !== undefined ? { retainBytesTotal: o.retainBytesTotal } : {}),
  };
}
