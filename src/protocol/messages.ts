/**
 * Pulse wire protocol v1: JSON text frames, one message per frame, each an object with a
 * `type` field. The full description for implementers is docs/protocol.md.
 */

/** Negotiated in `Sec-WebSocket-Protocol`; a server refuses other versions. */
export const PROTOCOL_VERSION = 1;
export const SUBPROTOCOL = "pulse.v1";

/** Liveness settings as the server advertises them in `welcome`; clients adopt them. */
export interface LivenessSettings {
  /** Send a ping after this long without sending anything (and only with an empty send buffer). */
  intervalMs: number;
  /** Silence (nothing received) longer than this makes the peer `suspect`. */
  suspectMs: number;
  /** Silence longer than this makes the peer `dead`: the link is torn down. */
  timeoutMs: number;
  /**
   * Optional (absent or 0: none). An idle client may send its ping at the last multiple of this
   * in the server's clock (welcome.serverTime) before the ping is due: the server then reads
   * its clients' pings in bursts, which costs it less than one wake per ping. At most
   * intervalMs / 2; a ping moved so comes earlier, never later.
   */
  pingSlotMs?: number;
}

/** Server advice for the client's reconnect backoff. */
export interface RetryAdvice {
  baseMs: number;
  capMs: number;
}

export interface ServerLimits {
  maxPayloadBytes: number;
  /** In Unicode code points. */
  maxTextLength: number;
  maxRooms: number;
  /** In Unicode code points, after NFKC normalisation. */
  maxNickLength: number;
}

/**
 * A chat message as delivered. `seq` is per room, gap-free, starting at 1. It names its
 * sender by nickname only: the sender's ids stay on the server, so nothing in a broadcast
 * helps another connection to pose as the sender or to pre-empt its message ids. A sender
 * knows its own messages by the `seq` in its `ack`.
 */
export interface ChatMessage {
  room: string;
  seq: number;
  from: string;
  text: string;
  /** Server time (ms since the epoch) when the message was first stored. */
  ts: number;
}

// ---------------------------------------------------------------- client -> server

export interface HelloMessage {
  type: "hello";
  /** Stable per client instance (a browser tab, a CLI process); scopes message ids. */
  clientId: string;
  /** The nickname asked for; a token's `name` claim, when present, wins. */
  nick: string;
  /**
   * Proof of identity. Anonymous servers: the resume token from an earlier `welcome` (absent
   * on a first visit). Token servers: the JWT the deployer's login issued.
   */
  token?: string;
}
export interface JoinMessage {
  type: "join";
  room: string;
  /** Resume: the last sequence number the client saw in this room. */
  since?: number;
  /** The store epoch `since` belongs to (from the welcome the client last saw). */
  epoch?: string;
}
export interface LeaveMessage {
  type: "leave";
  room: string;
}
export interface SendMessage {
  type: "send";
  room: string;
  /** Client message id, unique per (user, clientId); the same id in another room is refused. */
  id: string;
  text: string;
}
export interface HistoryRequest {
  type: "history";
  room: string;
  /** Return messages with seq strictly below this. */
  before: number;
  limit?: number;
}
/** Who is online in a room, a page at a time, in UTF-16 code-unit order of the nicknames. */
export interface WhoRequest {
  type: "who";
  room: string;
  /** Start after this nickname (the last one of the previous page). Default: from the start. */
  after?: string;
  /** Names per page, 1..onlineListMax. Default onlineListMax. */
  limit?: number;
}
export interface PingMessage {
  type: "ping";
  id: number;
  /** Sender's clock when the ping was sent; echoed in the pong. */
  sentAt: number;
}
export interface PongMessage {
  type: "pong";
  id: number;
  sentAt: number;
}

export type ClientMessage =
  | HelloMessage
  | JoinMessage
  | LeaveMessage
  | SendMessage
  | HistoryRequest
  | WhoRequest
  | PingMessage
  | PongMessage;

// ---------------------------------------------------------------- server -> client

export interface WelcomeMessage {
  type: "welcome";
  protocol: number;
  sessionId: string;
  /** The nickname as the server normalised it (NFKC); shown to others exactly so. */
  nick: string;
  /** Who the server says this connection is. */
  userId: string;
  /**
   * Anonymous servers: a signed resume token binding `userId` (and so its nicknames); present
   * it in every later `hello`. Absent on token servers.
   */
  token?: string;
  /** Identifies the message store; sequence numbers only compare within one epoch. */
  epoch: string;
  serverTime: number;
  liveness: LivenessSettings;
  retry: RetryAdvice;
  limits: ServerLimits;
  historyLimit: number;
}
export interface JoinedMessage {
  type: "joined";
  room: string;
  /** Highest sequence number in the room when the join was served. */
  seq: number;
  /**
   * true: every message after the client's `since` follows as `message` frames, in order,
   * before live ones. false: the gap could not be served (or no `since` was given);
   * `messages` holds the latest page and the client must resync its view of the room.
   */
  recovered: boolean;
  messages: ChatMessage[];
  /**
   * Nicknames online in the room. Complete (the joiner included) when onlineCount is at most
   * the server's onlineListMax; otherwise the first onlineListMax names in code-unit order, as of
   * the last presence batch (ask `who` for the next pages).
   */
  online: string[];
  /** How many nicknames are online in the room, the joiner included. */
  onlineCount: number;
  /** true: the joiner may read the room but not write in it (a `send` gets `forbidden`). Absent: it may write. */
  readOnly?: boolean;
}
export interface LeftMessage {
  type: "left";
  room: string;
}
export interface MessageFrame extends ChatMessage {
  type: "message";
}
export interface AckMessage {
  type: "ack";
  room: string;
  id: string;
  seq: number;
  ts: number;
  /** true when this id had been stored before; seq is the original one. */
  duplicate: boolean;
}
export interface HistoryMessage {
  type: "history";
  room: string;
  /** The request's `before`: which request this page answers (absent from servers before it was added). */
  before?: number;
  messages: ChatMessage[];
  /** true when older messages exist before the first one returned. */
  hasMore: boolean;
}
export interface PresenceChange {
  event: "join" | "leave";
  nick: string;
  /** Why a leave happened: "left", "closed", "timeout". */
  reason?: string;
}
/**
 * Who came and went, in order. The server gathers a room's changes for a few milliseconds and
 * sends them as one frame: when thousands join a room at once, each member gets a handful of
 * frames instead of one per joiner.
 */
export interface PresenceMessage {
  type: "presence";
  room: string;
  /**
   * The changes in order; empty in a room with more than onlineListMax online, where only the
   * count is sent (at most every largeRoomPresenceMs).
   */
  changes: PresenceChange[];
  /** Nicknames online in the room after these changes. */
  count: number;
}
/** A page of the room's online list, answering a `who` request. */
export interface WhoMessage {
  type: "who";
  room: string;
  /** Nicknames online in the room now. */
  count: number;
  /** Up to `limit` nicknames after `after`, in code-unit order. */
  online: string[];
  /** true when names follow the last one given: ask again with `after` set to it. */
  more: boolean;
}
export interface GoAwayMessage {
  type: "goaway";
  /** Reconnect after this delay (randomized per client by the server to spread the load). */
  retryAfterMs: number;
  reason: string;
}
export interface ErrorMessage {
  type: "error";
  code: ErrorCode;
  message: string;
  /** The client message id or room the error refers to, when there is one. */
  ref?: string;
  /** With `rate_limited` and `store_failed`: send the refused request again after this long. */
  retryAfterMs?: number;
}

export type ServerMessage =
  | WelcomeMessage
  | JoinedMessage
  | LeftMessage
  | MessageFrame
  | AckMessage
  | HistoryMessage
  | PresenceMessage
  | WhoMessage
  | GoAwayMessage
  | ErrorMessage
  | PingMessage
  | PongMessage;

/** Stable error codes carried by `error` messages. None of them closes the connection. */
export const ErrorCode = {
  BadJson: "bad_json",
  BadMessage: "bad_message",
  UnknownType: "unknown_type",
  BinaryNotSupported: "binary_not_supported",
  NotReady: "not_ready",
  AlreadyHello: "already_hello",
  NotInRoom: "not_in_room",
  TooManyRooms: "too_many_rooms",
  TextTooLong: "text_too_long",
  BadRoom: "bad_room",
  /** The store did not answer: nothing stored or read; retry the same request after `retryAfterMs`. */
  StoreFailed: "store_failed",
  /** The text has a lone surrogate, a control character other than newline and tab, or no visible character. */
  BadText: "bad_text",
  /** The room is outside the rooms this identity may join or read. */
  Forbidden: "forbidden",
  /** This message id was already used by this client in another room. */
  IdReused: "id_reused",
  /** Over a rate limit or a queue bound: retry the same request after `retryAfterMs`. */
  RateLimited: "rate_limited",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
