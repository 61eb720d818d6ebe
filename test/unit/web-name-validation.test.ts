import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { nameProblem } from "../../src/web/name-validation.js";

describe("nameProblem", () => {
  it("explains an empty, blank, too long or control-character name; accepts a good one", () => {
    assert.equal(nameProblem("", "nickname", 32), "Enter a nickname.");
    assert.equal(nameProblem("   ", "nickname", 32), "A nickname cannot be only spaces.");
    assert.equal(nameProblem("\t", "room name", 64), "A room name cannot be only spaces.");
    assert.equal(nameProblem("x".repeat(33), "nickname", 32), "A nickname is at most 32 characters.");
    assert.equal(nameProblem("a\u0007b", "nickname", 32), "A nickname cannot contain control characters.");
    assert.equal(nameProblem(" ada ", "nickname", 32), null, "surrounding spaces are trimmed by the form, not an error");
  });
});
