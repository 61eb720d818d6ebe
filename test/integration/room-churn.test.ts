import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { SqliteStore } from "../../src/store/index.js";
import { testServer } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
}

/** Joins and leaves `count` distinct room names of the longest allowed length, one by one. */
async function churn(c: RawClient, prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const room = `${prefix}-${i}-`.padEnd(64, "n");
    c.send({ type: "join", room });
    await c.next("joined", (j) => j.room === room);
    c.send({ type: "leave", room });
    await c.next("left", (l) => l.room === room);
    c.received.length = 0;
  }
}

describe("room-name churn", () => {
  it("4,000 distinct room names joined and left leave the heap where it was (SQLite store)", async (t) => {
    const server = await testServer({ store: new SqliteStore({ path: ":memory:" }), rateLimits: false }); // 4,000 joins in seconds
    try {
      const c = await RawClient.hello(server.url, "churner");
      // Warm up: every code path and lazily made structure exists before the baseline.
      await churn(c, "warm", 2_000);
      const before = await heapAfterGc();
      await churn(c, "churn", 4_000);
      const after = await heapAfterGc();
      const growthKiB = (after - before) / 1024;
      t.diagnostic(`heap after GC: ${(before / 2 ** 20).toFixed(2)} MiB -> ${(after / 2 ** 20).toFixed(2)} MiB (${growthKiB.toFixed(0)} KiB)`);
      // An entry per name ever asked about costs ~200 bytes: 4,000 names would be ~800 KiB.
      // The heap after a forced GC still moves by up to ~300 KiB between runs, hence 4,000.
      assert.ok(growthKiB < 400, `heap grew ${growthKiB.toFixed(0)} KiB`);
      c.close();
    } finally {
      await server.close();
    }
  });
});
