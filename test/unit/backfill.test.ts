import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Backfill } from "../../src/client/backfill.js";
import type { ChatMessage } from "../../src/protocol/messages.js";

const page = (from: number, to: number): ChatMessage[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ type: "message", room: "r", seq: from + i, id: `m${from + i}`, from: "bob", text: "hi", ts: 0 }) as ChatMessage);

describe("Backfill", () => {
  it("pages back through a gap until it reaches what the client had", () => {
    const b = new Backfill();
    assert.equal(b.open("r", 100, 451), true, "had up to 100; the latest page starts at 451");
    const asked: number[] = [];
    for (let before = b.request("r")?.before; before !== undefined; before = b.request("r")?.before) {
      asked.push(before);
      b.page("r", page(Math.max(1, before - 50), before - 1), true);
    }
    assert.deepEqual(asked, [451, 401, 351, 301, 251, 201, 151], "the last page reaches seq 101");
  });

  it("with a limit, stops after that many of the gap's newest messages", () => {
    const b = new Backfill(120);
    b.open("r", 100, 10_001);
    let fetched = 0;
    let pages = 0;
    for (let before = b.request("r")?.before; before !== undefined && pages < 1_000; before = b.request("r")?.before, pages++) {
      fetched += b.page("r", page(before - 50, before - 1), true).length;
    }
    assert.equal(pages, 3, "three pages of 50 reach 120");
    assert.equal(fetched, 150);
    assert.equal(b.request("r"), null, "nothing more is asked");
  });
});
