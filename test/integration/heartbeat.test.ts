import { describe, it } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { testServer, testClient, FAST_LIVENESS } from "../support/test-server.js";
import { BlackHoleProxy } from "../support/black-hole-proxy.js";
import { waitFor, sleep } from "../support/wait.js";
import type { ConnectionState } from "../../src/client/types.js";

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
