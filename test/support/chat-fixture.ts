import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before } from "node:test";
import type { Browser } from "playwright-core";
import { launchBrowser } from "./browser.js";
import { ChatPage, waitUntil } from "./chat-page.js";
import { ServerProcess, type ServerProcessOptions } from "./server-process.js";

/** Short liveness so faults show within seconds; the bounds tests use are generous on purpose. */
export const LIVENESS = { intervalMs: 500, suspectMs: 1500, timeoutMs: 3000 };
export const CHECK_MS = 250;
/** The reconnect backoff grows to the server's cap (30 s) while a server is down. */
export const RECOVERY_BOUND_MS = 40_000;
export const SHORT_MS = 10_000;

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

type BeforeLoad = Parameters<typeof ChatPage.open>[2];

export interface Fixture {
  server: ServerProcess;
  browser: Browser;
  /** A new person's tab on the chat page (its own browser context; default browser: the shared one). */
  open: (beforeLoad?: BeforeLoad, inBrowser?: Browser, path?: string) => Promise<ChatPage>;
  /** A new tab that joins `room` as `nick` and waits for "Connection OK". */
  enter: (nick: string, room: string, beforeLoad?: BeforeLoad, inBrowser?: Browser) => Promise<ChatPage>;
}

/**
 * Registers the file's before/after hooks: the page is bundled from src/web (so a stale
 * dist/web cannot lie) and one browser is shared by the file's tests. Returns the fixture
 * runner: a real server process and the pages opened against it, cleaned up when `body` ends.
 */
export function browserSuite(): (body: (fixture: Fixture) => Promise<void>, serverOptions?: ServerProcessOptions) => Promise<void> {
  let browser: Browser;
  before(() => {
    assert.ok(existsSync(join(ROOT, "dist/cli/pulse.js")), "dist/cli/pulse.js is missing: run `npm run build` first (npm test does)");
    const build = spawnSync(process.execPath, ["scripts/build-web.mjs"], { cwd: ROOT, encoding: "utf8" });
    assert.equal(build.status, 0, `building the page failed:\n${build.stderr}`);
  });
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  return async (body, serverOptions = {}) => {
    const server = await ServerProcess.start({ liveness: LIVENESS, checkMs: CHECK_MS, ...serverOptions });
    const pages: ChatPage[] = [];
    const open = async (beforeLoad?: BeforeLoad, inBrowser = browser, path = "") => {
      const page = await ChatPage.open(inBrowser, server.url + path, beforeLoad);
      pages.push(page);
      return page;
    };
    const enter = async (nick: string, room: string, beforeLoad?: BeforeLoad, inBrowser = browser) => {
      const page = await open(beforeLoad, inBrowser);
      await page.join(nick, room);
      await page.waitForIndicator(/^Connection OK$/, SHORT_MS);
      return page;
    };
    try {
      await body({ server, browser, open, enter });
    } catch (error) {
      (error as Error).message += `\n--- server output ---\n${server.output().slice(-4000)}`;
      throw error;
    } finally {
      for (const page of pages) await page.close().catch(() => {});
      await server.dispose();
    }
  };
}

/**
 * The server comes back: `sender`'s queued `text` goes out (its row turns "sent"), and a
 * newcomer and the sender each see it exactly once.
 */
export async function expectQueuedDeliveredOnce({ server, enter }: Fixture, sender: ChatPage, text: string): Promise<void> {
  await server.restart();
  await sender.waitForIndicator(/^Connection OK$/, RECOVERY_BOUND_MS);
  await waitUntil(async () => (await sender.messages())[0]?.status === "sent", SHORT_MS, "the queued message sent");
  const newcomer = await enter("bob", "lobby");
  await newcomer.waitForTexts([text], SHORT_MS);
  // A second copy would arrive after the first: give it time to show.
  await sleep(1000);
  assert.deepEqual(await newcomer.texts(), [text]);
  assert.deepEqual(await sender.texts(), [text]);
}
