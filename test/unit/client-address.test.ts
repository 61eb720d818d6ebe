import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { affinityKeyReader, clientAddressReader, MAX_FORWARDED_HOPS, MAX_TRUSTED_PROXIES, siteKeyOf } from "../../src/server/client-address.js";
import { forwardedFor } from "../../src/cli/connection-dealer.js";
import { AddressRanges, parseRange } from "../../src/server/address-ranges.js";
import { parseIp } from "../../src/server/ip-address.js";

/** The two fields the reader looks at in a request. */
const request = (remoteAddress: string | undefined, forwarded?: string | string[]) =>
  ({ socket: { remoteAddress }, headers: forwarded === undefined ? {} : { "x-forwarded-for": forwarded } }) as unknown as IncomingMessage;

/** The client's whole address, as the reader finds it. */
const readerOf = (trustedProxies: string[], ipv6PrefixBits = 64) => {
  const read = clientAddressReader({ trustedProxies, ipv6PrefixBits });
  return { ip: (peer: string | undefined, forwarded?: string | string[]) => read(request(peer, forwarded)).ip, key: (peer: string, forwarded?: string) => read(request(peer, forwarded)).limitKey };
};

describe("clientAddressReader", () => {
  const { ip } = readerOf(["10.0.0.1", "10.0.0.2", "::1"]);

  it("is the peer's address when the peer is not a trusted proxy, whatever the header says", () => {
    assert.equal(ip("192.0.2.5", "203.0.113.1"), "192.0.2.5");
    assert.equal(ip("::ffff:192.0.2.5"), "192.0.2.5", "IPv4-mapped IPv6 is written as IPv4");
    assert.equal(ip(undefined), "unknown", "a socket closed before its address was read");
  });

  it("walks X-Forwarded-For from the right past trusted proxies to the first other address", () => {
    assert.equal(ip("10.0.0.1", "203.0.113.1"), "203.0.113.1");
    assert.equal(ip("10.0.0.1", "198.51.100.1, 203.0.113.1, 10.0.0.2"), "203.0.113.1", "a chain of our proxies");
    assert.equal(ip("10.0.0.1", ["198.51.100.1", "203.0.113.1"]), "203.0.113.1", "repeated headers are one list");
    assert.equal(ip("0:0:0:0:0:0:0:1", "2001:DB8::1"), "2001:db8::1", "IPv6 in one spelling");
    assert.equal(ip("10.0.0.1", "fe80::1%eth0"), "fe80::1%eth0", "a zone id is an address, not a crash");
  });

  it("stops at the proxy that passed on a malformed entry, and falls back to the peer", () => {
    assert.equal(ip("10.0.0.1", "203.0.113.1, junk, 10.0.0.2"), "10.0.0.2");
    assert.equal(ip("10.0.0.1", "junk"), "10.0.0.1");
    assert.equal(ip("10.0.0.1", ""), "10.0.0.1", "an empty header");
    assert.equal(ip("10.0.0.1", "203.0.113.1,"), "10.0.0.1", "an empty last entry");
    assert.equal(ip("10.0.0.1", ",10.0.0.2"), "10.0.0.2", "an empty first entry");
    assert.equal(ip("10.0.0.1"), "10.0.0.1", "no header: the proxy itself");
    assert.equal(ip("10.0.0.1", "10.0.0.2"), "10.0.0.2", "only proxies: the last one");
    assert.equal(ip("10.0.0.1", `${"9".repeat(16_000)}`), "10.0.0.1", "one huge entry");
  });

  it("reads at most MAX_FORWARDED_HOPS entries: a longer chain of trusted hops ends at the last one read", () => {
    const ranged = readerOf(["10.0.0.0/8"]);
    /** n trusted hops, 10.0.0.1 (leftmost) to 10.0.0.n. */
    const trustedHops = (n: number) => Array.from({ length: n }, (_, i) => `10.0.${(i + 1) >> 8}.${(i + 1) & 255}`).join(", ");
    assert.equal(ranged.ip("10.0.0.1", `203.0.113.1, ${trustedHops(MAX_FORWARDED_HOPS - 1)}`), "203.0.113.1", "within the bound the client is found");
    assert.equal(ranged.ip("10.0.0.1", `203.0.113.1, ${trustedHops(MAX_FORWARDED_HOPS)}`), "10.0.0.1", "past it, the walk stops at the last proxy read");
    assert.equal(ranged.ip("10.0.0.1", `203.0.113.1, ${trustedHops(5_000)}`), `10.0.${(5_001 - MAX_FORWARDED_HOPS) >> 8}.${(5_001 - MAX_FORWARDED_HOPS) & 255}`);
  });

  it("trusts CIDR ranges: hops inside are walked past, the first hop outside is the client", () => {
    const ranged = readerOf(["10.0.0.0/8", "fd00::/8", "127.0.0.1"]);
    assert.equal(ranged.ip("10.9.8.7", "203.0.113.1, 10.200.0.1, fd12::3"), "203.0.113.1");
    assert.equal(ranged.ip("127.0.0.1", "203.0.113.1, 11.0.0.1, 10.0.0.1"), "11.0.0.1", "a hop outside every range stops the walk");
    assert.equal(ranged.ip("127.0.0.2", "203.0.113.1"), "127.0.0.2", "an exact address is a /32");
    assert.equal(ranged.ip("::ffff:10.1.1.1", "203.0.113.1"), "203.0.113.1", "an IPv4-mapped peer is in the IPv4 range");
  });

  it("gives the limit key next to the whole address", () => {
    const { key } = readerOf(["127.0.0.1"]);
    assert.equal(key("127.0.0.1", "2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
    assert.equal(key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64", "a direct peer too");
    assert.equal(readerOf(["127.0.0.1"], 128).key("127.0.0.1", "2001:db8:1:2:3:4:5:6"), "2001:db8:1:2:3:4:5:6");
    assert.equal(readerOf(["127.0.0.1"], 32).key("127.0.0.1", "2001:db8:1:2:3:4:5:6"), "2001:db8::/32");
  });

  it("refuses bad options at start, naming them", () => {
    assert.throws(() => readerOf(["proxy.example"]), /trustedProxies: 'proxy\.example' is not an IP address/);
    assert.throws(() => readerOf(["10.0.0.0/33"]), /'10\.0\.0\.0\/33' has a prefix length/);
    assert.throws(() => readerOf(["10.0.0.1/8"]), /'10\.0\.0\.1\/8' has bits set after the first 8; the range is 10\.0\.0\.0\/8/);
    assert.throws(() => readerOf(Array.from({ length: MAX_TRUSTED_PROXIES + 1 }, () => "10.0.0.1")), /at most 1024/);
    // Trusting the whole internet (or a large part of it) would let any client pick its address.
    for (const wide of ["0.0.0.0/0", "::/0", "0.0.0.0/7", "2000::/3", "::ffff:0.0.0.0/96", "fc00::/6"]) {
      assert.throws(() => readerOf([wide]), /is wider than \/(8|7): it trusts other people's networks/, wide);
    }
    assert.doesNotThrow(() => readerOf(["10.0.0.0/8", "fc00::/7", "::ffff:10.0.0.0/104"]), "the widest private blocks");
    for (const bits of [31, 129, 64.5, Number.NaN]) assert.throws(() => readerOf([], bits), /ipv6PrefixBits/);
    assert.doesNotThrow(() => readerOf(Array.from({ length: MAX_TRUSTED_PROXIES }, () => " 10.0.0.1 "), 32), "the bounds themselves, and spaces around an entry");
  });
});

describe("siteKeyOf", () => {
  it("is the /48 of an IPv6 limit key longer than that, and nothing for IPv4, unknown or wider keys", () => {
    assert.equal(siteKeyOf("2001:db8:1:2::/64"), "2001:db8:1::/48");
    assert.equal(siteKeyOf("2001:db8:abcd:12ff::/56"), "2001:db8:abcd::/48");
    assert.equal(siteKeyOf("2001:db8:1:2::5"), "2001:db8:1::/48", "ipv6PrefixBits 128: the whole address");
    assert.equal(siteKeyOf("fe80::%eth0/64"), "fe80::%eth0/48", "a link-local client keeps its link");
    for (const key of ["203.0.113.1", "unknown", "2001:db8:1::/48", "2001:db8::/32"]) assert.equal(siteKeyOf(key), null, key);
  });
  it("is the site the reader gives with the limit key: counted by one, released by the other, they must agree", () => {
    for (const bits of [32, 48, 56, 64, 128]) {
      const read = clientAddressReader({ trustedProxies: [], ipv6PrefixBits: bits });
      for (const peer of ["2001:db8:1:2::5", "fe80::1%eth0", "::ffff:192.0.2.5", "203.0.113.1", "2001:db8:abcd:12ff:1::1"]) {
        const client = read(request(peer));
        assert.equal(client.siteKey, siteKeyOf(client.limitKey), `${peer} at /${bits}`);
      }
    }
    assert.equal(clientAddressReader({ trustedProxies: [], ipv6PrefixBits: 64 })(request("2001:db8:1:2::5")).siteKey, "2001:db8:1::/48");
  });
});

describe("parseRange and AddressRanges", () => {
  const range = (text: string) => {
    const r = parseRange(text);
    if (typeof r === "string") throw new Error(`${text} ${r}`);
    return r;
  };
  const inRanges = (ranges: string[], address: string) => new AddressRanges(ranges.map(range)).has(parseIp(address)!);

  it("reads addresses as full-length ranges and prefixes of every length", () => {
    assert.equal(range("127.0.0.1").bits, 32);
    assert.equal(range("::1").bits, 128);
    assert.equal(range("0.0.0.0/0").bits, 0);
    assert.equal(range("::/0").bits, 0);
    assert.equal(range("2001:db8::/32").bits, 32);
    assert.deepEqual({ ...range("::ffff:10.0.0.0/104"), bytes: [...range("::ffff:10.0.0.0/104").bytes] }, { family: 4, bytes: [10, 0, 0, 0], bits: 8 }, "IPv4-mapped ranges are IPv4 ranges");
  });

  it("refuses what is not a range, with the reason", () => {
    const refusals: [string, RegExp][] = [
      ["", /not an IP address/], ["/8", /not an IP address/], ["10.0.0.0/", /prefix length/], ["10.0.0.0/-1", /prefix length/], ["10.0.0.0/+8", /prefix length/],
      ["10.0.0.0/08", /prefix length/], ["10.0.0.0/8.0", /prefix length/], ["10.0.0.0/8/8", /prefix length/], ["10.0.0.0/33", /from 0 to 32/], ["::/129", /from 0 to 128/],
      ["10.0.0.0 /8", /not an IP address/], ["fe80::/10%eth0", /prefix length/], ["fe80::1%eth0", /zone id/], ["::ffff:0:0/95", /shorter than \/96/], ["fd00::1/8", /the range is fd00::\/8/],
    ];
    for (const [text, reason] of refusals) {
      const r = parseRange(text);
      assert.equal(typeof r, "string", text);
      assert.match(r as string, reason, text);
    }
  });

  it("tells members from non-members at the edges of a range", () => {
    assert.ok(inRanges(["10.0.0.0/8"], "10.0.0.0") && inRanges(["10.0.0.0/8"], "10.255.255.255"));
    assert.ok(!inRanges(["10.0.0.0/8"], "9.255.255.255") && !inRanges(["10.0.0.0/8"], "11.0.0.0"));
    assert.ok(inRanges(["192.168.4.0/22"], "192.168.7.255") && !inRanges(["192.168.4.0/22"], "192.168.8.0"), "a prefix inside a byte");
    assert.ok(inRanges(["0.0.0.0/0"], "203.0.113.1") && !inRanges(["0.0.0.0/0"], "2001:db8::1"), "/0 holds its whole family, and only it");
    assert.ok(inRanges(["::/0"], "2001:db8::1") && !inRanges(["::/0"], "203.0.113.1"));
    assert.ok(inRanges(["::1"], "::1") && !inRanges(["::1"], "::2"), "/128 is one address");
    assert.ok(inRanges(["fe80::/10"], "febf::1%eth0") && !inRanges(["fe80::/10"], "fec0::1"), "a zone plays no part");
    assert.ok(inRanges(["203.0.113.5", "10.0.0.0/8", "fd00::/8"], "fdff::1"), "one of several lengths");
  });
});

describe("affinityKeyReader (how the primary of --workers deals connections)", () => {
  const { keyOf, trustedPeer } = affinityKeyReader({ trustedProxies: ["10.0.0.1"], ipv6PrefixBits: 64 });

  it("keys an IPv4 client by its address, and an IPv6 client by its /48, which holds every budget its /64 has", () => {
    assert.equal(keyOf("203.0.113.5"), "203.0.113.5");
    assert.equal(keyOf("::ffff:203.0.113.5"), "203.0.113.5");
    assert.equal(keyOf("2001:db8:1:2::1"), keyOf("2001:db8:1:ffff::9"));
    assert.notEqual(keyOf("2001:db8:1::1"), keyOf("2001:db8:2::1"));
    // Counted by a prefix wider than a /48: that prefix.
    assert.equal(affinityKeyReader({ trustedProxies: [], ipv6PrefixBits: 40 }).keyOf("2001:db8:1::1"), affinityKeyReader({ trustedProxies: [], ipv6PrefixBits: 40 }).keyOf("2001:db8:ff::1"));
  });

  it("reads X-Forwarded-For only from a trusted proxy", () => {
    assert.equal(trustedPeer("10.0.0.1"), true);
    assert.equal(trustedPeer("10.0.0.2"), false);
    assert.equal(keyOf("10.0.0.1", "198.51.100.7"), "198.51.100.7");
    assert.equal(keyOf("10.0.0.2", "198.51.100.7"), "10.0.0.2");
    assert.equal(keyOf("10.0.0.1"), "10.0.0.1");
  });

  it("finds X-Forwarded-For in a request head, repeated lines joined, in any case", () => {
    const head = (lines: string[]) => Buffer.from(`GET / HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n`, "latin1");
    assert.equal(forwardedFor(head(["Host: a", "X-Forwarded-For: 198.51.100.7"])), "198.51.100.7");
    assert.equal(forwardedFor(head(["x-forwarded-for: 1.1.1.1", "Host: a", "X-FORWARDED-FOR:  2.2.2.2 "])), "1.1.1.1, 2.2.2.2");
    assert.equal(forwardedFor(head(["Host: a"])), undefined);
    // Only the head: a body line that looks like the header is not read.
    assert.equal(forwardedFor(Buffer.from("GET / HTTP/1.1\r\nHost: a\r\n\r\nX-Forwarded-For: 9.9.9.9\r\n", "latin1")), undefined);
  });
});
