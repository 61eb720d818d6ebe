import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { testServer } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { sleep } from "../support/wait.js";

describe("the server does what docs/protocol.md says", () => {
  it("joining a room you are already in answers joined, without a second presence join", async () => {
    const server = await testServer();
    const ada = await RawClient.hello(server.url, "ada");
    const bob = await RawClient.hello(server.url, "bob");
    try {
      ada.send({ type: "join", room: "lobby" });
      bob.send({ type: "join", room: "lobby" });
      await ada.next("joined");
      await bob.next("joined");
      for (let i = 1; i <= 3; i++) bob.send({ type: "send", room: "lobby", id: `m${i}`, text: `hello ${i}` });
      await ada.next("message", (m) => m.seq === 3);
      await sleep(100);
      const adaJoinsBefore = bob.presenceChanges().filter((c) => c.nick === "ada").length;

      ada.received.length = 0;
      ada.send({ type: "join", room: "lobby" });
      const again = await ada.next("joined");
      assert.equal(again.room, "lobby");
      assert.equal(again.seq, 3);
      assert.equal(again.recovered, false, "no since: the latest page");
      assert.deepEqual(again.messages.map((m) => m.seq), [1, 2, 3]);
      assert.equal(again.onlineCount, 2);
      // Still a member: live messages keep coming after the answer.
      bob.send({ type: "send", room: "lobby", id: "m4", text: "after" });
      await ada.next("message", (m) => m.seq === 4);
      await sleep(100);
      assert.equal(bob.presenceChanges().filter((c) => c.nick === "ada").length, adaJoinsBefore, "no presence change");
    } finally {
      ada.close();
      bob.close();
      await server.close();
    }
  });

  it("a repeated join with since and the epoch is served like a resume: the messages after since", async () => {
    const server = await testServer();
    const ada = await RawClient.hello(server.url, "ada");
    try {
      const welcome = await ada.next("welcome");
      ada.send({ type: "join", room: "r" });
      await ada.next("joined");
      for (let i = 1; i <= 3; i++) ada.send({ type: "send", room: "r", id: `m${i}`, text: `t${i}` });
      await ada.next("ack", (a) => a.seq === 3);
      ada.received.length = 0;
      ada.send({ type: "join", room: "r", since: 1, epoch: welcome.epoch });
      const again = await ada.next("joined");
      assert.equal(again.recovered, true);
      assert.deepEqual(again.messages.map((m) => m.seq), [2, 3]);
    } finally {
      ada.close();
      await server.close();
    }
  });
});
