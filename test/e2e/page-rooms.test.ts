import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { waitUntil } from "../support/chat-page.js";
import { RECOVERY_BOUND_MS, SHORT_MS, browserSuite, sleep } from "../support/chat-fixture.js";

const withServer = browserSuite();

describe("rooms on the page: a sidebar, switching without leaving, unread counts, the URL", { timeout: 180_000 }, () => {
  it("switching rooms keeps one connection and the membership; unread counts in the sidebar and the title; an unread line", async () => {
    await withServer(async ({ server, enter }) => {
      const alice = await enter("alice", "lobby");
      const bob = await enter("bob", "lobby");
      await alice.openRoom("dev");
      assert.equal(new URL(alice.page.url()).hash, "#dev", "the URL names the room on screen");
      assert.deepEqual(await alice.rooms(), [
        { name: "lobby", unread: 0, current: false, held: false },
        { name: "dev", unread: 0, current: true, held: false },
      ]);
      // Still in the lobby while looking at dev: bob sees her online there.
      await bob.waitForOnline(["alice", "bob"], SHORT_MS);
      await sleep(500);
      assert.ok((await bob.online()).includes("alice"), "switching is not leaving");

      await bob.send("first while away");
      await bob.send("second while away");
      await waitUntil(async () => (await alice.rooms())[0]?.unread === 2, SHORT_MS, "2 unread in lobby");
      assert.equal(await alice.page.title(), "(2) Pulse chat");
      assert.deepEqual(await alice.texts(), [], "dev shows only dev's messages");

      await alice.openRoom("lobby");
      assert.deepEqual(await alice.texts(), ["first while away", "second while away"]);
      assert.equal(new URL(alice.page.url()).hash, "#lobby");
      assert.equal(await alice.page.textContent("#messages .unread-line"), "New messages");
      const lineOn = await alice.page.$eval("#messages .unread-line", (line) => line.closest("li")?.querySelector(".text")?.textContent);
      assert.equal(lineOn, "first while away", "the line is where she left off");
      await waitUntil(async () => (await alice.page.title()) === "Pulse chat", SHORT_MS, "title without a count once read");
      assert.equal((await alice.rooms())[0]?.unread, 0);

      // Two pages, two connections: the rooms share one.
      const stats = (await (await fetch(`${server.url}stats`)).json()) as { connections: number };
      assert.equal(stats.connections, 2);

      // Leaving a room (the × in the sidebar) tells the server: bob sees her go.
      await alice.page.click('#rooms > li[data-room="lobby"] .room-leave');
      await waitUntil(async () => !(await bob.online()).includes("alice"), SHORT_MS, "alice gone from lobby");
      assert.deepEqual((await alice.rooms()).map((r) => r.name), ["dev"]);
      assert.equal(await alice.page.textContent("#room-title"), "# dev");
    });
  });

  it("a link with #room opens that room", async () => {
    await withServer(async ({ open }) => {
      const page = await open(undefined, undefined, "#design-review");
      assert.equal(await page.page.inputValue("#room"), "design-review");
      await page.join("erin", await page.page.inputValue("#room"));
      await page.waitForIndicator(/^Connection OK$/, SHORT_MS);
      assert.equal(await page.page.textContent("#room-title"), "# design-review");
      // A link followed while in the chat joins and shows that room too.
      await page.page.evaluate(() => {
        location.hash = "#ops";
      });
      await waitUntil(async () => (await page.page.textContent("#room-title")) === "# ops", SHORT_MS, "#ops on screen");
      assert.deepEqual((await page.rooms()).map((r) => r.name), ["design-review", "ops"]);
    });
  });

  it("an unsent message stays with its room: leave X, join Y, no error in Y; it goes out once when X is joined again", async () => {
    await withServer(async ({ server, enter }) => {
      const alice = await enter("alice", "room-x");
      await server.kill();
      await alice.waitForIndicator(/^Reconnecting/, SHORT_MS);
      await alice.send("held for room-x");
      await alice.page.click("#leave");
      await alice.join("alice", "room-y");

      await server.restart();
      await alice.waitForIndicator(/^Connection OK$/, RECOVERY_BOUND_MS);
      await sleep(1500);
      assert.equal(await alice.page.textContent("#notice"), "", "no error in room-y about room-x");
      assert.deepEqual(await alice.texts(), [], "room-y does not show room-x's message");
      assert.equal(await alice.page.textContent("#room-title"), "# room-y");
      // Still visible: room-x is listed as not joined, with its unsent message.
      assert.deepEqual(await alice.rooms(), [
        { name: "room-y", unread: 0, current: true, held: false },
        { name: "room-x", unread: 0, current: false, held: true },
      ]);
      assert.equal(await alice.page.textContent('#rooms > li[data-room="room-x"] .unsent'), "1 unsent");

      const carol = await enter("carol", "room-x");
      await sleep(1000);
      assert.deepEqual(await carol.texts(), [], "not sent while alice is not in room-x");

      await alice.openRoom("room-x");
      await carol.waitForTexts(["held for room-x"], SHORT_MS);
      await waitUntil(async () => (await alice.messages()).some((m) => m.text === "held for room-x" && m.status === "sent"), SHORT_MS, "sent in room-x");
      await sleep(1000);
      assert.deepEqual(await carol.texts(), ["held for room-x"], "delivered once");
      assert.deepEqual(await alice.texts(), ["held for room-x"]);
      assert.deepEqual((await alice.rooms()).map((r) => [r.name, r.held]), [["room-y", false], ["room-x", false]]);
    });
  });

  it("messages held for a room we left can be discarded from the sidebar, and are never sent", async () => {
    await withServer(async ({ server, enter }) => {
      const alice = await enter("alice", "room-x");
      await alice.openRoom("room-y");
      await alice.openRoom("room-x");
      await server.kill();
      await alice.waitForIndicator(/^Reconnecting/, SHORT_MS);
      await alice.send("not after all");
      await alice.page.click('#rooms > li[data-room="room-x"] .room-leave');
      assert.deepEqual((await alice.rooms()).map((r) => [r.name, r.held]), [["room-y", false], ["room-x", true]]);
      await alice.page.click('#rooms > li[data-room="room-x"] .room-leave');
      assert.deepEqual((await alice.rooms()).map((r) => r.name), ["room-y"]);
      await server.restart();
      await alice.waitForIndicator(/^Connection OK$/, RECOVERY_BOUND_MS);
      const carol = await enter("carol", "room-x");
      await sleep(1500);
      assert.deepEqual(await carol.texts(), [], "a discarded message is never sent");
    });
  });

  it("an unsent message can be discarded", async () => {
    await withServer(async ({ server, enter }) => {
      const alice = await enter("alice", "lobby");
      await server.kill();
      await alice.waitForIndicator(/^Reconnecting/, SHORT_MS);
      await alice.send("never mind");
      await alice.page.click("#messages .msg-discard");
      assert.deepEqual(await alice.texts(), []);
      await server.restart();
      await alice.waitForIndicator(/^Connection OK$/, RECOVERY_BOUND_MS);
      const bob = await enter("bob", "lobby");
      await sleep(1500);
      assert.deepEqual(await bob.texts(), [], "a discarded message is never sent");
    });
  });

  it("a read-only room (--read-only-room) disables the message box and says why; other rooms stay writable", async () => {
    await withServer(
      async ({ enter }) => {
        const ada = await enter("ada", "lobby");
        const box = () => ada.page.$eval("#text", (t) => ({ disabled: (t as HTMLTextAreaElement).disabled, placeholder: (t as HTMLTextAreaElement).placeholder }));
        const sendDisabled = () => ada.page.$eval("#composer button[type=submit]", (b) => (b as HTMLButtonElement).disabled);
        assert.equal((await box()).disabled, false);
        await ada.openRoom("news");
        await waitUntil(async () => (await box()).disabled, SHORT_MS, "the box disabled in news");
        assert.match((await box()).placeholder, /can read this room but not write/);
        assert.equal(await sendDisabled(), true);
        const marked = (room: string) => ada.page.$$eval(`#rooms > li[data-room="${room}"] .read-only`, (marks) => marks.map((m) => m.textContent));
        assert.deepEqual(await marked("news"), ["read-only"], "the sidebar says so too");
        assert.deepEqual(await marked("lobby"), []);

        await ada.openRoom("lobby");
        await waitUntil(async () => !(await box()).disabled, SHORT_MS, "the box enabled again in lobby");
        assert.equal(await sendDisabled(), false);
        assert.match((await box()).placeholder, /Write a message/);
        await ada.send("still writes here");
        await ada.waitForTexts(["still writes here"], SHORT_MS);
      },
      { args: ["--read-only-room", "news"] },
    );
  });
});
