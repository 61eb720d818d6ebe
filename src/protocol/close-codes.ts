/**
 * WebSocket close codes Pulse uses. The range tells a client what to do next:
 * 4000-4499 and the standard codes are transient (reconnect with backoff);
 * 4500-4999 are terminal (do not reconnect; tell the user why).
 */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  /** Set by `ws` when a frame breaks RFC 6455 (unmasked, reserved bits or opcode, bad fragments). */
  ProtocolError: 1002,
  /**
   * Set by `ws` when one incomplete frame arrived in more pieces (TCP reads) than the server
   * holds for it: one per 256 bytes of maxPayloadBytes, plus 16.
   */
  FrameInTooManyPieces: 1008,
  /** Set by `ws` when a frame exceeds maxPayload. */
  MessageTooBig: 1009,
  /** Set by `ws` when a text frame is not valid UTF-8. */
  InvalidPayload: 1007,
  /** No close frame seen: the TCP connection just ended. */
  Abnormal: 1006,
  InternalError: 1011,

  /**
   * Local to the client: it heard nothing for timeoutMs and declared the server dead. Never
   * sent by a server; a client the server declares dead sees 1006 (terminate, no close frame).
   */
  HeartbeatTimeout: 4000,
  /** The server is restarting; a goaway with retry advice came first. */
  ServerRestart: 4001,
  /** The client did not send `hello` in time after the upgrade. */
  HandshakeTimeout: 4002,
  /** The client read too slowly: its send buffer passed the server's cap. It may resume. */
  SlowConsumer: 4003,
  /** Local to the client: its probe (a ping with a short deadline) was not answered. */
  ProbeTimeout: 4004,
  /** The client kept sending over its rate limits despite `rate_limited` errors. It may reconnect after a backoff. */
  RateLimited: 4005,
  /** An inbound message came in too many fragments, or stayed incomplete too long. */
  FragmentLimit: 4006,
  /**
   * Local to the client: the server sent a message of a known type that does not hold what the
   * protocol says (a field missing, of the wrong kind, an array with items that are not
   * messages). The client drops the link and reconnects with backoff rather than act on it.
   */
  BadServerMessage: 4007,
  /**
   * The identity's token expired while the connection was open (a JWT's `exp`, plus the
   * server's clock tolerance): connect again with a fresh token. Rights a new token no longer
   * grants (rooms, write) end with the old one.
   */
  TokenExpired: 4008,
  /**
   * The shared store (several nodes on one Redis) lost messages the server had served, and its
   * data has a new epoch: seqs of the old one mean nothing now. Reconnect (after the `goaway`
   * that came first): the `welcome` carries the new epoch, and every room's rejoin gets
   * `recovered: false` with the latest page.
   */
  StoreReset: 4009,

  /** Generic policy violation: do not reconnect. */
  PolicyViolation: 4500,
  /** The nickname is online under another user key. */
  NicknameTaken: 4501,
  /** The nickname is empty, too long or has forbidden characters. */
  InvalidNickname: 4502,
  /**
   * Reserved, not sent by v1 servers: the version is negotiated by the subprotocol (`pulse.v1`),
   * and the upgrade without it is refused with HTTP 426.
   */
  UnsupportedProtocol: 4503,
  /** The token in `hello` is missing, malformed, expired or not signed by a key the server trusts. */
  Unauthorized: 4504,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Whether a client should reconnect after a close with this code. */
export const isRetryable = (code: number): boolean => !(code >= 4500 && code <= 4999);

const descriptions: Record<number, string> = {
  [CloseCode.Normal]: "closed",
  [CloseCode.GoingAway]: "server going away",
  [CloseCode.MessageTooBig]: "message too big",
  [CloseCode.ProtocolError]: "a frame broke the WebSocket protocol",
  [CloseCode.FrameInTooManyPieces]: "a frame arrived in too many pieces",
  [CloseCode.InvalidPayload]: "invalid UTF-8 in a text frame",
  [CloseCode.Abnormal]: "connection lost",
  [CloseCode.InternalError]: "server error",
  [CloseCode.HeartbeatTimeout]: "heartbeat timeout",
  [CloseCode.ServerRestart]: "server restarting",
  [CloseCode.HandshakeTimeout]: "handshake timeout",
  [CloseCode.SlowConsumer]: "reading too slowly",
  [CloseCode.ProbeTimeout]: "probe not answered",
  [CloseCode.RateLimited]: "too many requests",
  [CloseCode.FragmentLimit]: "message fragmented beyond the limits",
  [CloseCode.BadServerMessage]: "the server sent a malformed message",
  [CloseCode.TokenExpired]: "the token expired",
  [CloseCode.StoreReset]: "the server's store lost data: resyncing",
  [CloseCode.PolicyViolation]: "policy violation",
  [CloseCode.NicknameTaken]: "this nickname is taken",
  [CloseCode.InvalidNickname]: "this nickname is not allowed",
  [CloseCode.UnsupportedProtocol]: "unsupported protocol version",
  [CloseCode.Unauthorized]: "not signed in: the token was refused",
};

/** A plain sentence for a close code, for status lines and logs. */
export const describeClose = (code: number): string => descriptions[code] ?? `closed (${code})`;
