import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import type { ClientMessage, PingMessage, ServerMessage } from "../protocol/messages.js";
import { ErrorCode, PROTOCOL_VERSION } from "../protocol/messages.js";
import { CloseCode } from "../protocol/close-codes.js";
import { isCanonicalPing, isProtocolError, parseClientMessage, pongOf } from "../protocol/parse.js";
import { LivenessEngine, type HealthChange, type LivenessHost } from "../liveness/liveness-engine.js";
import type { Clock } from "../liveness/clock.js";
import type { ChatHub, Member } from "./chat-hub.js";
import type { ResolvedOptions } from "./options.js";
import { validName } from "./nicknames.js";

/** Why a connection ended, for logs and presence. */
export type EndReason = "closed" | "timeout" | "slow" | "handshake" | "shutdown";

/**
 * One client's WebSocket on the server: parses every inbound frame at the edge, runs the
 * liveness engine, and hands chat requests to the hub. It lives from the upgrade until the
 * socket's 'close' event, when `onEnd` removes every trace of it.
 */
export class Connection implements Member, LivenessHost {
  readonly sessionId = randomUUID();
  readonly rooms = new Set<string>();
  readonly engine: LivenessEngine;
  nick = "";
  clientId = "";
  private handshakeTimer: NodeJS.Timeout | null;
  private endReason: EndReason = "closed";

  constructor(
    readonly socket: WebSocket,
    private readonly hub: ChatHub,
    private readonly options: ResolvedOptions,
    clock: Clock,
    private readonly onEnd: (conn: Connection, reason: EndReason) => void,
  ) {
    this.engine = new LivenessEngine(options.liveness, this, clock, { role: options.pingRole });
    this.handshakeTimer = setTimeout(() => this.closeWith(CloseCode.HandshakeTimeout, "handshake"), options.handshakeTimeoutMs);
    socket.on("message", (data, isBinary) => this.onFrame(data as Buffer, isBinary));
    // 'error' must always have a listener: ws emits it for bad frames (1007, 1009) and an
    // unhandled one would crash the whole server.
    socket.on("error", (err) => this.options.log(`connection ${this.sessionId}: ${err.message}`));
    socket.on("close", () => this.end());
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
    if (this.socket.bufferedAmount > this.options.maxBufferedBytes) {
      // A reader this slow would grow our memory without bound; drop it, it can resume by seq.
      this.options.log(`connection ${this.sessionId} (${this.nick}) exceeded ${this.options.maxBufferedBytes} buffered bytes`);
      this.endReason = "slow";
      this.socket.terminate();
    }
  }

  /** Ends the connection with a close code (a close frame, then terminate if the peer stalls). */
  closeWith(code: number, reason: EndReason, text = ""): void {
    this.endReason = reason;
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close(code, text);
    // A dead peer never answers the close handshake; don't wait ws's 30 s for it.
    const hard = setTimeout(() => this.socket.terminate(), 2_000);
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
  onHealthChange(change: HealthChange): void {
    if (change.next === "dead") {
      this.options.log(`connection ${this.sessionId} (${this.nick || "no hello"}) silent for ${change.silentForMs} ms (${this.socket.bufferedAmount} bytes unsent): terminated`);
      this.endReason = "timeout";
      // terminate(), not close(): the peer is presumed gone and would never complete a close.
      this.socket.terminate();
    }
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    this.engine.noteInbound();
    if (isBinary) {
      return this.send({ type: "error", code: ErrorCode.BinaryNotSupported, message: "Pulse speaks JSON text frames only" });
    }
    // The reference client's heartbeat, answered without decoding it (see isCanonicalPing).
    if (isCanonicalPing(data)) return this.sendFrame(pongOf(data));
    const message = parseClientMessage(data.toString());
    if (isProtocolError(message)) return this.send({ type: "error", code: message.code, message: message.message });
    this.dispatch(message);
  }

  private dispatch(m: ClientMessage): void {
    switch (m.type) {
      case "ping":
        return this.sendFrame(Buffer.from(`{"type":"pong","id":${m.id},"sentAt":${m.sentAt}}`));
      case "pong":
        return this.engine.onPong(m);
      case "hello":
        return this.hello(m.nick, m.clientId, m.userKey);
    }
    if (!this.ready) {
      return this.send({ type: "error", code: ErrorCode.NotReady, message: "send 'hello' first" });
    }
    switch (m.type) {
      case "join":
        void this.hub.join(this, m.room, m.since, m.epoch);
        return;
      case "leave":
        this.hub.leave(this, m.room, "left");
        return this.send({ type: "left", room: m.room });
      case "send":
        void this.hub.send(this, m.room, m.id, m.text);
        return;
      case "history":
        void this.hub.history(this, m.room, m.before, m.limit);
        return;
      case "who":
        return this.hub.who(this, m.room, m.after, m.limit);
    }
  }

  private hello(nick: string, clientId: string, userKey: string): void {
    if (this.ready) return this.send({ type: "error", code: ErrorCode.AlreadyHello, message: "hello was already accepted" });
    if (!validName(nick, this.options.maxNickLength)) {
      return this.closeWith(CloseCode.InvalidNickname, "closed", "invalid nickname");
    }
    if (!clientId || clientId.length > 128 || !userKey || userKey.length > 256) {
      return this.send({ type: "error", code: ErrorCode.BadMessage, message: "hello needs a clientId (1-128) and a userKey (1-256)" });
    }
    if (!this.hub.nicknames.claim(nick, userKey)) {
      return this.closeWith(CloseCode.NicknameTaken, "closed", "nickname taken");
    }
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    this.nick = nick;
    this.clientId = clientId;
    const { liveness, retry, maxPayloadBytes, maxTextLength, maxRooms, maxNickLength, historyLimit } = this.options;
    this.send({
      type: "welcome",
      protocol: PROTOCOL_VERSION,
      sessionId: this.sessionId,
      nick,
      epoch: this.hub.epoch,
      serverTime: Date.now(),
      liveness,
      retry,
      limits: { maxPayloadBytes, maxTextLength, maxRooms, maxNickLength },
      historyLimit,
    });
  }

  private end(): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    this.hub.disconnect(this, this.endReason === "timeout" ? "timeout" : "closed");
    this.socket.removeAllListeners("message");
    this.onEnd(this, this.endReason);
  }
}
