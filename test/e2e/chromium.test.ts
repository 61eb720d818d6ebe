import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { chromium } from "playwright-core";
import { HEADLESS_ARGS, SYSTEM_CHROMIUM, chooseChromium } from "../support/browser.js";

// The browser tests must run on a fresh machine after `npm install`, with no apt step: when
// Debian's Chromium is missing (or PULSE_CHROMIUM points nowhere), the npm package's is used.
describe("the Chromium the browser tests drive", { timeout: 120_000 }, () => {
  it("PULSE_CHROMIUM pointing nowhere falls back to the packaged Chromium, which launches headless here", async () => {
    const choice = await chooseChromium({ PULSE_CHROMIUM: "/nonexistent/chromium" });
    assert.equal(choice.source, "@sparticuz/chromium");
    const browser = await chromium.launch({ executablePath: choice.path, args: HEADLESS_ARGS });
    try {
      const page = await browser.newPage();
      await page.setContent("<p id=probe>rendered</p>");
      assert.equal(await page.textContent("#probe"), "rendered");
      assert.match(browser.version(), /^\d+\./);
    } finally {
      await browser.close();
    }
  });

  it("PULSE_CHROMIUM=packaged skips the system Chromium; unset prefers it when installed", async () => {
    assert.equal((await chooseChromium({ PULSE_CHROMIUM: "packaged" })).source, "@sparticuz/chromium");
    const unset = await chooseChromium({});
    assert.equal(unset.source, (await import("node:fs")).existsSync(SYSTEM_CHROMIUM) ? "system" : "@sparticuz/chromium");
  });
});
