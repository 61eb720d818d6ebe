import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { testServer, testClient } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { waitFor, sleep } from "../support/wait.js";
import type { OutboxEntry } from "../../src/client/types.js";
import { httpGet } from "../support/http-get.js";
import { fillRoom } from "../support/fill-room.js";
import { MemoryStore } from "../../src/store/index.js";

const count = (c: RawClient, pred: (m: (typeof c.received)[number]) => boolean) => c.received.filter(pred).length;
const refusals = (c: RawClient) => count(c, (m) => m.type === "error" && m.code === "rate_limited");

describe("rate limits", () => {
  it("a send flood is refused over the limit with rate_limited and retryAfterMs; refused messages are not stored", async () => {
    const server = await testServer({ rateLimits: { messages: { perConnection: { perSecond: 5, burst: 10 } } } });
    try {
      const c = await RawClient.hello(server.url, "flood");
      c.send({ type: "join", room: "r" });
      await c.next("joined");
      for (let i = 0; i < 50; i++) c.send({ type: "send", room: "r", id: `m${i}`, text: "spam" });
      await waitFor(() => count(c, (m) => m.type === "ack" || (m.type === "error" && m.code === "rate_limited")) === 50, "an answer to every send");
      const acks = c.received.filter((m) => m.type === "ack");
      assert.ok(acks.length >= 10 && acks.length < 20, `${acks.length} accepted`);
      const refused = c.received.find((m) => m.type === "error" && m.code === "rate_limited");
      assert.ok(refused && refused.type === "error" && refused.retryAfterMs! > 0 && refused.ref?.startsWith("m"));
      // What was refused was not stored: the room holds exactly the acked messages.
      const reader = await RawClient.hello(server.url, "reader");
      reader.send({ type: "join", room: "r" });
      assert.equal((await reader.next("joined")).seq, acks.length);
      for (const x of [c, reader]) x.close();
    } finally {
      await server.close();
    }
  });

  it("the client library waits out retryAfterMs and resends: nothing fails, nothing is lost, the order is the order sent", async () => {
    const server = await testServer({ rateLimits: { messages: { perConnection: { perSecond: 40, burst: 5 } } } });
    const c = testClient(server.url, "eager");
    const reader = testClient(server.url, "reader");
    const failed: OutboxEntry[] = [];
    const got: string[] = [];
    c.on("outbox", (e) => e.status === "failed" && failed.push(e));
    reader.on("message", (m) => got.push(m.text));
    try {
      c.join("r");
      reader.join("r");
      await waitFor(() => c.online("r").length === 2 && reader.online("r").length === 2, "both in the room");
      for (let i = 0; i < 60; i++) c.send("r", `n${i}`);
      await waitFor(() => got.length >= 60, "every message delivered", 20_000);
      assert.deepEqual(failed, []);
      // Sends in flight behind a refused one wait for it (SendOrderGate): without that, a token
      // that came back stored them before the refused one's resend.
      assert.deepEqual(got, Array.from({ length: 60 }, (_, i) => `n${i}`), "every message once, in the order sent");
      assert.equal(c.outboxEntries().length, 0);
    } finally {
      c.close();
      reader.close();
      await server.close();
    }
  });

  it("a send costs a delivery per member of its room: the same sender is refused sooner in a large room than in a small one", async () => {
    // 25 members in "big", 2 in "small"; a sender's deliveries bucket holds 100 (refilling
    // 2 a second). 15 sends cost 30 in the small room and 375 in the large one.
    const server = await testServer({ rateLimits: { deliveries: { perConnection: { perSecond: 2, burst: 100 } } } });
    const clients: RawClient[] = [];
    try {
      const join = async (nick: string, room: string) => {
        const c = await RawClient.hello(server.url, nick);
        clients.push(c);
        c.send({ type: "join", room });
        await c.next("joined");
        return c;
      };
      const bigSender = await join("loud", "big");
      for (let i = 0; i < 24; i++) await join(`member${i}`, "big");
      const smallSender = await join("quiet", "small");
      await join("friend", "small");
      for (const [c, room] of [[bigSender, "big"], [smallSender, "small"]] as const) {
        c.received.length = 0;
        for (let i = 0; i < 15; i++) c.send({ type: "send", room, id: `${room}${i}`, text: "hello" });
      }
      const answered = (c: RawClient) => count(c, (m) => m.type === "ack" || (m.type === "error" && m.code === "rate_limited"));
      await waitFor(() => answered(bigSender) === 15 && answered(smallSender) === 15, "an answer to every send");
      assert.equal(count(smallSender, (m) => m.type === "ack"), 15, "a small room's sends are all served");
      // 100 / 25 = 4 in the bucket; a fifth would need 12 s of refill.
      assert.equal(count(bigSender, (m) => m.type === "ack"), 4, "a large room's sends stop when the bucket runs out");
      const refusal = bigSender.received.find((m) => m.type === "error" && m.code === "rate_limited");
      assert.ok(refusal && refusal.type === "error" && refusal.retryAfterMs! > 1_000, `a wait for 25 deliveries at 2 a second: ${JSON.stringify(refusal)}`);
      // What was refused was not written to the room.
      const member = clients[1]!;
      await sleep(200);
      assert.equal(count(member, (m) => m.type === "message"), 4);
    } finally {
      for (const c of clients) c.close();
      await server.close();
    }
  });

  it("connections from one IP share its buckets", async () => {
    const server = await testServer({ rateLimits: { messages: { perConnection: { perSecond: 1, burst: 100 }, perIp: { perSecond: 1, burst: 10 } } } });
    try {
      const a = await RawClient.hello(server.url, "a");
      const b = await RawClient.hello(server.url, "b");
      for (const x of [a, b]) {
        x.send({ type: "join", room: "r" });
        await x.next("joined");
      }
      for (let i = 0; i < 8; i++) for (const x of [a, b]) x.send({ type: "send", room: "r", id: `${i}`, text: "hi" });
      await waitFor(() => [a, b].every((x) => count(x, (m) => m.type === "ack" || m.type === "error") === 8), "answers");
      const accepted = [a, b].reduce((n, x) => n + count(x, (m) => m.type === "ack"), 0);
      assert.equal(accepted, 10, "the IP's burst, shared");
      for (const x of [a, b]) x.close();
    } finally {
      await server.close();
    }
  });

  it("a history page costs a history request per 32 KiB it carries: large pages run out sooner than small ones", async () => {
    const store = new MemoryStore();
    // No refill to speak of: 40 requests' worth per connection, and as much for the address.
    const server = await testServer({ store, rateLimits: { history: { perConnection: { perSecond: 0.01, burst: 40 }, perIp: { perSecond: 0.01, burst: 80 } } } });
    try {
      await fillRoom(store, "big", 200, (i) => `${i} `.padEnd(4_000, "b")); // a page of 50: 200 KB
      await fillRoom(store, "small", 200, (i) => `short ${i}`); // a page of 50: 2 KB
      /** History pages answered, of ten asked for one after another. */
      const pagesOf = async (nick: string, room: string) => {
        const c = await RawClient.hello(server.url, nick);
        c.send({ type: "join", room });
        await c.next("joined");
        // One at a time: a page is charged once it is built, so the next request sees it.
        for (let i = 0; i < 10; i++) {
          c.send({ type: "history", room, before: 200 - i });
          await waitFor(() => count(c, (m) => m.type === "history" || (m.type === "error" && m.code === "rate_limited")) === i + 1, "an answer");
        }
        c.close();
        return count(c, (m) => m.type === "history");
      };
      // 200 KB is six 32 KiB steps: a page costs 1 + 6, so 40 pay for 6 of them (the sixth is granted on the last token).
      assert.equal(await pagesOf("bigreader", "big"), 6);
      assert.equal(await pagesOf("smallreader", "small"), 10);
    } finally {
      await server.close();
    }
  });

  it("sustained abuse closes with 4005; a ping flood is dropped unanswered", async () => {
    const server = await testServer({ rateLimits: { pings: { perConnection: { perSecond: 5, burst: 10 } }, refusals: { perSecond: 1, burst: 20 } } });
    try {
      const c = await RawClient.hello(server.url, "pinger");
      for (let i = 0; i < 500; i++) c.send({ type: "ping", id: i, sentAt: i });
      const closed = await c.waitClosed();
      assert.equal(closed.code, 4005);
      const pongs = count(c, (m) => m.type === "pong");
      assert.ok(pongs <= 12, `${pongs} pongs for 500 pings`);
      assert.equal(refusals(c), 0, "pings over the limit get no answer at all");
      // Others are unaffected.
      const d = await RawClient.hello(server.url, "calm");
      d.send({ type: "ping", id: 1, sentAt: 1 });
      await d.next("pong");
      d.close();
    } finally {
      await server.close();
    }
  });

  it("WebSocket ping frames are answered within the pings limit, and a flood of them closes with 4005 like one of JSON pings", async () => {
    const server = await testServer({ rateLimits: { pings: { perConnection: { perSecond: 5, burst: 10 } }, refusals: { perSecond: 1, burst: 20 } } });
    try {
      const c = await RawClient.hello(server.url, "framepinger");
      let pongFrames = 0;
      c.ws.on("pong", () => pongFrames++);
      // Fewer at once than ws's own cut (60 pongs unwritten), which a paced flood never reaches.
      for (let i = 0; i < 5; i++) c.ws.ping("keepalive");
      await waitFor(() => pongFrames === 5, "five pongs");
      // Then more than the burst: before, ws answered every one.
      for (let round = 0; round < 20 && !c.closed; round++) {
        for (let i = 0; i < 20; i++) if (c.ws.readyState === c.ws.OPEN) c.ws.ping();
        await sleep(20);
      }
      const closed = await c.waitClosed();
      assert.equal(closed.code, 4005);
      assert.ok(pongFrames <= 17, `${pongFrames} pongs for 405 ping frames`);
      // Others are unaffected, and a ping frame within the limit is answered.
      const d = await RawClient.hello(server.url, "calm");
      const answered = new Promise<string>((resolve) => d.ws.once("pong", (data) => resolve(data.toString())));
      d.ws.ping("hi");
      assert.equal(await answered, "hi");
      d.close();
      const metrics = (await httpGet(server.port, "/metrics")).body;
      const counted = Number(/pulse_frames_received_total\{type="control_ping"\} (\d+)\n/.exec(metrics)?.[1]);
      // The flood's first frames are read and counted; the rest waited in its socket (reads paused) until the close.
      assert.ok(counted > 6 && counted < 406, `${counted} ping frames counted`);
    } finally {
      await server.close();
    }
  });

  it("WebSocket pong frames, which the server never asks for, are charged to the pings limit: a flood of them closes with 4005", async () => {
    const server = await testServer({ rateLimits: { pings: { perConnection: { perSecond: 5, burst: 10 } }, refusals: { perSecond: 1, burst: 20 } } });
    try {
      const c = await RawClient.hello(server.url, "ponger");
      // Before, nothing limited them: all were read and the connection stayed open.
      for (let round = 0; round < 50 && !c.closed; round++) {
        for (let i = 0; i < 20; i++) if (c.ws.readyState === c.ws.OPEN) c.ws.pong();
        await sleep(20);
      }
      const closed = await c.waitClosed();
      assert.equal(closed.code, 4005);
      // A few within the limit are fine.
      const d = await RawClient.hello(server.url, "calm");
      for (let i = 0; i < 3; i++) d.ws.pong();
      d.send({ type: "ping", id: 1, sentAt: 1 });
      await d.next("pong");
      assert.equal(d.closed, null);
      d.close();
    } finally {
      await server.close();
    }
  });

  it("a client that ignores retryAfterMs is not read from meanwhile: its flood waits in its own socket", async () => {
    // 4 KB sends refused after the first two, each refusal asking for a wait of seconds; the
    // refusal budget is large so that the connection is not closed instead.
    const server = await testServer({ rateLimits: { messageBytes: { perConnection: { perSecond: 1_000, burst: 8_000 } }, refusals: { perSecond: 1_000, burst: 100_000 } } });
    try {
      const c = await RawClient.hello(server.url, "flood");
      c.send({ type: "join", room: "r" });
      await c.next("joined");
      c.received.length = 0;
      const text = "f".repeat(4_000);
      for (let i = 0; i < 2_000; i++) c.send({ type: "send", room: "r", id: `m${i}`, text });
      await sleep(1_500);
      const answered = count(c, (m) => m.type === "ack" || m.type === "error");
      // Read as it comes, all 2,000 are answered well within this time (8 MB on loopback);
      // paused for 1 s after each refusal, the server has read a few TCP reads' worth.
      assert.ok(answered >= 2 && answered < 400, `${answered} of 2,000 answered in 1.5 s`);
      assert.ok(count(c, (m) => m.type === "ack") <= 3, "the byte limit holds");
      // Others are served meanwhile.
      const d = await RawClient.hello(server.url, "calm");
      d.send({ type: "ping", id: 1, sentAt: 1 });
      await d.next("pong");
      for (const x of [c, d]) x.close();
    } finally {
      await server.close();
    }
  });

  it("a client not read from for a refusal is read again when the server closes it: the close handshake ends at once, not after the grace", async () => {
    // One send a second: the second is refused, and the client is not read from for 1 s.
    const server = await testServer({ rateLimits: { messages: { perConnection: { perSecond: 1, burst: 1 } } } });
    try {
      const c = await RawClient.hello(server.url, "paused");
      c.send({ type: "join", room: "r" });
      await c.next("joined");
      c.send({ type: "send", room: "r", id: "m1", text: "one" });
      c.send({ type: "send", room: "r", id: "m2", text: "two" });
      await c.next("error", (m) => m.code === "rate_limited" && m.ref === "m2");
      const closingAt = Date.now();
      assert.equal(server.deny([`user:${c.welcome!.userId}`]).closed, 1);
      assert.equal((await c.waitClosed(5_000)).code, 4500);
      // Before, the server read the client's close frame only when it terminated the socket, 2 s on.
      const ms = Date.now() - closingAt;
      assert.ok(ms < 1_500, `the close took ${ms} ms`);
    } finally {
      await server.close();
    }
  });

  it("join/leave churn is limited", async () => {
    const server = await testServer({ rateLimits: { membership: { perConnection: { perSecond: 5, burst: 10 } } } });
    try {
      const c = await RawClient.hello(server.url, "churn");
      const start = Date.now();
      for (let i = 0; i < 30; i++) {
        c.send({ type: "join", room: "r" });
        c.send({ type: "leave", room: "r" });
      }
      const answered = () => count(c, (m) => m.type === "joined" || m.type === "left" || m.type === "error");
      await waitFor(() => answered() >= 60, "an answer to each of the 60 requests", 20_000);
      const seconds = (Date.now() - start) / 1000;
      // A token bucket admits its burst plus its rate over the time taken, however the frames
      // were split into reads (a loaded machine reads them in many small chunks, each after a
      // read pause, and more tokens come back meanwhile). Without the limit all 60 are admitted
      // in a fraction of a second.
      const admitted = 60 - refusals(c);
      assert.ok(refusals(c) > 0, "some were refused");
      assert.ok(admitted <= 10 + Math.ceil(5 * seconds) + 1, `${admitted} of 60 admitted in ${seconds.toFixed(2)} s (burst 10, 5/s)`);
      c.close();
    } finally {
      await server.close();
    }
  });

  it("rateLimits: false turns every limit off", async () => {
    const server = await testServer({ rateLimits: false });
    try {
      const c = await RawClient.hello(server.url, "fast");
      c.send({ type: "join", room: "r" });
      await c.next("joined");
      for (let i = 0; i < 300; i++) c.send({ type: "send", room: "r", id: `m${i}`, text: "x" });
      await c.next("ack", (a) => a.id === "m299");
      assert.equal(refusals(c), 0);
      c.close();
    } finally {
      await server.close();
    }
  });
});

describe("presence batching under churn", () => {
  /**
   * A watcher in room "r" on a server batching presence for `presenceBatchMs`, and a churner
   * that `churn` makes join and leave "r"; after two batch windows, the presence changes the
   * watcher heard of the churner.
   */
  async function churnSeenByWatcher(presenceBatchMs: number, churn: (churner: RawClient) => Promise<void>) {
    const server = await testServer({ presenceBatchMs, rateLimits: false });
    try {
      const watcher = await RawClient.hello(server.url, "watcher");
      watcher.send({ type: "join", room: "r" });
      await watcher.next("joined");
      const churner = await RawClient.hello(server.url, "churner");
      await churn(churner);
      await sleep(2 * presenceBatchMs + 500);
      const changes = watcher.presenceChanges().filter((c) => c.nick === "churner");
      for (const x of [watcher, churner]) x.close();
      return changes;
    } finally {
      await server.close();
    }
  }

  it("a join and a leave of the same nick in one batch cancel out", async () => {
    const changes = await churnSeenByWatcher(300, async (churner) => {
      for (let i = 0; i < 20; i++) {
        churner.send({ type: "join", room: "r" });
        churner.send({ type: "leave", room: "r" });
      }
      await churner.next("left", () => count(churner, (m) => m.type === "left") === 20);
    });
    assert.deepEqual(changes, []);
  });

  it("also when the churner waits for its own joined each time: its own online list saw nothing the others did not", async () => {
    // A wide batch: ten round trips fit in it even on a busy machine.
    const changes = await churnSeenByWatcher(2_000, async (churner) => {
      for (let i = 0; i < 10; i++) {
        churner.send({ type: "join", room: "r" });
        await churner.next("joined", () => count(churner, (m) => m.type === "joined") === i + 1);
        churner.send({ type: "leave", room: "r" });
        await churner.next("left", () => count(churner, (m) => m.type === "left") === i + 1);
      }
    });
    assert.deepEqual(changes, []);
  });

  it("but not when someone was sent the online list in between", async () => {
    const server = await testServer({ presenceBatchMs: 300, rateLimits: false });
    try {
      const a = await RawClient.hello(server.url, "ann");
      a.send({ type: "join", room: "r" });
      await a.next("joined");
      const b = await RawClient.hello(server.url, "bob");
      b.send({ type: "join", room: "r" });
      const joined = await b.next("joined");
      assert.ok(joined.online.includes("ann"));
      a.send({ type: "leave", room: "r" });
      await a.next("left");
      // bob saw ann online in his joined: he must hear that she left.
      await b.nextPresence("ann", "leave", 3_000);
      for (const x of [a, b]) x.close();
    } finally {
      await server.close();
    }
  });
});
