import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import WebSocket from "ws";
import type { ClientMessage, HelloMessage, PingMessage, SendMessage, ServerMessage } from "../protocol/messages.js";
import { ErrorCode, PROTOCOL_VERSION } from "../protocol/messages.js";
import { CloseCode, describeClose } from "../protocol/close-codes.js";
import { isProtocolError, parseClientMessage } from "../protocol/parse.js";
import { isCanonicalPing, pongFrameOf, PONG_HEADER_BYTES } from "./canonical-ping.js";
import { LivenessEngine, type HealthChange, type LivenessHost } from "../liveness/liveness-engine.js";
import type { Clock } from "../liveness/clock.js";
import { validId, type ChatHub, type Member } from "./chat-hub.js";
import type { ResolvedOptions } from "./options.js";
import { ReplyPager, type PagedReply, type PagerSettings } from "./reply-pager.js";
import { RateLimiter, type Admission, type ConnectionRateLimiter } from "./rate-limits.js";
import { SendOrderGate } from "./send-order-gate.js";
import { rateKindOf, refusalOf } from "./admission.js";
import { tapReceiver, untapReceiver } from "./receiver-intake.js";
import type { FragmentLimits } from "./fragment-guard.js";
import { ReadPause } from "./read-pause.js";
import { JoinedRooms } from "./joined-rooms.js";
import { writeFramed } from "./fanout.js";
import { normalizeName } from "../protocol/names.js";
import { nicknameKey } from "./confusables.js";
import { asRoomsAreNamed, identityProblem, isRefusal, type AuthMode, type Identity } from "./identity/identity.js";
import { DENIED_TEXT } from "./deny-list.js";

/** A token longer than this is refused unread (a JWT with a few claims is well under 2 KB). */
const MAX_TOKEN_LENGTH = 8 * 1024;
/**
 * A nickname's comparison key (its confusable skeleton, nicknameKey) may take this many bytes
 * per code point the name may have: what the longest name takes in UTF-8. The key is what the
 * store keeps a hold under (twice, with its index), and some characters' skeletons are long:
 * 32 Hangul syllables chosen for it made a 672-byte key and a 2 KB hold, 19 times a short
 * name's. Ordinary names are far below it (8 Hangul syllables: 69 bytes).
 */
const MAX_KEY_BYTES_PER_CODE_POINT = 4;
/**
 * A `history` page costs one request of the `history` limit per this many bytes it carries (the
 * first included): 50 short messages cost one, a page of 4 KB messages (256 KiB) eight. Counted
 * by requests alone, ten connections of one address drew 30 MB/s of 256 KiB pages within the
 * limit, 20 % of a core.
 */
const HISTORY_BYTES_PER_REQUEST = 32 * 1024;
/** The longest delay setTimeout takes (2^31-1 ms); longer ones fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** The close reason when a connection's token expires. */
const EXPIRED_TEXT = "token expired: connect again with a fresh one";
/**
 * A refused client is not read from for its `retryAfterMs`, at most this long (see
 * ReadPause): short enough that an honest client's ping behind it is answered well within
 * any liveness deadline.
 */
const MAX_READ_PAUSE_MS = 1_000;

/** The socket's back-reference to its Connection, for the shared listeners. */
const CONNECTION = Symbol("pulse.connection");
type OwnedSocket = WebSocket & { [CONNECTION]?: Connection };

/**
 * The same string, as the one copy V8 keeps of it in its string table (the form property names
 * take). A client's address is a fresh string for every socket: with many clients behind one
 * address (a NAT, a load test) each connection kept its own copy, 32 bytes or more.
 */
function sharedCopy(text: string): string {
  return Object.keys({ [text]: 0 })[0] ?? text;
}

/** Said once per process (see tapReceiver). */
let untappedWarned = false;

/** Why a connection ended, for logs and presence. */
export type EndReason = "closed" | "timeout" | "slow" | "handshake" | "shutdown" | "denied" | "expired" | "store_reset";

/**
 * What all connections of a server share: one object, not a field each per connection (an
 * idle server holds thousands of connections, and every field is 8 bytes on each).
 */
export interface ConnectionContext {
  readonly auth: AuthMode;
  readonly hub: ChatHub;
  readonly options: ResolvedOptions;
  readonly clock: Clock;
  /** Told once per connection, when its socket closed and every trace of it was removed. */
  readonly onEnd: (conn: Connection, reason: EndReason) => void;
  /** The server-wide budget for queued bytes, told when a connection has bytes left queued. */
  readonly queuedBudget: { noteQueued(conn: Connection): void } | null;
  readonly pagerSettings: PagerSettings;
  /** Whom the operator shut out; a user it names is closed at hello. */
  readonly denied: { deniesUser(userId: string): boolean };
}

export function connectionContext(
  auth: AuthMode,
  hub: ChatHub,
  options: ResolvedOptions,
  clock: Clock,
  onEnd: ConnectionContext["onEnd"],
  queuedBudget: ConnectionContext["queuedBudget"],
  denied: ConnectionContext["denied"],
): ConnectionContext {
  return { auth, hub, options, clock, onEnd, queuedBudget, denied, pagerSettings: { stallMs: options.replayStallMs, maxQueued: options.maxRooms + 8 } };
}

/**
 * Session ids are UUIDs that share this process's random first 20 hex digits and end with a
 * connection's serial number: unique like random ones (across processes by the prefix), but
 * derived when needed instead of a 36-character string kept on every connection.
 */
const SESSION_PREFIX = randomUUID().slice(0, 24);
let nextSerial = 0;

/** The hello's state until the connection is ready. */
interface Handshake {
  /** The upgrade request, for the authentication of the hello; dropped once used. */
  request: IncomingMessage | null;
  /** Closes a connection that does not complete its hello in time. */
  timer: NodeJS.Timeout;
  /** A hello is being authenticated: a second one is refused, not raced. */
  pending: boolean;
}

/**
 * What a connection holds only at times: its hello's state until it is ready, paged replies
 * going out, what a refusal left behind, a fragmented message's deadline, the rooms its
 * identity is limited to (tokens that say so), why it is closing. One object for all of them,
 * made when first needed and dropped when it holds nothing again: on an idle connection, which
 * needs none of them, that is one field instead of seven (8 bytes each, on every connection).
 */
class Occasional {
  handshake: Handshake | null = null;
  /** Made when a paged reply comes and dropped when the last is sent. */
  pager: ReplyPager | null = null;
  /** Made on the first refusal, kept from then on. */
  reads: ReadPause | null = null;
  /** Made on the first refused send, kept from then on: later sends wait for it, so a sender's messages keep their order. */
  sendOrder: SendOrderGate | null = null;
  /** See fragment-guard: set while a fragmented message is incomplete. */
  fragmentTimer: NodeJS.Timeout | null = null;
  /** Set while the identity has an end (a token's expiry): closes the connection then. */
  expiryTimer: NodeJS.Timeout | null = null;
  allowedRooms: readonly string[] | undefined = undefined;
  writeRooms: readonly string[] | undefined = undefined;
  /** Set when the server closes the connection; null: the client did (or the link died). */
  endReason: EndReason | null = null;
  /** What rooms hold for this reader while its catch-ups go out (see Room.deliver), all rooms together. */
  heldBytes = 0;

  get holdsNothing(): boolean {
    return this.handshake === null && this.pager === null && this.reads === null && this.sendOrder === null && this.fragmentTimer === null && this.expiryTimer === null && this.allowedRooms === undefined && this.writeRooms === undefined && this.endReason === null && this.heldBytes === 0;
  }
}

/**
 * One client's WebSocket on the server: parses every inbound frame at the edge, runs the
 * liveness engine, and hands chat requests to the hub. It lives from the upgrade until the
 * socket's 'close' event, when `onEnd` removes every trace of it.
 */
export class Connection implements Member, LivenessHost {
  /** Numbers this process's connections; the sessionId is made from it when asked for. */
  private readonly serial = nextSerial++;
  readonly rooms = new JoinedRooms();
  readonly engine: LivenessEngine;
  /** What the client's per-address limits count by (see ClientAddress.limitKey). */
  readonly ip: string;
  nick = "";
  clientId = "";
  userId = "";
  /** See Occasional: null while the connection needs none of it (an idle connection). */
  private occasional: Occasional | null = null;

  constructor(
    readonly socket: WebSocket,
    request: IncomingMessage,
    private readonly context: ConnectionContext,
    /** What the client's per-address limits count by (see ClientAddress.limitKey). */
    ip: string,
    private readonly rate: ConnectionRateLimiter = new RateLimiter(false).forConnection(""),
  ) {
    this.ip = sharedCopy(ip);
    const { options } = context;
    this.engine = new LivenessEngine(options.liveness, this, context.clock, options.engineOptions);
    const timer = setTimeout(() => this.closeWith(CloseCode.HandshakeTimeout, "handshake"), options.handshakeTimeoutMs);
    this.more.handshake = { request, timer, pending: false };
    // Listeners shared by all connections (`this` is the socket), not closures per connection:
    // on an idle server each closure is heap that every connection pays for.
    (socket as OwnedSocket)[CONNECTION] = this;
    socket.on("message", Connection.onSocketMessage);
    // ws's automatic pong is off (see startServer): WebSocket ping frames are answered here,
    // charged to the same rate limit as JSON pings, and so are pong frames.
    socket.on("ping", Connection.onSocketPing);
    socket.on("pong", Connection.onSocketPong);
    // 'error' must always have a listener: ws emits it for bad frames (1007, 1009) and an
    // unhandled one would crash the whole server.
    socket.on("error", Connection.onSocketError);
    socket.on("close", Connection.onSocketClose);
    if (!tapReceiver(socket, this) && !untappedWarned) {
      untappedWarned = true;
      options.log("ws's receiver is not what this server knows (another ws version?): fragment limits and the heartbeat shortcut are off", { event: "receiver_untapped" });
    }
  }

  get fragmentLimits(): FragmentLimits {
    return this.options;
  }
  get fragmentTimer(): NodeJS.Timeout | null {
    return this.occasional?.fragmentTimer ?? null;
  }
  set fragmentTimer(timer: NodeJS.Timeout | null) {
    if (timer !== null) {
      this.more.fragmentTimer = timer;
    } else if (this.occasional) {
      this.occasional.fragmentTimer = null;
      this.tidy();
    }
  }

  /** Rooms this identity may join: exact names and `prefix*`; undefined: all. */
  get allowedRooms(): readonly string[] | undefined {
    return this.occasional?.allowedRooms;
  }

  /** Rooms this identity may write in (see Identity.write); undefined: all but the read-only rooms. */
  get writeRooms(): readonly string[] | undefined {
    return this.occasional?.writeRooms;
  }

  /** The occasional state, made if there is none. */
  private get more(): Occasional {
    return (this.occasional ??= new Occasional());
  }
  /** Call after clearing a part of the occasional state: drops it once it holds nothing. */
  private tidy(): void {
    if (this.occasional?.holdsNothing) this.occasional = null;
  }
  private get endReason(): EndReason {
    return this.occasional?.endReason ?? "closed";
  }

  /** The client broke the fragment limits (see fragment-guard). */
  onFragmentLimit(why: string): void {
    this.options.log(`connection ${this.sessionId} (${this.nick || "no hello"}) sent ${why}: closed 4006`, { event: "fragment_limit", conn: this.sessionId, reason: why });
    this.closeWith(CloseCode.FragmentLimit, "closed", "fragment limits");
  }

  /** This connection's id in the welcome and in logs. */
  get sessionId(): string {
    return SESSION_PREFIX + this.serial.toString(16).padStart(12, "0");
  }

  private get options(): ResolvedOptions {
    return this.context.options;
  }
  private get hub(): ChatHub {
    return this.context.hub;
  }

  chargeHistoryBytes(bytes: number): void {
    const extra = Math.floor(bytes / HISTORY_BYTES_PER_REQUEST);
    if (extra > 0) this.rate.charge("history", extra);
  }

  mayReplay(messages: number): boolean {
    const pages = Math.ceil(messages / this.options.historyLimit) - 1;
    return pages <= 0 || this.rate.tryTake("history", pages);
  }

  /** Queues a paged reply (see ReplyPager); false, and the reply is finished unsent, when it cannot be. */
  enqueueReply(reply: PagedReply): boolean {
    if (!this.isOpen) {
      reply.finish(false);
      return false;
    }
    const more = this.more;
    return (more.pager ??= new ReplyPager(this, this.context.pagerSettings)).enqueue(reply);
  }

  mayEnqueueReply(): boolean {
    return this.isOpen && !(this.occasional?.pager?.full ?? false);
  }

  /** The pager sent every reply it had. */
  onRepliesSent(pager: ReplyPager): void {
    if (this.occasional?.pager !== pager) return;
    this.occasional.pager = null;
    this.tidy();
  }

  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }
  get ready(): boolean {
    return this.nick !== "";
  }

  send(message: ServerMessage): void {
    this.sendFrame(Buffer.from(JSON.stringify(message)));
  }

  sendFrame(frame: Buffer): void {
    if (!this.isOpen) return;
    this.socket.send(frame, { binary: false });
    this.afterSend();
  }

  afterSend(): void {
    this.engine.noteSent();
    const queued = this.socket.bufferedAmount;
    if (queued === 0) return;
    this.context.queuedBudget?.noteQueued(this);
    // The server's own reply pages may sit on top of the budget: they are paced, not piled up.
    if (queued > this.options.maxBufferedBytes + ReplyPager.allowanceBytes) {
      this.cutSlow(`exceeded ${this.options.maxBufferedBytes} buffered bytes`);
    }
  }

  /** The server-wide queued-bytes budget is exceeded and this reader holds the most. */
  cutForBudget(): void {
    this.cutSlow(`held ${this.socket.bufferedAmount} queued bytes when the server's budget of ${this.options.maxQueuedBytesTotal} was exceeded`);
  }

  /**
   * What the rooms hold for this reader during its catch-ups changed by `deltaBytes`: false once
   * all rooms' together pass the send budget, and then the reader is cut as a slow consumer.
   */
  holdFrames(deltaBytes: number): boolean {
    const more = this.more;
    more.heldBytes += deltaBytes;
    if (more.heldBytes <= this.options.maxBufferedBytes) {
      if (more.heldBytes === 0) this.tidy();
      return true;
    }
    this.cutSlow(`had ${more.heldBytes} bytes of live frames held while its catch-ups waited (more than ${this.options.maxBufferedBytes})`);
    return false;
  }

  /** A reply page waited too long for the reader to make room. */
  onReplyStall(): void {
    this.cutSlow(`read nothing for ${this.options.replayStallMs} ms while a reply waited`);
  }

  /**
   * A reader this slow would grow our memory without bound: a 4003 close frame (behind what is
   * already buffered, so a reader that wakes up learns why), then terminate after the grace.
   * It may reconnect and resume by seq.
   */
  private cutSlow(why: string): void {
    if (this.endReason === "slow") return;
    this.options.log(`connection ${this.sessionId} (${this.nick}) ${why}: closed 4003`, { event: "slow_consumer", conn: this.sessionId, user: this.userId, reason: "slow" });
    this.closeWith(CloseCode.SlowConsumer, "slow", "reading too slowly", this.options.slowConsumerGraceMs);
  }

  /** Ends the connection with a close code (a close frame, then terminate if the peer stalls). */
  closeWith(code: number, reason: EndReason, text = "", graceMs = 2_000): void {
    // Already closing: the first close frame and its deadline stand.
    if (this.socket.readyState !== WebSocket.OPEN) return;
    this.more.endReason = reason;
    this.socket.close(code, text);
    this.occasional?.reads?.closing();
    // A dead peer never answers the close handshake; don't wait ws's 30 s for it.
    const hard = setTimeout(() => this.socket.terminate(), graceMs);
    hard.unref();
    this.socket.once("close", () => clearTimeout(hard));
  }

  // LivenessHost: the connection itself, so no closures per connection.
  sendPing(ping: PingMessage): void {
    // A template, not JSON.stringify: idle servers send little else.
    this.sendFrame(Buffer.from(`{"type":"ping","id":${ping.id},"sentAt":${ping.sentAt}}`));
  }
  bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }
  onRttSample(ms: number): void {
    this.hub.metrics.rtt.observe(ms / 1000);
  }
  onHealthChange(change: HealthChange): void {
    this.hub.metrics.verdicts.inc({ side: "server", verdict: change.next, reason: change.reason });
    if (change.next === "dead") {
      this.options.log(`connection ${this.sessionId} (${this.nick || "no hello"}) silent for ${change.silentForMs} ms (${this.socket.bufferedAmount} bytes unsent): terminated`, { event: "liveness_dead", conn: this.sessionId, user: this.userId || undefined, reason: change.reason, ms: change.silentForMs });
      this.more.endReason = "timeout";
      // terminate(), not close(): the peer is presumed gone and would never complete a close.
      this.socket.terminate();
    }
  }

  /** ws's listeners, shared by all connections: `this` is the socket. */
  static onSocketMessage(this: WebSocket, data: WebSocket.RawData, isBinary: boolean): void {
    (this as OwnedSocket)[CONNECTION]?.onFrame(data as Buffer, isBinary);
  }
  static onSocketPing(this: WebSocket, data: Buffer): void {
    (this as OwnedSocket)[CONNECTION]?.onControlPing(data);
  }
  static onSocketPong(this: WebSocket): void {
    (this as OwnedSocket)[CONNECTION]?.onControlPong();
  }
  static onSocketError(this: WebSocket, err: Error): void {
    const conn = (this as OwnedSocket)[CONNECTION];
    conn?.options.log(`connection ${conn.sessionId}: ${err.message}`, { event: "connection_error", conn: conn.sessionId, err: err.message });
  }
  static onSocketClose(this: WebSocket, code: number, reason: Buffer): void {
    (this as OwnedSocket)[CONNECTION]?.end(code, reason.toString());
  }

  /** A whole canonical ping, taken before ws parsed it (see receiver-intake). */
  onCanonicalPing(pong: Buffer): void {
    this.engine.noteInbound();
    if (!this.isOpen || !this.admitted(null, null)) return;
    this.answerPing(pong);
  }

  /**
   * A WebSocket ping frame (not part of Pulse's protocol, but some client libraries keep a link
   * alive with them): heard from the peer, and answered with a pong if the `pings` limit allows.
   * Before, ws answered every one: a single connection pacing 13,000 ping frames a second (fewer
   * than ws's 60 unanswered pongs per read, which it cuts) took 16 % of a core with every limit
   * at its default, where the same flood of JSON pings is paused by the limit and took 1 %.
   */
  private onControlPing(data: Buffer): void {
    this.engine.noteInbound();
    if (!this.isOpen) return;
    this.hub.metrics.frameReceived("control_ping");
    if (!this.admitted(null, null)) return;
    this.socket.pong(data);
    this.afterSend();
  }

  /**
   * A WebSocket pong frame: the server sends no ping frames, so it answers nothing, but it is
   * charged to the `pings` limit all the same. Before, nothing limited them: one connection
   * sent 1.9 million pong frames in 10 s, as fast as it could, and the server took 83 % of a
   * core reading them.
   */
  private onControlPong(): void {
    this.engine.noteInbound();
    if (!this.isOpen) return;
    this.hub.metrics.frameReceived("control_pong");
    this.admitted(null, null);
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    this.engine.noteInbound();
    // Closing (cut, rate limits ignored): what still arrives is not served.
    if (!this.isOpen) return;
    // A ping in the reference client's form that reached ws (it shared a chunk with other
    // input) is still answered without decoding it (see isCanonicalPing).
    const canonicalPing = !isBinary && isCanonicalPing(data);
    const message = isBinary || canonicalPing ? null : parseClientMessage(data.toString());
    const request = message && !isProtocolError(message) ? message : null;
    const send = request?.type === "send" ? request : null;
    if (!this.admitted(request, send)) return;
    if (isBinary) {
      this.hub.metrics.frameReceived("binary");
      return this.send({ type: "error", code: ErrorCode.BinaryNotSupported, message: "Pulse speaks JSON text frames only" });
    }
    if (canonicalPing) return this.answerPing(pongFrameOf(data));
    this.hub.metrics.frameReceived(isProtocolError(message) ? "invalid" : request!.type);
    if (isProtocolError(message)) return this.send({ type: "error", code: message!.code, message: message!.message });
    this.dispatch(request!);
  }

  /**
   * The rate limits' verdict on a frame (request: null for pings and frames that did not parse).
   * A refusal is answered here, and the client is not read from for its retry time.
   */
  private admitted(request: ClientMessage | null, send: SendMessage | null): boolean {
    // A send behind a refused one waits for it (see SendOrderGate), without using a token.
    const sendOrder = this.occasional?.sendOrder ?? null;
    const behind = send && sendOrder ? sendOrder.waitFor(send.room, send.id, Date.now()) : 0;
    const verdict: Admission = behind > 0 ? { ok: false, retryAfterMs: behind, abusive: this.rate.refuseOther() } : this.rate.admit(rateKindOf(request), send ? Buffer.byteLength(send.text) : 0, send ? this.hub.recipientsOf(this, send.room) : 0);
    if (verdict.ok) {
      if (send) sendOrder?.admitted(send.room, send.id);
      return true;
    }
    if (verdict.abusive) {
      this.closeWith(CloseCode.RateLimited, "closed", "rate limits ignored");
      return false;
    }
    const more = this.more;
    if (send) (more.sendOrder ??= new SendOrderGate()).refused(send.room, send.id, verdict.retryAfterMs, Date.now());
    // What it sends meanwhile waits in its own socket (frames already read are still served).
    (more.reads ??= new ReadPause(this.socket, MAX_READ_PAUSE_MS)).pauseFor(verdict.retryAfterMs);
    const refusal = refusalOf(request, verdict.retryAfterMs);
    if (refusal) this.send(refusal);
    if (send) this.hub.metrics.countRefused(ErrorCode.RateLimited);
    return false;
  }

  /** Counted, then written at once as a frame built in one piece (see writeFramed). */
  private answerPing(pong: Buffer): void {
    this.hub.metrics.pingReceived();
    writeFramed(this, pong, PONG_HEADER_BYTES);
  }

  private dispatch(m: ClientMessage): void {
    switch (m.type) {
      case "ping":
        return this.sendFrame(Buffer.from(`{"type":"pong","id":${m.id},"sentAt":${m.sentAt}}`));
      case "pong":
        return this.engine.onPong(m);
      case "hello":
        void this.hello(m).catch((err: Error) => {
          this.options.log(`connection ${this.sessionId}: hello failed: ${err.message}`, { event: "hello_failed", conn: this.sessionId, err: err.message });
          this.closeWith(CloseCode.InternalError, "closed", "could not sign in; try again");
        });
        return;
    }
    if (!this.ready) {
      return this.send({ type: "error", code: ErrorCode.NotReady, message: "send 'hello' first" });
    }
    switch (m.type) {
      case "join":
        void this.hub.join(this, m.room, m.since, m.epoch);
        return;
      case "leave":
        return this.hub.leaveRequested(this, m.room);
      case "send":
        void this.hub.send(this, m.room, m.id, m.text).then((verdict) => {
          // Refused by the store: the sends after it wait for it, as after a rate-limit refusal.
          if (verdict !== null) (this.more.sendOrder ??= new SendOrderGate()).refused(m.room, m.id, verdict, Date.now());
        });
        return;
      case "history":
        void this.hub.history(this, m.room, m.before, m.limit);
        return;
      case "who":
        return this.hub.who(this, m.room, m.after, m.limit);
    }
  }

  /**
   * Turns the hello's claims into an identity the server vouches for: the authentication
   * mode proves the user, the nickname is normalised and claimed for that user, and only
   * then does the connection become ready.
   */
  private async hello(m: HelloMessage): Promise<void> {
    const handshake = this.occasional?.handshake ?? null;
    if (handshake === null || handshake.pending) return this.send({ type: "error", code: ErrorCode.AlreadyHello, message: "hello was already sent" });
    if (!validId(m.clientId)) {
      return this.closeWith(CloseCode.PolicyViolation, "closed", "hello needs a clientId of 1-128 visible ASCII characters");
    }
    if (m.token !== undefined && m.token.length > MAX_TOKEN_LENGTH) {
      return this.closeWith(CloseCode.Unauthorized, "closed", "token too long");
    }
    handshake.pending = true;
    // Needed once, here: let it go (headers and parser state, about 2 KiB per connection).
    const request = handshake.request!;
    handshake.request = null;
    const result = await this.context.auth.authenticate(request, { nick: m.nick, ...(m.token !== undefined ? { token: m.token } : {}) });
    if (!this.isOpen) return;
    if (isRefusal(result)) return this.closeWith(result.refuse.code, "closed", result.refuse.reason.slice(0, 120));
    // An identity out of bounds is the hook's fault, not the client's: treated as a hook that threw.
    const problem = identityProblem(result);
    if (problem !== null) throw new Error(`authenticate returned an unusable identity: ${problem}`);
    if (this.context.denied.deniesUser(result.userId)) return this.closeWith(CloseCode.PolicyViolation, "denied", DENIED_TEXT);
    const name = normalizeName(result.name ?? m.nick, this.options.maxNickLength);
    if (!name.ok) return this.closeWith(CloseCode.InvalidNickname, "closed", `invalid nickname: ${name.reason}`.slice(0, 120));
    const key = nicknameKey(name.name);
    if (Buffer.byteLength(key) > MAX_KEY_BYTES_PER_CODE_POINT * this.options.maxNickLength) {
      return this.closeWith(CloseCode.InvalidNickname, "closed", "invalid nickname: too long once compared for look-alikes");
    }
    const claim = await this.hub.nicknames.claim(name.name, result.userId, key);
    if (!claim.ok) return this.closeWith(CloseCode.NicknameTaken, "closed", "nickname taken");
    if (!this.isOpen) return this.hub.nicknames.release(claim.key);
    // Asked again: a deny list loaded while the claim waited on the store (Redis) passed this
    // connection by, since it had no user yet.
    if (this.context.denied.deniesUser(result.userId)) {
      this.hub.nicknames.release(claim.key);
      return this.closeWith(CloseCode.PolicyViolation, "denied", DENIED_TEXT);
    }
    this.becomeReady(m.clientId, claim.nick, result);
    const { auth } = this.context;
    const token = auth.issueResumeToken ? await auth.issueResumeToken(result, name.name) : undefined;
    if (!this.isOpen) return;
    const { liveness, retry, maxPayloadBytes, maxTextLength, maxRooms, maxNickLength, historyLimit } = this.options;
    this.send({
      type: "welcome",
      protocol: PROTOCOL_VERSION,
      sessionId: this.sessionId,
      nick: this.nick,
      userId: this.userId,
      ...(token !== undefined ? { token } : {}),
      epoch: this.hub.epoch,
      serverTime: Date.now(),
      liveness,
      retry,
      limits: { maxPayloadBytes, maxTextLength, maxRooms, maxNickLength },
      historyLimit,
    });
  }

  private becomeReady(clientId: string, nick: string, identity: Identity): void {
    this.endHandshake();
    this.clientId = clientId;
    this.userId = identity.userId;
    if (identity.rooms !== undefined) this.more.allowedRooms = asRoomsAreNamed(identity.rooms);
    if (identity.write !== undefined) this.more.writeRooms = asRoomsAreNamed(identity.write);
    this.nick = nick;
    // Who is behind a name, and from where: what an operator needs to deny one of them.
    this.options.log(`connection ${this.sessionId}: ${nick} (${identity.userId}) from ${this.ip}`, { event: "connection_ready", conn: this.sessionId, user: identity.userId, nick, limitKey: this.ip });
    // Last: an end already past closes the connection now, as one whose name is claimed.
    if (identity.expiresAt !== undefined) this.closeAt(identity.expiresAt);
  }

  /**
   * Closes the connection with 4008 once `expiresAt` (Date.now() ms) has passed: a token's
   * rights end with the token, not with the connection (a revoked user, a room taken away).
   * setTimeout takes at most 2^31-1 ms (about 24.8 days): a later end is waited for in steps.
   */
  private closeAt(expiresAt: number): void {
    const left = expiresAt - Date.now();
    if (!(left > 0)) return this.closeWith(CloseCode.TokenExpired, "expired", EXPIRED_TEXT);
    const timer = setTimeout(() => {
      if (this.occasional) this.occasional.expiryTimer = null;
      if (this.isOpen) this.closeAt(expiresAt);
    }, Math.min(left, MAX_TIMER_MS));
    timer.unref();
    this.more.expiryTimer = timer;
  }

  private endHandshake(): void {
    const occasional = this.occasional;
    if (occasional?.handshake) {
      clearTimeout(occasional.handshake.timer);
      occasional.handshake = null;
      this.tidy();
    }
  }

  private end(closeCode: number, closeReason: string): void {
    // The client's own liveness verdict, when its close frame reached us (a dead link delivers
    // none). Pulse clients also close with 4000 to resync; the reason text tells them apart.
    if ((closeCode === CloseCode.HeartbeatTimeout || closeCode === CloseCode.ProbeTimeout) && closeReason.startsWith(describeClose(closeCode))) {
      this.hub.metrics.verdicts.inc({ side: "client", verdict: "dead", reason: closeCode === CloseCode.ProbeTimeout ? "probe-timeout" : "timeout" });
    }
    this.endHandshake();
    const occasional = this.occasional;
    occasional?.pager?.close();
    if (occasional) occasional.pager = null;
    occasional?.reads?.stop();
    if (occasional?.expiryTimer) clearTimeout(occasional.expiryTimer);
    if (occasional) occasional.expiryTimer = null;
    this.rate.release();
    this.hub.disconnect(this, this.endReason === "timeout" ? "timeout" : "closed");
    // The key is derived again rather than kept on every connection: `nick` is the form the
    // claim returned, whose key is the one claimed.
    if (this.ready) this.hub.nicknames.release(nicknameKey(this.nick));
    this.socket.removeAllListeners("message");
    untapReceiver(this.socket);
    this.context.onEnd(this, this.endReason);
  }
}
