import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { clientAddress, trustedProxySet } from "../../src/server/client-address.js";

/** The two fields clientAddress reads of a request. */
const request = (remoteAddress: string, forwarded?: string | string[]) =>
  ({ socket: { remoteAddress }, headers: forwarded === undefined ? {} : { "x-forwarded-for": forwarded } }) as unknown as IncomingMessage;

describe("clientAddress", () => {
  const trusted = trustedProxySet(["10.0.0.1", "10.0.0.2", "::1"]);

  it("is the peer's address when the peer is not a trusted proxy, whatever the header says", () => {
    assert.equal(clientAddress(request("192.0.2.5", "203.0.113.1"), trusted), "192.0.2.5");
    assert.equal(clientAddress(request("::ffff:192.0.2.5"), trusted), "192.0.2.5", "IPv4-mapped IPv6 is written as IPv4");
  });

  it("walks X-Forwarded-For from the right past trusted proxies to the first other address", () => {
    assert.equal(clientAddress(request("10.0.0.1", "203.0.113.1"), trusted), "203.0.113.1");
    assert.equal(clientAddress(request("10.0.0.1", "198.51.100.1, 203.0.113.1, 10.0.0.2"), trusted), "203.0.113.1", "a chain of our proxies");
    assert.equal(clientAddress(request("10.0.0.1", ["198.51.100.1", "203.0.113.1"]), trusted), "203.0.113.1", "repeated headers are one list");
    assert.equal(clientAddress(request("0:0:0:0:0:0:0:1", "2001:DB8::1"), trusted), "2001:db8::1", "IPv6 in one spelling");
  });

  it("stops at the proxy that passed on a malformed entry, and falls back to the peer", () => {
    assert.equal(clientAddress(request("10.0.0.1", "203.0.113.1, junk, 10.0.0.2"), trusted), "10.0.0.2");
    assert.equal(clientAddress(request("10.0.0.1", "junk"), trusted), "10.0.0.1");
    assert.equal(clientAddress(request("10.0.0.1"), trusted), "10.0.0.1", "no header: the proxy itself");
    assert.equal(clientAddress(request("10.0.0.1", "10.0.0.2"), trusted), "10.0.0.2", "only proxies: the last one");
  });

  it("refuses a trusted proxy that is not an address", () => {
    assert.throws(() => trustedProxySet(["proxy.example"]), /not an IP address/);
  });
});
