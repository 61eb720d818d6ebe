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
  private ended = { received: 0, sent: 0 };

  /** `connections`: the server's live connections (no map of its own: that was heap per connection). */
  constructor(
    private readonly roomCount: () => number,
    private readonly connections: ReadonlySet<Connection>,
  ) {}

  /** A connection ended: its socket's totals move into `ended`. */
  remove(conn: Connection): void {
    const socket = tcpOf(conn);
    if (!socket) return;
    this.ended = { received: this.ended.received + socket.bytesRead, sent: this.ended.sent + socket.bytesWritten };
  }

  sources(): MetricsSources {
    return {
      rooms: this.roomCount,
      connectionStates: () => {
        const counts: Record<ConnectionState, number> = { handshake: 0, alive: 0, suspect: 0, closing: 0 };
        for (const conn of this.connections) counts[stateOf(conn)]++;
        return counts;
      },
      socketBytes: () => {
        let { received, sent } = this.ended;
        for (const conn of this.connections) {
          const socket = tcpOf(conn);
          received += socket?.bytesRead ?? 0;
          sent += socket?.bytesWritten ?? 0;
        }
        return { received, sent };
      },
    };
  }
}

/** ws keeps the TCP socket in a private field, set for the WebSocket's whole life. */
function tcpOf(conn: Connection): Socket | undefined {
  return (conn.socket as unknown as { _socket?: Socket })._socket ?? undefined;
}

function stateOf(conn: Connection): ConnectionState {
  if (conn.socket.readyState !== WebSocket.OPEN) return "closing";
  if (!conn.ready) return "handshake";
  return conn.engine.health === "suspect" ? "suspect" : "alive";
}
