import WebSocket from "ws";

/** A recipient of broadcast frames: its socket, and what must happen after each write. */
export interface FanoutTarget {
  readonly socket: WebSocket;
  /** Book-keeping after a write: liveness "sent" time, send-buffer cap. */
  afterSend(): void;
}

/**
 * Writes one already-serialized frame to many recipients. The payload is a Buffer made once per
 * message, so no recipient re-encodes it.
 */
export function fanout(targets: Iterable<FanoutTarget>, frame: Buffer): void {
  for (const target of targets) {
    if (target.socket.readyState !== WebSocket.OPEN) continue;
    target.socket.send(frame, { binary: false });
    target.afterSend();
  }
}
