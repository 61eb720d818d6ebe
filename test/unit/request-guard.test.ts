import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { hostAllowed, hostNameOf, originAllowed, statsAllowed } from "../../src/server/request-guard.js";

/** Just what the guards read of a request: headers and the peer's address. */
const req = (headers: Record<string, string>, remoteAddress = "127.0.0.1") =>
  ({ headers, socket: { remoteAddress } }) as unknown as IncomingMessage;

describe("request guards", () => {
  it("/stats: loopback yes; another address or a relayed request only with the token", () => {
    assert.equal(statsAllowed(req({}), null), true);
    assert.equal(statsAllowed(req({}, "::1"), null), true);
    assert.equal(statsAllowed(req({}, "::ffff:127.0.0.1"), null), true);
    assert.equal(statsAllowed(req({}, "203.0.113.7"), null), false);
    assert.equal(statsAllowed(req({}, "203.0.113.7"), "tok-123"), false);
    assert.equal(statsAllowed(req({ authorization: "Bearer tok-12" }, "203.0.113.7"), "tok-123"), false);
    assert.equal(statsAllowed(req({ authorization: "Bearer tok-123" }, "203.0.113.7"), "tok-123"), true);
    assert.equal(statsAllowed(req({ forwarded: "for=203.0.113.7" }), null), false);
    // Whatever header the proxy names its client with.
    for (const header of ["x-forwarded-for", "x-real-ip", "true-client-ip", "cf-connecting-ip"]) {
      assert.equal(statsAllowed(req({ [header]: "203.0.113.7" }), null), false, header);
    }
  });

  it("Host names: port, case, brackets and a trailing dot do not matter; junk is no name", () => {
    assert.equal(hostNameOf("Chat.Example.:8080"), "chat.example");
    assert.equal(hostNameOf("[::1]:9"), "::1");
    assert.equal(hostNameOf(undefined), null);
    assert.equal(hostNameOf("a b"), null);
    const allowed = new Set(["chat.example", "::1"]);
    assert.equal(hostAllowed(req({ host: "CHAT.example:443" }), allowed), true);
    assert.equal(hostAllowed(req({ host: "[::1]:8080" }), allowed), true);
    assert.equal(hostAllowed(req({ host: "chat.example.evil" }), allowed), false);
    assert.equal(hostAllowed(req({}), allowed), false);
    assert.equal(hostAllowed(req({}), new Set(["*"])), true);
  });

  it("Origin: same origin over http or https by default; junk and other schemes refused", () => {
    assert.equal(originAllowed(req({ host: "h:8080" }), null), true, "no Origin: not a browser");
    assert.equal(originAllowed(req({ host: "h:8080", origin: "http://h:8080" }), null), true);
    assert.equal(originAllowed(req({ host: "h", origin: "https://h:443" }), null), true);
    assert.equal(originAllowed(req({ host: "h:8080", origin: "http://h:8081" }), null), false);
    assert.equal(originAllowed(req({ host: "h:8080", origin: "null" }), null), false);
    assert.equal(originAllowed(req({ host: "h:8080", origin: "file://h:8080" }), null), false);
  });
});
