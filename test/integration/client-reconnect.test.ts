import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { testServer, testClient, FAST_LIVENESS } from "../support/test-server.js";
import { BlackHoleProxy } from "../support/black-hole-proxy.js";
import { waitFor, sleep } from "../support/wait.js";
import type { ConnectionState } from "../../src/client/types.js";

describe("client reconnect behaviour", () => {
  it("honours the server's goaway delay, then resumes on the restarted server", async () => {
    const first = await testServer({ restartSpreadMs: 800 });
    const port = first.port;
    const c = testClient(first.url, "ada");
    const states: ConnectionState[] = [];
    c.on("state", (s) => states.push(s));
    try {
      await waitFor(() => c.state.kind === "open", "open");
      const closingAt = Date.now();
      await first.close();
      const r = await waitFor(() => states.find((s): s is Extract<ConnectionState, { kind: "reconnecting" }> => s.kind === "reconnecting"), "reconnecting");
      assert.ok(r.retryAt - closingAt <= 800 + 200, `retry in ${r.retryAt - closingAt} ms, spread is 800`);
      assert.equal(c.lastDisconnect?.code, 4001);
      const second = await testServer({ port });
      try {
        await waitFor(() => c.state.kind === "open", "open on the new server", 15_000);
      } finally {
        c.close();
        await second.close();
      }
    } finally {
      c.close();
    }
  });

  it("never gives up while the server is down, and keeps every delay under the cap", async () => {
    const server = await testServer();
    const url = server.url;
    await server.close();
    const c = testClient(url, "ada", { backoff: { baseMs: 20, capMs: 100 } });
    const delays: number[] = [];
    c.on("state", (s) => s.kind === "reconnecting" && delays.push(s.retryAt - Date.now()));
    try {
      await waitFor(() => delays.length >= 12, "a dozen attempts", 10_000);
      assert.ok(delays.every((d) => d <= 100), `delays ${delays.join(", ")}`);
      const s = c.state;
      assert.ok(s.kind === "reconnecting" || s.kind === "connecting", `still trying: ${s.kind}`);
      assert.ok(s.kind !== "reconnecting" || s.attempt >= 12);
    } finally {
      c.close();
    }
  });

  it("offline, then online over a dead link: probes at once and reconnects without a backoff wait", async () => {
    const server = await testServer({ liveness: { intervalMs: 5_000, suspectMs: 8_000, timeoutMs: 12_000 } });
    const proxy = await new BlackHoleProxy(server.port).start();
    // A long backoff: if the client waited for it, the test would time out.
    const c = testClient(`ws://127.0.0.1:${proxy.port}`, "ada", { backoff: { baseMs: 60_000, capMs: 60_000 }, probeTimeoutMs: 300 });
    const kinds: string[] = [];
    c.on("state", (s) => kinds.push(s.kind));
    try {
      await waitFor(() => c.state.kind === "open", "open");
      c.networkOffline();
      assert.equal(c.state.kind, "offline");
      // The old link died silently while we were offline (a network switch); new ones work.
      proxy.freezeExisting();
      const onlineAt = Date.now();
      c.networkOnline();
      await waitFor(() => c.state.kind === "open" && kinds.lastIndexOf("open") > kinds.lastIndexOf("offline"), "open again", 5_000);
      // The 12 s heartbeat timeout and the 60 s backoff were both skipped.
      assert.ok(Date.now() - onlineAt < 5_000);
      assert.equal(c.lastDisconnect?.code, 4004, "the probe found the dead link");
    } finally {
      c.close();
      await proxy.close();
      await server.close();
    }
  });

  it("offline, then online over a link that survived: Connection OK after one probe, same socket", async () => {
    const server = await testServer({ liveness: FAST_LIVENESS });
    const c = testClient(server.url, "ada", { probeTimeoutMs: 1_000 });
    try {
      await waitFor(() => c.state.kind === "open", "open");
      const kind = () => c.state.kind; // read afresh: each call may have changed it
      c.networkOffline();
      assert.equal(kind(), "offline");
      c.networkOnline();
      assert.equal(kind(), "connecting", "verifying the link, not claiming it is fine");
      await waitFor(() => c.state.kind === "open", "the probe answered", 2_000);
      await sleep(1_300);
      assert.equal(kind(), "open", "the probe was answered");
      assert.equal(c.lastDisconnect, null, "never disconnected");
      assert.ok(c.rtt.lastMs !== null);
    } finally {
      c.close();
      await server.close();
    }
  });
});
