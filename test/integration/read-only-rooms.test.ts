import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SignJWT } from "jose";
import type { OutboxEntry, RoomJoinedEvent } from "../../src/client/types.js";
import type { JoinedMessage } from "../../src/protocol/messages.js";
import { RawClient } from "../support/raw-client.js";
import { testClient, testServer } from "../support/test-server.js";
import { waitFor } from "../support/wait.js";

/** Joins `room` and answers its `joined`. */
async function joined(c: RawClient, room: string) {
  c.send({ type: "join", room });
  return c.next("joined", (j) => j.room === room);
}

/** The `joined` `c` received for `room`. */
const joinedOf = (c: RawClient, room: string) => c.received.find((m): m is JoinedMessage => m.type === "joined" && m.room === room);

/**
 * Sends `text` to `room`; answers "ack" or the error code. `witness`, a member of `room`
 * and of "lobby", proves a refused message went nowhere: it gets a later lobby message
 * first, and never this one.
 */
async function trySend(c: RawClient, room: string, id: string, witness?: RawClient): Promise<string> {
  c.send({ type: "send", room, id, text: `text of ${id}` });
  const answer = await waitFor(() => c.received.find((m) => (m.type === "ack" && m.id === id) || (m.type === "error" && m.ref === id)), `an answer to ${id}`);
  if (answer.type === "ack") return "ack";
  if (witness) {
    c.send({ type: "send", room: "lobby", id: `${id}-after`, text: "after" });
    await witness.next("message", (m) => m.room === "lobby" && m.text === "after");
    assert.equal(witness.received.some((m) => m.type === "message" && m.text === `text of ${id}`), false, `${id} was refused but delivered`);
  }
  return answer.type === "error" ? answer.code : answer.type;
}

describe("read-only rooms (--read-only-room)", () => {
  it("anyone may join and read; nobody without a write list may send; other rooms are as before", async () => {
    const server = await testServer({ readOnlyRooms: ["news*"] });
    const clients: RawClient[] = [];
    try {
      const ada = await RawClient.hello(server.url, "ada");
      const bob = await RawClient.hello(server.url, "bob");
      clients.push(ada, bob);
      for (const c of [ada, bob]) await joined(c, "lobby");
      const news = await joined(ada, "news:today");
      assert.equal(news.readOnly, true);
      await joined(bob, "news:today");
      assert.equal((await joined(ada, "newsroom")).readOnly, true, "a prefix pattern covers every room it starts");
      assert.equal(joinedOf(ada, "lobby")!.readOnly, undefined, "a writable room says nothing");

      assert.equal(await trySend(ada, "news:today", "n1", bob), "forbidden");
      const refusal = ada.received.find((m) => m.type === "error" && m.ref === "n1");
      assert.match(refusal?.type === "error" ? refusal.message : "", /may read 'news:today' but not write/);
      assert.equal(await trySend(ada, "lobby", "l1"), "ack");
      // The refusal is a refusal, not the end: the connection goes on, in the room.
      bob.send({ type: "history", room: "news:today", before: 1_000 });
      assert.deepEqual((await bob.next("history", (h) => h.room === "news:today")).messages, [], "nothing was stored");
    } finally {
      for (const c of clients) c.close();
      await server.close();
    }
  });

  it("a token's write claim decides: an editor writes in the read-only room, a reader reads, `write: []` writes nowhere", async () => {
    const secret = "a-shared-secret-of-at-least-32-bytes!!";
    const sign = (claims: Record<string, unknown>) =>
      new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(new TextEncoder().encode(secret));
    const server = await testServer({ auth: { secret }, readOnlyRooms: ["news"] });
    const clients: RawClient[] = [];
    try {
      const editor = await RawClient.hello(server.url, "x", await sign({ sub: "u-ed", name: "editor", write: ["news", "lobby"] }));
      const reader = await RawClient.hello(server.url, "x", await sign({ sub: "u-rd", name: "reader" }));
      const muted = await RawClient.hello(server.url, "x", await sign({ sub: "u-mu", name: "muted", write: [] }));
      clients.push(editor, reader, muted);
      for (const c of clients) await joined(c, "lobby");
      const answers = new Map<string, boolean | undefined>();
      for (const [name, c] of [["editor", editor], ["reader", reader], ["muted", muted]] as const) answers.set(name, (await joined(c, "news")).readOnly);
      assert.deepEqual([...answers], [["editor", undefined], ["reader", true], ["muted", true]]);
      assert.equal(joinedOf(muted, "lobby")!.readOnly, true, "write: [] is read-only everywhere");

      assert.equal(await trySend(editor, "news", "e1"), "ack");
      assert.equal((await reader.next("message", (m) => m.room === "news")).text, "text of e1");
      assert.equal(await trySend(reader, "news", "r1", editor), "forbidden");
      assert.equal(await trySend(reader, "lobby", "r2"), "ack", "no write claim: every room but the read-only ones");
      assert.equal(await trySend(muted, "lobby", "m1"), "forbidden");

      const bad = await RawClient.connect(server.url);
      clients.push(bad);
      bad.send({ type: "hello", clientId: "c-bad", nick: "x", token: await sign({ sub: "u-bad", write: "news" }) });
      assert.equal((await bad.waitClosed()).code, 4504, "a write claim that is not a list of room names is refused");
    } finally {
      for (const c of clients) c.close();
      await server.close();
    }
  });

  it("the client library says so in its joined event, and a message sent there anyway fails in the outbox", async () => {
    const server = await testServer({ readOnlyRooms: ["*"] });
    const client = testClient(server.url, "carol");
    try {
      const joins: RoomJoinedEvent[] = [];
      const outbox: OutboxEntry[] = [];
      client.on("joined", (event) => joins.push(event));
      client.on("outbox", (entry) => outbox.push(entry));
      client.join("anything");
      await waitFor(() => joins.length === 1, "joined");
      assert.equal(joins[0]!.readOnly, true, "`*` makes every room read-only");
      const sent = client.send("anything", "hello?");
      const failed = await waitFor(() => outbox.find((e) => e.id === sent.id && e.status === "failed"), "the entry failed");
      assert.match(failed.error ?? "", /not write/);
    } finally {
      client.close();
      await server.close();
    }
  });
});
