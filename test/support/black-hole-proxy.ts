import { createServer, connect, type Socket, type Server } from "node:net";

interface Pair {
  client: Socket;
  upstream: Socket;
  /** Bytes are read and dropped instead of forwarded. */
  holed: boolean;
}

/**
 * A TCP proxy on 127.0.0.1 that can turn into a black hole: a black-holed connection stays
 * open and its bytes are read, but nothing is forwarded in either direction and neither end
 * gets a FIN or RST. That is the half-open link TCP itself won't notice for hours.
 */
export class BlackHoleProxy {
  private server: Server | null = null;
  private readonly pairs = new Set<Pair>();
  /** Whether new connections start black-holed. */
  private holeNew = false;
  port = 0;

  constructor(private readonly targetPort: number, private readonly targetHost = "127.0.0.1") {}

  async start(): Promise<this> {
    this.server = createServer((client) => {
      const pair: Pair = { client, upstream: connect(this.targetPort, this.targetHost), holed: this.holeNew };
      this.pairs.add(pair);
      const forward = (from: Socket, to: Socket) =>
        from.on("data", (chunk) => {
          if (!pair.holed && !to.destroyed) to.write(chunk);
        });
      forward(pair.client, pair.upstream);
      forward(pair.upstream, pair.client);
      for (const s of [pair.client, pair.upstream]) {
        s.on("error", () => {});
        // A black-holed link does not pass a close on either.
        s.on("close", () => {
          if (!pair.holed) this.cut(pair);
        });
      }
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const addr = this.server.address();
    this.port = typeof addr === "object" && addr ? addr.port : 0;
    return this;
  }

  /** Stop forwarding bytes on every connection, present and new; keep every socket open. */
  blackHole(): void {
    this.holeNew = true;
    for (const pair of this.pairs) pair.holed = true;
  }

  /** Black-hole the connections that exist now; new ones work (a network switch). */
  freezeExisting(): void {
    for (const pair of this.pairs) pair.holed = true;
  }

  /**
   * Forward again. Connections that lived through a black hole lost bytes mid-stream, so all
   * current connections are cut (as a router reboot would); new connections work normally.
   */
  heal(): void {
    this.holeNew = false;
    for (const pair of [...this.pairs]) this.cut(pair);
  }

  get openConnections(): number {
    return this.pairs.size;
  }

  async close(): Promise<void> {
    for (const pair of [...this.pairs]) this.cut(pair);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private cut(pair: Pair): void {
    this.pairs.delete(pair);
    pair.client.destroy();
    pair.upstream.destroy();
  }
}
