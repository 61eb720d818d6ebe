import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { testServer } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { MESSAGE_OVERHEAD_BYTES } from "../../src/store/index.js";

describe("retention through the server", () => {
  it("retainBytesPerRoom reaches the store the server opens: a newcomer finds only what fits", async () => {
    const text = "é".repeat(1_000); // 2,000 UTF-8 bytes
    const server = await testServer({ store: ":memory:", retainBytesPerRoom: 3 * (2_000 + MESSAGE_OVERHEAD_BYTES) });
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

  it("retainBytesTotal bounds what rooms named by one client hold together; a room dropped whole resumes honestly", async () => {
    const text = "é".repeat(1_000); // 2,000 UTF-8 bytes
    const cost = 2_000 + MESSAGE_OVERHEAD_BYTES;
    const server = await testServer({ store: ":memory:", retainBytesPerRoom: 3 * cost, retainBytesTotal: 6 * cost });
    const clients: RawClient[] = [];
    try {
      const say = async (c: RawClient, room: string, id: string) => {
        c.send({ type: "send", room, id, text });
        return (await c.next("ack", (a) => a.id === id)).seq;
      };
      const ada = await RawClient.hello(server.url, "ada");
      clients.push(ada);
      ada.send({ type: "join", room: "keep" });
      await ada.next("joined");
      assert.deepEqual([await say(ada, "keep", "k1"), await say(ada, "keep", "k2")], [1, 2]);

      // Someone names room after room and fills each to its own budget: the total holds, and
      // "keep", written least recently, goes whole.
      const mallory = await RawClient.hello(server.url, "mallory");
      clients.push(mallory);
      for (const room of ["spam1", "spam2"]) {
        mallory.send({ type: "join", room });
        await mallory.next("joined", (j) => j.room === room);
        for (const n of [1, 2, 3]) await say(mallory, room, `${room}-${n}`);
      }

      const bob = await RawClient.hello(server.url, "bob");
      clients.push(bob);
      bob.send({ type: "join", room: "keep", since: 0, epoch: bob.welcome!.epoch });
      const joined = await bob.next("joined", (j) => j.room === "keep");
      assert.deepEqual(joined.messages, [], "keep's history is gone");
      assert.equal(joined.recovered, false, "messages 1-2 were dropped: the resume must not claim they were all replayed");
      assert.equal(joined.seq, 3, "above every seq keep had");

      // The room goes on above its old seqs, with no gap for those who joined after the drop.
      assert.equal(await say(ada, "keep", "k3"), 4);
      assert.equal((await bob.next("message", (m) => m.room === "keep")).seq, 4);
      // That write (7 of 6) dropped the next least recently written room, spam1, not spam2.
      const carol = await RawClient.hello(server.url, "carol");
      clients.push(carol);
      for (const room of ["spam1", "spam2"]) carol.send({ type: "join", room, since: 0, epoch: carol.welcome!.epoch });
      assert.equal((await carol.next("joined", (j) => j.room === "spam1")).messages.length, 0);
      assert.equal((await carol.next("joined", (j) => j.room === "spam2")).messages.length, 3);
    } finally {
      for (const c of clients) c.close();
      await server.close();
    }
  });
});
