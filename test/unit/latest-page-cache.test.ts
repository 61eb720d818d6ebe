import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LatestPageCache } from "../../src/server/latest-page-cache.js";

describe("LatestPageCache", () => {
  it("answers only for the latest seq it was filled at", () => {
    const cache = new LatestPageCache(1_000);
    cache.set("lobby", 7, ["a", "b"], 10);
    assert.deepEqual(cache.get("lobby", 7), ["a", "b"]);
    assert.equal(cache.get("lobby", 8), undefined, "a message was added since: the page is stale");
    assert.equal(cache.get("hall", 7), undefined);
  });

  it("stays within its byte budget, the least recently used room out first", () => {
    const cache = new LatestPageCache(100);
    cache.set("a", 1, ["x"], 40);
    cache.set("b", 1, ["y"], 40);
    assert.ok(cache.get("a", 1), "a is now the most recently used");
    cache.set("c", 1, ["z"], 40);
    assert.equal(cache.get("b", 1), undefined, "b was the least recently used");
    assert.ok(cache.get("a", 1) && cache.get("c", 1));
    assert.equal(cache.heldBytes, 80);
    cache.set("huge", 1, ["w"], 101);
    assert.equal(cache.get("huge", 1), undefined, "a page over the whole budget is not kept");
    cache.set("a", 2, ["x2"], 10);
    assert.equal(cache.heldBytes, 50, "a room's new page replaces its old one");
  });

  it("keeps at most maxRooms rooms, however small their pages (room names come from clients)", () => {
    const cache = new LatestPageCache(1_000_000, 3);
    for (let i = 0; i < 10; i++) cache.set(`room${i}`, 0, [], 0);
    assert.equal(cache.size, 3);
    assert.ok(cache.get("room9", 0) && !cache.get("room0", 0));
  });

  it("forgets every page when cleared (a new epoch: the same seq names other messages), and fills again", () => {
    const cache = new LatestPageCache(1_000);
    cache.set("lobby", 7, ["old"], 10);
    cache.set("hall", 3, ["old"], 10);
    cache.clear();
    assert.deepEqual([cache.get("lobby", 7), cache.get("hall", 3), cache.size, cache.heldBytes], [undefined, undefined, 0, 0]);
    cache.set("lobby", 7, ["new"], 10);
    assert.deepEqual([cache.get("lobby", 7), cache.heldBytes], [["new"], 10]);
  });
});
