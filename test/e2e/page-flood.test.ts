import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { waitUntil } from "../support/chat-page.js";
import { SHORT_MS, browserSuite } from "../support/chat-fixture.js";
import { RawClient } from "../support/raw-client.js";
import { MAX_ROWS } from "../../src/web/message-list.js";

const withServer = browserSuite();

describe("a flood into a room the page shows", { timeout: 180_000 }, () => {
  it(`the page keeps at most ${MAX_ROWS} rows of a room while its reader follows the newest; older ones are a "Load older" away`, async () => {
    await withServer(
      async ({ server, enter }) => {
        const ada = await enter("ada", "lobby");
        const flooder = await RawClient.hello(server.url, "flooder");
        try {
          flooder.send({ type: "join", room: "lobby" });
          await flooder.next("joined");
          const total = MAX_ROWS + 500;
          for (let i = 1; i <= total; i++) flooder.send({ type: "send", room: "lobby", id: `f${i}`, text: `flood ${i}` });
          await flooder.next("ack", (a) => a.id === `f${total}`, SHORT_MS);
          await waitUntil(async () => (await ada.page.$$eval("#messages > li", (rows) => rows.at(-1)?.querySelector(".text")?.textContent)) === `flood ${total}`, SHORT_MS, "the newest message on the page");
          // Settled: the budget is kept at the frame after the rows came.
          await ada.page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
          const texts = await ada.texts();
          assert.equal(texts.length, MAX_ROWS, `rows on the page: ${texts.length}`);
          assert.equal(texts[0], `flood ${total - MAX_ROWS + 1}`, "the newest are kept, in order");
          assert.equal(await ada.page.isVisible("#older"), true, "the trimmed ones can be loaded again");
          assert.equal(await ada.page.$eval("#scroller", (s) => s.scrollHeight - s.scrollTop - s.clientHeight < 48), true, "still at the bottom");
          await ada.page.click("#older");
          await waitUntil(async () => (await ada.texts())[0] === `flood ${total - MAX_ROWS - 49}`, SHORT_MS, "an older page above");
        } finally {
          flooder.close();
        }
      },
      { args: ["--no-rate-limits"] },
    );
  });
});
