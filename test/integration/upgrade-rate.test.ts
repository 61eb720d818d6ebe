import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type WebSocket from "ws";
import { testServer, testClient } from "../support/test-server.js";
import { opened, tryUpgrade } from "../support/upgrade.js";
import { sleep, waitFor } from "../support/wait.js";
import type { ConnectionState } from "../../src/client/types.js";

type Reconnecting = Extract<ConnectionState, { kind: "reconnecting" }>;

describe("new-connection rate per IP at the upgrade", () => {
  it("a burst of upgrades from one address gets 429 with Retry-After; others are not limited; it gets in after waiting", async () => {
    const server = await testServer({ rateLimits: { upgrades: { perSecond: 1, burst: 5 } } });
    const sockets: WebSocket[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        const ws = opened(await tryUpgrade(server.url, "127.0.0.1"));
        sockets.push(ws);
        ws.terminate(); // the concurrent cap is not what is tested here
      }
      const refused = await tryUpgrade(server.url, "127.0.0.1");
      assert.ok(!("ws" in refused), "the sixth upgrade in a burst of six is refused");
      assert.equal(refused.status, 429);
      assert.equal(refused.retryAfter, "1", "one token comes back in one second");
      sockets.push(opened(await tryUpgrade(server.url, "127.0.0.2"))); // another address has its own bucket
      await sleep(Number(refused.retryAfter) * 1000 + 100);
      sockets.push(opened(await tryUpgrade(server.url, "127.0.0.1")));
    } finally {
      for (const ws of sockets) ws.terminate();
      await server.close();
    }
  });

  it("the client library waits at least Retry-After before trying again, then gets in", async () => {
    // 0.4/s: one token every 2.5 s, so Retry-After says 3 s.
    const server = await testServer({ rateLimits: { upgrades: { perSecond: 0.4, burst: 2 } }, retry: { baseMs: 10, capMs: 100 } });
    const sockets: WebSocket[] = [];
    const c = testClient(server.url, "ada", { backoff: { baseMs: 10, capMs: 100 }, autoConnect: false });
    const waits: Reconnecting[] = [];
    c.on("state", (s) => s.kind === "reconnecting" && waits.push(s));
    try {
      for (let i = 0; i < 2; i++) sockets.push(opened(await tryUpgrade(server.url, "127.0.0.1")));
      const startedAt = Date.now();
      c.connect();
      await waitFor(() => c.state.kind === "open", "open after waiting", 15_000);
      assert.ok(waits.length >= 1, "the first attempt was refused");
      const first = waits[0]!;
      assert.ok(first.retryAt - startedAt >= 3_000, `retry planned ${first.retryAt - startedAt} ms after the refusal; Retry-After said 3 s`);
      assert.equal(waits.length, 1, `${waits.length} refusals: the client came back before the server said`);
    } finally {
      c.close();
      for (const ws of sockets) ws.terminate();
      await server.close();
    }
  });

  it("the addresses tracked stay within maxTrackedIps: at the cap the least recently seen is forgotten", async () => {
    const cap = 8;
    // 0.01/s: a drained bucket would stay not-full for minutes.
    const server = await testServer({ rateLimits: { upgrades: { perSecond: 0.01, burst: 1, maxTrackedIps: cap } } });
    const sockets: WebSocket[] = [];
    try {
      const addresses = Array.from({ length: 40 }, (_, i) => `127.0.1.${i + 1}`);
      for (const address of addresses) {
        sockets.push(opened(await tryUpgrade(server.url, address)));
        assert.ok(server.stats().trackedIps <= cap, `${server.stats().trackedIps} addresses tracked; the cap is ${cap}`);
      }
      assert.equal(server.stats().trackedIps, cap);
      // The most recent address is still tracked and drained; the first was forgotten and starts again.
      assert.deepEqual(await tryUpgrade(server.url, addresses.at(-1)), { status: 429, retryAfter: "100" });
      sockets.push(opened(await tryUpgrade(server.url, addresses[0])));
    } finally {
      for (const ws of sockets) ws.terminate();
      await server.close();
    }
  });

  it("buckets that have refilled are dropped", async () => {
    const server = await testServer({ rateLimits: { upgrades: { perSecond: 5, burst: 5 } } });
    const sockets: WebSocket[] = [];
    try {
      for (let i = 0; i < 20; i++) sockets.push(opened(await tryUpgrade(server.url, `127.0.2.${i + 1}`)));
      await sleep(400); // every bucket is full again (its one token back in 200 ms)
      for (let i = 0; i < 4; i++) sockets.push(opened(await tryUpgrade(server.url, "127.0.2.100")));
      assert.ok(server.stats().trackedIps <= 2, `${server.stats().trackedIps} tracked after they refilled`);
    } finally {
      for (const ws of sockets) ws.terminate();
      await server.close();
    }
  });

  it("rateLimits: false turns it off", async () => {
    const server = await testServer({ rateLimits: false });
    const sockets: WebSocket[] = [];
    try {
      for (let i = 0; i < 300; i++) {
        const ws = opened(await tryUpgrade(server.url, "127.0.0.1"));
        ws.terminate();
      }
      assert.equal(server.stats().trackedIps, 0);
    } finally {
      for (const ws of sockets) ws.terminate();
      await server.close();
    }
  });
});
