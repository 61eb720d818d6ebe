import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

describe("the chat page's bundle", () => {
  it("uses no Node-only global (src/protocol and src/client are shared with the browser)", () => {
    // Built by `npm run build` (npm test builds first).
    const bundle = readFileSync(new URL("../../dist/web/app.js", import.meta.url), "utf8");
    for (const global of ["Buffer.", "require("]) {
      assert.equal(bundle.includes(global), false, `dist/web/app.js references ${global}: the page would die on load`);
    }
  });
});
