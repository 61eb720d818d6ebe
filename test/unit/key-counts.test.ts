import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { KeyCounts } from "../../src/server/key-counts.js";

describe("KeyCounts", () => {
  it("counts up and down per key, and forgets a key back at zero", () => {
    const counts = new KeyCounts();
    counts.add("10.0.0.1");
    counts.add("10.0.0.1");
    counts.add("2001:db8:1::/48");
    assert.deepEqual([counts.get("10.0.0.1"), counts.get("2001:db8:1::/48"), counts.get("10.0.0.2")], [2, 1, 0]);
    counts.remove("10.0.0.1");
    counts.remove("2001:db8:1::/48");
    counts.remove("2001:db8:1::/48");
    assert.deepEqual([counts.get("10.0.0.1"), counts.get("2001:db8:1::/48")], [1, 0], "never below zero");
    const held = (counts as unknown as { counts: Map<string, number> }).counts;
    assert.deepEqual([...held.keys()], ["10.0.0.1"], "a key at zero is not kept");
  });
});
