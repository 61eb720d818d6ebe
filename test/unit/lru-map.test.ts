import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LruMap } from "../../src/store/lru-map.js";

describe("LruMap", () => {
  it("keeps at most capacity entries and drops the least recently used", () => {
    const m = new LruMap<string, number>(2);
    m.set("a", 1);
    m.set("b", 2);
    assert.equal(m.get("a"), 1); // a is now the most recent
    m.set("c", 3);
    assert.equal(m.size, 2);
    assert.equal(m.get("b"), undefined, "b was least recently used");
    assert.equal(m.get("a"), 1);
    assert.equal(m.get("c"), 3);
  });

  it("a key asked for again while it is the most recent stays the most recent", () => {
    const m = new LruMap<string, number>(2);
    m.set("a", 1);
    m.set("b", 2);
    assert.equal(m.get("b"), 2);
    assert.equal(m.get("b"), 2);
    m.set("c", 3);
    assert.equal(m.get("a"), undefined, "a was least recently used");
    assert.equal(m.get("b"), 2);
    // The most recent deleted, then set again: the recency is the new one's.
    m.delete("b");
    m.set("b", 4);
    assert.equal(m.get("c"), 3);
    m.set("d", 5);
    assert.equal(m.get("b"), undefined, "b was used before c");
    assert.equal(m.get("c"), 3);
  });
});
