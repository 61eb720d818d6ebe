import type { ChatMessage, ErrorMessage, LivenessSettings } from "../protocol/messages.js";

/**
 * The connection as the user should see it. Changed only by PulseClient's one transition
 * method, which emits `state` with (next, previous).
 */
export type ConnectionState =
  | { kind: "idle" }
  | { kind: "connecting"; attempt: number }
  | { kind: "open"; since: number; rttMs: number | null }
  /** Nothing heard for longer than suspectMs: "server not responding". */
  | { kind: "suspect"; silentSince: number; since: number }
  | { kind: "reconnecting"; attempt: number; retryAt: number; reason: string }
  /** The host says it has no network (browser `offline` event). */
  | { kind: "offline"; since: number }
  /** Terminal: a non-retryable close code, or close() was called. */
  | { kind: "closed"; code: number; reason: string };

export type ConnectionStateKind = ConnectionState["kind"];

export type OutboxStatus = "pending" | "sent" | "failed";

/** A message the user sent, as the UI shows it until and after the server acknowledges it. */
export interface OutboxEntry {
  id: string;
  room: string;
  text: string;
  status: OutboxStatus;
  /** Client time the message was first queued. */
  createdAt: number;
  /** Set once acked. */
  seq?: number;
  /** Why it failed (status "failed"). */
  error?: string;
}

export interface RoomJoinedEvent {
  room: string;
  /** false: the view of the room must be rebuilt from `messages` (a gap could not be served). */
  recovered: boolean;
  /** true on the first join of this room; false on a rejoin after reconnect. */
  first: boolean;
  messages: ChatMessage[];
  /** All nicknames online when onlineCount is at most the server's onlineListMax, else the first page. */
  online: string[];
  onlineCount: number;
  /** true: the server lets this user read the room but not write in it (a send would fail with `forbidden`). */
  readOnly: boolean;
}

export interface PresenceEvent {
  room: string;
  event: "join" | "leave";
  nick: string;
  online: string[];
  onlineCount: number;
}

/** The room's online view changed (joined, presence, or a `who` page). */
export interface OnlineEvent {
  room: string;
  /** Nicknames known online: complete when online.length === onlineCount. */
  online: string[];
  onlineCount: number;
  /** Set when a `who` answer caused this: that page, and whether more follow it. */
  page?: string[];
  more?: boolean;
}

export interface HistoryEvent {
  room: string;
  messages: ChatMessage[];
  hasMore: boolean;
}

export interface DisconnectInfo {
  code: number;
  reason: string;
  at: number;
}

export interface RttInfo {
  lastMs: number | null;
  smoothedMs: number | null;
}

export interface PulseClientEvents {
  state: (next: ConnectionState, prev: ConnectionState) => void;
  /** A chat message, live or replayed, delivered once per (room, seq). */
  message: (message: ChatMessage) => void;
  joined: (event: RoomJoinedEvent) => void;
  presence: (event: PresenceEvent) => void;
  /** After every `joined`, `presence` frame and `who` answer: the online view to show. */
  online: (event: OnlineEvent) => void;
  history: (event: HistoryEvent) => void;
  /** An outbox entry was added or changed status. */
  outbox: (entry: OutboxEntry) => void;
  /** A structured error from the server (connection stays open). */
  error: (error: Omit<ErrorMessage, "type">) => void;
}

/** The minimal WebSocket surface the client uses: the browser's global or `ws`. */
export interface WebSocketLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  readonly protocol: string;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
/**
 * The browser's WebSocket takes two arguments and ignores a third; `ws` reads its options
 * there (see SOCKET_OPTIONS in pulse-client.ts).
 */
export type WebSocketFactory = new (url: string, protocols: string | string[], options?: SocketOptions) => WebSocketLike;

/** The options the client gives a WebSocket constructor that takes them (`ws` in Node). */
export interface SocketOptions {
  maxPayload: number;
  maxBufferedChunks: number;
  perMessageDeflate: boolean;
}

/** Key-value storage for the outbox (sessionStorage in browsers). */
export interface OutboxStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface PulseClientOptions {
  /**
   * ws:// or wss:// URL of the server's WebSocket endpoint, or several nodes' URLs serving
   * one chat (on one Redis): after a lost or failed connection the client tries the next one,
   * with the same backoff. Default: none (required).
   */
  url: string | readonly string[];
  nick: string;
  /**
   * For servers in token mode: the JWT your login issued, or a function that returns a fresh
   * one (called before every connect: when the server closes a link because its token expired,
   * 4008, the client reconnects and asks for a fresh one). Anonymous servers need none: the client keeps the
   * resume token each `welcome` carries and presents it on the next hello.
   */
  token?: string | (() => string | Promise<string>);
  /**
   * Where the resume token is kept, so a reload or another tab is the same user and gets its
   * nickname back (localStorage in browsers). Default: `storage`; without either, memory only
   * (still the same user across reconnects of this client).
   */
  identityStorage?: OutboxStorage;
  /** Scopes client message ids; one per tab/process. Default: random (restored from storage). */
  clientId?: string;
  /** WebSocket constructor. Default: globalThis.WebSocket (Node 20: pass `ws`). */
  WebSocket?: WebSocketFactory;
  /** Where the outbox survives a reload. Default: none (memory only). */
  storage?: OutboxStorage;
  /**
   * Messages on the wire unacknowledged at most; the rest of the outbox waits its turn (a
   * whole outbox at once would run into the server's rate limits). Default 10.
   */
  maxInFlight?: number;
  /**
   * Max unsent messages kept. A send beyond it is queued and the oldest unsent message is given
   * up: its `outbox` event says `failed` ("outbox full"). Default 1000.
   */
  outboxLimit?: number;
  /**
   * After a gap the server could not replay (`joined` with `recovered: false`), the client
   * pages back through `history` to what it had. With this set it stops after this many of the
   * gap's newest messages; the last `history` event says `hasMore`, and `loadOlder` pages on.
   * An app that shows only so many messages sets it (the web page: its row budget, 1,000).
   * Default: no limit, the whole gap.
   */
  maxBackfill?: number;
  /** Reconnect backoff: full jitter in [0, min(capMs, baseMs * 2^attempt)]. Defaults 500 / 30000; server advice wins. */
  backoff?: { baseMs?: number; capMs?: number };
  /** Liveness before the server's welcome arrives (then the server's settings are adopted). */
  liveness?: Partial<LivenessSettings>;
  /** Deadline for a probe ping (on `online`, on becoming visible, before a send after idle). Default 2000. */
  probeTimeoutMs?: number;
  /** A send after this long without inbound traffic probes first. Default 2 x intervalMs. */
  idleProbeAfterMs?: number;
  /**
   * A link that closes sooner than this after its welcome is short-lived. The backoff restarts
   * at each welcome from the number of short-lived links in a row (0 after a stable one), so a
   * server that keeps accepting and dropping gets a growing backoff. Default 10000.
   */
  stableAfterMs?: number;
  /**
   * In a room above the server's onlineListMax, `presence` carries only the count and
   * `online(room)` is a sample of names that may hold people who left. On a count change, the
   * client asks for a fresh sample (a `who` from the start) once this long has passed since
   * the last (by a timer if the count came sooner), plus up to half of it at random so a full
   * room does not ask all at once. A name that left is shown at most this long and a half,
   * plus the count's own delay. Default 30000.
   */
  onlineSampleRefreshMs?: number;
  /** Open the connection in the constructor. Default true. */
  autoConnect?: boolean;
}
