import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { testServer, testClient, FAST_LIVENESS } from "../support/test-server.js";
import { BlackHoleProxy } from "../support/black-hole-proxy.js";
import { waitFor } from "../support/wait.js";
import { PulseClient } from "../../src/client/pulse-client.js";
import { systemClock, type Clock } from "../../src/liveness/clock.js";

/** The system clock, counting the timers armed through it. */
function countingClock(): Clock & { armed: number; live: Set<unknown> } {
  const live = new Set<unknown>();
  const clock = {
    armed: 0,
    live,
    now: () => Date.now(),
    setTimeout(fn: () => void, ms: number) {
      clock.armed++;
      const h = systemClock.setTimeout(() => {
        live.delete(h);
        fn();
      }, ms);
      live.add(h);
      return h;
    },
    clearTimeout(h: unknown) {
      live.delete(h);
      systemClock.clearTimeout(h);
    },
  };
  return clock;
}

describe("client timers", () => {
  it("a link declared dead stops its checks while the reconnect waits, and close() leaves no timer", async () => {
    const server = await testServer({ liveness: FAST_LIVENESS, checkMs: 100 });
    const proxy = await new BlackHoleProxy(server.port).start();
    const clock = countingClock();
    // A long backoff: after the heartbeat timeout the client sits in `reconnecting` for a while.
    const c = new PulseClient(
      { url: `ws://127.0.0.1:${proxy.port}`, nick: "ada", WebSocket: (await import("ws")).default as never, backoff: { baseMs: 5_000, capMs: 5_000 } },
      { clock },
    );
    try {
      await waitFor(() => c.state.kind === "open", "open");
      // Timers armed during each wait in `reconnecting`: the retry timer, and nothing else.
      const episodes: Array<{ armed: number; ms: number }> = [];
      let mark: { armed: number; at: number } | null = null;
      c.on("state", (next) => {
        if (next.kind === "reconnecting") mark = { armed: clock.armed, at: Date.now() };
        else if (mark) {
          episodes.push({ armed: clock.armed - mark.armed, ms: Date.now() - mark.at });
          mark = null;
        }
      });
      proxy.blackHole();
      // Full jitter may make one wait short; collect a second of waiting in all.
      await waitFor(() => episodes.reduce((t, e) => t + e.ms, 0) >= 1_000, "a second spent reconnecting", 30_000);
      for (const e of episodes) assert.ok(e.armed <= 1, `${e.armed} timers armed during a ${e.ms} ms wait to reconnect`);
      c.close();
      assert.equal(clock.live.size, 0, "no timer left after close()");
    } finally {
      c.close();
      await proxy.close();
      await server.close();
    }
  });

  it("close() while connected leaves no timer", async () => {
    const server = await testServer();
    const clock = countingClock();
    const c = testClient(server.url, "bo");
    const d = new PulseClient({ url: server.url, nick: "cy", WebSocket: (await import("ws")).default as never }, { clock });
    try {
      await waitFor(() => d.state.kind === "open" && c.state.kind === "open", "open");
      d.close();
      assert.equal(clock.live.size, 0);
    } finally {
      c.close();
      d.close();
      await server.close();
    }
  });
});
