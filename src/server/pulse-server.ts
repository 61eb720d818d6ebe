import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { WebSocketServer, type WebSocket } from "ws";
import { SUBPROTOCOL } from "../protocol/messages.js";
import { CloseCode } from "../protocol/close-codes.js";
import { clockFromNow, systemClock, type Clock } from "../liveness/clock.js";
import { openStore } from "../store/index.js";
import type { PulseStore } from "../store/identity-store.js";
import { LocalBroker, type Broker } from "./broker.js";
import { ChatHub } from "./chat-hub.js";
import { LivenessSweep } from "./liveness-sweep.js";
import type { LivenessEngine } from "../liveness/liveness-engine.js";
import { Connection, connectionContext, type EndReason } from "./connection.js";
import { DENIED_TEXT, DenyList } from "./deny-list.js";
import { RateLimiter } from "./rate-limits.js";
import { ConnectionCaps, FULL_RETRY_AFTER_S, refuseAndClose } from "./connection-caps.js";
import { AddressAndSiteRate } from "./address-rate.js";
import { QueuedBytesBudget } from "./queued-bytes-budget.js";
import { resolveOptions, retentionOf, type ResolvedOptions, type ServerOptions } from "./options.js";
import { defaultWebRoot, staticFiles } from "./static-files.js";
import { clientAddressReader, peerKeyReader, type ClientAddress, type PeerKey } from "./client-address.js";
import { HTTP_IDLE_TIMEOUT_MS, HttpSockets } from "./http-sockets.js";
import { CoolingAddresses } from "./cooling-addresses.js";
import { dropClearedTimeout } from "./socket-timeout.js";
import { bufferedChunkLimit } from "../protocol/frame-pieces.js";
import { defaultAllowedHosts, hostAllowed, originAllowed, statsAllowed } from "./request-guard.js";
import { anonymousAuth } from "./identity/anonymous-auth.js";
import { jwtAuth } from "./identity/jwt-auth.js";
import { openRedisEngine } from "./redis-engine.js";
import type { AuthMode } from "./identity/identity.js";
import { Metrics } from "./metrics.js";
import { ConnectionFigures } from "./metrics-sources.js";
import { timedStore } from "./timed-store.js";
import { listenForOps, opsRoutes } from "./ops-routes.js";
import { DealtSockets, type HandBack } from "./dealt-sockets.js";

export interface ServerStats {
  connections: number;
  rooms: number;
  nicknames: number;
  /** Client addresses whose new-connection rate is tracked (bounded by rateLimits.upgrades.maxTrackedIps). */
  trackedIps: number;
  /** TCP connections still speaking HTTP (page loads, handshakes before their upgrade request), as HttpSockets counts them. */
  httpSockets: number;
  /** Event-loop delay p99 since the previous stats read. */
  eventLoopDelayP99Ms: number;
  heapUsedBytes: number;
  rssBytes: number;
}

export interface PulseServer {
  readonly port: number;
  readonly url: string;
  readonly options: ResolvedOptions;
  /** The port of the /metrics, /healthz, /readyz listener when `metricsPort` was given, else null. */
  readonly metricsPort: number | null;
  stats(): ServerStats;
  /**
   * Replaces the deny list (see ServerOptions.denied) and closes, with 4500, every connection
   * from an address or of a user it names. A bad entry throws a RangeError and changes nothing.
   */
  deny(entries: readonly string[]): { entries: number; closed: number };
  /**
   * Serves a TCP connection accepted elsewhere (`listen: false`), as if accepted here: `head`
   * holds what was already read from it. Over the server's socket limit it is closed at once.
   * `dealt`: the client key it was dealt by, and how to give back an upgrade of another client
   * (see DealtSockets).
   */
  takeSocket(socket: Socket, head?: Buffer, dealt?: { key: string; handBack: HandBack }): void;
  /** Stop accepting, tell clients to come back after a randomized delay, close everything. */
  close(): Promise<void>;
}

export async function startServer(
  input: ServerOptions = {},
  deps: { clock?: Clock; broker?: Broker } = {},
): Promise<PulseServer> {
  const options = resolveOptions(input);
  const clock = deps.clock ?? clockFromNow(systemClock);
  const auth = options.auth === "anonymous" ? null : jwtAuth(options.auth); // a bad key fails here, before anything opens
  const addressOf = clientAddressReader(options); // and so does a bad trusted proxy
  const denyList = new DenyList(options.ipv6PrefixBits);
  denyList.replace(options.denied); // and a bad deny entry
  const connections = new Set<Connection>();
  const figures = new ConnectionFigures((): number => hub.roomCount, connections);
  const metrics = new Metrics(figures.sources());
  const shared = options.redis ? await openRedisEngine(options.redis, options, metrics) : null;
  const rawStore: PulseStore = shared ? shared.store : typeof options.store === "string" ? await openStore(options.store, retentionOf(options)) : options.store;
  const store = timedStore(rawStore, metrics);
  const authMode: AuthMode = options.authenticate ? { authenticate: options.authenticate } : auth ?? anonymousAuth(await store.signingSecret());
  const allowedHosts = new Set(options.allowedHosts?.map((h) => h.toLowerCase()) ?? defaultAllowedHosts(options.host));
  const broker: Broker = deps.broker ?? shared?.broker ?? new LocalBroker();
  const hub = new ChatHub(store, broker, options, metrics);
  const rateLimiter = new RateLimiter(options.rateLimits);
  const caps = new ConnectionCaps(options.maxConnections, options.maxConnectionsPerIp, options.maxConnectionsPerIpv6Site);
  // New connections and other HTTP requests per address, and per IPv6 /48 (see AddressAndSiteRate).
  const upgradeRate = new AddressAndSiteRate(options.rateLimits ? options.rateLimits.upgrades : null);
  const httpRequestRate = new AddressAndSiteRate(options.rateLimits ? options.rateLimits.httpRequests : null);
  const queuedBudget = new QueuedBytesBudget<Connection>(options.maxQueuedBytesTotal, options.queuedBytesCheckMs);
  const sweep = new LivenessSweep<LivenessEngine>(options.checkMs, undefined, () => clock.now());
  const serveFile = staticFiles(options.webRoot ?? defaultWebRoot(), options.frameAncestors);
  const LOOP_SAMPLE_MS = 20;
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_SAMPLE_MS });
  // Sampling wakes the process 50 times a second, so it starts with the first stats read:
  // that read says 0, and each later one covers the time since the previous.
  let loopDelayOn = false;
  let draining = false;
  /** Cut off from the shared store (Redis): new clients are refused, connected ones sent away. */
  let storeReachable = true;
  // Ready: accepting and the store answers a read ("" is no room, so this reads nothing).
  const ops = opsRoutes(metrics, async () => (draining ? "draining" : !storeReachable ? "cut off from the shared store" : store.latestSeq("").then(() => null)), options.statsToken);

  const stats = (): ServerStats => {
    if (!loopDelayOn) loopDelay.enable();
    // Node's histogram holds whole sampling intervals; the delay is what exceeds the interval.
    const p99 = loopDelayOn ? Math.max(0, loopDelay.percentile(99) / 1e6 - LOOP_SAMPLE_MS) : 0;
    loopDelayOn = true;
    loopDelay.reset();
    const mem = process.memoryUsage();
    return { connections: connections.size, rooms: hub.roomCount, nicknames: hub.nicknames.size, trackedIps: upgradeRate.trackedIps, httpSockets: httpSockets.count, eventLoopDelayP99Ms: Math.round(p99 * 100) / 100, heapUsedBytes: mem.heapUsed, rssBytes: mem.rss };
  };

  // New sockets from an address refused for its request rate are turned away at accept until
  // half its burst has come back (5 s at the defaults), before Node parses what they carry.
  const httpRate = options.rateLimits ? options.rateLimits.httpRequests : null;
  const httpRequestCoolMs = httpRate ? Math.ceil((httpRate.burst / 2 / httpRate.perSecond) * 1000) : 0;
  const cooling = new CoolingAddresses(httpRate?.maxTrackedIps ?? 1);
  /**
   * The deny list and the request rate, asked of every HTTP request before anything else:
   * false when the request was answered (and its socket will close).
   */
  const requestAdmitted = (req: IncomingMessage, res: ServerResponse): boolean => {
    // First, before anything is looked at: one address asking for the page's largest file over
    // a few keep-alive sockets took 90 % of a core and tripled everyone's chat latency.
    const { limitKey, siteKey } = addressOf(req);
    // A denied address is served nothing (the page included), before it spends any budget, and
    // its socket is closed after the answer.
    if (denyList.deniesAddress(limitKey)) {
      metrics.httpRequestsDenied.inc();
      httpSockets.markRefused(req.socket);
      res.writeHead(403, { "content-type": "text/plain", connection: "close" }).end("forbidden: this address is denied\n");
      return false;
    }
    const over = httpRequestRate.take(limitKey, siteKey);
    if (over) {
      metrics.httpRequestsRefused.inc();
      httpSockets.markRefused(req.socket);
      if (httpRequestCoolMs > 0) cooling.cool(over.scope === "address" || siteKey === null ? limitKey : siteKey, httpRequestCoolMs);
      res.writeHead(429, { "content-type": "text/plain", "retry-after": String(Math.max(1, Math.ceil(over.waitMs / 1000))), connection: "close" }).end(`too many requests from this ${over.scope}\n`);
      return false;
    }
    return true;
  };

  // Headers not complete within headersTimeout are checked for every second, not every 30 s
  // (Node's default): a socket that sends nothing was held for up to 30 s.
  const http: Server = createServer({ connectionsCheckingInterval: 1_000 }, (req, res) => {
    // Pipelined behind a refusal on its socket: dropped unanswered, before any work. Answering
    // each with its own 429 let one connection buy about 1,500 refusals (an audit: 700,000 in
    // 10 s from one address at 45 connections a second, the server at a whole core).
    if (httpSockets.wasRefused(req.socket)) return;
    if (!requestAdmitted(req, res)) return;
    // Nothing here reads a request body: one that comes with a body is answered and its socket
    // closed, rather than kept alive while Node reads and drops the body (a POST to a 404 of
    // 200 MB was read whole, as one request of the rate limit).
    if (req.headers["transfer-encoding"] !== undefined || (req.headers["content-length"] ?? "0") !== "0") res.shouldKeepAlive = false;
    if (!hostAllowed(req, allowedHosts)) {
      return res.writeHead(403, { "content-type": "text/plain" }).end("forbidden host: the server answers only to the names it is configured for (--allowed-host)\n");
    }
    if (serveFile(req, res)) return;
    if (ops.handle(req, res, "guarded")) return;
    if (req.url === "/stats") {
      if (!statsAllowed(req, options.statsToken)) {
        return res.writeHead(403, { "content-type": "text/plain" }).end("stats are served to loopback, or with the stats token\n");
      }
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify(stats()));
    }
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  });
  // An `Expect` other than 100-continue is answered 417 by Node itself, without the request
  // handler: no deny list, no rate limit, the socket kept open. One keep-alive socket got
  // 680,000 answers in 10 s that way, a whole core, and no metric moved.
  http.on("checkExpectation", (req: IncomingMessage, res: ServerResponse) => {
    if (httpSockets.wasRefused(req.socket) || !requestAdmitted(req, res)) return;
    httpSockets.markRefused(req.socket);
    res.writeHead(417, { "content-type": "text/plain", connection: "close" }).end("expectation failed: this server knows no Expect but 100-continue\n");
  });
  // Slow or stalled HTTP requests (before any upgrade) must not hold sockets for minutes.
  http.headersTimeout = 10_000;
  http.requestTimeout = 15_000;
  // Neither bounds a socket once its request has arrived: a client that asks for the page's
  // largest file and never reads the answer held its socket for good (100 from one address
  // past 38 s). A socket with no traffic either way for this long is closed; an open WebSocket
  // is not concerned (ws clears the timer at the upgrade), a refused upgrade is.
  http.timeout = HTTP_IDLE_TIMEOUT_MS;
  // Every socket is a file descriptor: the WebSockets are capped at the upgrade, the sockets
  // still speaking HTTP per address and in all to what the WebSockets leave of
  // maxConnections + maxHttpSockets. Node refuses more at accept, with one place spare: the
  // newcomer that takes the place of a socket HttpSockets closes must reach it.
  const socketLimit = options.maxConnections + options.maxHttpSockets;
  http.maxConnections = socketLimit + 1;
  const coolingMs = (peer: PeerKey): number => Math.max(cooling.leftMs(peer.limitKey), peer.siteKey === null ? 0 : cooling.leftMs(peer.siteKey));
  const httpSockets = new HttpSockets(options.maxHttpSocketsPerIp, peerKeyReader(options), () => socketLimit - caps.count, coolingMs);
  http.on("connection", (socket: Socket) => {
    const admission = httpSockets.admit(socket);
    if (admission !== "counted") metrics.httpSocketsTurnedAway.inc({ why: admission });
  });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxPayloadBytes,
    maxBufferedChunks: bufferedChunkLimit(options.maxPayloadBytes),
    perMessageDeflate: false,
    clientTracking: false,
    // Ping frames are answered by Connection, within the `pings` rate limit; ws would answer
    // every one (it only cuts a connection with 60 pongs unwritten).
    autoPong: false,
    handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });
  wss.on("error", (err) => options.log(`websocket server: ${err.message}`, { event: "websocket_server_error", err: err.message }));

  // One function for every connection's end, not a closure per connection (see accept).
  const connectionEnded = (ended: Connection, reason: EndReason): void => {
    connections.delete(ended);
    caps.release(ended.ip);
    sweep.delete(ended.engine);
    queuedBudget.forget(ended);
    figures.remove(ended);
    metrics.closes.inc({ reason });
    options.log(`connection ${ended.sessionId} ended: ${reason}`, { event: "connection_closed", conn: ended.sessionId, user: ended.userId || undefined, nick: ended.nick || undefined, reason });
  };
  // Outside the upgrade handler on purpose: a closure that lives as long as the connection and
  // was created in the handler's scope would keep that scope, the upgrade request included,
  // alive (a heap snapshot of 5,000 idle connections still held 5,000 IncomingMessages).
  const context = connectionContext(authMode, hub, options, clock, connectionEnded, queuedBudget, denyList);
  const accept = (ws: WebSocket, req: IncomingMessage, client: ClientAddress): void => {
    // ws watches the socket's errors from here on: ours (a second listener, an array) can go.
    req.socket.off("error", destroyOnError);
    // ws turned the HTTP idle timeout off at the upgrade; Node would keep its timer regardless.
    dropClearedTimeout(req.socket);
    const key = client.limitKey;
    caps.handOver(req.socket, key);
    const conn = new Connection(ws, req, context, key, rateLimiter.forConnection(key, client.siteKey));
    connections.add(conn);
    sweep.add(conn.engine);
    metrics.opened.inc();
    options.log(`connection ${conn.sessionId} opened`, { event: "connection_opened", conn: conn.sessionId, ip: client.ip, limitKey: key });
  };

  // Sockets taken from elsewhere skip net.Server's accept, where http.maxConnections is checked.
  let takenOpen = 0;
  // One listener for every taken socket (`this` is the socket), not a closure each.
  function takenClosed(this: Socket): void {
    takenOpen--;
  }
  // A socket handed back stops counting here: sending it to another process takes its handle
  // away without a 'close' on this side.
  const dealtSockets = new DealtSockets(options, (handed) => {
    handed.off("close", takenClosed);
    takenOpen--;
  });
  http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Another worker's client on a proxy socket dealt here: it goes back, counted nowhere here.
    if (dealtSockets.handedBack(req, socket as Socket, head)) return;
    // A shared function, not a closure: a closure here would keep this scope (the upgrade
    // request included) alive for as long as the socket lives.
    socket.on("error", destroyOnError);
    // Refused already (at accept, or a request before it): nothing more on it is served.
    if (httpSockets.wasRefused(socket)) return;
    /** `retryAfterS`: for a refusal that passes, when to try again (whole seconds, as HTTP has them). */
    const refuse = (status: number, text: string, retryAfterS?: number) => {
      metrics.upgradesRefused.inc({ status });
      refuseAndClose(socket, status, text, retryAfterS);
    };
    if (draining || !storeReachable) return refuse(503, "Service Unavailable", FULL_RETRY_AFTER_S);
    if (!hostAllowed(req, allowedHosts)) return refuse(403, "Forbidden host");
    if (!originAllowed(req, options.allowedOrigins)) return refuse(403, "Forbidden origin");
    const offered = (req.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
    if (!offered.includes(SUBPROTOCOL)) return refuse(426, `Upgrade Required: subprotocol ${SUBPROTOCOL}`);
    const client = addressOf(req);
    forgetPeerAddress(socket);
    // Before the rate limits: a denied address spends no one's budget.
    if (denyList.deniesAddress(client.limitKey)) {
      metrics.upgradesDenied.inc();
      return refuse(403, "Forbidden: this address is denied");
    }
    const site = client.siteKey;
    const over = upgradeRate.take(client.limitKey, site);
    if (over) return refuse(429, `Too Many Requests: too many new connections from this ${over.scope}`, Math.max(1, Math.ceil(over.waitMs / 1000)));
    const full = caps.acquire(client.limitKey, site);
    if (full) return refuse(full.status, full.text, full.retryAfterS);
    // The caps count it from here. A refused upgrade stays counted as a socket speaking HTTP
    // until it closes: uncounted from its upgrade request on, a refusal the client never read
    // held its socket outside every limit (an audit: 657 sockets from one address at once).
    httpSockets.upgrading(socket);
    caps.releaseOnClose(socket, client.limitKey);
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, req, client));
  });
  http.on("clientError", (_err, socket) => socket.destroy());


  if (options.listen) {
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject);
      http.listen(options.port, options.host, () => {
        http.off("error", reject);
        resolve();
      });
    });
  }
  const address = http.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  const takeSocket = (socket: Socket, head?: Buffer, dealt?: { key: string; handBack: HandBack }): void => {
    if (draining || takenOpen >= http.maxConnections) {
      socket.destroy();
      return;
    }
    takenOpen++;
    socket.on("close", takenClosed);
    if (dealt) dealtSockets.take(socket, dealt.key, dealt.handBack);
    if (head !== undefined && head.length > 0) socket.unshift(head);
    http.emit("connection", socket);
  };
  const opsListener = options.metricsPort === null ? null : await listenForOps(ops, options.metricsPort, options.metricsHost);
  const host = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host;

  /** Tells every client to come back after a randomized delay (elsewhere, with a URL list) and closes it. */
  /**
   * Ends client connections with `code` (ServerRestart unless told), each welcomed one told
   * first by a goaway when to come back. `welcomedOnly`: a connection not welcomed yet is left
   * alone (its welcome will carry what changed).
   */
  const sendAway = (reason: string, code: number = CloseCode.ServerRestart, endReason: EndReason = "shutdown", welcomedOnly = false): Promise<void>[] =>
    [...connections].filter((conn) => conn.ready || !welcomedOnly).map((conn) => {
      const ended = new Promise<void>((resolve) => conn.socket.once("close", () => resolve()));
      if (conn.ready) {
        // Spread the returning crowd so a restart does not become a reconnect storm.
        const retryAfterMs = Math.floor(Math.random() * options.restartSpreadMs);
        conn.send({ type: "goaway", retryAfterMs, reason });
      }
      conn.closeWith(code, endReason, reason);
      return ended;
    });
  broker.onAvailability?.((available) => {
    storeReachable = available;
    if (!available) sendAway("this node lost its link to the shared store; use another node");
  });
  // The shared store took a new epoch (Redis had lost what it acknowledged): every client
  // welcomed under the old one resyncs, spread over restartSpreadMs by a goaway as for a
  // restart. A connection not welcomed yet gets the new epoch in its welcome.
  broker.onEpochChange?.((change) => {
    hub.epochChanged();
    metrics.epochChanges.inc({ cause: change.cause });
    const ended = sendAway(STORE_RESET_TEXT, CloseCode.StoreReset, "store_reset", true).length;
    options.log(`${change.detail}. The data has a new epoch ${change.epoch} (was ${change.previous}); ${ended} client connections closed with 4009 to resync`, {
      event: "store_epoch_renewed", reason: change.cause, epoch: change.epoch, previous: change.previous, connections: ended,
    });
  });

  const deny = (entries: readonly string[]): { entries: number; closed: number } => {
    denyList.replace(entries);
    let closed = 0;
    for (const conn of connections) {
      if (denyList.deniesAddress(conn.ip) || (conn.userId !== "" && denyList.deniesUser(conn.userId))) {
        conn.closeWith(CloseCode.PolicyViolation, "denied", DENIED_TEXT);
        closed++;
      }
    }
    options.log(`deny list: ${denyList.size} entries, ${closed} connections closed`, { event: "deny_list_loaded", entries: denyList.size, closed });
    return { entries: denyList.size, closed };
  };

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      draining = true;
      options.log(`draining ${connections.size} connections`, { event: "server_draining", connections: connections.size });
      http.close();
      sweep.stop();
      queuedBudget.stop();
      await Promise.all(sendAway("server restarting"));
      hub.close();
      loopDelay.disable();
      await broker.close();
      await store.close();
      http.closeAllConnections();
      // Last: /readyz keeps saying "draining" on the metrics port until the very end.
      if (opsListener) await new Promise<void>((resolve) => {
        opsListener.server.close(() => resolve());
        opsListener.server.closeAllConnections();
      });
      metrics.close();
      options.reportLeftOutLogs();
    })());

  return { port, url: `ws://${host.includes(":") ? `[${host}]` : host}:${port}`, options, metricsPort: opsListener?.port ?? null, stats, deny, takeSocket, close };
}

/** The goaway's reason and the close frame's text when the shared store took a new epoch. */
const STORE_RESET_TEXT = "the shared store lost data; reconnect to resync";

/**
 * Node keeps the peer address it read for `remoteAddress` on the socket (an object and its
 * string, about 90 bytes) for the socket's whole life; nothing reads it again, so it goes
 * (Node reads it afresh if asked). Deleted, not set to undefined: it is the socket's newest
 * property, so V8 takes the socket back to its shape without it, where a property left
 * undefined keeps a slot in an out-of-object property array (40 bytes per connection).
 */
function forgetPeerAddress(socket: Duplex): void {
  const cached = socket as Duplex & { _peername?: unknown };
  if (cached._peername !== undefined) delete cached._peername;
}

function destroyOnError(this: Duplex): void {
  this.destroy();
}
