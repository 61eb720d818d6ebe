import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { clockFromNow, forwardOnly } from "../../src/liveness/clock.js";
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

describe("forwardOnly", () => {
  it("counts a step back as no time passing, and goes on from there", () => {
    let t = 1_000;
    const clock = forwardOnly({ now: () => t });
    assert.equal(clock.now(), 1_000);
    t = 1_500;
    assert.equal(clock.now(), 1_500);
    t = -60_000; // set back a minute
    assert.equal(clock.now(), 1_500);
    t = -59_800;
    assert.equal(clock.now(), 1_700);
    t = -70_000; // and again
    assert.equal(clock.now(), 1_700);
    t = -69_990;
    assert.equal(clock.now(), 1_710);
  });

  it("never gives a time before the first it read", () => {
    let t = 0;
    const clock = forwardOnly({ now: () => t });
    t = -5_000;
    assert.equal(clock.now(), 0);
    t = -4_000;
    assert.equal(clock.now(), 1_000);
  });
});
