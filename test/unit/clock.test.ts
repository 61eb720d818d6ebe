import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { clockFromNow } from "../../src/liveness/clock.js";
import { FakeClock } from "../support/fake-clock.js";

describe("clockFromNow", () => {
  it("counts milliseconds from its start, past the int32 range and backwards too", () => {
    const base = new FakeClock();
    const clock = clockFromNow(base);
    assert.equal(clock.now(), 0);
    base.advance(5_000);
    assert.equal(clock.now(), 5_000);
    // 25 days and more: beyond what an int32 holds, the difference must not wrap around.
    base.advance(2 ** 31);
    assert.equal(clock.now(), 5_000 + 2 ** 31);
    base.advance(2 ** 32);
    assert.equal(clock.now(), 5_000 + 2 ** 31 + 2 ** 32);
  });

  it("gives a wall clock that went back as a negative time, unchanged", () => {
    let t = 1_700_000_000_000;
    const clock = clockFromNow({ now: () => t, setTimeout: () => 0, clearTimeout: () => {} });
    t -= 3_000;
    assert.equal(clock.now(), -3_000);
    t -= 2 ** 33;
    assert.equal(clock.now(), -3_000 - 2 ** 33);
  });
});
