import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import type WebSocket from "ws";

/**
 * A client frame built by hand, as it goes on the wire: masked (as every client frame must
 * be), with a chosen opcode and FIN bit. For tests that need to control how frames fall into
 * TCP segments, which `ws.send` does not let them do.
 */
export function maskedFrame(payload: Buffer | string, options: { opcode?: number; fin?: boolean; mask?: Buffer } = {}): Buffer {
  const data = typeof payload === "string" ? Buffer.from(payload) : payload;
  const mask = options.mask ?? randomBytes(4);
  if (data.length > 0xffff) throw new RangeError("maskedFrame: payloads up to 64 KiB");
  const lengthBytes = data.length < 126 ? 0 : 2;
  const head = Buffer.alloc(2 + lengthBytes);
  head[0] = (options.fin === false ? 0 : 0x80) | (options.opcode ?? 1);
  if (lengthBytes === 0) head[1] = 0x80 | data.length;
  else {
    head[1] = 0x80 | 126;
    head.writeUInt16BE(data.length, 2);
  }
  const masked = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) masked[i] = data[i]! ^ mask[i & 3]!;
  return Buffer.concat([head, mask, masked]);
}

/** The TCP socket under a ws client, to write frames built by hand; Nagle off, so each write leaves at once. */
export function wireOf(ws: WebSocket): Socket {
  const socket = (ws as unknown as { _socket: Socket })._socket;
  socket.setNoDelay(true);
  return socket;
}

/** A frame as read off the wire, unmasked if it was masked. */
export interface WireFrame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/**
 * Reads frames from raw bytes as they arrive, in any split: push each chunk, get back the
 * frames completed by it (a client's masked frames are unmasked). For tests that speak
 * WebSocket by hand, below any client library, so they see every frame (close codes
 * included) exactly as sent.
 */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): WireFrame[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: WireFrame[] = [];
    for (;;) {
      const b = this.pending;
      if (b.length < 2) break;
      const masked = (b[1]! & 0x80) !== 0;
      let length = b[1]! & 0x7f;
      let at = 2;
      if (length === 126) {
        if (b.length < 4) break;
        length = b.readUInt16BE(2);
        at = 4;
      } else if (length === 127) {
        if (b.length < 10) break;
        length = Number(b.readBigUInt64BE(2));
        at = 10;
      }
      const mask = masked ? b.subarray(at, at + 4) : null;
      if (mask) at += 4;
      if (b.length < at + length) break;
      const raw = b.subarray(at, at + length);
      const payload = mask ? Buffer.from(raw.map((byte, i) => byte ^ mask[i & 3]!)) : raw;
      frames.push({ fin: (b[0]! & 0x80) !== 0, opcode: b[0]! & 0x0f, masked, payload });
      this.pending = b.subarray(at + length);
    }
    return frames;
  }
}

/** The code a close frame carries: 1005 (none) for an empty one. */
export const closeCodeOf = (frame: WireFrame): number => (frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : 1005);
