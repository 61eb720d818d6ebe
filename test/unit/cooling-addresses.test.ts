import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CoolingAddresses } from "../../src/server/cooling-addresses.js";

describe("CoolingAddresses", () => {
  it("turns a refused key away for the time given, and forgets it after", () => {
    let now = 1_000;
    const cooling = new CoolingAddresses(10, () => now);
    assert.equal(cooling.leftMs("a"), 0);
    cooling.cool("a", 5_000);
    now += 1_000;
    assert.equal(cooling.leftMs("a"), 4_000);
    assert.equal(cooling.leftMs("b"), 0, "other keys are not concerned");
    now += 4_000;
    assert.equal(cooling.leftMs("a"), 0);
  });

  it("keeps at most its capacity, the least recently refused forgotten first", () => {
    const cooling = new CoolingAddresses(2, () => 0);
    cooling.cool("a", 100);
    cooling.cool("b", 100);
    cooling.cool("c", 100);
    assert.deepEqual(["a", "b", "c"].map((k) => cooling.leftMs(k)), [0, 100, 100]);
  });
});
