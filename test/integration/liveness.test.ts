import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { testServer, testClient, FAST_LIVENESS, activeTimers } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { BlackHoleProxy } from "../support/black-hole-proxy.js";
import { waitFor, sleep } from "../support/wait.js";
import type { ConnectionState } from "../../src/client/types.js";

describe("liveness on a real server", () => {
  it("terminates a silent client within timeoutMs plus one interval and reclaims everything", async () => {
    const server = await testServer({ liveness: FAST_LIVENESS, checkMs: 100 });
    const watcher = await RawClient.hello(server.url, "watcher");
    try {
      watcher.send({ type: "join", room: "lobby" });
      await watcher.next("joined");
      await sleep(50);
      const before = { ...server.stats(), timers: activeTimers() };

      const ghost = await RawClient.hello(server.url, "ghost");
      ghost.send({ type: "join", room: "lobby" });
      ghost.send({ type: "join", room: "ghost-only" });
      await ghost.next("joined", (m) => m.room === "ghost-only");
      await watcher.nextPresence("ghost", "join");
      assert.equal(server.stats().rooms, 2);

      // The ghost's app freezes: it keeps the TCP connection but answers nothing.
      ghost.silent = true;
      ghost.ws.pause();
      const frozeAt = Date.now();
      const leave = await watcher.nextPresence("ghost", "leave", 10_000);
      const detectedMs = Date.now() - frozeAt;
      assert.equal(leave.reason, "timeout");
      // Its last frame was before frozeAt, so detection is at most timeoutMs + checkMs after it;
      // allow one interval and scheduling noise on a shared machine.
      assert.ok(detectedMs <= FAST_LIVENESS.timeoutMs + FAST_LIVENESS.intervalMs + 1_000, `detected after ${detectedMs} ms`);

      await waitFor(() => server.stats().connections === before.connections, "the connection count to return");
      const after = { ...server.stats(), timers: activeTimers() };
      assert.equal(after.rooms, before.rooms, "the ghost's own room is gone");
      assert.equal(after.nicknames, before.nicknames, "the ghost's nickname is released");
      assert.ok(after.timers <= before.timers, `timers: ${before.timers} before, ${after.timers} after`);
      ghost.close();
    } finally {
      watcher.close();
      await server.close();
    }
  });

  it("a client that only listens to a busy room (a throttled background tab) is pinged and kept", async () => {
    // The raw talker sends 20 messages/s and does not honour rate_limited: limits off.
    const server = await testServer({ liveness: FAST_LIVENESS, checkMs: 100, rateLimits: false });
    // It answers pings but never starts anything, like a tab whose timers are throttled.
    const listener = await RawClient.hello(server.url, "listener");
    const talker = await RawClient.hello(server.url, "talker");
    try {
      listener.send({ type: "join", room: "busy" });
      talker.send({ type: "join", room: "busy" });
      await talker.next("joined");
      await listener.next("joined");
      // The server talks to the listener every 50 ms for three timeouts: it never goes idle.
      for (let i = 0; i < 60; i++) {
        talker.send({ type: "send", room: "busy", id: `t${i}`, text: `tick ${i}` });
        await sleep(50);
      }
      await listener.next("message", (m) => m.text === "tick 59");
      assert.equal(listener.closed, null, "the listener was not taken for dead");
      assert.ok(listener.received.some((m) => m.type === "ping"), "the server asked the silent listener");
    } finally {
      listener.close();
      talker.close();
      await server.close();
    }
  });

  it("a client behind a black-holed link goes suspect, then reconnecting, then recovers when it heals", async () => {
    const server = await testServer({ liveness: FAST_LIVENESS, checkMs: 100 });
    const proxy = await new BlackHoleProxy(server.port).start();
    const client = testClient(`ws://127.0.0.1:${proxy.port}`, "ada", { backoff: { baseMs: 100, capMs: 500 } });
    const seen: Array<{ kind: ConnectionState["kind"]; at: number }> = [];
    client.on("state", (s) => seen.push({ kind: s.kind, at: Date.now() }));
    try {
      await waitFor(() => client.state.kind === "open", "open");
      await sleep(300); // a few healthy heartbeats
      const holedAt = Date.now();
      proxy.blackHole();
      await waitFor(() => seen.some((s) => s.kind === "reconnecting" && s.at > holedAt), "reconnecting", 10_000);
      const suspect = seen.find((s) => s.kind === "suspect" && s.at > holedAt);
      const reconnecting = seen.find((s) => s.kind === "reconnecting" && s.at > holedAt)!;
      assert.ok(suspect, `went suspect first; states: ${seen.map((s) => s.kind).join(" > ")}`);
      assert.ok(suspect.at < reconnecting.at);
      // Suspect after suspectMs of silence, dead after timeoutMs (client timers are exact), plus noise.
      assert.ok(suspect.at - holedAt <= FAST_LIVENESS.suspectMs + FAST_LIVENESS.intervalMs + 1_000, `suspect after ${suspect.at - holedAt} ms`);
      assert.ok(reconnecting.at - holedAt <= FAST_LIVENESS.timeoutMs + FAST_LIVENESS.intervalMs + 1_000, `reconnecting after ${reconnecting.at - holedAt} ms`);
      assert.equal(client.lastDisconnect?.code, 4000);

      // Still black-holed: new attempts connect to the proxy but hear nothing; never "open".
      await sleep(1_500);
      assert.notEqual(client.state.kind, "open");
      proxy.heal();
      await waitFor(() => client.state.kind === "open", "open again after healing", 10_000);
    } finally {
      client.close();
      await proxy.close();
      await server.close();
    }
  });

  it("heartbeats never disturb chat: 10,000 messages at full speed, none lost or reordered, no ping, no suspect", async () => {
    // An interval of 1 s, not less: on a loaded machine a pause of the test process longer than
    // the interval in the middle of the traffic is a real idle gap, and pinging then is right.
    const liveness = { intervalMs: 1_000, suspectMs: 3_000, timeoutMs: 8_000 };
    const server = await testServer({ liveness, checkMs: 250, rateLimits: false }); // full speed on purpose
    const pings = { sent: 0, received: 0 };
    // An observing wrapper around the real `ws` class: counts heartbeat frames both ways.
    const { default: WebSocket } = await import("ws");
    class CountingWebSocket extends WebSocket {
      constructor(url: string, protocols: string | string[]) {
        super(url, protocols);
        this.on("message", (d) => {
          if (d.toString().startsWith('{"type":"ping"')) pings.received++;
        });
      }
      override send(data: string): void {
        if (data.startsWith('{"type":"ping"')) pings.sent++;
        super.send(data);
      }
    }
    const states: string[] = [];
    const mk = (nick: string) => {
      const c = testClient(server.url, nick, { WebSocket: CountingWebSocket as never, liveness, outboxLimit: 10_000 });
      c.on("state", (s) => states.push(`${nick}:${s.kind}`));
      c.join("race");
      return c;
    };
    const a = mk("a");
    const b = mk("b");
    const got = { a: [] as string[], b: [] as string[] };
    a.on("message", (m) => got.a.push(`${m.from}:${m.text}`));
    b.on("message", (m) => got.b.push(`${m.from}:${m.text}`));
    try {
      await waitFor(() => a.state.kind === "open" && b.state.kind === "open", "both open");
      await waitFor(() => a.online("race").length === 2, "both in the room");
      const N = 5_000;
      const WINDOW = 50;
      // Each sender keeps WINDOW messages in flight and sends the next on each ack: full speed
      // without filling the socket buffer, so both directions carry traffic all the time.
      const pump = (c: typeof a, nick: string) =>
        new Promise<void>((resolve) => {
          let sent = 0;
          let acked = 0;
          const sendOne = () => c.send("race", `${nick}-${sent++}`);
          c.on("outbox", (e) => {
            if (e.status !== "sent") return;
            acked++;
            if (sent < N) sendOne();
            if (acked === N) resolve();
          });
          for (let i = 0; i < WINDOW; i++) sendOne();
        });
      await sleep(liveness.intervalMs * 2); // let the idle heartbeat run before traffic starts
      const pingsBefore = { ...pings };
      assert.ok(pingsBefore.sent > 0, "the idle heartbeat ran (the counter sees pings)");
      const startedAt = Date.now();
      await Promise.all([pump(a, "a"), pump(b, "b")]);
      await waitFor(() => got.a.length >= 2 * N && got.b.length >= 2 * N, "every message delivered", 60_000);
      const tookMs = Date.now() - startedAt;
      for (const timeline of [got.a, got.b]) {
        assert.equal(timeline.length, 2 * N);
        for (const nick of ["a", "b"]) {
          const own = timeline.filter((t) => t.startsWith(`${nick}:`));
          assert.deepEqual(own, Array.from({ length: N }, (_, i) => `${nick}:${nick}-${i}`));
        }
      }
      assert.deepEqual(got.a, got.b, "both see one order");
      assert.deepEqual(pings, pingsBefore, `no heartbeat while traffic flowed for ${tookMs} ms`);
      assert.ok(!states.some((s) => s.endsWith("suspect") || s.endsWith("reconnecting")), states.join(", "));
    } finally {
      a.close();
      b.close();
      await server.close();
    }
  });
});
