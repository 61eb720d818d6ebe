/**
 * A deliberately bare WebSocket client for the load generator. At a room of 5,000 a `ws` client
 * spends about as much CPU per received frame as the server spends sending it, so latency "to
 * the last recipient" would measure the generator. This one does only what counting needs: one
 * upgrade request, a frame-header walk over each TCP chunk (payloads are handed out as
 * subarrays, never copied or decoded), automatic pong and close replies.
 *
 * Client frames must be masked (RFC 6455 5.3); we use the all-zero key, which is legal and
 * lets the payload go out unchanged. Servers here never fragment small messages, so
 * continuation frames are not reassembled.
 */
import { connect, type Socket } from "node:net";
import { randomBytes } from "node:crypto";

export interface RawWsOptions {
  host: string;
  port: number;
  path?: string;
  /** Sec-WebSocket-Protocol to request, e.g. "pulse.v1". */
  protocol?: string;
  /** Source address, to spread clients over 127.0.0.x and their ephemeral port ranges. */
  localAddress?: string;
}

export interface RawWsHandlers {
  onOpen(ws: RawWs): void;
  /** A text frame's payload; valid only during the call. */
  onText(ws: RawWs, payload: Buffer): void;
  /** A protocol ping arrived (already answered). */
  onPing?(ws: RawWs): void;
  /** The peer's close frame: its code (1005 when it has none) and reason. */
  onCloseFrame?(ws: RawWs, code: number, reason: string): void;
  onClose(ws: RawWs): void;
}

const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const HEADER_END = Buffer.from("\r\n\r\n");

export class RawWs {
  readonly socket: Socket;
  open = false;
  closed = false;
  private pending: Buffer | null = null;

  constructor(
    private readonly opts: RawWsOptions,
    private readonly handlers: RawWsHandlers,
  ) {
    this.socket = connect({ host: opts.host, port: opts.port, localAddress: opts.localAddress, noDelay: true });
    this.socket.on("connect", () => this.socket.write(this.upgradeRequest()));
    this.socket.on("data", (chunk: Buffer) => this.onData(chunk));
    this.socket.on("error", () => this.socket.destroy());
    this.socket.on("close", () => {
      this.open = false;
      if (this.closed) return;
      this.closed = true;
      this.handlers.onClose(this);
    });
  }

  sendText(text: string | Buffer): void {
    if (!this.open) return;
    this.socket.write(frame(OP_TEXT, typeof text === "string" ? Buffer.from(text) : text));
  }

  /** Tear down without a closing handshake (what a crashed client looks like to a server). */
  destroy(): void {
    this.socket.destroy();
  }

  private upgradeRequest(): string {
    const { host, port, path = "/", protocol } = this.opts;
    return (
      `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n` +
      (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : "") +
      "\r\n"
    );
  }

  private onData(chunk: Buffer): void {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    if (!this.open) {
      const end = buf.indexOf(HEADER_END);
      if (end < 0) {
        this.pending = buf;
        return;
      }
      // "HTTP/1.1 101": anything else is a refused upgrade.
      if (buf[9] !== 0x31 || buf[10] !== 0x30 || buf[11] !== 0x31) {
        this.socket.destroy();
        return;
      }
      this.open = true;
      buf = buf.subarray(end + 4);
      this.handlers.onOpen(this);
    }
    let at = 0;
    while (buf.length - at >= 2) {
      const opcode = buf[at]! & 0x0f;
      let len = buf[at + 1]! & 0x7f;
      let start = at + 2;
      if (len === 126) {
        if (buf.length - at < 4) break;
        len = buf.readUInt16BE(at + 2);
        start = at + 4;
      } else if (len === 127) {
        if (buf.length - at < 10) break;
        len = Number(buf.readBigUInt64BE(at + 2));
        start = at + 10;
      }
      if (buf.length < start + len) break;
      const payload = buf.subarray(start, start + len);
      at = start + len;
      if (opcode === OP_TEXT) this.handlers.onText(this, payload);
      else if (opcode === OP_PING) {
        this.socket.write(frame(0xa, payload));
        this.handlers.onPing?.(this);
      } else if (opcode === OP_CLOSE) {
        this.handlers.onCloseFrame?.(this, payload.length >= 2 ? payload.readUInt16BE(0) : 1005, payload.subarray(2).toString());
        this.socket.end(frame(OP_CLOSE, payload.subarray(0, 2)));
        return;
      }
      if (this.closed) return;
    }
    if (at < buf.length) this.pending = Buffer.from(buf.subarray(at));
  }
}

/** A masked client frame with the zero mask key. */
function frame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + 4 + len);
  out[0] = 0x80 | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(len), 2);
  }
  out.writeUInt32BE(0, head);
  payload.copy(out, head + 4);
  return out;
}
