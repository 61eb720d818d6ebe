import WebSocket from "ws";

/**
 * A refused client is not read from until it may ask again (at most `maxPauseMs`): TCP flow
 * control then holds its frames in its own send buffer, and a client that ignores
 * `retryAfterMs` is slowed to the rate it is allowed instead of having every frame read,
 * unmasked, parsed and refused.
 *
 * Why: in bench:abuse, one message flood (4 KB sends as fast as the socket takes them) pushed
 * about 3,900 frames a second at the server; each was read and parsed, ~700 a second were
 * answered with an `error`, and every 100 refusals the connection was closed (4005) and came
 * straight back: a hello, a nickname claim written to the store, a `joined` with up to 50
 * messages of history, presence for 200 members. Honest clients honour `retryAfterMs` and send
 * nothing meanwhile, so pausing costs them nothing; the cap keeps their pings from waiting
 * long enough to look like a dead link.
 */
export class ReadPause {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly socket: WebSocket,
    private readonly maxPauseMs: number,
  ) {}

  get paused(): boolean {
    return this.timer !== null;
  }

  /** Stops reading for `ms` (capped); a pause under way is not extended. */
  pauseFor(ms: number): void {
    if (this.timer || this.socket.readyState !== WebSocket.OPEN || ms <= 0) return;
    this.socket.pause();
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.socket.readyState === WebSocket.OPEN) this.socket.resume();
    }, Math.min(ms, this.maxPauseMs));
  }

  /**
   * The server is closing the connection: read again at once. The peer answers our close frame
   * with its own, and only reading it ends the close handshake; left paused (the timer resumes
   * only an open socket), the connection waited out closeWith's grace (2 s) and was terminated,
   * and a client with a liveness timeout as short took the silence for a dead link before its
   * close event came (a 4009 after a store reset, to a client whose sends the outage had
   * refused, arrived as the client's own 4000). What else it sent is not served: the connection
   * serves nothing once closing.
   */
  closing(): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.socket.resume();
  }

  /** The connection ended: no timer stays behind. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
