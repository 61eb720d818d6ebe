import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LivenessSweep } from "../../src/server/liveness-sweep.js";
import { sleep } from "../support/wait.js";

describe("LivenessSweep", () => {
  it("checks every member about once per period, a slice at a time", async () => {
    const sweep = new LivenessSweep<{ check(): void; checks: number }>(100, 10); // up to ten slices of 10 ms
    let perTick = new Map<number, number>();
    const members = Array.from({ length: 2_000 }, () => {
      const m = {
        checks: 0,
        check() {
          m.checks++;
          const tick = Math.floor(performance.now() / 5);
          perTick.set(tick, (perTick.get(tick) ?? 0) + 1);
        },
      };
      sweep.add(m);
      return m;
    });
    try {
      await sleep(1_000);
      for (const m of members) assert.ok(m.checks >= 4 && m.checks <= 11, `checked ${m.checks} times in 10 periods`);
      assert.ok(Math.max(...perTick.values()) <= 400, "a tick checks about a tenth of the members");
      sweep.delete(members[0]!);
      const before = members[0]!.checks;
      perTick = new Map();
      await sleep(250);
      assert.equal(members[0]!.checks, before, "a deleted member is not checked");
      assert.equal(sweep.size, 1_999);
    } finally {
      sweep.stop();
    }
  });

  it("wakes once per period for a few members, and not at all for none", async () => {
    const sweep = new LivenessSweep<{ check(): void }>(100, 10);
    const ticks: number[] = [];
    const m = { check: () => ticks.push(Date.now()) };
    try {
      sweep.add(m);
      await sleep(550);
      assert.ok(ticks.length >= 3 && ticks.length <= 6, `${ticks.length} checks in 5.5 periods`);
      sweep.delete(m);
      const n = ticks.length;
      await sleep(250);
      assert.equal(ticks.length, n);
    } finally {
      sweep.stop();
    }
  });
});
