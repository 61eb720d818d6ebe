/**
 * A TCP proxy that can turn into a black hole: after blackhole() it keeps every connection
 * open but forwards nothing, in either direction, and passes on no FIN or RST. To both ends
 * the other side has gone silent, like a server behind a dead NAT or a pulled cable; neither
 * kernel will tell them (field notes: SIGKILL is not a silent death).
 */
import { connect, createServer, type Server, type Socket } from "node:net";

export interface BlackholeProxy {
  readonly port: number;
  blackhole(): void;
  close(): Promise<void>;
}

export function startBlackholeProxy(listenPort: number, targetPort: number): Promise<BlackholeProxy> {
  let dead = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host: "127.0.0.1", port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
    }
    client.on("data", (d) => !dead && upstream.write(d));
    upstream.on("data", (d) => !dead && client.write(d));
    client.on("close", () => !dead && upstream.destroy());
    upstream.on("close", () => !dead && client.destroy());
  });
  return new Promise((resolve) => {
    server.listen(listenPort, "127.0.0.1", () =>
      resolve({
        port: listenPort,
        blackhole: () => (dead = true),
        close: () =>
          new Promise((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      }),
    );
  });
}
