import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { testServer } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { MESSAGE_OVERHEAD_BYTES, messageBytes, ROOM_OVERHEAD_BYTES } from "../../src/store/index.js";

/**
 * What a message sent by a RawClient costs in the byte budgets: its messageBytes as the server
 * stores it (the client id RawClient sends, an anonymous userId of 27 characters) plus the overhead.
 */
const costOf = (nick: string, room: string, id: string, text: string): number =>
  messageBytes({ room, userId: `anon-${"x".repeat(22)}`, clientId: `raw-${nick}`, id, from: nick, text }) + MESSAGE_OVERHEAD_BYTES;

describe("retention through the server", () => {
  it("retainBytesPerRoom reaches the store the server opens: a newcomer finds only what fits", async () => {
    const text = "é".repeat(1_000); // 2,000 UTF-8 bytes
    const server = await testServer({ store: ":memory:", retainBytesPerRoom: ROOM_OVERHEAD_BYTES + 3 * costOf("ada", "r", "m1", text) });
    try {
      const ada = await RawClient.hello(server.url, "ada");
      ada.send({ type: "join", room: "r" });
      await ada.next("joined");
      for (let i = 1; i <= 5; i++) {
        ada.send({ type: "send", room: "r", id: `m${i}`, text });
        await ada.next("ack", (a) => a.id === `m${i}`);
      }
      const bob = await RawClient.hello(server.url, "bob");
      bob.send({ type: "join", room: "r", since: 0 });
      const joined = await bob.next("joined");
      assert.deepEqual(joined.messages.map((m) => m.seq), [3, 4, 5]);
      for (const c of [ada, bob]) c.close();
    } finally {
      await server.close();
    }
  });

  it("retainBytesTotal: a client writing into its own rooms cuts them, not a quiet room's history", async () => {
    const text = "é".repeat(250); // 500 UTF-8 bytes
    const cost = costOf("mallory", "spam1", "s10", text); // the dearest message of the test
    const server = await testServer({ store: ":memory:", retainBytesPerRoom: ROOM_OVERHEAD_BYTES + 3 * cost, retainBytesTotal: 3 * ROOM_OVERHEAD_BYTES + 7 * cost });
    const clients: RawClient[] = [];
    try {
      const ada = await RawClient.hello(server.url, "ada");
      clients.push(ada);
      ada.send({ type: "join", room: "quiet" });
      await ada.next("joined");
      for (const id of ["q1", "q2"]) await say(ada, "quiet", id, text);

      // Someone fills two rooms to their own budget and goes on writing: the total holds, and
      // it is their rooms that are cut (to 2 and 3 of the 5 left), not the quiet room.
      const mallory = await RawClient.hello(server.url, "mallory");
      clients.push(mallory);
      for (const room of ["spam1", "spam2"]) {
        mallory.send({ type: "join", room });
        await mallory.next("joined", (j) => j.room === room);
      }
      for (let n = 1; n <= 16; n++) await say(mallory, n % 2 ? "spam1" : "spam2", `s${n}`, text);

      const bob = await RawClient.hello(server.url, "bob");
      clients.push(bob);
      for (const room of ["quiet", "spam1", "spam2"]) bob.send({ type: "join", room, since: 0, epoch: bob.welcome!.epoch });
      const quiet = await bob.next("joined", (j) => j.room === "quiet");
      assert.deepEqual(quiet.messages.map((m) => m.seq), [1, 2]);
      assert.equal(quiet.recovered, true, "nothing of it was dropped");
      const spam = [await bob.next("joined", (j) => j.room === "spam1"), await bob.next("joined", (j) => j.room === "spam2")];
      assert.deepEqual(spam.map((j) => j.messages.length).sort(), [2, 3]);
      assert.ok(spam.every((j) => !j.recovered), "the writer's rooms read as cut");
    } finally {
      for (const c of clients) c.close();
      await server.close();
    }
  });

  it("retainBytesTotal: a room down to one message is dropped whole when it is the largest, and resumes honestly", async () => {
    const cost = costOf("mallory", "spam1", "spam1", "é".repeat(250));
    const server = await testServer({ store: ":memory:", retainBytesPerRoom: ROOM_OVERHEAD_BYTES + 3 * cost, retainBytesTotal: 3 * (ROOM_OVERHEAD_BYTES + cost) });
    const clients: RawClient[] = [];
    try {
      const ada = await RawClient.hello(server.url, "ada");
      clients.push(ada);
      ada.send({ type: "join", room: "keep" });
      await ada.next("joined");
      assert.equal(await say(ada, "keep", "k1", "é".repeat(500)), 1); // one message, 1,000 bytes

      const mallory = await RawClient.hello(server.url, "mallory");
      clients.push(mallory);
      for (const room of ["spam1", "spam2"]) {
        mallory.send({ type: "join", room });
        await mallory.next("joined", (j) => j.room === room);
        await say(mallory, room, room, "é".repeat(250));
      }
      // Three rooms, and keep's message 500 bytes more than a spam room's: over the total. keep,
      // the largest, has only its newest message, and goes whole.
      const bob = await RawClient.hello(server.url, "bob");
      clients.push(bob);
      bob.send({ type: "join", room: "keep", since: 0, epoch: bob.welcome!.epoch });
      const joined = await bob.next("joined", (j) => j.room === "keep");
      assert.deepEqual(joined.messages, [], "keep's history is gone");
      assert.equal(joined.recovered, false, "message 1 was dropped: the resume must not claim it was replayed");
      assert.equal(joined.seq, 2, "above every seq keep had");

      // The room goes on above its old seqs, with no gap for those who joined after the drop.
      assert.equal(await say(ada, "keep", "k2", "é".repeat(250)), 3);
      assert.equal((await bob.next("message", (m) => m.room === "keep")).seq, 3);
    } finally {
      for (const c of clients) c.close();
      await server.close();
    }
  });
});

/** Sends `text` to `room` and waits for its ack; the seq it was given. */
async function say(c: RawClient, room: string, id: string, text: string): Promise<number> {
  c.send({ type: "send", room, id, text });
  return (await c.next("ack", (a) => a.id === id)).seq;
}
