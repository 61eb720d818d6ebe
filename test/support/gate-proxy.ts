import { createServer, connect, type Socket, type Server } from "node:net";

/**
 * A TCP proxy on 127.0.0.1 that plays a server crashing and coming back: `cutAll()` destroys
 * every connection (the client sees 1006, no close frame, no goaway), and while `down` new
 * connections are reset at once (a port with nothing listening). The server behind it keeps
 * running, so "coming back" is instant and the test measures only the client.
 */
export class GateProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  down = false;
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<this> {
    this.server = createServer((client) => {
      client.on("error", () => {});
      if (this.down) return void client.resetAndDestroy();
      const upstream = connect(this.targetPort, "127.0.0.1");
      upstream.on("error", () => {});
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => {
          this.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const addr = this.server.address();
    this.port = typeof addr === "object" && addr ? addr.port : 0;
    return this;
  }

  cutAll(): void {
    for (const s of [...this.sockets]) s.destroy();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
