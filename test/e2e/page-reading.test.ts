import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { waitUntil } from "../support/chat-page.js";
import { SHORT_MS, browserSuite } from "../support/chat-fixture.js";

const withServer = browserSuite();

describe("reading on the page: grouping, day separators, safe links, the scrolled-up hint, narrow screens", { timeout: 180_000 }, () => {
  it("consecutive messages by one author are grouped; a day separator heads the day", async () => {
    await withServer(async ({ enter }) => {
      const alice = await enter("alice", "lobby");
      const bob = await enter("bob", "lobby");
      await bob.send("one");
      await bob.send("two");
      await bob.send("three");
      await alice.waitForTexts(["one", "two", "three"], SHORT_MS);
      await alice.send("reply");
      await bob.waitForTexts(["reply"], SHORT_MS);
      const seen = await bob.messages();
      assert.deepEqual(seen.map((m) => [m.from, m.grouped]), [["bob", false], ["bob", true], ["bob", true], ["alice", false]]);
      // A grouped row keeps its author and time in the DOM (screen readers, copying), not on screen.
      assert.equal(await bob.page.isVisible("#messages > li:nth-child(2) .from"), false);
      assert.equal(await bob.page.isVisible("#messages > li:nth-child(1) .from"), true);
      assert.deepEqual(await bob.page.$$eval("#messages .day", (days) => days.map((d) => d.textContent)), ["Today"]);
      // State only where it matters: no "Sent" label on delivered messages.
      assert.deepEqual(await bob.page.$$eval("#messages .msg-status", (labels) => labels.map((l) => l.textContent)), ["", "", "", ""]);
    });
  });

  it("a message in a right-to-left script reads right to left, each message on its own", async () => {
    await withServer(async ({ enter }) => {
      const ada = await enter("ada", "lobby");
      const noa = await enter("נועה", "lobby");
      await noa.send("מה שלומך?");
      await noa.send("fine, and you?");
      await waitUntil(async () => (await ada.texts()).length === 2, SHORT_MS, "both messages");
      const directions = await ada.page.$$eval("#messages .text", (texts) => texts.map((p) => getComputedStyle(p).direction));
      assert.deepEqual(directions, ["rtl", "ltr"]);
      // The message box too, while it is written.
      await ada.page.fill("#text", "תודה");
      assert.equal(await ada.page.$eval("#text", (box) => getComputedStyle(box).direction), "rtl");
    });
  });

  it("links are clickable and safe: http(s) only, rel=noopener noreferrer, the text never parsed as HTML", async () => {
    await withServer(async ({ enter }) => {
      const alice = await enter("alice", "lobby");
      const bob = await enter("bob", "lobby");
      const text = "see https://example.com/a?b=1, not javascript:alert(1) or <b>bold</b>";
      await alice.send(text);
      await bob.waitForTexts([text], SHORT_MS);
      const links = await bob.page.$$eval("#messages a", (as) => as.map((a) => ({ href: a.getAttribute("href"), rel: a.getAttribute("rel"), text: a.textContent })));
      assert.deepEqual(links, [{ href: "https://example.com/a?b=1", rel: "noopener noreferrer", text: "https://example.com/a?b=1" }]);
      assert.equal(await bob.page.locator("#messages b").count(), 0, "markup in the text stays text");
      assert.equal(await bob.page.textContent("#messages .text"), text);
      assert.deepEqual(bob.dialogs, []);
    });
  });

  it("a message draws only inside its own row: a stack of accents on every letter is clipped", async () => {
    await withServer(async ({ enter }) => {
      const alice = await enter("alice", "lobby");
      const bob = await enter("bob", "lobby");
      await alice.send("read me");
      // 40 letters with 98 accents each: 3,960 characters, within a message's 4,000.
      const zalgo = Array.from({ length: 40 }, () => "e" + "\u0301".repeat(98)).join("");
      await alice.send(zalgo);
      await bob.waitForTexts(["read me", zalgo], SHORT_MS);
      const clip = await bob.page.$$eval("#messages .text", (texts) => texts.map((p) => getComputedStyle(p).overflowY));
      assert.deepEqual(clip, ["hidden", "hidden"]);
    });
  });

  it("scrolled up: new messages show a 'New messages ↓' button and a count in the title; the button brings the reader down", async () => {
    await withServer(async ({ enter }) => {
      const alice = await enter("alice", "lobby");
      const bob = await enter("bob", "lobby");
      const filler = Array.from({ length: 30 }, (_, i) => `filler ${i + 1}`);
      for (const text of filler) await bob.send(text);
      await alice.waitForTexts(filler.slice(-1), SHORT_MS);
      await alice.page.$eval("#scroller", (s) => {
        s.scrollTop = 0;
      });
      assert.equal(await alice.page.isVisible("#jump"), false);
      await bob.send("while scrolled up");
      await alice.waitForTexts(["while scrolled up"], SHORT_MS);
      await waitUntil(async () => alice.page.isVisible("#jump"), SHORT_MS, "the New messages button");
      assert.equal(await alice.page.textContent("#jump"), "New messages ↓");
      assert.equal(await alice.page.title(), "(1) Pulse chat");
      await alice.page.click("#jump");
      await waitUntil(async () => (await alice.page.title()) === "Pulse chat", SHORT_MS, "read after the jump");
      assert.equal(await alice.page.isVisible("#jump"), false);
      const atBottom = await alice.page.$eval("#scroller", (s) => s.scrollHeight - s.scrollTop - s.clientHeight < 48);
      assert.equal(atBottom, true);
    });
  });

  it("the reader is listed first, marked by a badge no name can draw; a name ending in '(you)' is listed among the others", async () => {
    await withServer(async ({ enter }) => {
      const zoe = await enter("zoe", "lobby");
      await enter("amy (you)", "lobby");
      await waitUntil(async () => (await zoe.online()).length === 2, SHORT_MS, "both online");
      assert.deepEqual(await zoe.online(), ["zoe", "amy (you)"]);
      const badges = await zoe.page.$$eval("#online > li", (items) => items.map((li) => li.querySelector(".you") && getComputedStyle(li.querySelector(".you")!).borderTopStyle));
      assert.deepEqual(badges, ["solid", null]);
    });
  });

  it("a narrow screen hides rooms and people behind a toggle that opens them", async () => {
    await withServer(async ({ enter }) => {
      const alice = await enter("alice", "lobby", (page) => page.setViewportSize({ width: 360, height: 700 }));
      assert.equal(await alice.page.isVisible("#online-box"), false);
      assert.equal(await alice.page.isVisible("#rooms-panel"), false);
      assert.equal(await alice.page.isVisible("#panels-toggle"), true);
      await alice.page.click("#panels-toggle");
      assert.equal(await alice.page.isVisible("#online-box"), true);
      assert.equal(await alice.page.isVisible("#rooms-panel"), true);
      assert.equal(await alice.page.getAttribute("#panels-toggle", "aria-expanded"), "true");
      assert.deepEqual(await alice.online(), ["alice"]);
      // Choosing a room closes the panel again.
      await alice.openRoom("dev");
      assert.equal(await alice.page.isVisible("#rooms-panel"), false);
      // Wide again: no toggle, both columns.
      await alice.page.setViewportSize({ width: 1000, height: 700 });
      assert.equal(await alice.page.isVisible("#panels-toggle"), false);
      assert.equal(await alice.page.isVisible("#online-box"), true);
    });
  });
});
