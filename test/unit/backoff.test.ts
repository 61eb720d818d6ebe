import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { backoffMs } from "../../src/liveness/backoff.js";

describe("backoffMs (full jitter)", () => {
  it("grows the ceiling exponentially from the base", () => {
    const top = () => 0.999999;
    assert.equal(backoffMs(0, 500, 30_000, top), 499);
    assert.equal(backoffMs(3, 500, 30_000, top), 3_999);
    assert.equal(backoffMs(0, 500, 30_000, () => 0), 0);
  });

  it("keeps the jitter at the cap: delays stay spread over [0, cap]", () => {
    let r = 0;
    const samples = Array.from({ length: 1_000 }, () => backoffMs(40, 500, 30_000, () => (r++ % 1_000) / 1_000));
    assert.ok(Math.max(...samples) < 30_000 && Math.max(...samples) >= 29_000);
    assert.equal(Math.min(...samples), 0);
    const distinct = new Set(samples.map((s) => Math.floor(s / 3_000)));
    assert.equal(distinct.size, 10, "every tenth of [0, cap] is used");
  });

  it("survives absurd attempt counts", () => {
    assert.ok(Number.isFinite(backoffMs(10_000)));
    assert.ok(backoffMs(-5, 500, 30_000, () => 0.5) <= 250);
  });
});
