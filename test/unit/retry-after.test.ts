import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MAX_RETRY_AFTER_MS, retryAfterMs } from "../../src/client/retry-after.js";
import { AddressRateLimiter } from "../../src/server/address-rate.js";
import { resolveRateLimits } from "../../src/server/rate-limits.js";

describe("retryAfterMs", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  it("reads delta-seconds and HTTP dates", () => {
    assert.equal(retryAfterMs("5", now), 5_000);
    assert.equal(retryAfterMs(" 0 ", now), 0);
    assert.equal(retryAfterMs(["2", "9"], now), 2_000);
    assert.equal(retryAfterMs("Thu, 01 Jan 2026 00:00:07 GMT", now), 7_000);
    assert.equal(retryAfterMs("Wed, 31 Dec 2025 23:00:00 GMT", now), 0, "a date in the past: now");
  });
  it("caps what it honours and ignores what it cannot read", () => {
    assert.equal(retryAfterMs("86400", now), MAX_RETRY_AFTER_MS);
    for (const bad of [undefined, "", "-1", "1.5", "soon"]) assert.equal(retryAfterMs(bad, now), null, String(bad));
  });
});

describe("AddressRateLimiter", () => {
  it("refuses over the burst with the wait until a token, per address", () => {
    let t = 0;
    const limiter = new AddressRateLimiter({ perSecond: 2, burst: 3, maxTrackedIps: 100 }, { now: () => t });
    assert.deepEqual([1, 2, 3].map(() => limiter.take("a")), [0, 0, 0]);
    assert.equal(limiter.take("a"), 500);
    assert.equal(limiter.take("b"), 0);
    t = 500;
    assert.equal(limiter.take("a"), 0);
  });
  it("never tracks more than maxTrackedIps; the least recently seen goes first", () => {
    const t = 0;
    const limiter = new AddressRateLimiter({ perSecond: 1, burst: 1, maxTrackedIps: 3 }, { now: () => t });
    for (const ip of ["a", "b", "c", "d", "e"]) limiter.take(ip);
    assert.equal(limiter.trackedIps, 3);
    assert.ok(limiter.take("e") > 0, "e is tracked and drained");
    assert.equal(limiter.take("a"), 0, "a was forgotten: a full bucket again");
  });
  it("is off with rateLimits: false, and refuses a bad maxTrackedIps", () => {
    const off = new AddressRateLimiter(null);
    for (let i = 0; i < 1_000; i++) assert.equal(off.take("a"), 0);
    assert.equal(off.trackedIps, 0);
    assert.throws(() => resolveRateLimits({ upgrades: { maxTrackedIps: 0 } }), RangeError);
    assert.deepEqual((resolveRateLimits({ upgrades: { perSecond: 1 } }) as { upgrades: object }).upgrades, { perSecond: 1, burst: 200, maxTrackedIps: 10_000 });
  });
});
