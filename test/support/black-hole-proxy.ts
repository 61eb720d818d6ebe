import { createServer, connect, type Socket, type Server } from "node:net";

/**
 * A TCP proxy on 127.0.0.1 that can turn into a black hole: while black-holed it keeps every
 * connection open and reads what arrives, but forwards nothing in either direction, so neither
 * end gets a FIN or RST. That is the half-open link TCP itself won't notice for hours.
 */
export class BlackHoleProxy {
  private server: Server | null = null;
  private readonly pairs = new Set<[Socket, Socket]>();
  private holed = false;
  port = 0;

  constructor(private readonly targetPort: number, private readonly targetHost = "127.0.0.1") {}

  async start(): Promise<this> {
    this.server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      const forward = (from: Socket, to: Socket) =>
        from.on("data", (chunk) => {
          if (!this.holed && !to.destroyed) to.write(chunk);
        });
      forward(client, upstream);
      forward(upstream, client);
      const end = () => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      // While black-holed a close on one side is not passed on either.
      for (const s of pair) {
        s.on("error", () => {});
        s.on("close", () => {
          if (!this.holed) end();
        });
      }
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const addr = this.server.address();
    this.port = typeof addr === "object" && addr ? addr.port : 0;
    return this;
  }

  /** Stop forwarding bytes; keep every socket open. */
  blackHole(): void {
    this.holed = true;
  }

  /**
   * Forward again. Connections that lived through the black hole lost bytes mid-stream, so
   * they are cut (as a router reboot would); new connections work normally.
   */
  heal(): void {
    this.holed = false;
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  get openConnections(): number {
    return this.pairs.size;
  }

  async close(): Promise<void> {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
