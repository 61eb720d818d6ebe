import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { testServer, testClient, FAST_LIVENESS } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { sleep, waitFor } from "../support/wait.js";

describe("presence", () => {
  it("two tabs of one nickname count once; closing one keeps it online; the last one going silent leaves within the bound", async () => {
    const server = await testServer({ liveness: FAST_LIVENESS, checkMs: 100 });
    const watcher = await RawClient.hello(server.url, "watcher");
    try {
      watcher.send({ type: "join", room: "lobby" });
      await watcher.next("joined");
      const tab1 = await RawClient.hello(server.url, "ada");
      const tab2 = await RawClient.hello(server.url, "ada", tab1.welcome!.token);
      tab1.send({ type: "join", room: "lobby" });
      tab2.send({ type: "join", room: "lobby" });
      const joined2 = await tab2.next("joined");
      await tab1.next("joined");
      assert.deepEqual(joined2.online.filter((n) => n === "ada"), ["ada"], "listed once");
      await sleep(100);
      const adaEvents = () => watcher.presenceChanges().filter((c) => c.nick === "ada");
      assert.equal(adaEvents().length, 1, "one join for two tabs");

      tab1.close(); // an abrupt close: the kernel tells the server
      await sleep(FAST_LIVENESS.timeoutMs + 500);
      assert.equal(adaEvents().length, 1, "still online while a tab remains");

      tab2.silent = true;
      tab2.ws.pause();
      const frozeAt = Date.now();
      const leave = await watcher.nextPresence("ada", "leave", 10_000);
      assert.equal(leave.reason, "timeout");
      assert.ok(Date.now() - frozeAt <= FAST_LIVENESS.timeoutMs + FAST_LIVENESS.intervalMs + 1_000);
      tab2.close();
    } finally {
      watcher.close();
      await server.close();
    }
  });

  it("a burst of joins reaches members as a few batched frames, every change in order", async () => {
    // Names are sent while the room has at most onlineListMax online: keep all 200 named.
    // 201 connections from one address in a second: above the default per-IP cap and at the
    // edge of the new-connection burst, neither of which is under test here.
    const server = await testServer({ onlineListMax: 500, maxConnectionsPerIp: 1_000, rateLimits: { upgrades: { perSecond: 1_000, burst: 1_000 } } });
    const watcher = await RawClient.hello(server.url, "watcher");
    const crowd: RawClient[] = [];
    try {
      watcher.send({ type: "join", room: "hall" });
      await watcher.next("joined");
      for (let i = 0; i < 200; i++) crowd.push(await RawClient.hello(server.url, `guest${i}`));
      for (const c of crowd) c.send({ type: "join", room: "hall" });
      await watcher.nextPresence("guest199", "join");
      const joins = watcher.presenceChanges().filter((c) => c.event === "join" && c.nick !== "watcher").map((c) => c.nick);
      assert.deepEqual(joins, crowd.map((_, i) => `guest${i}`));
      const frames = watcher.received.filter((m) => m.type === "presence").length;
      assert.ok(frames < 50, `${frames} presence frames for 200 joins`);
    } finally {
      for (const c of crowd) c.close();
      watcher.close();
      await server.close();
    }
  });

  it("the client library reports each arrival once, and not its own", async () => {
    const server = await testServer();
    const ada = testClient(server.url, "ada");
    const bob = testClient(server.url, "bob");
    const seen: string[] = [];
    ada.on("presence", (e) => seen.push(`${e.event}:${e.nick}`));
    try {
      ada.join("lobby");
      await waitFor(() => ada.online("lobby").includes("ada"), "ada in");
      bob.join("lobby");
      await waitFor(() => ada.online("lobby").includes("bob"), "ada sees bob");
      bob.leave("lobby");
      await waitFor(() => !ada.online("lobby").includes("bob"), "ada sees bob go");
      await sleep(200);
      assert.deepEqual(seen, ["join:bob", "leave:bob"]);
    } finally {
      ada.close();
      bob.close();
      await server.close();
    }
  });
});
