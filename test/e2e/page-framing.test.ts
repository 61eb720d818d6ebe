import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { Browser, Frame } from "playwright-core";
import { browserSuite, SHORT_MS } from "../support/chat-fixture.js";

const withServer = browserSuite();

/**
 * Another site: a page on another origin (another port of loopback) that lays the chat page in
 * an iframe, as a clickjacking page does (it would then make the frame invisible and put its own
 * buttons over it).
 */
let framer: Server;
let framerOrigin = "";
let chatUrl = "";
before(async () => {
  framer = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><title>another site</title><iframe id="chat" src="${chatUrl}" width="800" height="600"></iframe>`);
  });
  await new Promise<void>((listening) => framer.listen(0, "127.0.0.1", listening));
  framerOrigin = `http://127.0.0.1:${(framer.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((closed) => framer.close(() => closed())));

/** Whether the chat page's join form shows inside the other site's frame once that has loaded (not when the browser refused the page there). */
async function joinFormInFrame(browser: Browser, url: string): Promise<{ form: boolean; frameUrl: string }> {
  chatUrl = url;
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(framerOrigin, { waitUntil: "load", timeout: SHORT_MS });
    const frame: Frame | null = await (await page.waitForSelector("#chat", { timeout: SHORT_MS })).contentFrame();
    assert.ok(frame, "the iframe has a frame");
    return { form: (await frame.$("#join-form")) !== null, frameUrl: frame.url() };
  } finally {
    await context.close();
  }
}

describe("the chat page in another site's frame", { timeout: 120_000 }, () => {
  it("is refused by default: another site cannot lay the page under its own (clickjacking)", async () => {
    await withServer(async ({ server, browser }) => {
      // The page itself loads on its own origin: the test would pass for a broken page otherwise.
      const own = await browser.newPage();
      await own.goto(server.url, { waitUntil: "load" });
      assert.ok(await own.$("#join-form"), "the page loads at its own address");
      await own.close();
      const framed = await joinFormInFrame(browser, server.url);
      assert.equal(framed.form, false, `the chat page showed inside ${framerOrigin} (frame at ${framed.frameUrl})`);
    });
  });

  it("is shown in a frame on an origin named by --frame-ancestor", async () => {
    await withServer(
      async ({ server, browser }) => {
        const framed = await joinFormInFrame(browser, server.url);
        assert.equal(framed.form, true, `the chat page did not show inside ${framerOrigin}, which is allowed (frame at ${framed.frameUrl})`);
      },
      { args: ["--frame-ancestor", framerOrigin] },
    );
  });
});
