import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { testServer } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { sleep, waitFor } from "../support/wait.js";

describe("the server does what docs/protocol.md says", () => {
  it("a join refused because the connection's replies are backed up changes nothing: the member stays in the room it was in", { timeout: 30_000 }, async () => {
    // maxRooms 2: at most 10 replies wait per connection.
    const server = await testServer({ maxRooms: 2, rateLimits: false });
    const ada = await RawClient.hello(server.url, "ada");
    const bob = await RawClient.hello(server.url, "bob");
    try {
      bob.send({ type: "join", room: "lobby" });
      await bob.next("joined");
      ada.send({ type: "join", room: "lobby" });
      await ada.next("joined");
      // History pages of 256 KB (21 messages of 4,000 three-byte characters), asked for while
      // ada reads nothing: the kernel's buffers take some, then 10 wait, the rest are refused.
      const text = "€".repeat(4_000);
      for (let i = 1; i <= 60; i++) bob.send({ type: "send", room: "lobby", id: `big${i}`, text });
      await ada.next("message", (m) => m.seq === 60);
      ada.received.length = 0;
      const socket = (ada.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      socket.pause();
      // Ten every 100 ms: the kernel's buffers fill, then the queue does.
      for (let round = 0; round < 15; round++) {
        for (let i = 0; i < 10; i++) ada.send({ type: "history", room: "lobby", before: 61 });
        await sleep(100);
      }
      ada.send({ type: "join", room: "lobby" });
      await sleep(300);
      socket.resume();
      const count = (type: string) => ada.received.filter((m) => m.type === type && (type !== "error" || (m as { code?: string }).code === "rate_limited")).length;
      await waitFor(() => count("history") + count("error") + count("joined") === 151, "every request answered", 20_000);
      assert.equal(count("joined"), 0, "the join was refused: its connection had 10 replies waiting");
      assert.ok(count("history") < 150, "some history requests were refused too");
      ada.send({ type: "send", room: "lobby", id: "still-in", text: "still here?" });
      const ack = await ada.next("ack", (a) => a.id === "still-in");
      assert.equal(ack.room, "lobby");
      assert.equal(ada.received.some((m) => m.type === "left"), false);
      assert.equal(bob.presenceChanges().some((c) => c.nick === "ada" && c.event === "leave"), false, "nobody saw ada leave");
    } finally {
      ada.close();
      bob.close();
      await server.close();
    }
  });

  it("leave answers left with the room's name as the server knows it, and bad_room for a string that is no room name, never echoing it", async () => {
    const server = await testServer();
    const ada = await RawClient.hello(server.url, "ada");
    try {
      ada.send({ type: "leave", room: "ｌｏｂｂｙ" });
      assert.equal((await ada.next("left")).room, "lobby", "not in it: left, named in NFKC");
      ada.send({ type: "leave", room: "r".repeat(5_000) });
      const tooLong = await ada.next("error");
      assert.equal(tooLong.code, "bad_room");
      assert.equal(tooLong.ref!.length, 64);
      ada.send({ type: "leave", room: "\u202elobby" });
      assert.equal((await ada.next("error")).code, "bad_room");
      assert.equal(ada.received.filter((m) => m.type === "left").length, 1);
    } finally {
      ada.close();
      await server.close();
    }
  });

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

  it("two joins of one room sent back to back are both answered, and the live messages after them arrive once", async () => {
    const server = await testServer();
    const ada = await RawClient.hello(server.url, "ada");
    const bob = await RawClient.hello(server.url, "bob");
    try {
      const welcome = await ada.next("welcome");
      for (const c of [ada, bob]) c.send({ type: "join", room: "r" });
      await ada.next("joined");
      await bob.next("joined");
      for (let i = 1; i <= 3; i++) bob.send({ type: "send", room: "r", id: `m${i}`, text: `t${i}` });
      await ada.next("message", (m) => m.seq === 3);
      ada.received.length = 0;
      // The first join's answer went out before the second ran: it let go of the live frames
      // held for both, and the second, finding none, answered nothing.
      ada.send({ type: "join", room: "r", since: 1, epoch: welcome.epoch });
      ada.send({ type: "join", room: "r", since: 1, epoch: welcome.epoch });
      bob.send({ type: "send", room: "r", id: "m4", text: "t4" });
      await waitFor(() => ada.received.filter((m) => m.type === "joined").length === 2, "both joins answered");
      bob.send({ type: "send", room: "r", id: "m5", text: "t5" });
      await ada.next("message", (m) => m.seq === 5);
      const joined = ada.received.filter((m) => m.type === "joined");
      assert.ok(joined.every((j) => j.recovered === true), "both resumed from since");
      // Every message after since reaches ada once after the last answer: in it or live after it.
      const last = ada.received.lastIndexOf(joined[1]!);
      const after = ada.received.slice(last + 1).filter((m) => m.type === "message").map((m) => m.seq);
      const inLast = joined[1]!.messages.map((m) => m.seq);
      assert.deepEqual([...inLast, ...after], [2, 3, 4, 5]);
    } finally {
      ada.close();
      bob.close();
      await server.close();
    }
  });
});
