import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TokenBucket } from "../../src/server/token-bucket.js";
import { FakeClock } from "../support/fake-clock.js";

describe("TokenBucket", () => {
  it("grants a burst, then refuses with the wait until the next token", () => {
    const clock = new FakeClock();
    const b = new TokenBucket(10, 3, clock);
    assert.equal(b.take(), 0);
    assert.equal(b.take(), 0);
    assert.equal(b.take(), 0);
    assert.equal(b.take(), 100, "one token takes 100 ms at 10/s");
    clock.advance(50);
    assert.equal(b.take(), 50);
    clock.advance(50);
    assert.equal(b.take(), 0);
    assert.equal(b.take(), 100);
  });

  it("refills at its rate up to the burst, never beyond", () => {
    const clock = new FakeClock();
    const b = new TokenBucket(2, 5, clock);
    for (let i = 0; i < 5; i++) assert.equal(b.take(), 0);
    clock.advance(60_000);
    assert.equal(b.available(), 5);
  });

  it("charges costs (bytes) and a cost above the burst as a full bucket", () => {
    const clock = new FakeClock();
    const b = new TokenBucket(1_000, 4_000, clock);
    assert.equal(b.take(3_000), 0);
    assert.equal(b.take(3_000), 2_000, "2,000 bytes missing at 1,000/s");
    clock.advance(3_000); // full again
    assert.equal(b.take(10_000), 0, "larger than the burst: takes the full bucket");
    assert.equal(b.take(1), 1);
  });

  it("does not count time backwards when the clock steps back", () => {
    const clock = new FakeClock();
    const b = new TokenBucket(1, 1, clock);
    assert.equal(b.take(), 0);
    clock.jump(-10_000);
    assert.equal(b.take(), 1_000);
  });
});
