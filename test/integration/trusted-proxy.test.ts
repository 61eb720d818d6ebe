import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, type Socket } from "node:net";
import { startServer } from "../../src/server/index.js";
import { testServer } from "../support/test-server.js";
import { opened, tryUpgrade, type UpgradeOutcome } from "../support/upgrade.js";

const xff = (value: string) => ({ "x-forwarded-for": value });
const statusOf = (o: UpgradeOutcome) => ("ws" in o ? "open" : o.status);

describe("client addresses behind a reverse proxy", () => {
  it("from a trusted proxy, each forwarded client has its own per-address cap", async () => {
    const server = await testServer({ maxConnectionsPerIp: 2, trustedProxies: ["127.0.0.1"] });
    const sockets: UpgradeOutcome[] = [];
    try {
      for (let i = 0; i < 2; i++) sockets.push(await tryUpgrade(server.url, "127.0.0.1", xff("203.0.113.1")));
      assert.deepEqual(sockets.map(statusOf), ["open", "open"]);
      assert.equal(statusOf(await tryUpgrade(server.url, "127.0.0.1", xff("203.0.113.1"))), 429, "that client's cap is reached");
      const other = await tryUpgrade(server.url, "127.0.0.1", xff("203.0.113.2"));
      sockets.push(other);
      assert.equal(statusOf(other), "open", "another client behind the same proxy is not limited by the first");
      // What a client writes to the left of what our proxy appended is not believed.
      assert.equal(statusOf(await tryUpgrade(server.url, "127.0.0.1", xff("198.51.100.7, 203.0.113.1"))), 429, "a spoofed left entry does not make a new client");
      // A malformed entry stops the walk at the proxy that passed it on: the proxy's own address.
      for (let i = 0; i < 2; i++) sockets.push(await tryUpgrade(server.url, "127.0.0.1", xff("not-an-address")));
      assert.equal(statusOf(await tryUpgrade(server.url, "127.0.0.1", xff("junk, also junk"))), 429, "garbage counts as the proxy, whose cap is reached");
    } finally {
      for (const s of sockets) if ("ws" in s) s.ws.terminate();
      await server.close();
    }
  });

  it("from anyone else, X-Forwarded-For is ignored: a client cannot pick its address", async () => {
    const server = await testServer({ maxConnectionsPerIp: 2, trustedProxies: ["127.0.0.1"] });
    const sockets: UpgradeOutcome[] = [];
    try {
      for (let i = 0; i < 2; i++) sockets.push(await tryUpgrade(server.url, "127.0.0.2", xff(`203.0.113.${10 + i}`)));
      assert.deepEqual(sockets.map(statusOf), ["open", "open"]);
      assert.equal(statusOf(await tryUpgrade(server.url, "127.0.0.2", xff("203.0.113.99"))), 429, "the untrusted peer's own address is what counts");
      opened(sockets[0]!).terminate();
    } finally {
      for (const s of sockets) if ("ws" in s) s.ws.terminate();
      await server.close();
    }
  });

  it("without trusted proxies the header is never read", async () => {
    const server = await testServer({ maxConnectionsPerIp: 1 });
    const first = await tryUpgrade(server.url, "127.0.0.1", xff("203.0.113.1"));
    try {
      assert.equal(statusOf(first), "open");
      assert.equal(statusOf(await tryUpgrade(server.url, "127.0.0.1", xff("203.0.113.2"))), 429);
    } finally {
      if ("ws" in first) first.ws.terminate();
      await server.close();
    }
  });

  it("a trusted CIDR range is walked past, whichever of its addresses relays; a hop outside it stops the walk", async () => {
    const server = await testServer({ maxConnectionsPerIp: 1, trustedProxies: ["127.0.0.0/8", "10.0.0.0/8"] });
    const sockets: UpgradeOutcome[] = [];
    const from = async (peer: string, forwarded: string) => {
      const outcome = await tryUpgrade(server.url, peer, xff(forwarded));
      sockets.push(outcome);
      return statusOf(outcome);
    };
    try {
      assert.equal(await from("127.0.0.2", "203.0.113.9, 10.1.2.3"), "open", "a peer and a hop inside the ranges: the client is 203.0.113.9");
      assert.equal(await from("127.0.0.3", "203.0.113.9, 10.200.0.1"), 429, "the same client through other proxies of the ranges has the same cap");
      assert.equal(await from("127.0.0.1", "203.0.113.10, 10.1.2.3"), "open", "another client");
      // 11.0.0.1 is outside every range: it is the client, and what is left of it is not read.
      assert.equal(await from("127.0.0.1", "198.51.100.1, 11.0.0.1, 10.1.2.3"), "open");
      assert.equal(await from("127.0.0.1", "198.51.100.2, 11.0.0.1, 10.1.2.3"), 429, "the walk stopped at 11.0.0.1");
    } finally {
      for (const s of sockets) if ("ws" in s) s.ws.terminate();
      await server.close();
    }
  });

  it("a worker's server stops counting a proxy socket it hands back to be dealt by another client's key", async () => {
    // As a worker of `--workers`: sockets come through takeSocket, each with the key the primary
    // dealt it by. With maxConnections 1 and maxHttpSockets 1 the server holds at most 3 taken
    // sockets at once (its socket limit, plus the place for a newcomer).
    const server = await testServer({ listen: false, maxConnections: 1, maxHttpSockets: 1, trustedProxies: ["127.0.0.1"] });
    // Handed back as the worker does: sent to another process (the primary there), which takes
    // the socket's handle away from this one without a 'close' event here.
    const dealer = spawn(process.execPath, ["-e", "process.on('message', (_m, socket) => socket?.destroy())"], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
    const handedBack: string[] = [];
    const handBack = (socket: Socket, _head: Buffer, key: string) => {
      handedBack.push(key);
      dealer.send({ key }, socket);
    };
    const front = createServer((socket) => server.takeSocket(socket, undefined, { key: "203.0.113.1", handBack }));
    await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve));
    const url = `ws://127.0.0.1:${(front.address() as { port: number }).port}`;
    const sockets: UpgradeOutcome[] = [];
    try {
      // Four upgrades of other clients on sockets dealt by 203.0.113.1's key: each goes back.
      for (let i = 0; i < 4; i++) await assert.rejects(tryUpgrade(url, "127.0.0.1", xff(`203.0.113.${10 + i}`)));
      assert.deepEqual(handedBack, ["203.0.113.10", "203.0.113.11", "203.0.113.12", "203.0.113.13"]);
      // Still counted, the four would hold more than the 3 places: the dealt client's own upgrade is served.
      const own = await tryUpgrade(url, "127.0.0.1", xff("203.0.113.1"));
      sockets.push(own);
      assert.equal(statusOf(own), "open");
    } finally {
      for (const s of sockets) if ("ws" in s) s.ws.terminate();
      front.close();
      dealer.kill();
      await server.close();
    }
  });

  it("a malformed trusted proxy stops the start with an error naming it", async () => {
    for (const [entry, reason] of [["10.0.0.0/33", /'10\.0\.0\.0\/33' has a prefix length/], ["10.0.0.1/8", /the range is 10\.0\.0\.0\/8/], ["proxy.example", /'proxy\.example' is not an IP address/]] as const) {
      await assert.rejects(startServer({ port: 0, host: "127.0.0.1", store: "memory", log: () => {}, trustedProxies: ["10.0.0.0/8", entry] }), reason);
    }
    await assert.rejects(startServer({ port: 0, host: "127.0.0.1", store: "memory", log: () => {}, ipv6PrefixBits: 16 }), /ipv6PrefixBits: 16/);
  });
});
