import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { safeHref, splitLinks } from "../../src/web/message-text.js";

describe("splitLinks", () => {
  it("finds http(s) addresses and leaves the rest as text, in order", () => {
    assert.deepEqual(splitLinks("see https://example.com/a?b=1, then http://x.org."), [
      { text: "see " },
      { text: "https://example.com/a?b=1", href: "https://example.com/a?b=1" },
      { text: ", then " },
      { text: "http://x.org", href: "http://x.org/" },
      { text: "." },
    ]);
  });

  it("never links other schemes", () => {
    assert.deepEqual(splitLinks("javascript:alert(1) data:text/html,x"), [{ text: "javascript:alert(1) data:text/html,x" }]);
    assert.equal(safeHref("javascript:alert(1)"), null);
    assert.equal(safeHref("https://ok.example/"), "https://ok.example/");
  });

  it("stops at quotes and angle brackets, so markup around an address is not part of it", () => {
    const parts = splitLinks('<a href="https://evil.test">x</a>');
    assert.deepEqual(parts.filter((p) => p.href).map((p) => p.href), ["https://evil.test/"]);
    assert.equal(parts.map((p) => p.text).join(""), '<a href="https://evil.test">x</a>');
  });
});
