/**
 * What the load generator needs to know about each server's wire protocol, kept apart from the
 * connection plumbing. Frames are classified by peeking at bytes, never by JSON.parse, except
 * where an id must be read (reconnect-storm loss accounting, Pulse pings to echo).
 */

/** "pulse": Pulse v1 over a raw socket; "json": the ws and Bun peers; "socketio": socket.io-client. */
export type ProtocolKind = "pulse" | "json" | "socketio";

const TYPE_KEY = Buffer.from('"type":"');

/**
 * The first two letters of a frame's `type`, as a number (e.g. "me" for message, "pi" for ping),
 * found within the first 48 bytes so that key order in the server's JSON does not matter.
 */
export function typeTag(payload: Buffer): number {
  const head = payload.length > 48 ? payload.subarray(0, 48) : payload;
  const at = head.indexOf(TYPE_KEY);
  if (at < 0) return 0;
  const i = at + TYPE_KEY.length;
  return ((payload[i] ?? 0) << 8) | (payload[i + 1] ?? 0);
}

const tag = (s: string): number => (s.charCodeAt(0) << 8) | s.charCodeAt(1);
export const Tag = {
  message: tag("me"),
  ping: tag("pi"),
  pong: tag("po"),
  welcome: tag("we"),
  joined: tag("jo"),
  ack: tag("ac"),
  goaway: tag("go"),
} as const;

export const helloFrame = (clientId: string, nick: string, token?: string): string =>
  JSON.stringify({ type: "hello", clientId, nick, ...(token !== undefined ? { token } : {}) });

/** The reference client's heartbeat ping (it pings after intervalMs without sending). */
export const pingFrame = (id: number, sentAt: number): string => `{"type":"ping","id":${id},"sentAt":${sentAt}}`;

export const joinFrame = (room: string, since?: number, epoch?: string): string =>
  JSON.stringify(since === undefined ? { type: "join", room } : { type: "join", room, since, epoch });

export const sendFrame = (room: string, id: string, text: string): string =>
  JSON.stringify({ type: "send", room, id, text });
