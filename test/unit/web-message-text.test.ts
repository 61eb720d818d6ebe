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

  it("shows a link whose host is not all ASCII as the browser will reach it, so a look-alike host cannot pass for the real one", () => {
    // A Cyrillic а in "apple".
    assert.deepEqual(splitLinks("log in at https://\u0430pple.com/id now"), [
      { text: "log in at " },
      { text: "https://xn--pple-43d.com/id", href: "https://xn--pple-43d.com/id" },
      { text: " now" },
    ]);
    // An ASCII host keeps its spelling, path and all.
    assert.deepEqual(splitLinks("https://ru.wikipedia.org/wiki/Москва"), [{ text: "https://ru.wikipedia.org/wiki/Москва", href: "https://ru.wikipedia.org/wiki/%D0%9C%D0%BE%D1%81%D0%BA%D0%B2%D0%B0" }]);
  });

  it("never links other schemes", () => {
    assert.deepEqual(splitLinks("javascript:alert(1) data:text/html,x"), [{ text: "javascript:alert(1) data:text/html,x" }]);
    assert.equal(safeHref("javascript:alert(1)"), null);
    assert.equal(safeHref("https://ok.example/"), "https://ok.example/");
  });

  it("stops at direction controls and invisible characters, so a link's text cannot read as another host", () => {
    // Shown with the override, "https://\u202Emoc.elgoog@evil.example/" reads as google.com.
    const parts = splitLinks("https://\u202Emoc.elgoog@evil.example/ and https://ok.example/\u2067x");
    assert.deepEqual(parts.filter((p) => p.href).map((p) => p.href), ["https://ok.example/"]);
    assert.equal(parts.map((p) => p.text).join(""), "https://\u202Emoc.elgoog@evil.example/ and https://ok.example/\u2067x");
  });

  it("stops at quotes and angle brackets, so markup around an address is not part of it", () => {
    const parts = splitLinks('<a href="https://evil.test">x</a>');
    assert.deepEqual(parts.filter((p) => p.href).map((p) => p.href), ["https://evil.test/"]);
    assert.equal(parts.map((p) => p.text).join(""), '<a href="https://evil.test">x</a>');
  });
});
