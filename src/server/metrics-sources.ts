import type { Socket } from "node:net";
import WebSocket from "ws";
import type { Connection } from "./connection.js";
import type { ConnectionState, MetricsSources } from "./metrics.js";

/**
 * Reads the server's live state for a scrape. Byte counts come from the TCP sockets
 * (`bytesRead`/`bytesWritten`), so the hot path counts nothing: live sockets are summed at
 * scrape time and an ending socket's totals move into `ended`.
 */
export class ConnectionFigures {
  private readonly sockets = new Map<Connection, Socket>();
  private ended = { received: 0, sent: 0 };

  constructor(private readonly roomCount: () => number) {}

  add(conn: Connection, socket: Socket): void {
    this.sockets.set(conn, socket);
  }

  remove(conn: Connection): void {
    const socket = this.sockets.get(conn);
    if (!socket) return;
    this.sockets.delete(conn);
    this.ended = { received: this.ended.received + socket.bytesRead, sent: this.ended.sent + socket.bytesWritten };
  }

  sources(): MetricsSources {
    return {
      rooms: this.roomCount,
      connectionStates: () => {
        const counts: Record<ConnectionState, number> = { handshake: 0, alive: 0, suspect: 0, closing: 0 };
        for (const conn of this.sockets.keys()) counts[stateOf(conn)]++;
        return counts;
      },
      socketBytes: () => {
        let { received, sent } = this.ended;
        for (const socket of this.sockets.values()) {
          received += socket.bytesRead;
          sent += socket.bytesWritten;
        }
        return { received, sent };
      },
    };
  }
}

function stateOf(conn: Connection): ConnectionState {
  if (conn.socket.readyState !== WebSocket.OPEN) return "closing";
  if (!conn.ready) return "handshake";
  return conn.engine.health === "suspect" ? "suspect" : "alive";
}
