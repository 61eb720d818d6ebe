import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SendWindow } from "../../src/client/send-window.js";
import type { OutboxEntry } from "../../src/client/types.js";

const entries = (n: number): OutboxEntry[] => Array.from({ length: n }, (_, i) => ({ id: `e${i}`, room: "r", text: "t", status: "pending", createdAt: 0 }));

describe("SendWindow", () => {
  it("puts at most max on the wire, in order, and refills as acks come", () => {
    const w = new SendWindow(3);
    const all = entries(5);
    assert.deepEqual(w.take(all).map((e) => e.id), ["e0", "e1", "e2"]);
    assert.deepEqual(w.take(all), []);
    w.settled("e0", true);
    assert.deepEqual(w.take(all.slice(1)).map((e) => e.id), ["e3"]);
  });

  it("shrinks to one on a refusal and grows back by one per ack", () => {
    const w = new SendWindow(3);
    const all = entries(6);
    w.take(all);
    w.refused("e0");
    w.settled("e1", true); // the refusal made it 1; now 2
    w.settled("e2", true); // 3
    const pending = all.filter((e) => e.id !== "e1" && e.id !== "e2");
    assert.deepEqual(w.take(pending).map((e) => e.id), ["e0", "e3", "e4"]);
    w.refused("e0");
    assert.deepEqual(w.take(pending), [], "two still on the wire, window of one");
  });
});
