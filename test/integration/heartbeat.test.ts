import { describe, it } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { testServer, testClient, FAST_LIVENESS } from "../support/test-server.js";
import { BlackHoleProxy } from "../support/black-hole-proxy.js";
import { waitFor, sleep } from "../support/wait.js";
import type { ConnectionState, WebSocketFactory } from "../../src/client/types.js";
import { PulseClient } from "../../src/client/pulse-client.js";
import { systemClock, type Clock } from "../../src/liveness/clock.js";

/** The real `ws` class, counting heartbeat frames in both directions. */
function countingWebSocket() {
  const frames = { clientPings: 0, serverPings: 0, clientPongs: 0, serverPongs: 0 };
  class CountingWebSocket extends WebSocket {
    constructor(url: string, protocols: string | string[]) {
      super(url, protocols);
      this.on("message", (d) => {
        const text = d.toString();
        if (text.startsWith('{"type":"ping"')) frames.serverPings++;
        if (text.startsWith('{"type":"pong"')) frames.serverPongs++;
      });
    }
    override send(data: string): void {
      if (data.startsWith('{"type":"ping"')) frames.clientPings++;
      if (data.startsWith('{"type":"pong"')) frames.clientPongs++;
      super.send(data);
    }
  }
  return { frames, CountingWebSocket };
}

describe("heartbeat on a real server", () => {
  it("an idle link carries the client's ping and the server's pong once per interval, and no server ping", async () => {
    // Generous timings: a busy machine must not delay the client's ping past the server's grace.
    const liveness = { intervalMs: 400, suspectMs: 1_600, timeoutMs: 3_000 };
    const server = await testServer({ liveness, checkMs: 100 });
    const { frames, CountingWebSocket } = countingWebSocket();
    const c = testClient(server.url, "ada", { WebSocket: CountingWebSocket as never });
    try {
      await waitFor(() => c.state.kind === "open", "open");
      c.join("quiet");
      await sleep(500);
      const start = { ...frames };
      const windowMs = 10 * liveness.intervalMs;
      await sleep(windowMs);
      const pings = frames.clientPings - start.clientPings;
      assert.ok(pings >= 7 && pings <= 10, `${pings} client pings in ${windowMs} ms`);
      assert.equal(frames.serverPongs - start.serverPongs, pings, "each answered");
      assert.equal(frames.serverPings - start.serverPings, 0, "the server never pinged a client that pings");
      assert.equal(c.state.kind, "open");
    } finally {
      c.close();
      await server.close();
    }
  });

  it("an idle client pings on the server's ping slots, whatever its own clock says, and never later than intervalMs", async () => {
    const liveness = { intervalMs: 1_000, suspectMs: 2_500, timeoutMs: 4_000, pingSlotMs: 500 };
    const server = await testServer({ liveness });
    // The client's clock is 98.76525 s behind the server's: only welcome.serverTime can tell it where the slots are.
    const SHIFT = -98_765.25;
    const clock: Clock = { ...systemClock, now: () => Date.now() + SHIFT };
    const pings: number[] = [];
    class RecordingWebSocket extends WebSocket {
      override send(data: string): void {
        if (data.startsWith('{"type":"ping"')) pings.push((JSON.parse(data) as { sentAt: number }).sentAt);
        super.send(data);
      }
    }
    const c = new PulseClient({ url: server.url, nick: "ada", WebSocket: RecordingWebSocket as unknown as WebSocketFactory }, { clock });
    // Generous: a ping on a slot is early by at most the client's error on the server's clock (half the
    // hello round trip) and late by its timer's lateness. Without slots each ping would come intervalMs
    // after its send, and these pauses put the 7 pings' phases 335 ms apart or more around the 500 ms
    // slot, so no run could pass with all of them in this 200 ms window.
    const EARLY_MS = 50;
    const LATE_MS = 150;
    try {
      c.connect();
      await waitFor(() => c.state.kind === "open", "open");
      c.join("quiet");
      await waitFor(() => c.online("quiet").includes("ada"), "joined");
      for (const pause of [130, 410, 260, 75, 330, 480, 20]) {
        // A chat frame at its own moment: without slots the next ping would come exactly intervalMs later.
        await sleep(pause);
        const entry = c.send("quiet", "x");
        const sentAt = clock.now();
        await waitFor(() => !c.outboxEntries().some((e) => e.id === entry.id), "acked");
        const before = pings.length;
        await waitFor(() => pings.length > before, "the next ping", 5_000, 5);
        const at = pings.at(-1)!;
        const inSlot = (((at - SHIFT) % liveness.pingSlotMs) + liveness.pingSlotMs) % liveness.pingSlotMs;
        assert.ok(inSlot < LATE_MS || inSlot > liveness.pingSlotMs - EARLY_MS, `ping ${inSlot.toFixed(1)} ms into a slot of the server's clock`);
        const waited = at - sentAt;
        assert.ok(waited > liveness.intervalMs - liveness.pingSlotMs - EARLY_MS && waited < liveness.intervalMs + LATE_MS, `pinged ${waited.toFixed(0)} ms after the send`);
      }
    } finally {
      c.close();
      await server.close();
    }
  });

  it("a send while 'not responding' probes, but the verdict still comes at timeoutMs of silence", async () => {
    const server = await testServer({ liveness: FAST_LIVENESS, checkMs: 100 });
    const proxy = await new BlackHoleProxy(server.port).start();
    // A probe deadline far beyond the timeout: before the fix it postponed the verdict.
    const c = testClient(`ws://127.0.0.1:${proxy.port}`, "ada", { probeTimeoutMs: 5_000, idleProbeAfterMs: FAST_LIVENESS.intervalMs, backoff: { baseMs: 60_000, capMs: 60_000 } });
    const seen: Array<{ kind: ConnectionState["kind"]; at: number }> = [];
    c.on("state", (s) => seen.push({ kind: s.kind, at: Date.now() }));
    try {
      await waitFor(() => c.state.kind === "open", "open");
      c.join("lobby");
      await sleep(300);
      const holedAt = Date.now();
      proxy.blackHole();
      await waitFor(() => c.state.kind === "suspect", "suspect", 5_000);
      c.send("lobby", "anyone there?"); // the user types while "Server not responding"
      await waitFor(() => c.state.kind === "reconnecting", "reconnecting", 10_000);
      const deadAfter = seen.find((s) => s.kind === "reconnecting")!.at - holedAt;
      // Dead at timeoutMs of silence (plus scheduling noise), not at the probe's 5 s deadline.
      assert.ok(deadAfter < FAST_LIVENESS.timeoutMs + 1_500, `dead after ${deadAfter} ms`);
      assert.equal(c.lastDisconnect?.code, 4000, "a heartbeat timeout, not a probe timeout");
    } finally {
      c.close();
      await proxy.close();
      await server.close();
    }
  });
});
