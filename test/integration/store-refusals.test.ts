import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ChatMessage } from "../../src/protocol/messages.js";
import type { OutboxEntry } from "../../src/client/types.js";
import type { PulseClient } from "../../src/client/pulse-client.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { AppendInput, AppendResult } from "../../src/store/message-store.js";
import { RawClient } from "../support/raw-client.js";
import { testClient, testServer } from "../support/test-server.js";
import { sleep, waitFor } from "../support/wait.js";

/** A memory store that refuses every history read and write while `down` (a store outage). */
class FlakyStore extends MemoryStore {
  down = false;
  /** The ids of every append tried, refused or not, in order. */
  readonly appendIds: string[] = [];
  /** When each append was tried (Date.now()), in the same order. */
  readonly appendAt: number[] = [];

  private refuseIfDown(): void {
    if (this.down) throw new Error("store unreachable");
  }
  override async append(input: AppendInput): Promise<AppendResult> {
    this.appendIds.push(input.id);
    this.appendAt.push(Date.now());
    this.refuseIfDown();
    return super.append(input);
  }
  override async readAfter(room: string, afterSeq: number, limit: number): Promise<ChatMessage[]> {
    this.refuseIfDown();
    return super.readAfter(room, afterSeq, limit);
  }
  override async readBefore(room: string, beforeSeq: number, limit: number): Promise<ChatMessage[]> {
    this.refuseIfDown();
    return super.readBefore(room, beforeSeq, limit);
  }
  override async latestSeq(room: string): Promise<number> {
    this.refuseIfDown();
    return super.latestSeq(room);
  }
  override async firstSeq(room: string): Promise<number> {
    this.refuseIfDown();
    return super.firstSeq(room);
  }
}

/** A writer and a reader; `got` is every message the reader receives. */
function writerAndReader(url: string): { writer: PulseClient; reader: PulseClient; got: ChatMessage[] } {
  const writer = testClient(url, "writer");
  const reader = testClient(url, "reader");
  const got: ChatMessage[] = [];
  reader.on("message", (m) => got.push(m));
  return { writer, reader, got };
}

async function bothInRoom(writer: PulseClient, reader: PulseClient): Promise<void> {
  writer.join("r");
  reader.join("r");
  await waitFor(() => writer.online("r").length === 2 && reader.online("r").length === 2, "both in the room");
}

describe("a store that refuses for a while", () => {
  it("store_failed names the refused request and carries retryAfterMs; nothing is stored; later sends wait for it even when the store is back", async () => {
    const store = new FlakyStore();
    const server = await testServer({ store });
    const raw = await RawClient.hello(server.url, "ann");
    try {
      raw.send({ type: "join", room: "r" });
      await raw.next("joined");
      store.down = true;
      raw.send({ type: "send", room: "r", id: "m1", text: "hello" });
      const refusal = await raw.next("error", (m) => m.ref === "m1");
      assert.equal(refusal.code, "store_failed");
      assert.ok(refusal.retryAfterMs !== undefined && refusal.retryAfterMs >= 1_000 && refusal.retryAfterMs < 2_000, `retryAfterMs ${refusal.retryAfterMs}`);
      assert.equal(raw.received.some((m) => m.type === "ack"), false, "never acked");
      // The store is back (Redis reconnected) before m2, sent before the client saw the refusal, arrives.
      store.down = false;
      assert.equal(await store.latestSeq("r"), 0, "nothing stored");
      raw.send({ type: "send", room: "r", id: "m2", text: "second" });
      const held = await raw.next("error", (m) => m.ref === "m2");
      assert.ok(held.retryAfterMs !== undefined && held.retryAfterMs > 0, "m2 is told to wait for m1");
      assert.deepEqual(store.appendIds, ["m1"], "m2 did not reach the store ahead of m1");
      await sleep(refusal.retryAfterMs!);
      // The client resends in its own order, the first refused one first.
      raw.send({ type: "send", room: "r", id: "m1", text: "hello" });
      raw.send({ type: "send", room: "r", id: "m2", text: "second" });
      const acks = await Promise.all(["m1", "m2"].map((id) => raw.next("ack", (m) => m.id === id)));
      assert.deepEqual(acks.map((a) => a.seq), [1, 2], "stored in the order sent");
    } finally {
      raw.close();
      await server.close();
    }
  });

  it("the client keeps refused messages and resends them with the same ids: each delivered once, no retry by the user", async () => {
    const store = new FlakyStore();
    const server = await testServer({ store });
    const { writer, reader, got } = writerAndReader(server.url);
    const failed: OutboxEntry[] = [];
    writer.on("outbox", (e) => e.status === "failed" && failed.push(e));
    try {
      await bothInRoom(writer, reader);
      store.down = true;
      const sent = [writer.send("r", "one"), writer.send("r", "two"), writer.send("r", "three")];
      // Refused at least twice each way: the first answer and the first resend.
      await waitFor(() => store.appendIds.length >= 4, "refused sends resent", 15_000);
      assert.deepEqual(failed, [], "no entry failed while the store was down");
      // Each resend waited the server's retryAfterMs (at least 1 s) after its refusal.
      for (const id of new Set(store.appendIds)) {
        const times = store.appendAt.filter((_, k) => store.appendIds[k] === id);
        for (let k = 1; k < times.length; k++) assert.ok(times[k]! - times[k - 1]! >= 950, `resend of ${id} after ${times[k]! - times[k - 1]!} ms`);
      }
      assert.equal(writer.outboxEntries().filter((e) => e.status === "pending").length, 3, "all three kept, pending");
      store.down = false;
      await waitFor(() => got.length >= 3 && writer.outboxEntries().length === 0, "all three acked and delivered", 30_000);
      await sleep(300);
      assert.deepEqual(got.map((m) => [m.seq, m.text]), [[1, "one"], [2, "two"], [3, "three"]], "each once, in order");
      assert.deepEqual(failed, []);
      assert.deepEqual(new Set(store.appendIds), new Set(sent.map((e) => e.id)), "resends carry the original ids");
    } finally {
      writer.close();
      reader.close();
      await server.close();
    }
  });

  it("the client's messages reach the room in the order written when the store refused the first one only", async () => {
    const store = new FlakyStore();
    const server = await testServer({ store });
    const { writer, reader, got } = writerAndReader(server.url);
    try {
      await bothInRoom(writer, reader);
      store.down = true;
      writer.send("r", "one");
      await waitFor(() => store.appendIds.length === 1, "one refused by the store");
      store.down = false;
      writer.send("r", "two");
      writer.send("r", "three");
      await waitFor(() => got.length >= 3 && writer.outboxEntries().length === 0, "all three acked and delivered", 20_000);
      await sleep(300);
      assert.deepEqual(got.map((m) => m.text), ["one", "two", "three"], "in the order written, each once");
    } finally {
      writer.close();
      reader.close();
      await server.close();
    }
  });

  it("a join the store refused is asked again by the client: it gets into the room once the store answers", async () => {
    const store = new FlakyStore();
    const server = await testServer({ store });
    const late = testClient(server.url, "late", { autoConnect: false });
    const host = testClient(server.url, "host");
    const got: ChatMessage[] = [];
    late.on("message", (m) => got.push(m));
    try {
      host.join("r");
      await waitFor(() => host.online("r").length === 1, "host in the room");
      store.down = true;
      late.join("r");
      late.connect();
      await waitFor(() => late.state.kind === "open", "late connected");
      await sleep(500);
      assert.equal(host.online("r").includes("late"), false, "the refused join left no member behind");
      store.down = false;
      await waitFor(() => host.online("r").includes("late"), "late in the room after the store came back", 15_000);
      host.send("r", "welcome");
      await waitFor(() => got.some((m) => m.text === "welcome"), "late receives the room's messages", 15_000);
    } finally {
      late.close();
      host.close();
      await server.close();
    }
  });

  it("an outage refused to many clients at once: each is told, and the log keeps its first store_failed lines and a count of the rest", async () => {
    const store = new FlakyStore();
    const lines: string[] = [];
    const server = await testServer({ store, log: (line) => lines.push(line) });
    const clients: RawClient[] = [];
    try {
      for (let i = 0; i < 60; i++) {
        const raw = await RawClient.hello(server.url, `crowd${i}`);
        raw.send({ type: "join", room: "r" });
        await raw.next("joined");
        clients.push(raw);
      }
      store.down = true;
      for (const [i, raw] of clients.entries()) raw.send({ type: "send", room: "r", id: `m${i}`, text: "during the outage" });
      const refusals = await Promise.all(clients.map((raw, i) => raw.next("error", (m) => m.ref === `m${i}`)));
      assert.ok(refusals.every((r) => r.code === "store_failed"), "every sender is told");
      assert.equal(store.appendIds.length, 60, "every send reached the store");
      const failedLines = lines.filter((l) => l.includes("event=store_failed"));
      // The default budget: 20 at once (one more may come back within the second).
      assert.ok(failedLines.length >= 20 && failedLines.length <= 21, `${failedLines.length} store_failed lines for 60 refusals`);
    } finally {
      for (const raw of clients) raw.close();
      await server.close();
    }
    const report = lines.find((l) => l.includes("event=log_suppressed"));
    assert.ok(report, "the closing server says what it left out");
    const leftOut = Number(/suppressed=\{"store_failed":(\d+)\}/.exec(report)?.[1]);
    assert.equal(leftOut + lines.filter((l) => l.includes("event=store_failed")).length, 60, `each refusal is a line or counted: ${report}`);
  });
});
