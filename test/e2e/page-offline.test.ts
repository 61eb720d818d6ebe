import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { waitUntil } from "../support/chat-page.js";
import { SHORT_MS, browserSuite, expectQueuedDeliveredOnce } from "../support/chat-fixture.js";

const withServer = browserSuite();

// http://127.0.0.1 is a secure context, so the page registers its service worker there.
describe("offline shell: the service worker serves the page while the server is down", { timeout: 180_000 }, () => {
  it("a reload with the server down shows the page, the queued message and the honest indicator; it is delivered once when the server returns", async () => {
    await withServer(async (fixture) => {
      const { server, enter } = fixture;
      const alice = await enter("alice", "lobby");
      await waitUntil(
        async () => alice.page.evaluate(() => navigator.serviceWorker.controller !== null),
        SHORT_MS,
        "the service worker controlling the page",
      );
      await server.kill();
      await alice.waitForIndicator(/^Reconnecting/, SHORT_MS);
      await alice.send("queued before a reload");

      // Nothing routes the page here: with the server dead, only the service worker can answer.
      const response = await alice.page.reload();
      assert.ok(response === null || response.fromServiceWorker(), "the reload was answered by the service worker");
      await alice.page.waitForSelector("#chat", { state: "visible" });
      await waitUntil(async () => (await alice.messages())[0]?.status === "pending", SHORT_MS, "the queued message after the reload");
      assert.equal(await alice.page.textContent("#messages .msg-status"), "Waiting for connection");
      assert.equal(await alice.page.isVisible("#queued-note"), true);
      const shown = await alice.indicator();
      assert.notEqual(shown.text, "Connection OK", "the indicator does not claim a connection");
      assert.match(shown.text, /^(Connecting…|Reconnecting)/);

      await expectQueuedDeliveredOnce(fixture, alice, "queued before a reload");
    });
  });
});
