/**
 * The server's fast path for heartbeats. Server-only (it uses Buffer): the page and the client
 * library import src/protocol/, so this lives here.
 */
const PING_HEAD = Buffer.from('{"type":"ping","id":');
const SENT_AT = Buffer.from(',"sentAt":');

/**
 * Whether a frame is a ping in exactly the form the reference client sends,
 * `{"type":"ping","id":<digits>,"sentAt":<digits>}`, checked on the bytes without decoding or
 * JSON.parse. Such a ping is valid by construction, and its pong is the same bytes with "ping"
 * turned into "pong" (see pongOf). Heartbeats are most of an idle server's inbound traffic, so
 * they skip the general parser; any other form takes the general path.
 */
export function isCanonicalPing(frame: Uint8Array): boolean {
  const n = frame.length;
  if (n < PING_HEAD.length + SENT_AT.length + 3 || n > 64 || frame[n - 1] !== 0x7d) return false;
  for (let i = 0; i < PING_HEAD.length; i++) if (frame[i] !== PING_HEAD[i]) return false;
  let i = PING_HEAD.length;
  const idStart = i;
  while (i < n && frame[i]! >= 0x30 && frame[i]! <= 0x39) i++;
  if (i === idStart || i - idStart > 15) return false; // an integer, within the safe range
  for (let k = 0; k < SENT_AT.length; k++, i++) if (frame[i] !== SENT_AT[k]) return false;
  const sentStart = i;
  while (i < n - 1 && frame[i]! >= 0x30 && frame[i]! <= 0x39) i++;
  return i > sentStart && i === n - 1;
}

/** The header's size in pongFrameOf's frames. */
export const PONG_HEADER_BYTES = 2;

/**
 * The pong for a canonical ping as a whole WebSocket frame, ready for the socket: the 2-byte
 * header of an unmasked final text frame (a canonical ping is under 126 bytes, so the length
 * fits the header's 7 bits), then the ping's bytes with "ping" turned into "pong". One
 * allocation, no framing by ws.
 */
export function pongFrameOf(canonicalPing: Uint8Array): Buffer {
  const n = canonicalPing.length;
  const frame = Buffer.allocUnsafe(PONG_HEADER_BYTES + n);
  frame[0] = 0x81; // FIN + text
  frame[1] = n;
  frame.set(canonicalPing, PONG_HEADER_BYTES);
  frame[PONG_HEADER_BYTES + 10] = 0x6f; // {"type":"p[i]ng" -> "o"
  return frame;
}
