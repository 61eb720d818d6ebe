import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { testServer, testClient } from "../support/test-server.js";
import { GateProxy } from "../support/gate-proxy.js";
import { waitFor } from "../support/wait.js";
import type { OutboxEntry } from "../../src/client/types.js";
import type { PulseClient } from "../../src/client/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { fillRoom } from "../support/fill-room.js";

/** Every seq the app saw in `room`, through any event. */
function seen(c: PulseClient, room: string): Set<number> {
  const seqs = new Set<number>();
  c.on("message", (m) => m.room === room && seqs.add(m.seq));
  c.on("joined", (e) => e.room === room && e.messages.forEach((m) => seqs.add(m.seq)));
  c.on("history", (e) => e.room === room && e.messages.forEach((m) => seqs.add(m.seq)));
  return seqs;
}

/** A memory store whose next forward read fails once the test arms it: a store error in the middle of a replay, after its `joined` went out. */
class MidReplayFailingStore extends MemoryStore {
  armed = false;
  failed = false;
  override async readAfter(room: string, afterSeq: number, limit: number) {
    if (this.armed && !this.failed) {
      this.failed = true;
      throw new Error("store unreachable");
    }
    return super.readAfter(room, afterSeq, limit);
  }
}

/** `c` and `bob` in room "r", and bob's first message (seq 1) seen by `c`. */
async function inRoomWithBob(c: PulseClient, bob: PulseClient, seqs: Set<number>): Promise<void> {
  c.join("r");
  bob.join("r");
  await waitFor(() => c.online("r").includes("bob"), "both in the room");
  bob.send("r", "before");
  await waitFor(() => seqs.has(1), "the first message");
}

const missing = (seqs: Set<number>, upTo: number): number[] => Array.from({ length: upTo }, (_, i) => i + 1).filter((seq) => !seqs.has(seq));

describe("the client library loses nothing around a rejoin", () => {
  it("a message queued for a room whose rejoin is refused for its rate goes out once the room is joined again", { timeout: 30_000 }, async () => {
    // Joins of the address: 4 at once, then one every 2 s. Three rooms take three; after the
    // reconnect one join gets through and two are refused with rate_limited.
    const server = await testServer({ rateLimits: { membership: { perConnection: { perSecond: 100, burst: 100 }, perIp: { perSecond: 0.5, burst: 4 } } } });
    const gate = await new GateProxy(server.port).start();
    const c = testClient(`ws://127.0.0.1:${gate.port}`, "ada", { backoff: { baseMs: 50, capMs: 200 } });
    const last = new Map<string, OutboxEntry>();
    c.on("outbox", (e) => last.set(e.id, e));
    const refusals: string[] = [];
    c.on("error", (e) => refusals.push(e.code));
    try {
      await waitFor(() => c.state.kind === "open", "open");
      const joined = new Set<string>();
      c.on("joined", (e) => joined.add(e.room));
      for (const room of ["a", "b", "c"]) c.join(room);
      await waitFor(() => joined.size === 3, "in three rooms");
      gate.down = true;
      gate.cutAll();
      await waitFor(() => c.state.kind !== "open", "the link is gone");
      const ids = ["a", "b", "c"].map((room) => c.send(room, `queued for ${room}`).id);
      gate.down = false;
      await waitFor(() => ids.every((id) => last.get(id)?.status !== "pending"), "every queued message settled", 20_000);
      assert.deepEqual(ids.map((id) => last.get(id)!.status), ["sent", "sent", "sent"], `refusals seen: ${refusals.join(", ")}`);
    } finally {
      c.close();
      await gate.close();
      await server.close();
    }
  });

  it("a message for a room whose join is refused for good fails with the refusal's reason, not left waiting", { timeout: 30_000 }, async () => {
    const server = await testServer({ maxRooms: 1 });
    const c = testClient(server.url, "ada");
    const last = new Map<string, OutboxEntry>();
    c.on("outbox", (e) => last.set(e.id, e));
    try {
      await waitFor(() => c.state.kind === "open", "open");
      c.join("a");
      c.join("b");
      const { id } = c.send("b", "to a room it may not join");
      await waitFor(() => last.get(id)?.status === "failed", "the message failed", 10_000);
      assert.match(last.get(id)!.error ?? "", /at most 1 rooms/);
    } finally {
      c.close();
      await server.close();
    }
  });

  for (const variant of ["a second gap opens while the first is paged back", "the app pages back on its own meanwhile"] as const) {
    it(`after gaps too large to replay, every message is fetched: ${variant}`, { timeout: 60_000 }, async () => {
      const store = new MemoryStore();
      // Gaps of more than 50 messages are not replayed: joined says recovered: false.
      const server = await testServer({ store, maxReplay: 50, rateLimits: false });
      const gate = await new GateProxy(server.port).start();
      const c = testClient(`ws://127.0.0.1:${gate.port}`, "ada", { backoff: { baseMs: 20, capMs: 100 } });
      const seqs = seen(c, "r");
      let rejoins = 0;
      c.on("joined", (e) => !e.first && !e.recovered && rejoins++);
      const cut = async () => {
        gate.down = true;
        gate.cutAll();
        await waitFor(() => c.state.kind !== "open", "the link is gone");
      };
      try {
        await fillRoom(store, "r", 10, (i) => `before ${i}`);
        c.join("r");
        await waitFor(() => seqs.size === 10, "the first page");
        await cut();
        await fillRoom(store, "r", 3_000, (i) => `first gap ${i}`);
        gate.down = false;
        await waitFor(() => rejoins === 1, "the rejoin that could not replay");
        if (variant === "the app pages back on its own meanwhile") c.loadOlder("r", 60);
        else {
          // Cut again while the first gap is paged back, and a second gap opens.
          await cut();
          await fillRoom(store, "r", 600, (i) => `second gap ${i}`);
          gate.down = false;
        }
        const latest = variant === "the app pages back on its own meanwhile" ? 3_010 : 3_610;
        await waitFor(() => missing(seqs, latest).length === 0, `every message up to ${latest} (missing ${missing(seqs, latest).length})`, 30_000);
      } finally {
        c.close();
        await gate.close();
        await server.close();
      }
    });
  }

  it("a replay the store fails after its joined: the client joins again from the last message it has, and misses nothing, live messages included", { timeout: 60_000 }, async () => {
    const store = new MidReplayFailingStore();
    const server = await testServer({ store, rateLimits: false });
    const gate = await new GateProxy(server.port).start();
    const c = testClient(`ws://127.0.0.1:${gate.port}`, "ada", { backoff: { baseMs: 20, capMs: 100 } });
    const bob = testClient(server.url, "bob");
    const seqs = seen(c, "r");
    const joins: boolean[] = [];
    c.on("joined", (e) => {
      joins.push(e.recovered);
      // Armed when the replay's joined reaches the app: its later pages are still to be read.
      if (e.recovered) store.armed = true;
    });
    try {
      await inRoomWithBob(c, bob, seqs);
      gate.down = true;
      gate.cutAll();
      await waitFor(() => c.state.kind !== "open", "the link is gone");
      // About 7 MB behind: a replay of many pages (each about 256 KiB).
      await fillRoom(store, "r", 1_800, (i) => `${i} `.padEnd(4_000, "x"));
      gate.down = false;
      await waitFor(() => store.failed, "a page of the replay failed to read (the whole replay went out before it was armed otherwise)", 20_000);
      assert.ok(missing(seqs, 1_801).length > 0, "the failure came before the replay's end");
      await waitFor(() => missing(seqs, 1_801).length === 0, `the rest of the gap (missing ${missing(seqs, 1_801).length})`, 20_000);
      bob.send("r", "after");
      await waitFor(() => seqs.has(1_802), "a live message after the failure reaches the client", 10_000);
      assert.deepEqual(joins.slice(0, 1), [false], "the first join");
      assert.ok(joins.filter((r) => r).length >= 2, `joined again, resumed (${JSON.stringify(joins)})`);
    } finally {
      c.close();
      bob.close();
      await gate.close();
      await server.close();
    }
  });

  it("a replay the store fails while a gap of the same room is paged back: the client joins again and pages on, and misses nothing", { timeout: 60_000 }, async () => {
    const store = new MidReplayFailingStore();
    // A gap of more than 2,000 is paged back (recovered: false); one under it is replayed.
    const server = await testServer({ store, maxReplay: 2_000, rateLimits: false });
    const gate = await new GateProxy(server.port).start();
    const c = testClient(`ws://127.0.0.1:${gate.port}`, "ada", { backoff: { baseMs: 20, capMs: 100 } });
    const bob = testClient(server.url, "bob");
    const seqs = seen(c, "r");
    const cut = () => {
      gate.down = true;
      gate.cutAll();
    };
    let rejoins = 0;
    c.on("joined", (e) => {
      if (e.first) return;
      rejoins++;
      // The first rejoin could not replay: cut at once, so its gap is still open (not one page of it asked back).
      if (rejoins === 1) cut();
      // The second replays: armed when its joined reaches the app, so a later page of it fails.
      if (rejoins === 2 && e.recovered) store.armed = true;
    });
    try {
      await inRoomWithBob(c, bob, seqs);
      cut();
      await waitFor(() => c.state.kind !== "open", "the link is gone");
      await fillRoom(store, "r", 3_000, (i) => `paged back ${i}`);
      gate.down = false;
      await waitFor(() => rejoins === 1 && c.state.kind !== "open", "the rejoin that could not replay, then the link cut again");
      await fillRoom(store, "r", 1_800, (i) => `${i} `.padEnd(4_000, "x"));
      gate.down = false;
      await waitFor(() => store.failed, "a page of the replay failed to read", 20_000);
      await waitFor(() => missing(seqs, 4_801).length === 0, `every message (missing ${missing(seqs, 4_801).length})`, 30_000);
      bob.send("r", "after");
      await waitFor(() => seqs.has(4_802), "a live message after the failure reaches the client", 10_000);
    } finally {
      c.close();
      bob.close();
      await gate.close();
      await server.close();
    }
  });
});
