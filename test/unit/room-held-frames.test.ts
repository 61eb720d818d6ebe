import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Room, type SyncingMember } from "../../src/server/room.js";

/** A member that only keeps the account of what rooms hold for it, with a budget. */
function member(budget: number) {
  const m = {
    held: 0,
    refusals: 0,
    socket: null as never,
    afterSend() {},
    holdFrames(delta: number): boolean {
      m.held += delta;
      if (m.held <= budget) return true;
      m.refusals++;
      return false;
    },
  };
  return m satisfies SyncingMember;
}

const frame = (n: number): Buffer => Buffer.alloc(n, 0x61);

describe("frames held for a member in catch-up", () => {
  it("are counted while held and given back when the catch-up ends or the member leaves, in every room", () => {
    const a = new Room("a", "127.0.0.1");
    const b = new Room("b", "127.0.0.1");
    const m = member(1_000_000);
    a.startSync(m);
    b.startSync(m);
    a.deliver(frame(100), 1);
    b.deliver(frame(200), 1);
    a.deliver(frame(100), 2);
    assert.equal(m.held, 400 + 3 * 48, "frames' bytes plus 48 per entry, both rooms together");
    const released = a.finishSync(m, 1);
    assert.deepEqual(released.map((f) => f.seq), [2], "the frames newer than the catch-up follow it");
    assert.equal(m.held, 200 + 48, "room a gave its share back");
    b.remove(m);
    assert.equal(m.held, 0, "leaving gives the rest back");
    b.deliver(frame(100), 2);
    assert.equal(m.held, 0, "a room it left holds nothing for it");
  });

  it("stop for a member once all its rooms together pass its budget", () => {
    const a = new Room("a", "127.0.0.1");
    const b = new Room("b", "127.0.0.1");
    const m = member(1_000);
    const heldA = a.startSync(m);
    const heldB = b.startSync(m);
    for (let seq = 1; seq <= 4; seq++) {
      a.deliver(frame(100), seq);
      b.deliver(frame(100), seq);
    }
    // 8 x 148 = 1,184 > 1,000: the 7th frame (room a's 4th) was one too many.
    assert.equal(m.refusals, 1);
    assert.equal(a.holds(m, heldA), false, "room a no longer holds for it");
    assert.equal(b.holds(m, heldB), true);
    assert.equal(m.held, 4 * 148, "room a gave back all it held");
    assert.deepEqual(a.finishSync(m, 0), [], "nothing of room a is released to it");
  });

  it("stay held until the last of a member's joins in flight finishes, and follow that one's answer", () => {
    const room = new Room("r", "127.0.0.1");
    const m = member(1_000_000);
    const first = room.startSync(m);
    room.deliver(frame(100), 5);
    const second = room.startSync(m);
    room.deliver(frame(100), 6);
    room.deliver(frame(100), 7);
    assert.deepEqual(room.finishSync(m, 4), [], "the first answer is not the last: nothing released yet");
    assert.equal(room.members.has(m), false, "not live between the two answers");
    assert.equal(room.holds(m, first) && room.holds(m, second), true, "both joins still wanted");
    assert.deepEqual(room.finishSync(m, 6).map((f) => f.seq), [7], "after the last answer: what it did not carry");
    assert.equal(room.members.has(m), true);
    assert.equal(m.held, 0);
  });
});
