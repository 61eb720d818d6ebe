import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { testServer, FAST_LIVENESS } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { sleep } from "../support/wait.js";

describe("presence", () => {
  it("two tabs of one nickname count once; closing one keeps it online; the last one going silent leaves within the bound", async () => {
    const server = await testServer({ liveness: FAST_LIVENESS, checkMs: 100 });
    const watcher = await RawClient.hello(server.url, "watcher");
    try {
      watcher.send({ type: "join", room: "lobby" });
      await watcher.next("joined");
      const tab1 = await RawClient.hello(server.url, "ada", "ada-key");
      const tab2 = await RawClient.hello(server.url, "ada", "ada-key");
      tab1.send({ type: "join", room: "lobby" });
      tab2.send({ type: "join", room: "lobby" });
      const joined2 = await tab2.next("joined");
      await tab1.next("joined");
      assert.deepEqual(joined2.online.filter((n) => n === "ada"), ["ada"], "listed once");
      await sleep(100);
      const adaEvents = () => watcher.received.filter((m) => m.type === "presence" && m.nick === "ada");
      assert.equal(adaEvents().length, 1, "one join for two tabs");

      tab1.close(); // an abrupt close: the kernel tells the server
      await sleep(FAST_LIVENESS.timeoutMs + 500);
      assert.equal(adaEvents().length, 1, "still online while a tab remains");

      tab2.silent = true;
      tab2.ws.pause();
      const frozeAt = Date.now();
      const leave = await watcher.next("presence", (p) => p.nick === "ada" && p.event === "leave", 10_000);
      assert.equal(leave.reason, "timeout");
      assert.ok(Date.now() - frozeAt <= FAST_LIVENESS.timeoutMs + FAST_LIVENESS.intervalMs + 1_000);
      tab2.close();
    } finally {
      watcher.close();
      await server.close();
    }
  });
});
