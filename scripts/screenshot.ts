// Takes docs/screenshot.png: two people chatting on the real page against a real server.
// Usage: npm run build && node --import tsx scripts/screenshot.ts [output.png]
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { launchBrowser } from "../test/support/browser.js";
import { ChatPage, waitUntil } from "../test/support/chat-page.js";
import { ServerProcess } from "../test/support/server-process.js";

const output = process.argv[2] ?? "docs/screenshot.png";
const ROOM = "design-review";
const conversation: Array<["ana" | "ben", string]> = [
  ["ana", "Morning! Did the new build go out?"],
  ["ben", "Yes, 20 minutes ago. The status badge now shows the round trip."],
  ["ana", "Nice. I paused the server on my laptop and it said \"Server not responding\" within two seconds."],
  ["ben", "Then it counts down to the reconnect, and 'Retry now' skips the wait."],
  ["ana", "And the messages I typed while it was down arrived once, in order. Nice work."],
];

const server = await ServerProcess.start();
const browser = await launchBrowser();
try {
  const open = async () => {
    const page = await ChatPage.open(browser, server.url);
    await page.page.setViewportSize({ width: 1000, height: 600 });
    return page;
  };
  const ana = await open();
  const ben = await open();
  await ana.join("ana", "lobby");
  await ana.openRoom(ROOM);
  await ben.join("ben", ROOM);
  await ben.openRoom("lobby");
  await ana.waitForOnline(["ana", "ben"], 10_000);
  const pages = { ana, ben };
  await ben.openRoom(ROOM);
  for (const [who, text] of conversation) {
    await pages[who].send(text);
    await ana.waitForTexts([text], 10_000);
  }
  // Something unread in another room, for the sidebar's badge.
  await ben.openRoom("lobby");
  await ben.send("Standup in 5 minutes");
  await ben.send("Bring the release notes");
  await waitUntil(async () => (await ana.rooms()).some((room) => room.unread === 2), 10_000, "the lobby's unread badge");
  // Wait for an RTT sample so the badge shows a real number.
  await ana.waitForIndicator(/^Connection OK$/, 10_000);
  await waitUntil(async () => /^Round trip \d+ ms$/.test((await ana.indicator()).detail), 20_000, "an RTT sample");
  await ana.page.locator("#text").blur();
  mkdirSync(dirname(output), { recursive: true });
  await ana.page.screenshot({ path: output });
  console.log(`wrote ${output}`);
} finally {
  await browser.close();
  await server.dispose();
}
