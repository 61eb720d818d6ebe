import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { waitUntil } from "../support/chat-page.js";
import { RECOVERY_BOUND_MS, SHORT_MS, browserSuite, sleep } from "../support/chat-fixture.js";

const withServer = browserSuite();
/** As long as the outage in the report that asked for this: several retry cycles at this liveness. */
const FREEZE_MS = 12_000;

describe("the page's outage wording, colours, announcements and focus", { timeout: 180_000 }, () => {
  it("a 12 s SIGSTOP freeze: plain headlines, one colour per phase, at most one announcement per phase", async () => {
    await withServer(async ({ server, enter }) => {
      const alice = await enter("alice", "lobby");
      await alice.clearIndicatorLog();
      await alice.clearAnnouncementsAndTones();

      server.pause();
      const headlines = new Set<string>();
      const frozenUntil = Date.now() + FREEZE_MS;
      while (Date.now() < frozenUntil) {
        headlines.add((await alice.indicator()).text.replace(/\d+/g, "N"));
        await sleep(200);
      }
      const states = (await alice.indicatorLog()).map((change) => change.state);
      // The freeze went through more than one retry cycle, so the test can see a flicker.
      assert.ok(states.filter((s) => s === "reconnecting").length >= 2, `retry cycles: ${states.join(" > ")}`);
      for (const text of headlines) assert.doesNotMatch(text, /Attempt|Reason|heartbeat|probe|timeout/i, `headline "${text}"`);
      assert.ok(headlines.has("Server not responding"), [...headlines].join(" | "));
      assert.ok([...headlines].some((t) => /^Reconnecting/.test(t)), [...headlines].join(" | "));

      const announced = await alice.announcements();
      assert.deepEqual(announced, ["Server not responding", "Connection lost. Reconnecting."], "what a screen reader heard during the freeze");
      // Red while not responding, then orange for the whole reconnect phase: no grey in between.
      assert.deepEqual(await alice.tones(), ["ok", "bad", "warn"]);

      server.resume();
      await alice.waitForIndicator(/^Connection OK$/, RECOVERY_BOUND_MS);
      assert.deepEqual((await alice.announcements()).slice(2), ["Connection OK"]);
      assert.deepEqual((await alice.tones()).at(-1), "ok");
    });
  });

  it("the technical detail (round trip, reason) shows on hover and keyboard focus, not in the headline", async () => {
    await withServer(async ({ enter }) => {
      const alice = await enter("alice", "lobby");
      await waitUntil(async () => /^Round trip \d+ ms$/.test((await alice.indicator()).detail), SHORT_MS, "an RTT sample");
      await alice.page.mouse.move(0, 0);
      assert.equal(await alice.page.isVisible("#status-detail"), false, "hidden until asked for");
      await alice.page.hover("#status");
      assert.equal(await alice.page.isVisible("#status-detail"), true, "shown on hover");
      await alice.page.mouse.move(0, 0);
      await alice.page.focus("#status");
      assert.equal(await alice.page.isVisible("#status-detail"), true, "shown on keyboard focus");
      assert.equal(await alice.page.getAttribute("#status", "aria-describedby"), "status-detail");
    });
  });

  it("queued messages say 'Waiting for connection' and a note by the composer says they will go out; focus stays sensible after Retry now", async () => {
    await withServer(async ({ server, enter }) => {
      const alice = await enter("alice", "lobby");
      await server.kill();
      await alice.waitForIndicator(/^Reconnecting/, SHORT_MS);
      await alice.send("typed while down");
      await waitUntil(async () => (await alice.page.textContent("#messages .msg-status")) === "Waiting for connection", SHORT_MS, "the queued label");
      assert.equal(await alice.page.isVisible("#queued-note"), true);
      assert.match((await alice.page.textContent("#queued-note")) ?? "", /will be sent when it is back/);

      await waitUntil(async () => (await alice.indicator()).retryVisible, RECOVERY_BOUND_MS, "Retry now offered");
      // Focus and press in one step inside the page: from outside, the next retry cycle could
      // hide the button between the two.
      await alice.page.evaluate(() => {
        const retry = document.getElementById("status-retry")!;
        retry.focus();
        retry.click();
      });
      await sleep(200); // a frame or two: the browser moves focus off a hidden button then
      const focused = await alice.page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName);
      assert.equal(focused, "status", "focus moves to the indicator, not to the page body");

      await server.restart();
      await alice.waitForIndicator(/^Connection OK$/, RECOVERY_BOUND_MS);
      await waitUntil(async () => (await alice.messages())[0]?.status === "sent", SHORT_MS, "the queued message sent");
      assert.equal(await alice.page.textContent("#messages .msg-status"), "", "a sent message carries no label");
      assert.equal(await alice.page.isVisible("#queued-note"), false);
    });
  });

  it("the join form explains an empty or blank nickname instead of doing nothing", async () => {
    await withServer(async ({ open }) => {
      const page = await open();
      await page.join("", "lobby", { expectChat: false });
      assert.equal(await page.page.textContent("#nick-note"), "Enter a nickname.");
      await page.join("   ", "lobby", { expectChat: false });
      assert.equal(await page.page.textContent("#nick-note"), "A nickname cannot be only spaces.");
      assert.equal(await page.page.getAttribute("#nick", "aria-invalid"), "true");
      assert.equal(await page.page.evaluate(() => document.activeElement?.id), "nick");
      await page.join("dora", " ", { expectChat: false });
      assert.equal(await page.page.textContent("#room-note"), "A room name cannot be only spaces.");
      assert.equal(await page.page.isVisible("#chat"), false);
      await page.join("dora", "lobby");
      await page.waitForIndicator(/^Connection OK$/, SHORT_MS);
    });
  });
});
