import type { ChatMessage, LivenessSettings, ServerMessage } from "../protocol/messages.js";
import { SUBPROTOCOL } from "../protocol/messages.js";
import { CloseCode, describeClose, isRetryable } from "../protocol/close-codes.js";
import { isProtocolError, parseServerMessage } from "../protocol/parse.js";
import { LivenessEngine, type HealthChange } from "../liveness/liveness-engine.js";
import { DEFAULT_LIVENESS } from "../liveness/settings.js";
import { backoffMs } from "../liveness/backoff.js";
import { retryAfterMs } from "./retry-after.js";
import { systemClock, type Clock } from "../liveness/clock.js";
import { Emitter } from "./emitter.js";
import { Outbox } from "./outbox.js";
import { RoomTracker } from "./room-tracker.js";
import { Backfill } from "./backfill.js";
import { Throttle } from "./throttle.js";
import { SendWindow } from "./send-window.js";
import { ErrorCode } from "../protocol/messages.js";
import { bufferedChunkLimit } from "../protocol/frame-pieces.js";
import { randomId } from "./ids.js";
import { watchHost } from "./host-signals.js";
import type {
  ConnectionState, DisconnectInfo, OutboxEntry, OutboxStorage, PulseClientEvents, PulseClientOptions, RttInfo,
  SocketOptions, WebSocketFactory, WebSocketLike,
} from "./types.js";

const OPEN = 1;
const RESUME_TOKEN_KEY = "pulse.resumeToken";

/** Room names as the server knows them (NFKC), so the server's answers match our requests. */
const roomName = (name: string): string => name.normalize("NFKC");

/**
 * Limits for `ws` in Node (a browser ignores them and keeps its own). ws's client defaults take a
 * frame of 100 MiB, held in up to 262,144 pieces, and offer permessage-deflate, so a hostile or
 * broken server could make one frame cost gigabytes. The server's largest frames are pages of
 * 256 KiB of messages and lists of names (protocol.md, "Frame sizes"): 8 MiB is far above them.
 * Pieces as the server holds its own (bufferedChunkLimit); no compression, which the server
 * does not use.
 */
const MAX_SERVER_FRAME_BYTES = 8 * 1024 * 1024;
/** A join refused with these is not asked again: the room's messages, waiting for its answer, fail. */
const JOIN_REFUSALS: ReadonlySet<string> = new Set([ErrorCode.Forbidden, ErrorCode.TooManyRooms, ErrorCode.BadRoom]);
export const SOCKET_OPTIONS: SocketOptions = {
  maxPayload: MAX_SERVER_FRAME_BYTES,
  maxBufferedChunks: bufferedChunkLimit(MAX_SERVER_FRAME_BYTES),
  perMessageDeflate: false,
};

/**
 * A Pulse connection that tells the truth about its state, reconnects by itself, resends what
 * was not acknowledged and resumes every room where it left off.
 */
export class PulseClient extends Emitter<PulseClientEvents> {
  readonly clientId: string;
  private _nick: string;
  private _userId: string | null = null;
  /** The anonymous server's resume token: proves who we are on the next hello. */
  private resumeToken: string | null;
  private readonly identityStorage: OutboxStorage | undefined;
  private readonly WS: WebSocketFactory;
  private readonly clock: Clock;
  private readonly outbox: Outbox;
  private readonly rooms = new RoomTracker();
  private readonly backfill: Backfill;
  /** Per room, the seq a rejoin resumed from in the current epoch (a gap starts there). */
  private readonly resumedFrom = new Map<string, number>();
  /** Rooms whose `joined` has not come yet (a refused join is asked again). */
  private readonly awaitingJoined = new Set<string>();
  private readonly throttle: Throttle;
  private readonly window: SendWindow;

  private _state: ConnectionState = { kind: "idle" };
  private socket: WebSocketLike | null = null;
  private engine: LivenessEngine | null = null;
  private liveness: LivenessSettings;
  private backoff: { baseMs: number; capMs: number };
  private attempt = 0;
  /** Nodes to connect to, tried in turn after each lost or failed connection. */
  private readonly urls: readonly string[];
  private urlIndex = 0;
  /** Welcomed links in a row that did not stay up stableAfterMs (the current one included). */
  private shortLinks = 0;
  private checkTimer: unknown = null;
  private retryTimer: unknown = null;
  private stableTimer: unknown = null;
  private advisedDelayMs: number | null = null;
  private _lastDisconnect: DisconnectInfo | null = null;
  private hostOffline = false;
  private readonly stopWatchingHost: () => void;

  constructor(private readonly options: PulseClientOptions, deps: { clock?: Clock } = {}) {
    super();
    this.clock = deps.clock ?? systemClock;
    this.urls = typeof options.url === "string" ? [options.url] : [...options.url];
    if (this.urls.length === 0) throw new Error("options.url: give at least one URL");
    this._nick = options.nick;
    const storage = options.storage;
    this.identityStorage = options.identityStorage ?? storage;
    this.resumeToken = this.identityStorage?.getItem(RESUME_TOKEN_KEY) ?? null;
    this.clientId = options.clientId ?? storage?.getItem("pulse.clientId") ?? randomId();
    storage?.setItem("pulse.clientId", this.clientId);
    this.window = new SendWindow(options.maxInFlight ?? 10);
    this.throttle = new Throttle(this.clock, {
      resume: () => this.pump(),
      retryRooms: (rooms) => {
        for (const room of rooms) {
          if (this.awaitingJoined.has(room) && this.rooms.has(room)) this.sendJoin(room);
          else this.requestBackfill(room);
        }
      },
    });
    this.outbox = new Outbox(options.outboxLimit ?? 1000, storage, `pulse.outbox.${this.clientId}`);
    this.backfill = new Backfill(options.maxBackfill);
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketFactory }).WebSocket;
    if (!WS) throw new Error("no WebSocket implementation: pass options.WebSocket (in Node: the 'ws' package)");
    this.WS = WS;
    this.liveness = { ...DEFAULT_LIVENESS, ...options.liveness };
    this.backoff = { baseMs: options.backoff?.baseMs ?? 500, capMs: options.backoff?.capMs ?? 30_000 };
    this.stopWatchingHost = watchHost({
      online: () => this.networkOnline(),
      offline: () => this.networkOffline(),
      resumed: () => this.resumed(),
    });
    if (options.autoConnect !== false) this.connect();
  }

  /** The nickname: as asked for until the server's welcome, then as the server normalised it. */
  get nick(): string {
    return this._nick;
  }
  /** Who the server says we are (null before the first welcome). */
  get userId(): string | null {
    return this._userId;
  }
  get state(): ConnectionState {
    return this._state;
  }
  get rtt(): RttInfo {
    return { ...(this.engine?.rtt ?? { lastMs: null, smoothedMs: null }) };
  }
  /** The node this client is connected (or connecting) to. */
  get currentUrl(): string {
    return this.urls[this.urlIndex]!;
  }
  get lastDisconnect(): DisconnectInfo | null {
    return this._lastDisconnect;
  }
  /** Nicknames known online in the room: all of them up to the server's onlineListMax, else a sample (see `who`). */
  online(room: string): string[] {
    return this.rooms.online(room);
  }
  /** How many are online in the room. */
  onlineCount(room: string): number {
    return this.rooms.onlineCount(room);
  }
  outboxEntries(): OutboxEntry[] {
    return this.outbox.all();
  }

  // ------------------------------------------------------------------ public actions

  connect(): void {
    if (this._state.kind === "closed" || this.socket) return;
    if (this.hostOffline) return this.transition({ kind: "offline", since: this.clock.now() });
    this.clearTimer("retryTimer");
    this.transition({ kind: "connecting", attempt: this.attempt });
    this.openSocket();
  }

  /** Skip the backoff wait and connect now (a "Retry now" button). */
  reconnectNow(): void {
    if (this._state.kind === "reconnecting" || this._state.kind === "offline") {
      this.hostOffline = false;
      this.connect();
    } else if (this._state.kind === "suspect") {
      this.dropSocket(CloseCode.HeartbeatTimeout, "reconnect requested", 0);
    }
  }

  /** Terminal: closes the link, stops reconnecting and host watching. */
  close(): void {
    if (this._state.kind === "closed") return;
    this.stopWatchingHost();
    this.teardownSocket(CloseCode.Normal, "closed by the app");
    this.clearTimer("retryTimer");
    this.transition({ kind: "closed", code: CloseCode.Normal, reason: "closed by the app" });
  }

  join(name: string): void {
    const room = roomName(name);
    if (!this.rooms.add(room)) return;
    if (!this.isReady()) return;
    this.sendJoin(room);
    // Messages held for this room (sent before a leave) go out now, after the join.
    this.pump();
  }

  leave(name: string): void {
    const room = roomName(name);
    if (!this.rooms.has(room)) return;
    this.rooms.remove(room);
    this.clearSampleTimers(room);
    this.backfill.forget(room);
    this.awaitingJoined.delete(room);
    if (this.isReady()) this.raw({ type: "leave", room });
  }

  /**
   * Queues a message; it is sent now if connected and in the room, else after the next
   * connect or join of its room, until acked. A message never goes to a room the client left.
   */
  send(name: string, text: string): OutboxEntry {
    const room = roomName(name);
    // Random, not a counter: an id that others could predict is an id they could pre-empt.
    const entry: OutboxEntry = { id: randomId(), room, text, status: "pending", createdAt: this.clock.now() };
    const evicted = this.outbox.add(entry);
    if (evicted) this.emit("outbox", evicted);
    this.emit("outbox", { ...entry });
    if (this.isReady() && this.rooms.has(room)) {
      // After a long idle the link may be dead without anyone knowing yet: probe first.
      const idleMs = this.options.idleProbeAfterMs ?? this.liveness.intervalMs * 2;
      if (this.engine && this.engine.silentForMs() > idleMs) this.probe();
      this.pump();
    }
    return { ...entry };
  }

  /** Re-queues a failed message. */
  retry(id: string): void {
    const entry = this.outbox.retry(id);
    if (!entry) return;
    this.emit("outbox", entry);
    this.pump();
  }

  /** Drops an unsent message (the user gave up on it); returns it, or null if it was not held. */
  discard(id: string): OutboxEntry | null {
    return this.outbox.remove(id);
  }

  /**
   * Asks for a page of the room's online list (code-unit order, after `after`); a page from the
   * start replaces `online(room)`, a later one adds its names, and an `online` event follows.
   */
  who(room: string, after?: string, limit?: number): void {
    if (!this.isReady()) return;
    if (after === undefined) this.whoAfter.delete(room);
    else this.whoAfter.set(room, after);
    this.raw({ type: "who", room, ...(after !== undefined ? { after } : {}), ...(limit ? { limit } : {}) });
  }
  /** The cursor of the latest `who` per room (answers come in order). */
  private readonly whoAfter = new Map<string, string>();
  /** Rooms with a resync `who` of our own in flight. */
  private readonly whoPending = new Set<string>();

  /** Asks for older messages than the oldest one given; answered by a `history` event. */
  loadOlder(name: string, before: number, limit?: number): void {
    if (this.isReady()) this.raw({ type: "history", room: roomName(name), before, ...(limit ? { limit } : {}) });
  }

  // ------------------------------------------------------------------ the one transition

  private transition(next: ConnectionState): void {
    const prev = this._state;
    this._state = next;
    this.emit("state", next, prev);
  }

  // ------------------------------------------------------------------ socket lifecycle

  private openSocket(): void {
    let socket: WebSocketLike;
    try {
      socket = new this.WS(this.currentUrl, [SUBPROTOCOL], SOCKET_OPTIONS);
    } catch (err) {
      return this.scheduleReconnect(CloseCode.Abnormal, `cannot connect: ${(err as Error).message}`);
    }
    this.socket = socket;
    this.watchRefusal(socket);
    // The engine runs from the first byte: a connect that hangs (black hole) is dead after
    // timeoutMs of silence like any other link.
    this.engine = new LivenessEngine(this.liveness, {
      sendPing: (ping) => this.raw(ping),
      bufferedAmount: () => socket.bufferedAmount,
      onHealthChange: (change) => this.onHealth(change),
    }, this.clock, { wakeProbeMs: this.options.probeTimeoutMs ?? 2_000 });
    this.scheduleCheck();
    socket.onopen = () => {
      this.helloToken().then(
        (token) => {
          if (this.socket !== socket) return;
          this.helloSentAt = this.clock.now();
          this.raw({ type: "hello", clientId: this.clientId, nick: this._nick, ...(token ? { token } : {}) });
        },
        (err: Error) => {
          if (this.socket === socket) this.dropSocket(CloseCode.Unauthorized, `no token: ${err.message}`);
        },
      );
    };
    socket.onmessage = (ev) => this.onFrame(ev.data);
    socket.onerror = () => {}; // a close event always follows
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      this.detach();
      this.afterClose(ev.code, ev.reason);
    };
  }

  /**
   * A refused upgrade (HTTP 429 or 503 with `Retry-After`) is not tried again before that
   * delay, plus the usual jittered backoff so refused clients do not all come back at once.
   * Only Node's `ws` shows the status and headers of a refused upgrade; a browser's WebSocket
   * shows neither (just a close with 1006), so there the backoff alone applies. With several
   * URLs the next attempt goes to another node, which did not say it, so it is not applied.
   */
  private watchRefusal(socket: WebSocketLike): void {
    const node = socket as Partial<UpgradeRefusalSource>;
    if (typeof node.once !== "function") return;
    node.once("unexpected-response", (_request, response) => {
      response.resume?.();
      const waitMs = retryAfterMs(response.headers?.["retry-after"], this.clock.now());
      if (waitMs !== null && this.socket === socket && this.urls.length === 1) {
        this.advisedDelayMs = waitMs + backoffMs(this.attempt, this.backoff.baseMs, this.backoff.capMs);
      }
      // With a listener here `ws` leaves ending the handshake to us; the close (1006) follows.
      node.terminate?.();
    });
  }

  /** Ends the current socket at once and moves on (no waiting for a close handshake). */
  private dropSocket(code: number, reason: string, delayMs?: number): void {
    this.teardownSocket(code, reason);
    if (delayMs !== undefined) this.advisedDelayMs = delayMs;
    this.afterClose(code, reason);
  }

  private teardownSocket(code: number, reason: string): void {
    const socket = this.socket;
    if (!socket) return;
    this.detach();
    socket.onclose = null;
    socket.onmessage = null;
    socket.onopen = null;
    try {
      // ws in Node can terminate at once; a browser's close() won't block us either since
      // we no longer listen to the socket.
      const terminate = (socket as { terminate?: () => void }).terminate;
      if (terminate && code !== CloseCode.Normal) terminate.call(socket);
      else socket.close(code >= 4000 || code === 1000 ? code : 1000, reason.slice(0, 100));
    } catch {
      // already closed
    }
  }

  private detach(): void {
    this.socket = null;
    this.welcomed = false;
    this.whoPending.clear();
    this.whoAfter.clear();
    this.clearSampleTimers();
    this.clearTimer("checkTimer");
    this.clearTimer("stableTimer");
  }

  private afterClose(code: number, reason: string): void {
    const text = reason || describeClose(code);
    this._lastDisconnect = { code, reason: text, at: this.clock.now() };
    if (this._state.kind === "closed") return;
    if (!isRetryable(code)) {
      this.stopWatchingHost();
      // 4500 covers several causes (a malformed hello, a denied user): the server's words say which.
      const sentence = code === CloseCode.PolicyViolation && reason ? `${describeClose(code)}: ${reason}` : describeClose(code);
      return this.transition({ kind: "closed", code, reason: sentence });
    }
    if (this.hostOffline) return this.transition({ kind: "offline", since: this.clock.now() });
    this.scheduleReconnect(code, text);
  }

  private scheduleReconnect(code: number, reason: string): void {
    const delay = this.advisedDelayMs ?? backoffMs(this.attempt, this.backoff.baseMs, this.backoff.capMs);
    this.advisedDelayMs = null;
    this.attempt++;
    // The node may be gone: the next attempt goes to the next one (a no-op with one URL).
    this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    this.clearTimer("retryTimer");
    this.transition({ kind: "reconnecting", attempt: this.attempt, retryAt: this.clock.now() + delay, reason: reason || describeClose(code) });
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  // ------------------------------------------------------------------ liveness

  private scheduleCheck(): void {
    this.clearTimer("checkTimer");
    const engine = this.engine;
    // Only the live socket's engine is checked: a torn-down one is dead and would spin.
    if (!engine || !this.socket || engine.health === "dead") return;
    const wait = Math.max(0, engine.nextCheckAt() - this.clock.now());
    this.checkTimer = this.clock.setTimeout(() => {
      this.checkTimer = null;
      if (this.engine !== engine) return;
      engine.check(); // may tear the socket down (dead): scheduleCheck then stops
      this.scheduleCheck();
    }, wait + 1);
  }

  private onHealth(change: HealthChange): void {
    const now = this.clock.now();
    if (change.next === "suspect" && this._state.kind === "open") {
      this.transition({ kind: "suspect", silentSince: now - change.silentForMs, since: now });
    } else if (change.next === "alive" && this._state.kind === "suspect") {
      this.transition({ kind: "open", since: now, rttMs: this.engine?.rtt.smoothedMs ?? null });
    } else if (change.next === "dead") {
      const code = change.reason === "probe-timeout" ? CloseCode.ProbeTimeout : CloseCode.HeartbeatTimeout;
      // A probe failed after the network came back: the old link is gone, retry at once.
      this.dropSocket(code, `${describeClose(code)} (silent for ${Math.round(change.silentForMs / 100) / 10} s)`, change.reason === "probe-timeout" ? 0 : undefined);
    }
  }

  /** The host woke up (tab visible, page restored, laptop resumed): re-check and probe now. */
  resumed(): void {
    this.probe();
  }

  /** Ping with a short deadline now; re-check the wall clock first (timers may have slept). */
  private probe(): void {
    const engine = this.engine;
    if (!engine || !this.socket || this.socket.readyState !== OPEN) return;
    // check() may itself probe (it notices when our timers slept); one probe is enough.
    if (engine.check() === "dead" || engine.probing) return this.scheduleCheck();
    engine.probe(this.options.probeTimeoutMs ?? 2_000);
    this.scheduleCheck();
  }

  /**
   * The host's word on the network and on sleep. Browsers call these by themselves (online,
   * offline, visibilitychange, pageshow); other hosts (Node, React Native) call them when they
   * know.
   */
  networkOffline(): void {
    this.hostOffline = true;
    if (this._state.kind !== "closed") this.transition({ kind: "offline", since: this.clock.now() });
    this.clearTimer("retryTimer");
  }

  networkOnline(): void {
    if (!this.hostOffline) return;
    this.hostOffline = false;
    if (this._state.kind === "closed") return;
    if (this.socket && this.socket.readyState === OPEN && this.engine?.health !== "dead") {
      // The old link may have survived the outage, or died silently. Until the probe is
      // answered we are verifying it: "connecting", not a premature "Connection OK".
      this.transition({ kind: "connecting", attempt: this.attempt });
      this.probe();
    } else if (!this.socket) {
      this.attempt = 0;
      this.connect();
    }
  }

  // ------------------------------------------------------------------ inbound

  private welcomed = false;
  /** Our clock when the last hello went out: welcome.serverTime is read against it. */
  private helloSentAt = 0;

  private isReady(): boolean {
    return this.welcomed && this.socket !== null && this.socket.readyState === OPEN;
  }

  private onFrame(data: unknown): void {
    this.engine?.noteInbound();
    if (this.welcomed && this._state.kind === "connecting") {
      // A link being verified after an outage just proved itself.
      this.transition({ kind: "open", since: this.clock.now(), rttMs: this.engine?.rtt.smoothedMs ?? null });
    }
    if (typeof data !== "string") return;
    const m = parseServerMessage(data);
    if (isProtocolError(m)) {
      // A newer server's extra message: ignore it. A known one that does not hold what it must
      // is not acted on (it could leave the room's state a lie, or throw): drop the link and
      // come back with backoff, as for any other failure of the server.
      if (m.code !== ErrorCode.UnknownType) this.dropSocket(CloseCode.BadServerMessage, `the server sent a malformed message: ${m.message.slice(0, 120)}`);
      return;
    }
    this.handle(m);
  }

  private handle(m: ServerMessage): void {
    switch (m.type) {
      case "ping":
        return this.raw(this.engine!.answer(m));
      case "pong":
        this.engine?.onPong(m);
        if (this._state.kind === "open") this.transition({ ...this._state, rttMs: this.engine?.rtt.smoothedMs ?? null });
        return;
      case "welcome":
        return this.onWelcome(m);
      case "joined": {
        this.awaitingJoined.delete(m.room);
        const resumedFrom = this.resumedFrom.get(m.room);
        this.resumedFrom.delete(m.room);
        const first = this.rooms.joined(m.room, m.seq, m.recovered, m.online, m.onlineCount, this.nextSampleAt());
        // Not replayed: page back through history to what we had, so nothing is lost.
        if (!m.recovered && resumedFrom !== undefined) this.backfill.open(m.room, resumedFrom, m.messages[0]?.seq ?? m.seq + 1);
        // A gap's pages are asked once its room is joined (this one's, or one still open).
        this.requestBackfill(m.room);
        if (m.recovered) for (const msg of m.messages) this.deliver(msg);
        this.emit("joined", { room: m.room, recovered: m.recovered, first, messages: m.messages, online: m.online, onlineCount: m.onlineCount, readOnly: m.readOnly === true });
        this.emitOnline(m.room);
        // The room's messages waited for this answer (see pump).
        return this.pump();
      }
      case "message":
        return this.deliver(m);
      case "ack": {
        this.storeRefusals = 0;
        const entry = this.outbox.ack(m.id, m.seq);
        this.window.settled(m.id, true);
        if (entry) this.emit("outbox", entry);
        this.pump();
        return;
      }
      case "history": {
        const gapPage = this.backfill.page(m.room, m.before, m.messages, m.hasMore);
        this.emit("history", { room: m.room, messages: gapPage ?? m.messages, hasMore: m.hasMore });
        if (gapPage !== null) this.requestBackfill(m.room);
        return;
      }
      case "presence":
        this.rooms.setOnlineCount(m.room, m.count);
        // A change the client already knows (listed in `joined`, or its own arrival) is not news.
        for (const c of m.changes) {
          if (this.rooms.presence(m.room, c.event, c.nick)) {
            this.emit("presence", { room: m.room, event: c.event, nick: c.nick, online: this.rooms.online(m.room), onlineCount: m.count });
          }
        }
        // Names come only while a room is small, so after a large spell the names we hold may
        // disagree with the count: one `who` from the start brings the whole list back. In a
        // large room a count that moved may mean a name in our sample left: a fresh first page,
        // at most once per onlineSampleRefreshMs (jittered, so a full room does not ask at once).
        if (this.rooms.listDrifted(m.room)) this.refreshSample(m.room, m.changes.length > 0);
        return this.emitOnline(m.room);
      case "who":
        this.whoPending.delete(m.room);
        this.rooms.setOnlineCount(m.room, m.count);
        this.rooms.whoPage(m.room, m.online, this.whoAfter.get(m.room) === undefined, this.nextSampleAt());
        this.whoAfter.delete(m.room);
        return this.emitOnline(m.room, m);
      case "goaway":
        this.advisedDelayMs = m.retryAfterMs;
        return;
      case "error": {
        if (m.ref !== undefined && this.onRefusedForNow(m.code, m.ref, m.retryAfterMs)) return;
        if (m.ref !== undefined && JOIN_REFUSALS.has(m.code) && this.awaitingJoined.delete(m.ref)) this.failWaitingFor(m.ref, m.message);
        const failed = m.ref ? this.outbox.fail(m.ref, m.message) : null;
        if (failed) {
          this.window.settled(failed.id, false);
          this.emit("outbox", failed);
          this.pump();
        }
        this.emit("error", { code: m.code, message: m.message, ...(m.ref ? { ref: m.ref } : {}) });
        return;
      }
      case "left":
        return;
    }
  }

  /** The app's token (token servers), else the resume token an anonymous server gave us. */
  private async helloToken(): Promise<string | null> {
    const given = this.options.token;
    if (given !== undefined) return typeof given === "function" ? await given() : given;
    return this.resumeToken;
  }

  private onWelcome(m: Extract<ServerMessage, { type: "welcome" }>): void {
    this.welcomed = true;
    this.throttle.reset();
    this.awaitingJoined.clear();
    this._nick = m.nick;
    this._userId = m.userId;
    if (m.token) {
      this.resumeToken = m.token;
      this.identityStorage?.setItem(RESUME_TOKEN_KEY, m.token);
    }
    try {
      this.engine?.setSettings(m.liveness);
      this.liveness = { ...m.liveness };
    } catch {
      // Incoherent advertised settings: keep ours rather than break the link.
    }
    // The server stamped serverTime between our hello and this welcome: take it as the middle
    // of that round trip (off by at most half of it), so our idle pings fall on the server's
    // ping slots together with other clients'.
    const serverOffsetMs = m.serverTime - (this.helloSentAt + this.clock.now()) / 2;
    if (Number.isFinite(serverOffsetMs)) this.engine?.alignPings(serverOffsetMs);
    this.backoff = { baseMs: m.retry.baseMs, capMs: m.retry.capMs };
    const priorEpoch = this.rooms.epoch;
    this.rooms.epoch = m.epoch;
    this.transition({ kind: "open", since: this.clock.now(), rttMs: this.engine?.rtt.smoothedMs ?? null });
    // The failed connects of the outage we just came out of are forgotten: a crash right after
    // recovering is retried as promptly as the first. What keeps growing the backoff is a run of
    // links that each die before stableAfterMs: a server that accepts and then drops us must not
    // be hammered at attempt 0 forever. This link counts as short until it proves stable.
    this.attempt = this.shortLinks++;
    this.stableTimer = this.clock.setTimeout(() => {
      this.stableTimer = null;
      this.attempt = 0;
      this.shortLinks = 0;
    }, this.options.stableAfterMs ?? 10_000);
    for (const room of this.rooms.names()) this.sendJoin(room, priorEpoch);
    if (priorEpoch !== m.epoch) for (const room of this.backfill.rooms()) this.backfill.forget(room);
    this.backfill.linkLost();
    for (const room of this.backfill.rooms()) this.requestBackfill(room);
    this.window.reset();
    this.pump();
    this.scheduleCheck();
  }

  /**
   * Asks for the room's names from the start: now when `now` (they disagree with a named
   * change), or once the sample is due, by a timer if it is not yet, so a name that left before
   * then is not kept until the count happens to move again.
   */
  private refreshSample(room: string, now: boolean): void {
    if (this.whoPending.has(room)) return;
    const waitMs = now ? 0 : this.rooms.sampleDueAt(room) - this.clock.now();
    if (waitMs <= 0) {
      this.clearSampleTimers(room);
      this.whoPending.add(room);
      return this.who(room);
    }
    if (this.sampleTimers.has(room)) return;
    this.sampleTimers.set(room, this.clock.setTimeout(() => {
      this.sampleTimers.delete(room);
      if (this.isReady() && this.rooms.listDrifted(room)) this.refreshSample(room, true);
    }, waitMs));
  }
  /** A large room's sample asked for at its due time (see refreshSample); cleared with the link. */
  private readonly sampleTimers = new Map<string, unknown>();
  private clearSampleTimers(room?: string): void {
    for (const [name, timer] of this.sampleTimers) {
      if (room !== undefined && name !== room) continue;
      this.clock.clearTimeout(timer);
      this.sampleTimers.delete(name);
    }
  }

  /** When a large room's sample of names just received may be asked for again: 1 to 1.5 refresh periods on. */
  private nextSampleAt(): number {
    const every = this.options.onlineSampleRefreshMs ?? 30_000;
    return this.clock.now() + every + Math.floor(Math.random() * (every / 2));
  }

  private emitOnline(room: string, page?: { online: string[]; more: boolean }): void {
    if (!this.rooms.has(room)) return;
    this.emit("online", { room, online: this.rooms.online(room), onlineCount: this.rooms.onlineCount(room), ...(page ? { page: page.online, more: page.more } : {}) });
  }

  private sendJoin(room: string, epoch = this.rooms.epoch): void {
    const since = this.rooms.since(room);
    this.awaitingJoined.add(room);
    if (since !== undefined && epoch === this.rooms.epoch) this.resumedFrom.set(room, since);
    else this.resumedFrom.delete(room);
    this.raw({ type: "join", room, ...(since !== undefined ? { since, ...(epoch ? { epoch } : {}) } : {}) });
  }

  /**
   * A request the server could not serve now: over its rate (`rate_limited`), or its store did
   * not answer (`store_failed`: Redis down or frozen). A pending message, a join or a backfill
   * page waits and goes again, the message with its id, so one that did land is acked as a
   * duplicate. It stays in the outbox meanwhile: only the outbox's own bound (`outboxLimit`) or
   * the app (`discard`) ends it. False when `ref` names nothing we are waiting for, or for
   * other codes.
   */
  private onRefusedForNow(code: string, ref: string, retryAfterMs: number | undefined): boolean {
    const entry = this.outbox.get(ref);
    if (code === ErrorCode.NotInRoom && entry?.status === "pending" && this.rooms.has(entry.room)) {
      // The server has us out of a room we are in (its join was refused after the send went):
      // the message waits for the room's join, asked again here unless it is on its way.
      this.window.settled(ref, false);
      if (!this.awaitingJoined.has(entry.room)) this.sendJoin(entry.room);
      return true;
    }
    if (code === ErrorCode.NotInRoom && this.rooms.has(ref) && this.backfill.filling(ref)) {
      // A page of a gap refused because the server has us out of the room (a replay of the
      // same room failed meanwhile, and its refusal was taken for the page's): joined again,
      // and its `joined` asks the page again. Before, the page stayed asked, and the room
      // silent, until the next reconnect.
      this.backfill.refused(ref);
      if (!this.awaitingJoined.has(ref)) this.sendJoin(ref);
      return true;
    }
    let waitMs: number;
    if (code === ErrorCode.RateLimited) waitMs = retryAfterMs ?? 1_000;
    else if (code === ErrorCode.StoreFailed) {
      // The server's advice is the floor; an outage that lasts backs off like reconnects do,
      // so a crowd of refused clients does not keep a recovering server busy.
      waitMs = Math.max(retryAfterMs ?? 0, backoffMs(this.storeRefusals++, this.backoff.baseMs, this.backoff.capMs));
    } else return false;
    if (entry?.status === "pending") {
      this.window.refused(ref);
      this.throttle.pause(waitMs);
      return true;
    }
    if (this.awaitingJoined.has(ref) && this.rooms.has(ref)) {
      this.throttle.holdRoom(ref, waitMs);
      return true;
    }
    if (this.backfill.filling(ref)) {
      this.backfill.refused(ref);
      this.throttle.holdRoom(ref, waitMs);
      return true;
    }
    if (code === ErrorCode.StoreFailed && this.rooms.replaying(ref)) {
      // After the room's `joined`, before the end of its replay: the server could not read the
      // rest, took us out of the room and said "join again". Staying "in" it would show nothing
      // more and say nothing (a replay failed halfway stalled here for good); the join goes
      // again, from the last message we have, once the wait is over.
      this.awaitingJoined.add(ref);
      this.throttle.holdRoom(ref, waitMs);
      return true;
    }
    return false;
  }
  /** A join refused for good: the messages that waited for its answer fail with its reason. */
  private failWaitingFor(room: string, reason: string): void {
    for (const entry of this.outbox.pending().filter((e) => e.room === room)) {
      const failed = this.outbox.fail(entry.id, reason);
      this.window.settled(entry.id, false);
      if (failed) this.emit("outbox", failed);
    }
  }

  /** `store_failed` refusals since the last ack: the store's outage backoff attempt. */
  private storeRefusals = 0;

  /** Sends pending outbox entries, in order, as far as the send window and any throttle allow. */
  private pump(): void {
    if (!this.isReady() || this.throttle.active) return;
    // Entries of rooms we are not in wait (they go when the room is joined again), and so do
    // those of rooms whose join is not answered yet: a join refused for its rate made the sends
    // behind it `not_in_room`, and the messages failed for good (a reconnect of 25 clients in
    // 30 rooms each lost up to 111 of 750).
    for (const entry of this.window.take(this.outbox.pending().filter((e) => this.rooms.has(e.room) && !this.awaitingJoined.has(e.room)))) this.sendEntry(entry);
  }

  private requestBackfill(room: string): void {
    // Not before the room's join is answered: the server would refuse it (not in the room).
    if (!this.isReady() || this.awaitingJoined.has(room)) return;
    const next = this.backfill.request(room);
    if (next) this.raw({ type: "history", room, before: next.before });
  }

  private deliver(m: ChatMessage): void {
    const verdict = this.rooms.accept(m);
    if (verdict === "new") this.emit("message", m);
    else if (verdict === "gap") {
      // Never show a hole: reconnect and resume from the last message we have.
      this.dropSocket(CloseCode.HeartbeatTimeout, "gap in sequence: resyncing", 0);
    }
  }

  // ------------------------------------------------------------------ outbound

  /** Sends a queued entry if it can go now: connected, and in its room (else the server refuses it). */
  private sendEntry(entry: OutboxEntry): void {
    if (this.isReady() && this.rooms.has(entry.room)) this.raw({ type: "send", room: entry.room, id: entry.id, text: entry.text });
  }

  private raw(message: object): void {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN) return;
    socket.send(JSON.stringify(message));
    this.engine?.noteSent();
  }

  private clearTimer(name: "checkTimer" | "retryTimer" | "stableTimer"): void {
    if (this[name] !== null) this.clock.clearTimeout(this[name]);
    this[name] = null;
  }
}

/** What Node's `ws` adds to the WebSocket surface for a refused upgrade. */
interface UpgradeRefusalSource {
  once(event: "unexpected-response", listener: (request: unknown, response: { headers?: Record<string, string | string[] | undefined>; resume?: () => void }) => void): void;
  terminate(): void;
}
