import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import WebSocket from "ws";
import { SUBPROTOCOL } from "../../src/protocol/messages.js";
import { testServer } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { waitFor } from "../support/wait.js";
import { tryUpgrade } from "../support/upgrade.js";

/** Opens a WebSocket; resolves with it, or with the HTTP status the upgrade was refused with. */
function tryConnect(url: string, localAddress?: string): Promise<WebSocket | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, [SUBPROTOCOL], localAddress ? { localAddress } : {});
    ws.once("open", () => resolve(ws));
    ws.once("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once("error", reject);
  });
}

/** An upgrade request ws refuses (Sec-WebSocket-Version 12); resolves with the raw answer once the server closed. */
function badVersionUpgrade(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.write(
        `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 12\r\nSec-WebSocket-Protocol: ${SUBPROTOCOL}\r\n\r\n`,
      );
    });
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (answer += chunk));
    socket.on("close", () => resolve(answer));
    socket.on("error", reject);
  });
}

describe("caps", () => {
  it("over maxConnections the upgrade is answered 503; a client gets in once another leaves", async () => {
    const server = await testServer({ maxConnections: 3 });
    try {
      const open = await Promise.all([1, 2, 3].map(() => tryConnect(server.url)));
      assert.ok(open.every((w) => w instanceof WebSocket));
      assert.deepEqual(await tryUpgrade(server.url), { status: 503, retryAfter: "5" }, "full: 503 with Retry-After");
      (open[0] as WebSocket).close();
      const again = await waitFor(async () => {
        const r = await tryConnect(server.url);
        return r instanceof WebSocket ? r : null;
      }, "a slot after one left");
      for (const w of [...open, again]) (w as WebSocket).terminate();
    } finally {
      await server.close();
    }
  });

  it("an upgrade that fails in the handshake gives its slot back", async () => {
    const server = await testServer({ maxConnections: 1 });
    try {
      // Past Pulse's own checks (so it takes a slot), then refused by ws: an unknown version.
      for (let i = 0; i < 3; i++) assert.match(await badVersionUpgrade(server.port), /^HTTP\/1\.1 400/);
      const ws = await waitFor(async () => {
        const r = await tryConnect(server.url);
        return r instanceof WebSocket ? r : null;
      }, "the only slot, free again");
      ws.terminate();
    } finally {
      await server.close();
    }
  });

  it("over maxConnectionsPerIp the upgrade is answered 429; other addresses still get in", async () => {
    const server = await testServer({ maxConnectionsPerIp: 2 });
    try {
      const mine = await Promise.all([1, 2].map(() => tryConnect(server.url, "127.0.0.1")));
      assert.deepEqual(await tryUpgrade(server.url, "127.0.0.1"), { status: 429, retryAfter: "5" }, "over the per-IP cap: 429 with Retry-After");
      const other = await tryConnect(server.url, "127.0.0.2");
      assert.ok(other instanceof WebSocket, "another address is not limited by this one");
      for (const w of [...mine, other]) (w as WebSocket).terminate();
    } finally {
      await server.close();
    }
  });

  it("over maxRoomsAlive a join that would open a new room is refused until one closes", async () => {
    const server = await testServer({ maxRoomsAlive: 2 });
    try {
      const c = await RawClient.hello(server.url, "ada");
      for (const room of ["a", "b"]) {
        c.send({ type: "join", room });
        await c.next("joined", (j) => j.room === room);
      }
      c.send({ type: "join", room: "c" });
      const refused = await c.next("error", (e) => e.ref === "c");
      assert.equal(refused.code, "too_many_rooms");
      const other = await RawClient.hello(server.url, "bob");
      other.send({ type: "join", room: "a" }); // an open room still takes members
      await other.next("joined");
      c.send({ type: "leave", room: "b" });
      await c.next("left");
      c.send({ type: "join", room: "c" });
      await c.next("joined", (j) => j.room === "c");
      for (const x of [c, other]) x.close();
    } finally {
      await server.close();
    }
  });

  it("one address opens at most maxRoomsOpenedPerIp rooms, each counted until it closes, whoever keeps it open", async () => {
    const server = await testServer({ maxRoomsOpenedPerIp: 2, maxRooms: 8 });
    try {
      // The answer to this join: `joined`, or the error that refused it.
      const join = async (c: RawClient, room: string) => {
        const from = c.received.length;
        c.send({ type: "join", room });
        return waitFor(() => c.received.slice(from).find((m) => (m.type === "joined" && m.room === room) || (m.type === "error" && m.ref === room)), `an answer to joining ${room}`);
      };
      // Two connections of one address: the budget is the address's, not the connection's.
      const a1 = await RawClient.hello(server.url, "a1", undefined, undefined, "127.0.0.1");
      const a2 = await RawClient.hello(server.url, "a2", undefined, undefined, "127.0.0.1");
      assert.equal((await join(a1, "x")).type, "joined");
      assert.equal((await join(a2, "y")).type, "joined");
      const refused = await join(a2, "z");
      assert.equal(refused.type === "error" && refused.code, "too_many_rooms", "a third room opened from one address is refused");
      assert.equal((await join(a2, "x")).type, "joined", "a room that is open still takes the address's members");
      const b = await RawClient.hello(server.url, "b", undefined, undefined, "127.0.0.2");
      assert.equal((await join(b, "z")).type, "joined", "another address has its own budget");
      assert.equal((await join(b, "y")).type, "joined");
      // The opener leaves a room another address keeps open: still charged to the opener, or
      // two addresses could take turns opening rooms without end.
      a2.send({ type: "leave", room: "y" });
      await a2.next("left", (l) => l.room === "y");
      assert.equal((await join(a1, "w")).type, "error", "a room the opener left but another keeps open still counts for the opener");
      b.send({ type: "leave", room: "y" });
      await b.next("left", (l) => l.room === "y");
      assert.equal((await join(a1, "w")).type, "joined", "once the room closes, its opener may open another");
      for (const c of [a1, a2, b]) c.close();
    } finally {
      await server.close();
    }
  });

  it("over maxQueuedBytesTotal the reader holding the most is cut with 4003, readers are not", async () => {
    const lines: string[] = [];
    const server = await testServer({ maxQueuedBytesTotal: 1024 * 1024, maxBufferedBytes: 512 * 1024 * 1024, queuedBytesCheckMs: 50, slowConsumerGraceMs: 20_000, rateLimits: false, log: (l) => lines.push(l) });
    try {
      const sleeper = await RawClient.hello(server.url, "sleeper");
      const reader = await RawClient.hello(server.url, "reader");
      for (const x of [sleeper, reader]) {
        x.send({ type: "join", room: "r" });
        await x.next("joined");
      }
      (sleeper.ws as unknown as { _socket: Socket })._socket.pause();
      const text = "b".repeat(4_000);
      for (let i = 0; i < 5_000 && !lines.some((l) => l.includes("budget")); i++) {
        reader.send({ type: "send", room: "r", id: `m${i}`, text });
        if (i % 100 === 99) await reader.next("ack", (a) => a.id === `m${i}`);
      }
      await waitFor(() => lines.some((l) => l.includes("sleeper") && l.includes("budget")), "the budget to cut the sleeper");
      (sleeper.ws as unknown as { _socket: Socket })._socket.resume();
      assert.equal((await sleeper.waitClosed(20_000)).code, 4003);
      assert.equal(reader.closed, null);
      reader.close();
    } finally {
      await server.close();
    }
  });
});
