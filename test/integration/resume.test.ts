import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { testServer, testClient, FAST_LIVENESS } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { BlackHoleProxy } from "../support/black-hole-proxy.js";
import { waitFor } from "../support/wait.js";
import type { RoomJoinedEvent } from "../../src/client/types.js";
import type { ChatMessage } from "../../src/protocol/messages.js";

/** The writers send as fast as they can and ignore rate_limited: their servers run without limits. */
const NO_LIMITS = { rateLimits: false } as const;

async function fill(url: string, nick: string, room: string, n: number) {
  const w = await RawClient.hello(url, nick);
  w.send({ type: "join", room });
  await w.next("joined");
  for (let i = 0; i < n; i++) w.send({ type: "send", room, id: `${nick}-${i}`, text: `${nick} ${i}` });
  await w.next("ack", (a) => a.id === `${nick}-${n - 1}`);
  w.close();
}

describe("resume", () => {
  it("a short absence is replayed in order with recovered: true", async () => {
    const server = await testServer({ liveness: FAST_LIVENESS, checkMs: 100, ...NO_LIMITS });
    const proxy = await new BlackHoleProxy(server.port).start();
    const c = testClient(`ws://127.0.0.1:${proxy.port}`, "ada", { backoff: { baseMs: 50, capMs: 200 } });
    const joins: RoomJoinedEvent[] = [];
    const got: ChatMessage[] = [];
    c.on("joined", (e) => joins.push(e));
    c.on("message", (m) => got.push(m));
    try {
      c.join("r");
      await waitFor(() => joins.length === 1, "first join");
      await fill(server.url, "w1", "r", 5);
      await waitFor(() => got.length === 5, "live messages");
      proxy.heal(); // cut the link
      await fill(server.url, "w2", "r", 30); // written while ada is away
      await waitFor(() => got.length === 35, "replay", 10_000);
      assert.equal(joins.length, 2);
      assert.equal(joins[1]!.recovered, true);
      assert.deepEqual(got.map((m) => m.seq), Array.from({ length: 35 }, (_, i) => i + 1));
    } finally {
      c.close();
      await proxy.close();
      await server.close();
    }
  });

  it("a gap the store no longer holds yields recovered: false with the latest page, and the client resyncs", async () => {
    const server = await testServer({ liveness: FAST_LIVENESS, checkMs: 100, retainPerRoom: 10, historyLimit: 5, ...NO_LIMITS });
    const proxy = await new BlackHoleProxy(server.port).start();
    const c = testClient(`ws://127.0.0.1:${proxy.port}`, "ada", { backoff: { baseMs: 50, capMs: 200 } });
    const joins: RoomJoinedEvent[] = [];
    const live: ChatMessage[] = [];
    c.on("joined", (e) => joins.push(e));
    c.on("message", (m) => live.push(m));
    try {
      c.join("r");
      // Joined first: messages stored before the join come in its page, not as live ones.
      await waitFor(() => joins.length === 1, "the first join");
      await fill(server.url, "w1", "r", 3);
      await waitFor(() => live.length === 3, "live messages");
      proxy.blackHole();
      await fill(server.url, "w2", "r", 40); // trims seq 1..33 while ada is away
      proxy.heal();
      await waitFor(() => joins.length === 2, "rejoin", 10_000);
      const rejoin = joins[1]!;
      assert.equal(rejoin.recovered, false);
      assert.deepEqual(rejoin.messages.map((m) => m.seq), [39, 40, 41, 42, 43]);
      // After the resync, live messages continue from the new position with no false gap.
      await fill(server.url, "w3", "r", 2);
      await waitFor(() => live.length === 5, "live after resync");
      assert.deepEqual(live.slice(3).map((m) => m.seq), [44, 45]);
    } finally {
      c.close();
      await proxy.close();
      await server.close();
    }
  });

  it("a resume from another store epoch, or past maxReplay, is not recovered", async () => {
    const server = await testServer({ maxReplay: 5, ...NO_LIMITS });
    try {
      await fill(server.url, "w", "r", 10);
      const c = await RawClient.hello(server.url, "ada");
      const { epoch } = await c.next("welcome");
      c.send({ type: "join", room: "r", since: 2, epoch });
      assert.equal((await c.next("joined")).recovered, false, "8 missed > maxReplay 5");
      c.send({ type: "leave", room: "r" });
      await c.next("left");
      c.received.length = 0;
      c.send({ type: "join", room: "r", since: 8, epoch: "some-other-store" });
      assert.equal((await c.next("joined")).recovered, false, "foreign epoch");
      c.send({ type: "leave", room: "r" });
      await c.next("left");
      c.received.length = 0;
      c.send({ type: "join", room: "r", since: 8, epoch });
      const ok = await c.next("joined");
      assert.equal(ok.recovered, true);
      assert.deepEqual(ok.messages.map((m) => m.seq), [9, 10]);
      c.close();
    } finally {
      await server.close();
    }
  });
});
