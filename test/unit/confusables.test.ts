import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { nicknameKey, skeleton } from "../../src/server/confusables.js";
import { CONFUSABLE_PROTOTYPES } from "../../src/server/confusables-table.js";
import { normalizeName } from "../../src/protocol/names.js";

const MAX_NICK = 32;

/** What the server does with a requested nickname while `taken` is held by someone else. */
function verdict(requested: string, taken: string): "refused" | "same name" | "different name" {
  const result = normalizeName(requested, MAX_NICK);
  if (!result.ok) return "refused";
  return nicknameKey(result.name) === nicknameKey(taken) ? "same name" : "different name";
}

describe("nicknameKey: the look-alike list, with \"ada\" taken", () => {
  const expectations: Array<[string, string, "refused" | "same name" | "different name"]> = [
    ["ada\u200b", "zero-width space after: refused (format character)", "refused"],
    ["\u200bada", "zero-width space before: refused (format character)", "refused"],
    ["\u0430da", "Cyrillic а: one name (confusable skeleton)", "same name"],
    ["\uff41da", "fullwidth ａ: one name (NFKC makes it ASCII)", "same name"],
    ["ada\u202e", "right-to-left override: refused (format character)", "refused"],
    ["a\u0301da", "a with a combining acute after the base letter: á is visible, a different name", "different name"],
    ["\u0301ada", "a combining mark at the start: refused", "refused"],
    ["ada\u{E0001}", "language tag character: refused (format character)", "refused"],
    ["ADA", "upper case: one name", "same name"],
    ["Ada", "capitalised: one name", "same name"],
    ["\u0251da", "Latin alpha ɑ: one name (confusable with a)", "same name"],
    ["ada\u00ad", "soft hyphen: refused (format character)", "refused"],
    ["\u200b\u200b", "only zero-width spaces: refused (invisible)", "refused"],
    [" ada", "leading space: refused", "refused"],
    ["ada\u3164", "Hangul filler: refused (invisible filler)", "refused"],
    ["\u13aaDA", "Cherokee Ꭺ + DA: one name", "same name"],
    ["\ud835\udc1a\ud835\udc1d\ud835\udc1a", "mathematical bold 𝐚𝐝𝐚: one name (NFKC)", "same name"],
    ["bob", "a genuinely different name", "different name"],
    ["adam", "a longer name", "different name"],
  ];
  for (const [requested, why, expected] of expectations) {
    it(`${JSON.stringify(requested)}: ${why}`, () => {
      assert.equal(verdict(requested, "ada"), expected);
    });
  }
});

describe("nicknameKey", () => {
  it("maps the classic look-alikes together", () => {
    assert.equal(nicknameKey("Iarry"), nicknameKey("larry")); // capital I looks like l
    assert.equal(nicknameKey("B0B"), nicknameKey("bob")); // digit zero looks like O
    assert.equal(nicknameKey("rnary"), nicknameKey("mary")); // r + n looks like m
    assert.equal(nicknameKey("\u0440\u0430\u0443\u0440\u0430l"), nicknameKey("paypal")); // Cyrillic р а у
  });

  it("keeps genuinely different names apart", () => {
    const names = ["ada", "bob", "carol", "dave", "eve", "José", "Jose\u0301x", "李小龍", "Ωmega", "mallory", "ad"];
    const keys = new Set(names.map(nicknameKey));
    assert.equal(keys.size, names.length);
  });

  it("drops default-ignorable code points, as UTS #39 does", () => {
    assert.equal(nicknameKey("ada\u200b"), nicknameKey("ada"));
    assert.equal(nicknameKey("a\u2060da\ufe0f"), nicknameKey("ada"));
  });

  it("property: never throws, is deterministic, and a key is its own key", () => {
    const unit = fc.oneof(
      { weight: 4, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((u) => String.fromCharCode(u)) },
      { weight: 2, arbitrary: fc.constantFrom("a", "A", "I", "l", "0", "m", "\u0430", "\uff41", "\u200b", "\u0301") },
    );
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 40 }), (s) => {
        const key = nicknameKey(s);
        assert.equal(typeof key, "string");
        assert.equal(nicknameKey(s), key);
        assert.equal(nicknameKey(key), key);
      }),
      { numRuns: 10_000 },
    );
  });
});

describe("skeleton and its table", () => {
  it("holds the published mappings", () => {
    assert.ok(CONFUSABLE_PROTOTYPES.size > 6000);
    assert.equal(CONFUSABLE_PROTOTYPES.get(0x0430), "a"); // CYRILLIC SMALL LETTER A
    assert.equal(CONFUSABLE_PROTOTYPES.get(0x0251), "a"); // LATIN SMALL LETTER ALPHA
    assert.equal(CONFUSABLE_PROTOTYPES.get(0x006d), "rn"); // m
    assert.equal(CONFUSABLE_PROTOTYPES.get(0x0031), "l"); // digit one
  });

  it("is case-sensitive, as the standard defines it", () => {
    assert.equal(skeleton("paypal"), skeleton("\u0440\u0430\u0443\u0440\u0430l"));
    assert.notEqual(skeleton("ada"), skeleton("ADA"));
  });
});
