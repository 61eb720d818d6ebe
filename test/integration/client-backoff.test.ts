import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { testServer, testClient } from "../support/test-server.js";
import { GateProxy } from "../support/gate-proxy.js";
import { sleep, waitFor } from "../support/wait.js";
import type { ConnectionState } from "../../src/client/types.js";

type Reconnecting = Extract<ConnectionState, { kind: "reconnecting" }>;

describe("client backoff across outages", () => {
  it("a crash soon after recovering from an outage is retried as promptly as the first one", async () => {
    const baseMs = 100;
    // The server's retry advice in welcome wins over the client's own: make them agree.
    const server = await testServer({ retry: { baseMs, capMs: 30_000 } });
    const gate = await new GateProxy(server.port).start();
    const stableAfterMs = 1_000;
    const c = testClient(`ws://127.0.0.1:${gate.port}`, "ada", { backoff: { baseMs, capMs: 30_000 }, stableAfterMs });
    const waits: Reconnecting[] = [];
    c.on("state", (s) => s.kind === "reconnecting" && waits.push(s));
    try {
      await waitFor(() => c.state.kind === "open", "open");
      await sleep(stableAfterMs + 200); // a link that proved stable
      // An outage: the server is gone and refuses connections for a few attempts.
      gate.down = true;
      gate.cutAll();
      await waitFor(() => waits.length >= 5, "five failed attempts", 20_000);
      gate.down = false;
      await waitFor(() => c.state.kind === "open", "open after the outage", 20_000);
      // Well within stableAfterMs, the server crashes again and is back at once.
      const before = waits.length;
      gate.cutAll();
      const crashedAt = Date.now();
      const wait = await waitFor(() => waits[before], "reconnecting after the second crash");
      assert.equal(wait.attempt, 1, `the first retry after the second crash is attempt 1, not ${wait.attempt}`);
      assert.ok(wait.retryAt - crashedAt <= baseMs + 100, `retry in ${wait.retryAt - crashedAt} ms; the window is ${baseMs} ms`);
      await waitFor(() => c.state.kind === "open", "open after the second crash", 5_000);
    } finally {
      c.close();
      await gate.close();
      await server.close();
    }
  });

  it("a server that accepts and drops every connection at once still gets a growing backoff", async () => {
    const server = await testServer({ retry: { baseMs: 10, capMs: 30_000 } });
    const gate = await new GateProxy(server.port).start();
    const c = testClient(`ws://127.0.0.1:${gate.port}`, "ada", { backoff: { baseMs: 10, capMs: 30_000 } });
    const attempts: number[] = [];
    c.on("state", (s) => {
      if (s.kind === "open") setImmediate(() => gate.cutAll()); // welcomed, then dropped
      if (s.kind === "reconnecting") attempts.push(s.attempt);
    });
    try {
      await waitFor(() => attempts.length >= 6, "six drops", 20_000);
      assert.deepEqual(attempts.slice(0, 6), [1, 2, 3, 4, 5, 6], "each short-lived link raises the backoff");
    } finally {
      c.close();
      await gate.close();
      await server.close();
    }
  });
});
