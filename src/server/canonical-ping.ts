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
 * turned into "pong" (see pongFrameOf). Heartbeats are most of an idle server's inbound traffic, so
 * they skip the general parser; any other form takes the general path.
 */
export function isCanonicalPing(frame: Uint8Array): boolean {
  return isCanonicalPingAt(frame, 0);
}

/** isCanonicalPing for the bytes of `bytes` from `start` to its end. */
function isCanonicalPingAt(bytes: Uint8Array, start: number): boolean {
  const n = bytes.length;
  const size = n - start;
  if (size < PING_HEAD.length + SENT_AT.length + 3 || size > MAX_PING_BYTES || bytes[n - 1] !== 0x7d) return false;
  for (let i = 0; i < PING_HEAD.length; i++) if (bytes[start + i] !== PING_HEAD[i]) return false;
  let i = start + PING_HEAD.length;
  const idStart = i;
  while (i < n && bytes[i]! >= 0x30 && bytes[i]! <= 0x39) i++;
  if (i === idStart || i - idStart > 15) return false; // an integer, within the safe range
  for (let k = 0; k < SENT_AT.length; k++, i++) if (bytes[i] !== SENT_AT[k]) return false;
  const sentStart = i;
  while (i < n - 1 && bytes[i]! >= 0x30 && bytes[i]! <= 0x39) i++;
  return i > sentStart && i === n - 1;
}

/** The longest canonical ping (two 15-digit integers fit well under it). */
const MAX_PING_BYTES = 64;

/** Where the "i" of "ping" sits in a canonical ping: {"type":"p[i]ng". */
const PING_I_AT = 10;

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
  frame[PONG_HEADER_BYTES + PING_I_AT] = 0x6f; // "o"
  return frame;
}

/** A client frame's header: FIN + text opcode, then the mask bit and a 7-bit length; then the 4-byte mask key. */
const MASKED_HEADER_BYTES = 6;

/**
 * The pong for `wire` when `wire` is exactly one whole client frame (masked, final, text,
 * uncompressed) carrying a canonical ping; null for anything else. The payload is unmasked
 * straight into the pong's frame, so an answered heartbeat costs one allocation and no work by
 * ws. Two bytes are unmasked before deciding to go on, so other small frames pay little.
 */
export function pongFrameOfMaskedPing(wire: Uint8Array): Buffer | null {
  const n = wire.length - MASKED_HEADER_BYTES;
  if (n < PING_HEAD.length || n > MAX_PING_BYTES || wire[0] !== 0x81 || wire[1] !== (0x80 | n)) return null;
  // "pi" of "ping" where the type's value starts: other requests ("send", "join", "pong") stop here.
  if (unmaskedAt(wire, PING_I_AT - 1) !== 0x70 || unmaskedAt(wire, PING_I_AT) !== 0x69) return null;
  const frame = Buffer.allocUnsafe(PONG_HEADER_BYTES + n);
  frame[0] = 0x81;
  frame[1] = n;
  for (let i = 0; i < n; i++) frame[PONG_HEADER_BYTES + i] = unmaskedAt(wire, i);
  if (!isCanonicalPingAt(frame, PONG_HEADER_BYTES)) return null;
  frame[PONG_HEADER_BYTES + PING_I_AT] = 0x6f; // "o"
  return frame;
}

/** Payload byte i of a whole masked client frame with a 7-bit length, unmasked (RFC 6455, 5.3). */
const unmaskedAt = (wire: Uint8Array, i: number): number => wire[MASKED_HEADER_BYTES + i]! ^ wire[2 + (i & 3)]!;
