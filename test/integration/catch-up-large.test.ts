import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../../src/store/index.js";
import { testServer, testClient } from "../support/test-server.js";
import { BlackHoleProxy } from "../support/black-hole-proxy.js";
import { fillRoom } from "../support/fill-room.js";
import { waitFor } from "../support/wait.js";

/** Messages the reader misses: 100,000 of 4 KB, over 400 MB, as the resource issue asks. */
const BEHIND = 100_000;
const TEXT_CHARS = 4_000;

describe("catch-up of a long absence", () => {
  it(`a fast reader ${BEHIND} messages of 4 KB behind catches up with none lost, RSS within 64 MiB`, { timeout: 600_000 }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "pulse-catch-up-"));
    // 400 MB in one room is over the default byte budget (64 MiB); retention is not under test.
    const store = new SqliteStore({ path: join(dir, "pulse.db"), retainBytesPerRoom: 1024 * 1024 * 1024 });
    // The default history rate (20 pages/s) would pace this 400 MB backfill over ~100 s; the
    // test is about paging and memory, so the rate is raised.
    const server = await testServer({ store, rateLimits: { history: { perConnection: { perSecond: 500, burst: 500 }, perIp: { perSecond: 500, burst: 500 } } } });
    const proxy = await new BlackHoleProxy(server.port).start();
    const c = testClient(`ws://127.0.0.1:${proxy.port}`, "ada", { backoff: { baseMs: 50, capMs: 200 } });
    // One bit per seq: what the app has seen, through any event.
    const seen = new Uint8Array(BEHIND + 2);
    let seenCount = 0;
    const see = (seq: number) => {
      if (!seen[seq]) seenCount++;
      seen[seq] = 1;
    };
    c.on("message", (m) => see(m.seq));
    c.on("joined", (e) => e.messages.forEach((m) => see(m.seq)));
    c.on("history", (e) => e.messages.forEach((m) => see(m.seq)));
    try {
      await fillRoom(store, "r", 1, () => "hello");
      c.join("r");
      await waitFor(() => seenCount === 1, "the first join");
      c.networkOffline(); // no reconnect while the room fills
      proxy.heal();
      const base = "x".repeat(TEXT_CHARS - 8);
      await fillRoom(store, "r", BEHIND, (i) => `${String(i).padStart(7, "0")} ${base}`, 5_000);
      const rssStart = process.memoryUsage().rss;
      const startedAt = Date.now();
      let rssPeak = rssStart;
      const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50);
      try {
        c.networkOnline();
        await waitFor(() => seenCount === BEHIND + 1, `all ${BEHIND + 1} messages (have ${seenCount})`, 480_000, 200);
      } finally {
        clearInterval(sampler);
      }
      const missing = [];
      for (let seq = 1; seq <= BEHIND + 1; seq++) if (!seen[seq]) missing.push(seq);
      assert.deepEqual(missing, []);
      const growthMiB = (rssPeak - rssStart) / 2 ** 20;
      t.diagnostic(`caught up ${BEHIND} messages in ${Date.now() - startedAt} ms; RSS peak +${growthMiB.toFixed(1)} MiB`);
      assert.ok(growthMiB <= 64, `RSS grew ${growthMiB.toFixed(0)} MiB during the catch-up`);
    } finally {
      c.close();
      await proxy.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
