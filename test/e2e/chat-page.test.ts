import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { launchBrowser } from "../support/browser.js";
import { waitUntil } from "../support/chat-page.js";
import { LIVENESS, RECOVERY_BOUND_MS, ROOT, SHORT_MS, browserSuite, expectQueuedDeliveredOnce, sleep } from "../support/chat-fixture.js";
import { THROTTLE_TIMERS, setThrottled, setVisibility } from "../support/page-timers.js";

/** Suspect is due suspectMs after the last frame; allow for a slow machine on top. */
const SUSPECT_BOUND_MS = LIVENESS.suspectMs + 3000;

const withServer = browserSuite();

describe("chat page in headless Chromium against a real server process", { timeout: 300_000 }, () => {
  it("two people chat in one room and see each other online", async () => {
    await withServer(async ({ enter }) => {
      const alice = await enter("alice", "lobby");
      const bob = await enter("bob", "lobby");
      await alice.waitForOnline(["alice", "bob"], SHORT_MS);
      await bob.waitForOnline(["alice", "bob"], SHORT_MS);

      await alice.send("hello bob");
      await bob.waitForTexts(["hello bob"], SHORT_MS);
      assert.equal(await alice.page.inputValue("#text"), "", "Enter sent the message and cleared the box");
      assert.equal(await alice.page.textContent("#notice"), "", "no error after a good send");
      await bob.send("hi alice");
      await alice.waitForTexts(["hello bob", "hi alice"], SHORT_MS);
      await waitUntil(async () => (await alice.messages())[0]?.status === "sent", SHORT_MS, "alice's message marked sent");

      const seen = await bob.messages();
      assert.deepEqual(seen.map((m) => [m.from, m.text]), [["alice", "hello bob"], ["bob", "hi alice"]]);
      assert.ok(seen.every((m) => m.timed), "every message shows a time");
      // Green "Connection OK" comes with the round-trip time once the first pong is back.
      await waitUntil(async () => /^Round trip \d+ ms$/.test((await alice.indicator()).detail), SHORT_MS, "an RTT on the indicator");
      assert.equal((await alice.indicator()).state, "open");

      // Bob leaves: Alice's online list follows.
      await bob.page.click("#leave");
      await waitUntil(async () => !(await alice.online()).includes("bob"), SHORT_MS, "bob gone from the online list");
    });
  });

  it("a newcomer sees the history and can load older messages", async () => {
    await withServer(async ({ enter }) => {
      const alice = await enter("alice", "history");
      const texts = Array.from({ length: 75 }, (_, i) => `message ${i + 1}`);
      for (const text of texts) await alice.send(text);
      await alice.waitForTexts(texts.slice(-3), SHORT_MS);
      await waitUntil(async () => (await alice.messages()).every((m) => m.status === "sent"), SHORT_MS, "all sent");

      const carol = await enter("carol", "history");
      await carol.waitForTexts(texts.slice(-5), SHORT_MS);
      const firstPage = (await carol.texts()).length;
      assert.ok(firstPage < texts.length, `the first page is a page, not everything (${firstPage})`);
      for (let round = 0; round < 10 && (await carol.texts()).length < texts.length; round++) {
        const before = (await carol.texts()).length;
        await carol.page.click("#older:not([disabled])");
        await waitUntil(async () => (await carol.texts()).length > before, SHORT_MS, "an older page");
      }
      assert.deepEqual(await carol.texts(), texts);
      await waitUntil(async () => carol.page.isHidden("#older"), SHORT_MS, "no more older messages");
    });
  });

  it("SIGSTOP: 'Server not responding' within the bound, a countdown, then OK after SIGCONT", async () => {
    await withServer(async ({ server, enter }) => {
      const alice = await enter("alice", "lobby");
      await alice.clearIndicatorLog();

      server.pause();
      const tookMs = await alice.waitForIndicator(/^Server not responding$/, SUSPECT_BOUND_MS);
      assert.ok(tookMs <= SUSPECT_BOUND_MS, `suspect after ${tookMs} ms`);
      assert.match((await alice.indicator()).detail, /^Silent for \d+ s$/);

      // The heartbeat times out, and the page counts down to the next attempt.
      const countdown = await waitUntil(
        async () => {
          const now = await alice.indicator();
          return /^Reconnecting in \d+ s$/.test(now.text) ? now : null;
        },
        RECOVERY_BOUND_MS,
        "a 'Reconnecting in N s' countdown",
      );
      assert.equal(countdown.retryVisible, true, "Retry now is offered during the countdown");
      server.resume();
      await alice.waitForIndicator(/^Connection OK$/, RECOVERY_BOUND_MS);
      const states = (await alice.indicatorLog()).map((change) => change.state);
      assert.deepEqual(states.slice(0, 3), ["open", "suspect", "reconnecting"]);
    });
  });

  it("a killed server comes back on the same database: the page reconnects, queued messages arrive once, in order", async () => {
    await withServer(async ({ server, enter }) => {
      const alice = await enter("alice", "lobby");
      const bob = await enter("bob", "lobby");
      await alice.send("before the crash");
      await bob.waitForTexts(["before the crash"], SHORT_MS);

      await server.kill();
      await alice.waitForIndicator(/^Reconnecting/, SHORT_MS);
      const queued = ["while down 1", "while down 2", "while down 3"];
      for (const text of queued) await alice.send(text);
      const pending = (await alice.messages()).slice(-3);
      assert.deepEqual(pending.map((m) => m.status), ["pending", "pending", "pending"]);

      // "Retry now" skips the wait: the next attempt starts at once (and fails, the server is down).
      await alice.page.click("#status-retry");
      await waitUntil(async () => (await alice.indicatorLog()).some((c) => c.state === "connecting"), 2000, "a connect attempt after Retry now");

      await server.restart();
      await alice.waitForIndicator(/^Connection OK$/, RECOVERY_BOUND_MS);
      await bob.waitForIndicator(/^Connection OK$/, RECOVERY_BOUND_MS);
      const expected = ["before the crash", ...queued];
      await bob.waitForTexts(queued, SHORT_MS);
      await waitUntil(async () => (await alice.messages()).every((m) => m.status === "sent"), SHORT_MS, "all of alice's messages sent");
      // Let any late duplicate arrive before judging.
      await sleep(1500);
      assert.deepEqual(await bob.texts(), expected);
      assert.deepEqual(await alice.texts(), expected);

      // The store holds each once too: a newcomer's history shows them exactly once.
      const carol = await enter("carol", "lobby");
      await carol.waitForTexts(queued, SHORT_MS);
      assert.deepEqual(await carol.texts(), expected);
    });
  });

  it("a reload while the server is down keeps the queued message (sessionStorage) and delivers it once", async () => {
    // A page fulfilled by playwright has no IP address, so Chromium's Local Network Access
    // checks would block its WebSocket to 127.0.0.1; this browser runs without them.
    const lenient = await launchBrowser(["--disable-features=LocalNetworkAccessChecks"]);
    try {
      await withServer(async (fixture) => {
        const { server, enter } = fixture;
        const alice = await enter("alice", "lobby", undefined, lenient);
        // The server also serves the page; while it is down, the browser gets the page from here
        // (as it would from a cache). The WebSocket is not routed: it still needs the real server.
        await alice.page.route(`${server.url}**`, (route) => {
          const name = new URL(route.request().url()).pathname.slice(1) || "index.html";
          return route.fulfill({ path: join(ROOT, "dist/web", name) });
        });
        await server.kill();
        await alice.waitForIndicator(/^Reconnecting/, SHORT_MS);
        await alice.send("queued before a reload");
        await alice.page.reload();
        // Straight back into the room, with the queued message still shown as pending.
        await alice.page.waitForSelector("#chat", { state: "visible" });
        await waitUntil(async () => (await alice.messages())[0]?.status === "pending", SHORT_MS, "the queued message after the reload");

        await expectQueuedDeliveredOnce(fixture, alice, "queued before a reload");
      });
    } finally {
      await lenient.close();
    }
  });

  it("offline then online: 'Offline', then an immediate probe and 'Connection OK' without a full backoff", async () => {
    await withServer(async ({ enter }) => {
      const alice = await enter("alice", "lobby");

      await alice.setOffline(true);
      await alice.waitForIndicator(/^Offline, messages will be sent when you are back$/, SHORT_MS);
      // Stay offline past the heartbeat timeout, as a real outage would.
      await sleep(LIVENESS.timeoutMs + 1000);
      assert.equal((await alice.indicator()).text, "Offline, messages will be sent when you are back");

      await alice.clearIndicatorLog();
      await alice.setOffline(false);
      const tookMs = await alice.waitForIndicator(/^Connection OK$/, RECOVERY_BOUND_MS);
      // The probe deadline is 2 s; a backoff would be up to the 30 s cap. Generous, but far below it.
      assert.ok(tookMs < 5000, `back to Connection OK ${tookMs} ms after the network returned`);
      // Chromium drops the socket during the outage (some versions), and its first connect
      // right after `online` may still fail: then one wait of the first backoff step (under
      // 1 s) is fair. A wait from the outage's grown backoff would show as "in N s", N > 1.
      const log = await alice.indicatorLog();
      const waits = log.filter((change) => change.state === "reconnecting").map((change) => change.text);
      assert.ok(
        waits.every((text) => text === "Reconnecting in 1 s" || text === "Reconnecting…"),
        `no backoff wait after online beyond the first step: ${JSON.stringify(log)}, took ${tookMs} ms`,
      );
    });
  });

  it("a hidden tab with throttled timers shows no false 'not responding' while the server is healthy", async () => {
    await withServer(async ({ enter }) => {
      const alice = await enter("alice", "lobby", (page) => page.addInitScript(THROTTLE_TIMERS));
      await alice.clearIndicatorLog();

      // Hidden, and no timer fires for twice the heartbeat timeout; frames still arrive, as in
      // a real background tab. Then the throttled timers run (still hidden), then it is shown.
      await setVisibility(alice.page, "hidden");
      await setThrottled(alice.page, true);
      await sleep(LIVENESS.timeoutMs * 2);
      const released = await setThrottled(alice.page, false);
      assert.ok(released > 0, "timers came due while throttled and were held");
      await sleep(1000);
      await setVisibility(alice.page, "visible");
      await sleep(LIVENESS.timeoutMs);

      const states = (await alice.indicatorLog()).map((change) => change.state);
      assert.deepEqual([...new Set(states)], ["open"], `indicator went through ${states.join(" > ")}`);
      assert.equal((await alice.indicator()).text, "Connection OK");
    });
  });

  // After the jump the client's check finds five minutes of "silence" that is its own (its
  // timers slept), so it probes instead of judging; the healthy server answers at once.
  it("a clock jump (laptop lid closed, playwright clock) shows no false 'not responding' while the server is healthy", async () => {
    await withServer(async ({ enter }) => {
      const alice = await enter("alice", "lobby", (page) => page.clock.install());
      await alice.clearIndicatorLog();

      await alice.page.clock.fastForward("05:00");
      await sleep(LIVENESS.timeoutMs);

      const states = (await alice.indicatorLog()).map((change) => change.state);
      assert.ok(!states.includes("suspect"), `false 'not responding' after a clock jump: ${states.join(" > ")}`);
      assert.deepEqual([...new Set(states)], ["open"], `indicator went through ${states.join(" > ")}`);
      assert.equal((await alice.indicator()).text, "Connection OK");
    });
  });

  it("chat text is rendered as text: an <img onerror> payload shows literally and never runs", async () => {
    await withServer(async ({ enter }) => {
      const alice = await enter("alice", "lobby");
      const bob = await enter("bob", "lobby");
      const payload = "<img src=x onerror=alert(1)>";
      await alice.send(payload);
      await bob.waitForTexts([payload], SHORT_MS);
      await alice.waitForTexts([payload], SHORT_MS);
      for (const page of [alice, bob]) {
        assert.equal(await page.page.locator("#messages img").count(), 0);
        assert.deepEqual(page.dialogs, []);
      }
    });
  });

  it("a message the server refuses is marked failed and offers Retry", async () => {
    await withServer(async ({ enter }) => {
      const alice = await enter("alice", "lobby");
      // Longer than the server's 4000-character limit. The page refuses it itself (next test), so
      // lift the page's limit: here the server is the judge, and the page must say so.
      await alice.page.locator("#text").evaluate((box) => box.setAttribute("data-max-length", "5000"));
      await alice.send("x".repeat(4001));
      await waitUntil(async () => (await alice.messages())[0]?.status === "failed", SHORT_MS, "the message marked failed");
      assert.equal(await alice.page.isVisible("#messages .msg-retry"), true);
      assert.match((await alice.page.textContent("#messages .msg-status")) ?? "", /^Not sent/);
      // Retrying re-queues it; the server refuses it again, and it is marked failed again.
      await alice.page.click("#messages .msg-retry");
      await waitUntil(async () => (await alice.messages())[0]?.status === "failed", SHORT_MS, "failed again after retry");
      assert.equal((await alice.messages()).length, 1, "a retry does not add a second row");
    });
  });

  it("text over the limit is not cut: a counter near the limit, and Send explains instead of sending", async () => {
    await withServer(async ({ enter }) => {
      const alice = await enter("alice", "lobby");
      await alice.page.fill("#text", "y".repeat(3000));
      assert.equal(await alice.page.isVisible("#counter"), false, "no counter far from the limit");
      await alice.page.fill("#text", "y".repeat(3700));
      assert.equal(await alice.page.textContent("#counter"), "3,700 / 4,000");
      // Counted like the server: an emoji (two UTF-16 units) is one character.
      await alice.page.fill("#text", "😀".repeat(3700));
      assert.equal(await alice.page.textContent("#counter"), "3,700 / 4,000");
      await alice.send("y".repeat(4010));
      assert.equal((await alice.page.inputValue("#text")).length, 4010, "the text stays whole in the box");
      assert.equal(await alice.page.getAttribute("#counter", "data-over"), "true");
      assert.match((await alice.page.textContent("#notice")) ?? "", /10 characters too long/);
      assert.equal((await alice.messages()).length, 0, "nothing was sent");
    });
  });

  it("a terminal close is a plain sentence: the nickname is taken", async () => {
    await withServer(async ({ open, enter }) => {
      const alice = await enter("alice", "lobby");
      const impostor = await open();
      // Another browser (another user key) asks for the same nickname.
      await impostor.join("alice", "lobby", { expectChat: false });
      await impostor.waitForIndicator(/^This nickname is in use by someone else. Choose another nickname$/, SHORT_MS);
      assert.equal(await impostor.page.isVisible("#join-form"), true, "the form comes back to pick another nickname");
      // Names are server-wide: the sentence must not send people to another room.
      const note = (await impostor.page.textContent("#join-note")) ?? "";
      assert.match(note, /nickname/);
      assert.doesNotMatch(note, /room/i);
      assert.equal(await impostor.page.getAttribute("#nick", "aria-invalid"), "true");
      assert.equal((await alice.indicator()).text, "Connection OK");
    });
  });
});
