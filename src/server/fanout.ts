import type { Socket } from "node:net";
import WebSocket from "ws";
import * as wsModule from "ws";

/** A recipient of broadcast frames: its socket, and what must happen after each write. */
export interface FanoutTarget {
  readonly socket: WebSocket;
  /** Book-keeping after a write: liveness "sent" time, send-buffer cap. */
  afterSend(): void;
}

/**
 * Writes one already-serialized frame to many recipients.
 *
 * Why not `ws.send` per recipient: a CPU profile of 16 senders in a room of 1,000
 * (docs/benchmarks.md) showed ~65 % of the server's busy time in the `writev`
 * syscall, one per frame per recipient, and most of the rest in ws framing the same payload
 * again for every socket. So:
 * - the WebSocket frame (header + payload) is built once per message and the same Buffer is
 *   written to every socket (Node does not copy it);
 * - each recipient's TCP socket is corked on its first frame in this turn of the event loop
 *   and uncorked in `setImmediate`, after the poll phase: every frame (and every other write,
 *   acks and pongs included, in program order) queued for that socket meanwhile leaves in one
 *   `writev`. Under load that is one syscall for many frames; an idle room pays nothing extra.
 *
 * `afterSend` runs once per recipient per turn, right after its uncork: the liveness "sent"
 * time is the same turn either way, and the send-buffer cap then sees only what the kernel did
 * not take. (A second profile had the clock read in afterSend at ~2 % of the server's time when
 * it ran per frame.)
 *
 * Writing to the socket under ws is sound only while ws itself writes synchronously: the
 * server runs without permessage-deflate and sends only strings and Buffers, so ws's Sender
 * never queues, and its own writes land in the same (corked) stream in order. `bufferedAmount`
 * still counts these bytes (ws reads it from the socket), so the send-buffer cap keeps working.
 */
export function fanout(targets: Iterable<FanoutTarget>, frame: Buffer): number {
  let wire: Buffer | undefined;
  let written = 0;
  for (const target of targets) {
    const ws = target.socket;
    if (ws.readyState !== WebSocket.OPEN) continue;
    written++;
    const raw = rawSocketOf(ws);
    if (!raw) {
      ws.send(frame, { binary: false });
      target.afterSend();
    } else {
      wire ??= textFrame(frame);
      corkUntilImmediate(raw, target);
      raw.write(wire);
    }
  }
  return written;
}

/**
 * Writes one small frame, already framed (`wire`: header + payload, as from pongFrameOf), to
 * one recipient, now: a heartbeat answer needs no batching, and waiting for setImmediate to
 * uncork cost more than the write. If the socket is corked for this turn's broadcasts, the
 * frame joins them in order. Without a raw socket, ws frames `wire`'s payload itself.
 */
export function writeFramed(target: FanoutTarget, wire: Buffer, headerBytes: number): void {
  const ws = target.socket;
  if (ws.readyState !== WebSocket.OPEN) return;
  const raw = rawSocketOf(ws);
  if (!raw) {
    ws.send(wire.subarray(headerBytes), { binary: false });
    target.afterSend();
    return;
  }
  raw.write(wire);
  // Corked (by corkUntilImmediate, for this turn's broadcasts): afterSend comes with the uncork.
  if (raw.writableCorked === 0) target.afterSend();
}

/**
 * Writes one text frame whose payload is the concatenation of `parts`, to one recipient, now,
 * without joining them: a `joined` frame is a page encoded once for every joiner of a room and
 * a tail of its own, and copying the page into a fresh buffer per joiner cost more than
 * building it (buffers over 4 KiB are not pooled). One `writev` for header and parts, as ws
 * itself writes a frame. Without a raw socket, ws frames the joined payload itself.
 */
export function writeTextParts(target: FanoutTarget, parts: readonly Buffer[]): void {
  const ws = target.socket;
  if (ws.readyState !== WebSocket.OPEN) return;
  const raw = rawSocketOf(ws);
  if (!raw) {
    ws.send(Buffer.concat(parts), { binary: false });
    target.afterSend();
    return;
  }
  let length = 0;
  for (const part of parts) length += part.length;
  const inBatch = corked.has(raw);
  if (!inBatch) raw.cork();
  raw.write(textFrameHeader(length));
  for (const part of parts) raw.write(part);
  if (inBatch) return;
  raw.uncork();
  target.afterSend();
}

/** RFC 6455 5.2: FIN + text opcode, no mask (servers never mask), then the payload length in 7, 16 or 64 bits. */
export function textFrameHeader(length: number): Buffer {
  if (length < 126) return Buffer.from([0x81, length]);
  if (length < 0x10000) return Buffer.from([0x81, 126, length >>> 8, length & 0xff]);
  const header = Buffer.alloc(10);
  header[0] = 0x81;
  header[1] = 127;
  header.writeUIntBE(length, 4, 6);
  return header;
}

/** ws keeps the TCP socket in a private field; absent (or already ended) means "use ws.send". */
function rawSocketOf(ws: WebSocket): Socket | undefined {
  const raw = (ws as unknown as { _socket?: Socket })._socket;
  return raw && raw.writable ? raw : undefined;
}

const corked = new Map<Socket, FanoutTarget>();
let flushScheduled = false;

function corkUntilImmediate(socket: Socket, target: FanoutTarget): void {
  if (corked.has(socket)) return;
  socket.cork();
  corked.set(socket, target);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushCorked);
  }
}

function flushCorked(): void {
  flushScheduled = false;
  // uncork() on a destroyed socket is harmless; its queued bytes are simply dropped.
  for (const [socket, target] of corked) {
    socket.uncork();
    target.afterSend();
  }
  corked.clear();
}

/** ws's own framing, which @types/ws does not declare: header and payload buffers. */
const frameWith = (wsModule as unknown as {
  Sender: { frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Buffer[] };
}).Sender.frame;

/** An unmasked, final text frame (servers never mask), as one Buffer to share. */
function textFrame(payload: Buffer): Buffer {
  return Buffer.concat(frameWith(payload, { fin: true, opcode: 0x1, mask: false, readOnly: false, rsv1: false }));
}
