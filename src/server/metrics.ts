import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** What a connection is doing, as the `pulse_connections` gauge counts it. */
export type ConnectionState = "handshake" | "alive" | "suspect" | "closing";
export const CONNECTION_STATES: readonly ConnectionState[] = ["handshake", "alive", "suspect", "closing"];

/** Live figures read at scrape time, not counted on the hot path. */
export interface MetricsSources {
  connectionStates(): Record<ConnectionState, number>;
  rooms(): number;
  /** TCP bytes of WebSocket connections so far (live ones plus ended ones), both directions. */
  socketBytes(): { received: number; sent: number };
}

/** Bucket bounds in seconds for round trips and store calls: 0.5 ms .. 10 s. */
const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Event-loop delay sampling interval of the default metrics; coarse, so an idle server sleeps. */
const EVENT_LOOP_RESOLUTION_MS = 20;

/**
 * One server's Prometheus metrics, in a registry of its own: two servers in one process (tests,
 * embedding) never mix their counts. Names and labels are listed in docs/deploy.md; changing
 * one breaks dashboards, so treat them as part of the interface.
 *
 * Counters that cost a hash lookup per frame are avoided: frame counts are per message type at
 * the edge, bytes are read from the sockets at scrape time, deliveries are added once per
 * broadcast (not per recipient).
 */
/** The default metrics left out (see Metrics.text). */
const ACTIVE_HANDLE_GAUGES = ["nodejs_active_handles", "nodejs_active_handles_total"];

export class Metrics {
  readonly registry = new Registry();
  private defaultsOn = false;

  /** Inbound frames by message type, counted in plain numbers (see frameReceived) and reported at scrape time. */
  private readonly frameCounts = new Map<string, number>();
  /** Pings not yet folded into frameCounts (see pingReceived). */
  private pingsReceived = 0;
  /** Chat `send` requests by outcome. */
  readonly messagesReceived = new Counter({ name: "pulse_messages_received_total", help: "Chat send requests acked, by result: stored (new), duplicate (acked with duplicate:true, a resend); refused ones are in pulse_messages_refused_total", labelNames: ["result"] as const, registers: [this.registry] });
  readonly messagesRefused = new Counter({ name: "pulse_messages_refused_total", help: "Chat send requests refused, by error code: rate_limited (comes again later), forbidden (a room the sender may only read), not_in_room, bad_text, bad_message, id_reused, store_failed, ...", labelNames: ["code"] as const, registers: [this.registry] });
  /** Chat messages written to clients, by path. */
  readonly messagesSent = new Counter({ name: "pulse_messages_sent_total", help: "Chat messages written to clients: live (broadcast), join (in joined: the resume gap or the latest page), history (history requests)", labelNames: ["path"] as const, registers: [this.registry] });
  /** Frames written by room broadcasts, one per recipient. */
  readonly deliveries = new Counter({ name: "pulse_deliveries_total", help: "Broadcast frames written to room members, one per recipient, by kind (message, presence)", labelNames: ["kind"] as const, registers: [this.registry] });
  readonly rtt = new Histogram({ name: "pulse_heartbeat_rtt_seconds", help: "Round trip of the server's own pings (ping sent -> pong read, both on the server's clock; includes the client's delay in answering). Clients ping and the server answers; the server pings only a client it has not heard from for intervalMs plus a grace, so samples come from quiet clients.", buckets: LATENCY_BUCKETS_S, registers: [this.registry] });
  readonly verdicts = new Counter({ name: "pulse_liveness_verdicts_total", help: "Liveness verdicts by side (server: our engine; client: a close code 4000/4004 received from the client) and reason", labelNames: ["side", "verdict", "reason"] as const, registers: [this.registry] });
  readonly resumes = new Counter({ name: "pulse_resumes_total", help: "Joins that asked to resume (since given), by whether the gap was recovered", labelNames: ["recovered"] as const, registers: [this.registry] });
  readonly joins = new Counter({ name: "pulse_joins_total", help: "Room joins served (with or without resume)", registers: [this.registry] });
  readonly closes = new Counter({ name: "pulse_connections_closed_total", help: "Ended WebSocket connections by reason (closed, timeout, slow, handshake, shutdown, ...)", labelNames: ["reason"] as const, registers: [this.registry] });
  readonly opened = new Counter({ name: "pulse_connections_opened_total", help: "WebSocket connections accepted", registers: [this.registry] });
  readonly upgradesDenied = new Counter({ name: "pulse_upgrades_denied_total", help: "WebSocket upgrades refused (403, also in pulse_upgrades_refused_total) because the operator's deny list names the client's address", registers: [this.registry] });
  readonly upgradesRefused = new Counter({ name: "pulse_upgrades_refused_total", help: "WebSocket upgrades refused before a connection existed, by HTTP status", labelNames: ["status"] as const, registers: [this.registry] });
  readonly httpSocketsTurnedAway = new Counter({ name: "pulse_http_sockets_turned_away_total", help: "TCP connections still speaking HTTP closed by the socket limits, by why: address_full, network_full (an IPv6 /48), server_full (the newcomer refused), took_a_place (the newcomer counted, the oldest socket of the holder with the most closed), cooling (its address was refused for its request rate moments ago)", labelNames: ["why"] as const, registers: [this.registry] });
  readonly httpRequestsDenied = new Counter({ name: "pulse_http_requests_denied_total", help: "HTTP requests other than upgrades answered 403 because the operator's deny list names the client's address", registers: [this.registry] });
  readonly httpRequestsRefused = new Counter({ name: "pulse_http_requests_refused_total", help: "HTTP requests other than upgrades answered 429: their address was over rateLimits.httpRequests", registers: [this.registry] });
  readonly redisFailures = new Counter({ name: "pulse_redis_failures_total", help: "Redis calls of this node that failed and were retried or repaired, by op (subscribe, latest_seq, backfill, presence_publish, presence_join, presence_leave, presence_repair, heartbeat, dead_node_check, epoch_read, epoch_renew): every one, where the redis_failed log lines are budgeted", labelNames: ["op"] as const, registers: [this.registry] });
  readonly epochChanges = new Counter({ name: "pulse_store_epoch_changes_total", help: "Times the shared store (Redis) took a new epoch under this node because its data had less than it acknowledged, by cause: epoch_missing (the data was gone), epoch_changed (another node found the loss first, or the data was restored), seq_went_back (a room's seq below what this node delivered). Each ends the node's client connections with 4009", labelNames: ["cause"] as const, registers: [this.registry] });
  readonly storeLatency = new Histogram({ name: "pulse_store_seconds", help: "Store call latency by operation and outcome", labelNames: ["op", "outcome"] as const, buckets: LATENCY_BUCKETS_S, registers: [this.registry] });

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    new Gauge({
      name: "pulse_connections",
      help: "Open WebSocket connections by state (handshake: no hello yet; alive; suspect: silent past suspectMs; closing)",
      labelNames: ["state"] as const,
      registers,
      collect() {
        const counts = sources.connectionStates();
        for (const state of CONNECTION_STATES) this.set({ state }, counts[state]);
      },
    });
    new Gauge({ name: "pulse_rooms", help: "Rooms with at least one member on this node", registers, collect() { this.set(sources.rooms()); } });
    // Counters fed from a running total: each scrape adds what grew since the last one.
    const fromTotal = (name: string, help: string, read: () => number) => {
      let reported = 0;
      new Counter({
        name, help, registers,
        collect() {
          const now = read();
          if (now > reported) this.inc(now - reported);
          reported = Math.max(reported, now);
        },
      });
    };
    const frameCounts = this.frameCounts;
    const framesReported = new Map<string, number>();
    const foldPings = (): void => {
      if (this.pingsReceived > 0) frameCounts.set("ping", (frameCounts.get("ping") ?? 0) + this.pingsReceived);
      this.pingsReceived = 0;
    };
    new Counter({
      name: "pulse_frames_received_total", help: "Inbound WebSocket frames by message type (invalid: did not parse)", labelNames: ["type"] as const, registers,
      collect() {
        foldPings();
        for (const [type, n] of frameCounts) {
          const grown = n - (framesReported.get(type) ?? 0);
          if (grown > 0) this.inc({ type }, grown);
          framesReported.set(type, n);
        }
      },
    });
    fromTotal("pulse_bytes_received_total", "TCP bytes received on WebSocket connections (frames with headers, and the upgrade request)", () => sources.socketBytes().received);
    fromTotal("pulse_bytes_sent_total", "TCP bytes sent on WebSocket connections (frames with headers, and the upgrade response)", () => sources.socketBytes().sent);
  }

  // Hot-path helpers: label children are looked up once, not per call.
  private readonly stored = this.messagesReceived.labels("stored");
  private readonly duplicates = this.messagesReceived.labels("duplicate");
  private readonly liveMessages = this.messagesSent.labels("live");
  private readonly messageDeliveries = this.deliveries.labels("message");
  private readonly presenceDeliveries = this.deliveries.labels("presence");

  /**
   * An inbound frame of this message type ("invalid": did not parse). A plain number, not a
   * prom-client increment: on an idle server nearly every frame is a heartbeat, and the
   * labelled increment was a visible share of the heartbeat's CPU in a profile.
   */
  frameReceived(type: string): void {
    this.frameCounts.set(type, (this.frameCounts.get(type) ?? 0) + 1);
  }

  /** A heartbeat ping arrived: a field, not even a map entry (see frameReceived). */
  pingReceived(): void {
    this.pingsReceived++;
  }

  /** A send was acked: a new message, or a resend of one already stored. */
  countReceived(duplicate: boolean): void {
    (duplicate ? this.duplicates : this.stored).inc();
  }

  /** A send was refused with this error code. */
  countRefused(code: string): void {
    this.messagesRefused.labels(code).inc();
  }

  /** A broadcast was written to `recipients` members; seq 0 is presence, else a chat message. */
  countDelivered(seq: number, recipients: number): void {
    if (recipients === 0) return;
    if (seq === 0) return this.presenceDeliveries.inc(recipients);
    this.messageDeliveries.inc(recipients);
    this.liveMessages.inc(recipients);
  }

  /** A join was answered with `replayed` messages; `since` given means the client resumed. */
  countJoin(since: number | undefined, recovered: boolean, replayed: number): void {
    this.joins.inc();
    if (since !== undefined) this.resumes.inc({ recovered: String(recovered) });
    if (replayed > 0) this.messagesSent.inc({ path: "join" }, replayed);
  }

  /**
   * Process metrics (CPU, memory, GC, event-loop delay) start with the first scrape: the
   * event-loop monitor wakes the process every EVENT_LOOP_RESOLUTION_MS, which an idle server
   * that nobody scrapes should not pay.
   */
  async text(): Promise<string> {
    if (!this.defaultsOn) {
      this.defaultsOn = true;
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_RESOLUTION_MS });
      // prom-client's active-handle gauges call process._getActiveHandles(), an undocumented
      // Node internal that builds an array of every socket per scrape, and that aborted a test
      // process once in a full run (a CHECK in AsyncWrap::GetOwner during a scrape: a crash of
      // the whole server). nodejs_active_resources (process.getActiveResourcesInfo, public)
      // counts the same handles by type.
      for (const name of ACTIVE_HANDLE_GAUGES) this.registry.removeSingleMetric(name);
    }
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Stops what the default metrics started (the event-loop monitor). */
  close(): void {
    this.registry.clear();
  }
}
