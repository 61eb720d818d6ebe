import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { LargestRooms } from "../../src/store/largest-rooms.js";

/** What the order must answer, from a plain list sorted each time. */
function model(rooms: Map<string, number>) {
  const sorted = [...rooms].sort(([a, x], [b, y]) => y - x || (a < b ? 1 : a > b ? -1 : 0));
  return { top: sorted[0]?.[0], runnerUpHeld: sorted[1]?.[1] ?? 0 };
}

describe("LargestRooms", () => {
  it("puts the room holding the most first, ties by the greater name, and knows the second's size", () => {
    const order = new LargestRooms();
    order.set("a", 10);
    order.set("b", 10);
    order.set("c", 3);
    assert.equal(order.top(), "b");
    assert.equal(order.runnerUpHeld(), 10);
    order.set("b", 2);
    assert.equal(order.top(), "a");
    assert.equal(order.runnerUpHeld(), 3);
    order.delete("a");
    assert.equal(order.top(), "c");
    assert.equal(order.runnerUpHeld(), 2);
    order.delete("c");
    order.delete("b");
    assert.equal(order.top(), undefined);
    assert.equal(order.runnerUpHeld(), 0);
    assert.equal(order.size, 0);
  });

  it("answers as a sorted list would after any sequence of sets and deletes", () => {
    const name = fc.constantFrom("a", "b", "c", "d", "e", "f", "g", "h");
    const op = fc.oneof(
      fc.record({ set: name, held: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ delete: name }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const order = new LargestRooms();
        const rooms = new Map<string, number>();
        for (const step of ops) {
          if ("set" in step) {
            order.set(step.set, step.held);
            rooms.set(step.set, step.held);
          } else {
            order.delete(step.delete);
            rooms.delete(step.delete);
          }
          const want = model(rooms);
          assert.equal(order.size, rooms.size);
          assert.equal(order.top(), want.top);
          assert.equal(order.runnerUpHeld(), want.runnerUpHeld);
        }
      }),
      { numRuns: 300 },
    );
  });
});
