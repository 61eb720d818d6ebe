import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ReplayGate } from "../../src/server/replay-gate.js";

describe("ReplayGate", () => {
  it("runs at most maxConcurrent at once and lets the rest in, in arrival order, as slots free", async () => {
    const gate = new ReplayGate(2);
    const order: number[] = [];
    const releases: Array<() => void> = [];
    const waiters = [1, 2, 3, 4].map((n) =>
      gate.acquire().then((release) => {
        order.push(n);
        releases.push(release);
      }),
    );
    await Promise.resolve();
    await Promise.resolve();
    assert.deepEqual(order, [1, 2]);
    assert.equal(gate.active, 2);
    assert.equal(gate.queued, 2);
    releases[0]!();
    releases[0]!(); // a second release of the same slot changes nothing
    await waiters[2];
    assert.deepEqual(order, [1, 2, 3]);
    assert.equal(gate.active, 2);
    releases[1]!();
    await waiters[3];
    assert.deepEqual(order, [1, 2, 3, 4]);
    releases[2]!();
    releases[3]!();
    assert.equal(gate.active, 0);
    assert.equal(gate.queued, 0);
  });

  it("refuses a cap that is not a positive integer", () => {
    assert.throws(() => new ReplayGate(0), RangeError);
  });
});
