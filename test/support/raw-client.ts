import WebSocket from "ws";
import { SUBPROTOCOL, type PresenceChange, type ServerMessage, type WelcomeMessage } from "../../src/protocol/messages.js";
import { waitFor } from "./wait.js";

/**
 * A bare `ws` client speaking the protocol by hand: for tests that need to misbehave (stay
 * silent, send garbage) or to see every frame.
 */
export class RawClient {
  readonly received: ServerMessage[] = [];
  closed: { code: number; reason: string } | null = null;
  /** When true, pings are not answered (a client whose app froze). */
  silent = false;
  /** The server's welcome, once `hello()` got it: its `token` makes another tab of this user. */
  welcome: WelcomeMessage | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data, isBinary) => {
      if (isBinary) return;
      const m = JSON.parse(data.toString()) as ServerMessage;
      this.received.push(m);
      if (m.type === "ping" && !this.silent) this.send({ type: "pong", id: m.id, sentAt: m.sentAt });
    });
    ws.on("close", (code, reason) => (this.closed = { code, reason: reason.toString() }));
    ws.on("error", () => {});
  }

  /**
   * `headers`: extra upgrade request headers (`X-Forwarded-For` as if through a proxy);
   * `localAddress`: the address to connect from (any 127.x.y.z is this machine).
   */
  static async connect(url: string, protocols: string[] = [SUBPROTOCOL], headers?: Record<string, string>, localAddress?: string): Promise<RawClient> {
    const ws = new WebSocket(url, protocols, { ...(headers ? { headers } : {}), ...(localAddress ? { localAddress } : {}) });
    const client = new RawClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return client;
  }

  /**
   * Connects and says hello; resolves once welcomed. Without `token`, a new anonymous user;
   * with an earlier welcome's token, the same user again (another tab, a reconnect).
   */
  static async hello(url: string, nick: string, token?: string, headers?: Record<string, string>, localAddress?: string): Promise<RawClient> {
    const c = await RawClient.connect(url, [SUBPROTOCOL], headers, localAddress);
    c.send({ type: "hello", clientId: `raw-${nick}`, nick, ...(token !== undefined ? { token } : {}) });
    c.welcome = await c.next("welcome");
    return c;
  }

  send(message: object | string): void {
    this.ws.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  /** Waits for the first received message of `type` matching `where`, counting from `from`. */
  async next<T extends ServerMessage["type"]>(type: T, where: (m: Extract<ServerMessage, { type: T }>) => boolean = () => true, timeoutMs = 5_000): Promise<Extract<ServerMessage, { type: T }>> {
    return waitFor(
      () => this.received.find((m): m is Extract<ServerMessage, { type: T }> => m.type === type && where(m as Extract<ServerMessage, { type: T }>)),
      `a '${type}' message`,
      timeoutMs,
      5,
    );
  }

  /** Every presence change received so far, in order. */
  presenceChanges(): PresenceChange[] {
    return this.received.flatMap((m) => (m.type === "presence" ? m.changes : []));
  }

  /** Waits for a presence change of `nick` (frames carry batches of changes). */
  async nextPresence(nick: string, event: "join" | "leave", timeoutMs = 5_000): Promise<PresenceChange> {
    return waitFor(() => this.presenceChanges().find((c) => c.nick === nick && c.event === event), `presence ${event} of ${nick}`, timeoutMs, 5);
  }

  async waitClosed(timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
    return waitFor(() => this.closed, "the socket to close", timeoutMs, 5);
  }

  close(): void {
    this.ws.terminate();
  }
}
