import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { pagePolicy } from "../../src/server/static-files.js";

const directives = (policy: string): Map<string, string> =>
  new Map(
    policy
      .split(";")
      .map((d) => d.trim().split(/\s+/))
      .filter((words) => words[0])
      .map(([name, ...values]) => [name!, values.join(" ")]),
  );

describe("the page's Content-Security-Policy header", () => {
  it("says everything the page's meta policy says, no looser, plus frame-ancestors", () => {
    const html = readFileSync(new URL("../../src/web/index.html", import.meta.url), "utf8");
    const meta = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html)?.[1];
    assert.ok(meta, "the page has a meta policy");
    const header = directives(pagePolicy(["https://app.example"]));
    for (const [name, values] of directives(meta)) assert.equal(header.get(name), values, `${name} as the meta says`);
    assert.equal(header.get("frame-ancestors"), "'self' https://app.example");
    assert.equal(header.size, directives(meta).size + 1, "nothing else");
  });
});
