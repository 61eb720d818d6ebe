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
