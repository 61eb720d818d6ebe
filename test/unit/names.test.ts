import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { checkText, codePointLength, normalizeName, type NameCheck } from "../../src/protocol/names.js";
import { isProtocolError, parseClientMessage } from "../../src/protocol/parse.js";
import { ErrorCode } from "../../src/protocol/messages.js";

const MAX_NICK = 32;
const TEXT_LIMITS = { maxCodePoints: 4000, maxControlShare: 0.5 };

function refusedFor(raw: string, reason: RegExp, max = MAX_NICK): void {
  const result = normalizeName(raw, max);
  assert.equal(result.ok, false, `${JSON.stringify(raw)} should be refused`);
  assert.match((result as { reason: string }).reason, reason, JSON.stringify(raw));
}
function acceptedAs(raw: string, name: string, max = MAX_NICK): void {
  assert.deepEqual(normalizeName(raw, max), { ok: true, name }, JSON.stringify(raw));
}

/**
 * Any string, weighted towards the characters that matter here: lone surrogates (which
 * fast-check's "binary" unit never produces), controls, invisible and combining characters.
 */
const interestingUnit = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((u) => String.fromCharCode(u)) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x9f }).map((u) => String.fromCharCode(u)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "a", "A", "d", " ", "\n", "\t", "\u00a0", "\u0301", "\u0430", "\uff41", "\u200b", "\u200d", "\u202e",
      "\u00ad", "\u3164", "\u2800", "\u{E0001}", "\ufdfa", "\u1f82", "😀", "\ufe0f",
    ),
  },
);
const anyString = fc.string({ unit: interestingUnit, maxLength: 80 });

describe("codePointLength", () => {
  it("counts code points, a lone surrogate as one", () => {
    assert.equal(codePointLength(""), 0);
    assert.equal(codePointLength("ada"), 3);
    assert.equal(codePointLength("😀😀"), 2);
    assert.equal(codePointLength("a\u0301"), 2);
    assert.equal(codePointLength("x\ud800y"), 3);
    assert.equal(codePointLength("\udc00\ud800"), 2);
  });
});

describe("normalizeName", () => {
  it("keeps ordinary names in any script as typed", () => {
    for (const name of ["ada", "Ada Lovelace", "José", "Zoë", "李小龍", "Ωmega", "محمد", "😀 fan", "o'neil", "❤️"]) {
      acceptedAs(name, name);
    }
  });

  it("NFKC-normalises: fullwidth becomes ASCII, a decomposed accent is composed", () => {
    acceptedAs("\uff41da", "ada");
    acceptedAs("a\u0301da", "\u00e1da"); // a different name from "ada": the accent is visible
    acceptedAs("\ufb01sh", "fish"); // the "ﬁ" ligature
  });

  it("normalises room names the same way (a fullwidth room name becomes ASCII)", () => {
    acceptedAs("\uff4c\uff4f\uff42\uff42\uff59", "lobby", 64);
  });

  it("refuses format characters: zero-width, bidi overrides, soft hyphen, tags", () => {
    refusedFor("ada\u200b", /invisible formatting/);
    refusedFor("\u200bada", /invisible formatting/);
    refusedFor("a\u200dda", /invisible formatting/);
    refusedFor("ada\u202e", /invisible formatting/);
    refusedFor("\u2066ada", /invisible formatting/);
    refusedFor("ada\u00ad", /invisible formatting/);
    refusedFor("ada\u{E0001}", /invisible formatting/);
    refusedFor("\ufeffada", /invisible formatting/);
  });

  it("refuses names with no visible character", () => {
    refusedFor("\u200b\u200b", /invisible formatting/); // refused already for its Cf characters
    refusedFor("\u3164", /invisible filler/); // HANGUL FILLER is a letter (Lo) that draws nothing
    refusedFor("\u2800", /no visible character/); // BRAILLE PATTERN BLANK
    refusedFor("\u00a0", /no visible character/); // NFKC turns it into a plain space
    refusedFor("\u0301", /no visible character/);
  });

  it("refuses invisible fillers inside a name", () => {
    refusedFor("ada\u3164", /invisible filler/);
    refusedFor("ada\uffa0", /invisible filler/); // HALFWIDTH HANGUL FILLER (NFKC -> U+3164)
  });

  it("refuses a combining mark at the start and stacks of marks", () => {
    refusedFor("\u0301ada", /starts with a combining mark/);
    refusedFor("a\u0316\u0317\u0318\u0319\u031ada", /more than 4 combining marks/); // none composes with a
    acceptedAs("a\u0316\u0317\u0318\u0319da", "a\u0316\u0317\u0318\u0319da"); // 4 marks: allowed
  });

  it("refuses surrounding or doubled white space instead of trimming it", () => {
    refusedFor(" ada", /starts or ends with a space/);
    refusedFor("ada ", /starts or ends with a space/);
    refusedFor("ada\u3000", /starts or ends with a space/); // ideographic space, NFKC -> " "
    refusedFor("ada\u2800", /starts or ends with a space/);
    refusedFor("ada  lovelace", /two spaces in a row/);
  });

  it("refuses controls, separators, lone surrogates, unassigned and private-use characters", () => {
    refusedFor("ada\n", /control character/);
    refusedFor("a\tda", /control character/);
    refusedFor("ada\u0085", /control character/);
    refusedFor("ada\u2028x", /line or paragraph separator/);
    refusedFor("ad\ud800a", /lone UTF-16 surrogate/);
    refusedFor("ada\udc00", /lone UTF-16 surrogate/);
    refusedFor("ada\ue000", /unassigned or private-use/);
    refusedFor("ada\u{10ffff}", /unassigned or private-use/);
    refusedFor("ada\u0378", /unassigned or private-use/); // unassigned in the Greek block
  });

  it("refuses empty names", () => {
    refusedFor("", /empty/);
  });

  it("counts the limit in code points after NFKC", () => {
    acceptedAs("😀".repeat(MAX_NICK), "😀".repeat(MAX_NICK)); // 64 UTF-16 units, 32 code points
    refusedFor("😀".repeat(MAX_NICK + 1), /longer than 32 characters/);
    refusedFor("\ufdfa", /longer than 10 characters/, 10); // one code point, 18 after NFKC
    // 4 code points each, NFKC composes them to one: the cheap pre-check must not refuse these.
    const decomposed = "\u1f82".normalize("NFD");
    assert.equal(codePointLength(decomposed), 4);
    acceptedAs(decomposed.repeat(3), "\u1f82".repeat(3), 3);
    refusedFor("a".repeat(10_000_000), /longer than 32 characters/);
  });

  it("property: never throws, always a structured result; an accepted name is a fixed point", () => {
    fc.assert(
      fc.property(anyString, fc.integer({ min: 1, max: 64 }), (raw, max) => {
        const result: NameCheck = normalizeName(raw, max);
        if (result.ok) {
          assert.equal(typeof result.name, "string");
          assert.ok(codePointLength(result.name) <= max);
          assert.deepEqual(normalizeName(result.name, max), result);
        } else {
          assert.equal(typeof result.reason, "string");
          assert.ok(result.reason.length > 0);
        }
      }),
      { numRuns: 10_000 },
    );
  });
});

describe("checkText", () => {
  const check = (text: string) => checkText(text, TEXT_LIMITS);

  it("accepts text as typed, line breaks, tabs, emoji sequences and bidi marks included", () => {
    for (const text of ["hi", "a\nb\tc", "a\n", "👨\u200d👩\u200d👧", "\u202bשלום\u202c", "  indented"]) {
      assert.deepEqual(check(text), { ok: true }, JSON.stringify(text));
    }
  });

  it("refuses lone surrogates", () => {
    for (const text of ["x\ud800y", "x\udc00y", "x\ud800", "\udc00\ud800"]) {
      assert.equal((check(text) as { code?: string }).code, "bad_text", JSON.stringify(text));
    }
  });

  it("refuses C0 and C1 controls and DEL other than newline and tab", () => {
    for (const text of ["\u0001", "a\u0000b", "a\rb", "a\u001bb", "a\u007fb", "a\u0085b", "a\u009fb"]) {
      assert.equal((check(text) as { code?: string }).code, "bad_text", JSON.stringify(text));
    }
  });

  it("refuses text with no visible character", () => {
    for (const text of ["   ", "\n\t", "\u200b", "\u2800", "\u0301"]) {
      assert.equal((check(text) as { code?: string }).code, "bad_text", JSON.stringify(text));
    }
  });

  it("refuses text that is mostly line breaks (each costs two bytes as JSON)", () => {
    const result = check("\n".repeat(3999) + "a");
    assert.equal(result.ok, false);
    assert.equal((result as { code: string }).code, "bad_text");
    assert.match((result as { reason: string }).reason, /mostly line breaks/);
    assert.equal(check("a\nb\nc\n").ok, true); // 3 of 6: not more than half
    assert.equal(check("a\n\n").ok, false); // 2 of 3
  });

  it("refuses empty and over-long text with text_too_long, counting code points", () => {
    assert.equal((check("") as { code?: string }).code, "text_too_long");
    assert.deepEqual(checkText("😀".repeat(4000), TEXT_LIMITS), { ok: true });
    const over = checkText("😀".repeat(4000), { ...TEXT_LIMITS, maxCodePoints: 3999 });
    assert.equal((over as { code?: string }).code, "text_too_long");
    assert.equal((check("a".repeat(4001)) as { code?: string }).code, "text_too_long");
    // Length is reported before content.
    assert.equal((check("\u0001".repeat(4001)) as { code?: string }).code, "text_too_long");
  });

  it("stays linear on adversarial 4,000-code-point texts (generous bound: a loaded machine)", () => {
    const texts = [
      " ".repeat(3999) + "a",
      "\n".repeat(3999) + "a",
      "\u0301".repeat(4000),
      "\u200b".repeat(4000),
      "😀".repeat(4000),
      "a".repeat(3999) + "\ud800",
    ];
    const started = performance.now();
    for (let i = 0; i < 100; i++) for (const text of texts) checkText(text, TEXT_LIMITS);
    const perCheckMs = (performance.now() - started) / (100 * texts.length);
    assert.ok(perCheckMs < 5, `${perCheckMs.toFixed(3)} ms per check`);
  });

  it("property: never throws, always a structured result", () => {
    fc.assert(
      fc.property(anyString, fc.integer({ min: 1, max: 100 }), fc.double({ min: 0, max: 1, noNaN: true }), (text, max, share) => {
        const result = checkText(text, { maxCodePoints: max, maxControlShare: share });
        if (!result.ok) {
          assert.ok(result.code === "bad_text" || result.code === "text_too_long");
          assert.ok(result.reason.length > 0);
        } else {
          assert.ok(codePointLength(text) >= 1 && codePointLength(text) <= max);
        }
      }),
      { numRuns: 10_000 },
    );
  });
});

describe("parseClientMessage (property)", () => {
  const errorCodes = new Set<string>(Object.values(ErrorCode));
  function assertStructured(raw: string): void {
    const result = parseClientMessage(raw);
    if (isProtocolError(result)) {
      assert.ok(errorCodes.has(result.code), result.code);
      assert.equal(typeof result.message, "string");
    } else {
      assert.equal(typeof result.type, "string");
      // An accepted message survives a round trip unchanged.
      assert.deepEqual(parseClientMessage(JSON.stringify(result)), result);
    }
  }

  it("never throws on arbitrary strings", () => {
    fc.assert(fc.property(anyString, (raw) => assertStructured(raw)), { numRuns: 10_000 });
  });

  it("never throws on arbitrary JSON values", () => {
    fc.assert(fc.property(fc.json(), (raw) => assertStructured(raw)), { numRuns: 10_000 });
    fc.assert(
      fc.property(fc.anything({ maxDepth: 3 }), (value) => {
        const raw = JSON.stringify(value);
        if (typeof raw === "string") assertStructured(raw);
      }),
      { numRuns: 10_000 },
    );
  });

  it("never throws on objects shaped like client messages", () => {
    const field = fc.constantFrom(
      "room", "id", "text", "since", "epoch", "before", "limit", "sentAt", "clientId", "nick", "userKey",
      "token", "__proto__", "constructor", "toString",
    );
    const message = fc.tuple(
      fc.constantFrom("hello", "join", "leave", "send", "history", "ping", "pong", "constructor", "__proto__"),
      fc.dictionary(field, fc.anything({ maxDepth: 2 }), { maxKeys: 6 }),
    );
    fc.assert(
      fc.property(message, ([type, fields]) => {
        const raw = JSON.stringify({ ...fields, type });
        if (typeof raw === "string") assertStructured(raw);
      }),
      { numRuns: 10_000 },
    );
  });
});
