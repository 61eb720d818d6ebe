import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { MemoryStore } from "../../src/store/index.js";
import { testServer } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { fillRoom } from "../support/fill-room.js";
import { joinOversizedGap } from "../support/oversized-gap.js";
import { waitFor } from "../support/wait.js";
import type { ChatMessage } from "../../src/protocol/messages.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Heap and Buffers (external memory) after forced collections: what the server holds. */
async function heldAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

const PAGE_BYTES = 256 * 1024;

/** Counts the rows the server reads forward (a replay's reads). */
class CountingStore extends MemoryStore {
  rowsReadAfter = 0;
  override async readAfter(room: string, afterSeq: number, limit: number) {
    const rows = await super.readAfter(room, afterSeq, limit);
    this.rowsReadAfter += rows.length;
    return rows;
  }
}
/** A page holds whole messages; one of them may end just past the mark. */
const FRAME_SLACK_BYTES = 32 * 1024;

/** A raw client that also records the size of every frame it receives. */
async function sizedClient(url: string, nick: string): Promise<{ c: RawClient; sizes: number[] }> {
  const c = await RawClient.hello(url, nick);
  const sizes: number[] = [];
  c.ws.on("message", (data: Buffer) => sizes.push(data.length));
  return { c, sizes };
}

/** Every chat message received in a room so far: joined pages, then message frames, in order. */
function seqsReceived(c: RawClient, room: string): number[] {
  const out: number[] = [];
  for (const m of c.received) {
    if (m.type === "joined" && m.room === room) out.push(...m.messages.map((x: ChatMessage) => x.seq));
    if (m.type === "message" && m.room === room) out.push(m.seq);
  }
  return out;
}

describe("paged catch-up", () => {
  it("a replay of several MiB arrives whole and in order, in frames of at most one page", async () => {
    const store = new MemoryStore();
    const server = await testServer({ store });
    try {
      await fillRoom(store, "r", 1, () => "before");
      const { c, sizes } = await sizedClient(server.url, "ada");
      c.send({ type: "join", room: "r" });
      await c.next("joined");
      const since = 1;
      await fillRoom(store, "r", 1_500, (i) => `${i} `.padEnd(4_000, "x")); // ~6 MB behind
      c.send({ type: "leave", room: "r" });
      await c.next("left");
      c.received.length = 0;
      sizes.length = 0;
      c.send({ type: "join", room: "r", since, epoch: store.epoch });
      const joined = await c.next("joined");
      assert.equal(joined.recovered, true);
      await waitFor(() => seqsReceived(c, "r").length >= 1_500, "the whole replay", 30_000);
      assert.deepEqual(seqsReceived(c, "r"), Array.from({ length: 1_500 }, (_, i) => i + 2));
      assert.ok(joined.messages.length < 1_500, "the first page is only a page");
      assert.ok(Math.max(...sizes) <= PAGE_BYTES, `largest frame ${Math.max(...sizes)} bytes`);
      c.close();
    } finally {
      await server.close();
    }
  });

  it("a gap over maxReplayBytes gets recovered: false with the latest page, under one page", async () => {
    const store = new MemoryStore();
    const server = await testServer({ store, maxReplayBytes: 1024 * 1024, historyLimit: 500 });
    try {
      await fillRoom(store, "r", 600, (i) => `${i} `.padEnd(4_000, "y")); // ~2.4 MB
      const { c, sizes } = await sizedClient(server.url, "bob");
      c.send({ type: "join", room: "r", since: 0, epoch: store.epoch });
      const joined = await c.next("joined");
      assert.equal(joined.recovered, false);
      assert.equal(joined.seq, 600);
      assert.equal(joined.messages.at(-1)!.seq, 600, "the latest page");
      assert.ok(joined.messages.length < 500, "cut to a page by bytes, not the 500 asked");
      assert.ok(Math.max(...sizes) <= PAGE_BYTES);
      // History is paged the same way.
      c.send({ type: "history", room: "r", before: joined.messages[0]!.seq, limit: 500 });
      const history = await c.next("history");
      assert.equal(history.hasMore, true);
      assert.ok(Math.max(...sizes) <= PAGE_BYTES + FRAME_SLACK_BYTES);
      assert.equal(history.messages.at(-1)!.seq, joined.messages[0]!.seq - 1);
      c.close();
    } finally {
      await server.close();
    }
  });

  it("a gap whose texts alone exceed maxReplayBytes is refused without reading a row of it", async () => {
    const store = new CountingStore();
    const server = await testServer({ store, maxReplayBytes: 1024 * 1024 });
    try {
      const joined = await joinOversizedGap(server.url, store);
      assert.equal(joined.recovered, false);
      assert.equal(store.rowsReadAfter, 0, "the store's byte count settled it");
    } finally {
      await server.close();
    }
  });

  it("a gap whose texts fit but whose escaped frames do not is still refused", async () => {
    const store = new MemoryStore();
    const server = await testServer({ store, maxReplayBytes: 1024 * 1024 });
    try {
      // 300 x 3,000 control characters: 0.9 MB of text, 5.4 MB once escaped.
      await fillRoom(store, "r", 300, () => "\u0002".repeat(3_000));
      const c = await RawClient.hello(server.url, "dee");
      c.send({ type: "join", room: "r", since: 0, epoch: store.epoch });
      const joined = await c.next("joined");
      assert.equal(joined.recovered, false);
      assert.equal(joined.messages.at(-1)!.seq, 300);
      c.close();
    } finally {
      await server.close();
    }
  });

  it("replays waiting for readers that stopped hold about a page each, not the whole gap", async (t) => {
    const store = new CountingStore();
    // Gaps of 30 MB are allowed here, so that holding them would show.
    const server = await testServer({ store, maxReplayBytes: 64 * 1024 * 1024 });
    const readers: RawClient[] = [];
    try {
      await fillRoom(store, "r", 7_500, (i) => `${i} `.padEnd(4_000, "w")); // 30 MB
      // V8 flattens a concatenated string in place the first time it is serialized: done now,
      // or the store's own texts would count as held by the replays.
      JSON.stringify(await store.readAfter("r", 0, 7_500));
      store.rowsReadAfter = 0;
      // From four addresses: a replay this large takes an address's whole history budget.
      for (let i = 0; i < 4; i++) readers.push(await RawClient.hello(server.url, `slow${i}`, undefined, undefined, `127.0.0.${10 + i}`));
      const before = await heldAfterGc();
      for (const c of readers) {
        c.send({ type: "join", room: "r", since: 0, epoch: store.epoch });
        // Reads nothing more: the replay waits for it, as much as the kernel's buffers allow.
        (c.ws as unknown as { _socket: Socket })._socket.pause();
      }
      // Every gap read through (sized, or built ahead): the four replays are under way.
      await waitFor(() => store.rowsReadAfter >= 4 * 7_500, "the four gaps read", 30_000);
      await new Promise((r) => setTimeout(r, 500));
      const heldMiB = ((await heldAfterGc()) - before) / 2 ** 20;
      t.diagnostic(`four waiting replays of 30 MB hold ${heldMiB.toFixed(1)} MiB`);
      // Built ahead, four replays of 30 MB held over 100 MiB; paged lazily, a few pages each.
      assert.ok(heldMiB < 16, `the waiting replays hold ${heldMiB.toFixed(1)} MiB`);
    } finally {
      for (const c of readers) c.close();
      await server.close();
    }
  });

  it("a reader that drains a replay slowly holds no replay slot while it waits: another member's replay goes ahead", async () => {
    const store = new MemoryStore();
    // One slot, no rate limits, no stall cut: only the slot stands between the two.
    const server = await testServer({ store, maxConcurrentReplays: 1, maxReplayBytes: 64 * 1024 * 1024, replayStallMs: 60_000, rateLimits: false });
    const clients: RawClient[] = [];
    try {
      await fillRoom(store, "big", 4_000, (i) => `${i} `.padEnd(4_000, "b")); // 16 MB: more than kernel buffers take
      await fillRoom(store, "other", 300, (i) => `${i} `.padEnd(4_000, "o")); // 1.2 MB: several pages
      const hoarder = await RawClient.hello(server.url, "hoarder");
      const member = await RawClient.hello(server.url, "member");
      clients.push(hoarder, member);
      hoarder.send({ type: "join", room: "big", since: 0, epoch: store.epoch });
      await hoarder.next("joined");
      (hoarder.ws as unknown as { _socket: Socket })._socket.pause();
      await new Promise((r) => setTimeout(r, 300));
      member.send({ type: "join", room: "other", since: 0, epoch: store.epoch });
      const joined = await member.next("joined");
      assert.equal(joined.recovered, true);
      const seqs = () => [...joined.messages.map((m: ChatMessage) => m.seq), ...member.received.flatMap((m) => (m.type === "message" ? [m.seq] : []))];
      // Before, the hoarder held the slot from its sizing to its last page: this waited for it.
      await waitFor(() => seqs().length === 300, "the member's whole replay while the hoarder waits", 10_000);
      assert.deepEqual(seqs(), Array.from({ length: 300 }, (_, i) => i + 1));
    } finally {
      for (const c of clients) c.close();
      await server.close();
    }
  });

  it("a replay is paid from the history limits before anything is read: when they cannot pay, joined has the latest page and the client pages back", async () => {
    const store = new CountingStore();
    // historyLimit 50: a gap of 1,000 costs 19 history pages beyond the first; 40 per connection, 50 per address.
    const server = await testServer({ store, rateLimits: { history: { perConnection: { perSecond: 0.01, burst: 40 }, perIp: { perSecond: 0.01, burst: 50 } } } });
    const clients: RawClient[] = [];
    try {
      await fillRoom(store, "r", 1_000, (i) => `msg ${i}`);
      const answers: Array<[boolean, number]> = [];
      for (let i = 0; i < 4; i++) {
        const c = await RawClient.hello(server.url, `r${i}`);
        clients.push(c);
        store.rowsReadAfter = 0;
        c.send({ type: "join", room: "r", since: 0, epoch: store.epoch });
        const joined = await c.next("joined");
        answers.push([joined.recovered, store.rowsReadAfter]);
      }
      // Two replays fit the address's 50 (19 each); the third and fourth read nothing forward.
      assert.deepEqual(answers.map(([recovered]) => recovered), [true, true, false, false]);
      assert.deepEqual(answers.slice(2).map(([, rows]) => rows), [0, 0]);
      // A small gap (within one page of history) costs nothing: still replayed.
      const late = clients[3]!;
      late.send({ type: "join", room: "r", since: 990, epoch: store.epoch });
      const small = await late.next("joined", (j) => j.recovered === true);
      assert.deepEqual(small.messages.map((m: ChatMessage) => m.seq), Array.from({ length: 10 }, (_, i) => 991 + i));
    } finally {
      for (const c of clients) c.close();
      await server.close();
    }
  });

  it("join since:0 on 10,000 x 4,000 control characters: no event-loop stall over 50 ms, bounded memory", async () => {
    const store = new MemoryStore();
    const server = await testServer({ store });
    try {
      // Control characters escape to six JSON bytes each: ~240 MB if built as one frame.
      const bomb = "\u0001".repeat(4_000);
      await fillRoom(store, "bomb", 10_000, () => bomb);
      const bystander = await RawClient.hello(server.url, "bystander");
      const attackers = await Promise.all([1, 2, 3].map((i) => RawClient.hello(server.url, `mallory${i}`)));
      const rssBefore = process.memoryUsage().rss;
      const loop = monitorEventLoopDelay({ resolution: 10 });
      loop.enable();
      for (const a of attackers) a.send({ type: "join", room: "bomb", since: 0, epoch: store.epoch });
      for (const a of attackers) {
        const joined = await a.next("joined", () => true, 30_000);
        assert.equal(joined.recovered, false, "over maxReplayBytes: the latest page only");
      }
      bystander.send({ type: "ping", id: 1, sentAt: Date.now() });
      await bystander.next("pong");
      loop.disable();
      const maxStallMs = loop.max / 1e6 - 10;
      const p99StallMs = loop.percentile(99) / 1e6 - 10;
      const rssGrowthMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
      // Built as one frame this stalled 2-3 s. The goal, no stall over 50 ms, is measured by
      // bench:abuse; here the machine may be shared with other busy processes (a full test run
      // on 2 cores preempts us for 100 ms and more), so the bounds only tell seconds from
      // tens of milliseconds.
      assert.ok(p99StallMs < 100, `event loop delay p99 ${p99StallMs.toFixed(1)} ms`);
      assert.ok(maxStallMs < 500, `event loop stalled ${maxStallMs.toFixed(1)} ms`);
      assert.ok(rssGrowthMiB < 128, `RSS grew ${rssGrowthMiB.toFixed(0)} MiB`);
      for (const c of [bystander, ...attackers]) c.close();
    } finally {
      await server.close();
    }
  });
});
