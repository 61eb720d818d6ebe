import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isIP } from "node:net";
import fc from "fast-check";
import { formatIp, maskBytes, parseIp, prefixKey } from "../../src/server/ip-address.js";

const canonical = (text: string) => {
  const a = parseIp(text);
  return a && formatIp(a);
};
const key = (text: string, bits: number) => prefixKey(parseIp(text)!, bits);

describe("parseIp and formatIp", () => {
  it("write each address in one spelling", () => {
    assert.equal(canonical("::"), "::");
    assert.equal(canonical("0:0:0:0:0:0:0:0"), "::");
    assert.equal(canonical("0:0:0:0:0:0:0:1"), "::1");
    assert.equal(canonical("2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
    assert.equal(canonical("2001:0db8:0000:0001:0000:0000:0000:0001"), "2001:db8:0:1::1", "the longest run of zeros is compressed");
    assert.equal(canonical("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1", "the first of two equal runs");
    assert.equal(canonical("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1", "a single zero group stays");
    assert.equal(canonical("1:2:3:4:5:6:7::"), "1:2:3:4:5:6:7:0", ":: for one group is read, never written");
    assert.equal(canonical("::2:3:4:5:6:7:8"), "0:2:3:4:5:6:7:8");
    assert.equal(canonical("64:ff9b::192.0.2.33"), "64:ff9b::c000:221", "an embedded IPv4 address is two groups");
  });

  it("reads IPv4-mapped IPv6 in every spelling as the IPv4 address", () => {
    for (const text of ["::ffff:1.2.3.4", "::FFFF:1.2.3.4", "::ffff:102:304", "0:0:0:0:0:ffff:1.2.3.4", "0000:0000:0000:0000:0000:ffff:0102:0304"]) {
      const a = parseIp(text);
      assert.equal(a?.family, 4, text);
      assert.equal(formatIp(a!), "1.2.3.4", text);
    }
    assert.equal(parseIp("::1.2.3.4")?.family, 6, "IPv4-compatible (deprecated) is not mapped");
    assert.equal(parseIp("::fffe:1.2.3.4")?.family, 6);
  });

  it("keeps a zone id, which Node reports for link-local peers", () => {
    const a = parseIp("fe80::1%eth0");
    assert.equal(a?.family, 6);
    assert.equal(a?.zone, "eth0");
    assert.equal(formatIp(a!), "fe80::1%eth0");
    assert.equal(canonical("FE80:0::1%2"), "fe80::1%2", "a numeric zone");
    for (const bad of ["fe80::1%", "fe80::1%eth 0", "fe80::1%a%b", "fe80::1%eth0,x", `fe80::1%${"x".repeat(33)}`, "1.2.3.4%eth0"]) {
      assert.equal(parseIp(bad), null, bad);
    }
  });

  it("refuses everything that is not exactly one address", () => {
    const bad = [
      "", " ", "1.2.3", "1.2.3.4.5", "1.2.3.256", "1.2.3.04", "01.2.3.4", "1..2.3", "1.2.3.4.", ".1.2.3.4", "1.2.3.-4", "+1.2.3.4", "1.2.3.4 ",
      ":", ":::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", "1::2::3", ":1::", "1::2:", "12345::",
      "g::1", "::1.2.3", "1.2.3.4::", "::1.2.3.4:5", "1:2:3:4:5:6:7:1.2.3.4", "[::1]", "::1/64", "localhost", "１.２.３.４", "x".repeat(10_000),
    ];
    for (const text of bad) assert.equal(parseIp(text), null, JSON.stringify(text.slice(0, 40)));
  });

  it("agrees with Node on which strings are addresses (zone ids aside)", () => {
    const hex = fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEFg"), maxLength: 5 });
    const piece = fc.oneof(fc.constantFrom(":", "::", ".", "0", "1", "ff", "FFFF", "255", "256", "01", "ffff", "12345", " "), hex);
    const jumble = fc.array(piece, { maxLength: 16 }).map((pieces) => pieces.join(""));
    // Real addresses in every spelling, then one character dropped, doubled or replaced.
    const spelled = fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.boolean(), fc.boolean()).map(([bytes, full, upper]) => {
      const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16).padStart(full ? 4 : 1, "0"));
      const text = groups.join(":");
      return upper ? text.toUpperCase() : text;
    });
    const address = fc.oneof(spelled, fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => formatIp({ family: 6, bytes: bytes.fill(0, 4, 12), zone: "" })), fc.ipV4(), fc.ipV6());
    const mutated = fc.tuple(address, fc.nat(), fc.constantFrom("drop", "double", ":", ".", "0", "x")).map(([text, at, how]) => {
      const i = at % (text.length + 1);
      return how === "drop" ? text.slice(0, i) + text.slice(i + 1) : how === "double" ? text.slice(0, i) + text.slice(i - 1, i) + text.slice(i) : text.slice(0, i) + how + text.slice(i + 1);
    });
    fc.assert(
      fc.property(fc.oneof(jumble, address, mutated), (text) => {
        assert.equal(parseIp(text) !== null, isIP(text) !== 0, JSON.stringify(text));
      }),
      { numRuns: 30_000 },
    );
  });

  it("writes IPv6 as the URL standard does, and reads back what it wrote", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 8 }), (bytes, zeros) => {
        bytes.fill(0, 2, 2 + 2 * zeros); // runs of zero groups, which random bytes rarely have
        const text = formatIp({ family: 6, bytes, zone: "" });
        const again = parseIp(text)!;
        if (again.family === 4) return; // IPv4-mapped: written as IPv4, checked above
        assert.deepEqual([...again.bytes], [...bytes]);
        assert.equal(text, new URL(`http://[${text}]/`).hostname.slice(1, -1));
      }),
      { numRuns: 5_000 },
    );
  });
});

describe("maskBytes", () => {
  it("keeps the first bits and clears the rest", () => {
    const all = new Uint8Array(16).fill(0xff);
    assert.deepEqual([...maskBytes(all, 0)], new Array(16).fill(0), "/0 clears everything");
    assert.deepEqual([...maskBytes(all, 128)], new Array(16).fill(0xff), "/128 keeps everything");
    assert.deepEqual([...maskBytes(all, 13)].slice(0, 3), [0xff, 0xf8, 0], "a prefix inside a byte");
    assert.deepEqual([...maskBytes(new Uint8Array([10, 1, 2, 3]), 8)], [10, 0, 0, 0]);
    assert.deepEqual([...all], new Array(16).fill(0xff), "the input is not changed");
  });
});

describe("prefixKey", () => {
  it("counts IPv6 by its /64 by default and IPv4 by its whole address", () => {
    assert.equal(key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64), "2001:db8:1:2::/64");
    assert.equal(key("2001:db8:1:2::1", 64), key("2001:db8:1:2:ffff:ffff:ffff:ffff", 64), "one /64, one key");
    assert.notEqual(key("2001:db8:1:2::1", 64), key("2001:db8:1:3::1", 64), "the next /64 is another key");
    assert.equal(key("2001:db8:1:2::1", 48), "2001:db8:1::/48");
    assert.equal(key("2001:db8:1:2::1", 128), "2001:db8:1:2::1", "128: the whole address, as written in the logs");
    assert.equal(key("::", 64), "::/64");
    assert.equal(key("203.0.113.7", 64), "203.0.113.7");
  });

  it("never groups IPv4 clients, even when they arrive IPv4-mapped on a dual-stack socket", () => {
    // All mapped addresses share their first 80 bits: masked as IPv6 they would be one key.
    assert.equal(key("::ffff:203.0.113.7", 32), "203.0.113.7");
    assert.notEqual(key("::ffff:203.0.113.7", 64), key("::ffff:198.51.100.7", 64));
  });

  it("keeps link-local hosts on different interfaces apart", () => {
    assert.equal(key("fe80::1%eth0", 64), "fe80::%eth0/64");
    assert.notEqual(key("fe80::1%eth0", 64), key("fe80::1%eth1", 64));
  });
});
