import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SendOrderGate } from "../../src/server/send-order-gate.js";

describe("SendOrderGate", () => {
  it("holds later sends behind the first refused one until it is accepted", () => {
    const gate = new SendOrderGate();
    gate.refused("r", "a", 500, 1_000);
    gate.refused("r", "b", 900, 1_010); // refused behind a: a stays the head
    assert.equal(gate.waitFor("r", "b", 1_100), 400, "b waits for a's retry time");
    assert.equal(gate.waitFor("r", "a", 1_100), 0, "a itself is considered");
    assert.equal(gate.waitFor("r", "b", 1_600), 100, "a is overdue: b is told to come back shortly");
    gate.admitted("r", "b");
    assert.ok(gate.waitFor("r", "c", 1_600) > 0, "only the head's acceptance frees the others");
    gate.admitted("r", "a");
    assert.equal(gate.waitFor("r", "b", 1_600), 0);
  });

  it("a head that never comes back holds the others at most 10 s past its retry time", () => {
    const gate = new SendOrderGate();
    gate.refused("r", "a", 500, 0);
    assert.ok(gate.waitFor("r", "b", 10_499) > 0);
    assert.equal(gate.waitFor("r", "b", 10_500), 0);
  });
});
