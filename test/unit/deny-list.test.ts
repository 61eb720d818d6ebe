import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DenyList, MAX_DENY_ENTRIES } from "../../src/server/deny-list.js";

describe("DenyList", () => {
  it("matches IPv4 addresses and ranges, IPv6 prefixes by the limit key, and user ids", () => {
    const list = new DenyList(64);
    list.replace(["203.0.113.7", "198.51.100.0/24", " 2001:db8:5::/48 ", "user:u-troll", "::ffff:192.0.2.0/120"]);
    assert.equal(list.size, 5);
    assert.equal(list.deniesAddress("203.0.113.7"), true);
    assert.equal(list.deniesAddress("203.0.113.8"), false);
    assert.equal(list.deniesAddress("198.51.100.200"), true);
    assert.equal(list.deniesAddress("198.51.101.1"), false);
    // IPv6 clients are known by their /64 (ClientAddress.limitKey).
    assert.equal(list.deniesAddress("2001:db8:5:77::/64"), true);
    assert.equal(list.deniesAddress("2001:db8:6::/64"), false);
    assert.equal(list.deniesAddress("192.0.2.9"), true, "an IPv4-mapped range is the IPv4 range");
    assert.equal(list.deniesAddress("unknown"), false);
    assert.equal(list.deniesUser("u-troll"), true);
    assert.equal(list.deniesUser("u-other"), false);
    assert.equal(list.deniesUser("user:u-troll"), false);
  });

  it("refuses bad entries, quoting them, and keeps the list it had", () => {
    const list = new DenyList(64);
    list.replace(["10.1.2.3"]);
    assert.throws(() => list.replace(["10.9.9.9", "10.0.0.1/8", "example.com", "user:", `user:${"x".repeat(257)}`]), (err: Error) => {
      assert.ok(err instanceof RangeError);
      assert.match(err.message, /"10\.0\.0\.1\/8" has bits set after the first 8; the range is 10\.0\.0\.0\/8/);
      assert.match(err.message, /"example\.com" is not an IP address .*\(nor user:<id>\)/);
      assert.match(err.message, /"user:" names no user id/);
      return true;
    });
    assert.equal(list.deniesAddress("10.1.2.3"), true, "the old list stays");
    assert.equal(list.deniesAddress("10.9.9.9"), false, "nothing of the refused list was taken");
    assert.throws(() => list.replace(Array.from({ length: MAX_DENY_ENTRIES + 1 }, () => "10.0.0.1")), /at most/);
  });

  it("refuses an IPv6 entry narrower than the prefix clients are counted by, and says which prefix to deny", () => {
    assert.throws(() => new DenyList(64).replace(["2001:db8:1:2::99"]), /narrower than the \/64 .*deny 2001:db8:1:2::\/64/);
    assert.throws(() => new DenyList(48).replace(["2001:db8:1::/56"]), /deny 2001:db8:1::\/48/);
    const exact = new DenyList(128);
    exact.replace(["2001:db8:1:2::99"]);
    assert.equal(exact.deniesAddress("2001:db8:1:2::99"), true);
    assert.equal(exact.deniesAddress("2001:db8:1:2::98"), false);
  });
});
