import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Backfill } from "../../src/client/backfill.js";
import type { ChatMessage } from "../../src/protocol/messages.js";

/** The server's page for `before`: up to 50 messages below it, oldest first. */
const page = (before: number, size = 50): ChatMessage[] =>
  Array.from({ length: Math.min(size, before - 1) }, (_, i) => {
    const seq = Math.max(1, before - size) + i;
    return { type: "message", room: "r", seq, id: `m${seq}`, from: "bob", text: "hi", ts: 0 } as ChatMessage;
  });

/** Answers every request until none is left; returns the `before` of each. */
function drain(b: Backfill, room = "r"): number[] {
  const asked: number[] = [];
  for (let next = b.request(room); next !== null && asked.length < 1_000; next = b.request(room)) {
    asked.push(next.before);
    b.page(room, next.before, page(next.before), true);
  }
  return asked;
}

describe("Backfill", () => {
  it("pages back through a gap until it reaches what the client had, one page asked at a time", () => {
    const b = new Backfill();
    assert.equal(b.open("r", 100, 451), true, "had up to 100; the latest page starts at 451");
    assert.deepEqual(b.request("r"), { before: 451 });
    assert.equal(b.request("r"), null, "one page at a time");
    b.page("r", 451, page(451), true);
    assert.deepEqual(drain(b), [401, 351, 301, 251, 201, 151], "the last page reaches seq 101");
    assert.equal(b.filling("r"), false);
  });

  it("with a limit, stops after that many of the gap's newest messages", () => {
    const b = new Backfill(120);
    b.open("r", 100, 10_001);
    assert.deepEqual(drain(b), [10_001, 9_951, 9_901], "three pages of 50 reach 120");
    assert.equal(b.request("r"), null, "nothing more is asked");
  });

  it("matches a page to its gap by the before it answers: a gap opened while another's page is asked is not closed by that page", () => {
    const b = new Backfill();
    b.open("r", 100, 2_001);
    assert.deepEqual(b.request("r"), { before: 2_001 });
    // Before that page is answered, a rejoin from 2,500 got only the page from 4,001.
    b.open("r", 2_500, 4_001);
    const old = b.page("r", 2_001, page(2_001), true)!;
    assert.deepEqual([old[0]!.seq, old.at(-1)!.seq], [1_951, 2_000], "the old gap's page is the old gap's");
    assert.deepEqual(b.request("r"), { before: 4_001 }, "the new gap is still open, and asked next");
    b.page("r", 4_001, page(4_001), true);
    const rest = drain(b);
    assert.equal(rest[0], 3_951, "the new gap first");
    assert.equal(rest.at(-1), 151, "then the old one, to its end");
    assert.equal(b.filling("r"), false);
  });

  it("leaves a page the app asked for to the app, and the gap as it was", () => {
    const b = new Backfill();
    b.open("r", 100, 2_001);
    assert.deepEqual(b.request("r"), { before: 2_001 });
    assert.equal(b.page("r", 60, page(60), true), null, "the app's loadOlder(before 60)");
    assert.equal(b.page("r", 2_001, page(2_001), true)!.length, 50, "the gap's own page is still its");
    assert.deepEqual(b.request("r"), { before: 1_951 });
  });
});
