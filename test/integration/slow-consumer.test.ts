import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { MemoryStore } from "../../src/store/index.js";
import { testServer } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { fillRoom } from "../support/fill-room.js";
import { waitFor } from "../support/wait.js";
import type { ChatMessage } from "../../src/protocol/messages.js";

const tcpOf = (c: RawClient): Socket => (c.ws as unknown as { _socket: Socket })._socket;

describe("slow consumers", () => {
  it("a client that stops reading is cut, and its socket gets the 4003 close frame", async () => {
    const lines: string[] = [];
    const server = await testServer({ maxBufferedBytes: 64 * 1024, slowConsumerGraceMs: 20_000, rateLimits: false, log: (l) => lines.push(l) }); // the writer floods on purpose
    try {
      const sleeper = await RawClient.hello(server.url, "sleeper");
      sleeper.send({ type: "join", room: "r" });
      await sleeper.next("joined");
      tcpOf(sleeper).pause(); // reads nothing from here on
      const writer = await RawClient.hello(server.url, "writer");
      writer.send({ type: "join", room: "r" });
      await writer.next("joined");
      const text = "z".repeat(4_000);
      // Kernel buffers absorb a few MB first; 4,000 x 4 KB is far more than they hold.
      for (let i = 0; i < 4_000 && !lines.some((l) => l.includes("closed 4003")); i++) {
        writer.send({ type: "send", room: "r", id: `w${i}`, text });
        if (i % 100 === 99) await writer.next("ack", (a) => a.id === `w${i}`);
      }
      await waitFor(() => lines.some((l) => l.includes("sleeper") && l.includes("closed 4003")), "the server to cut the sleeper");
      tcpOf(sleeper).resume(); // wakes up within the grace: reads the backlog, then the close frame
      const closed = await sleeper.waitClosed(20_000);
      assert.equal(closed.code, 4003);
      // The writer, reading normally, was not touched.
      writer.send({ type: "ping", id: 7, sentAt: 1 });
      await writer.next("pong");
      assert.equal(writer.closed, null);
      writer.close();
    } finally {
      await server.close();
    }
  });

  it("a multi-page replay to a fast reader does not count toward the cut", async () => {
    const store = new MemoryStore();
    // A budget far smaller than the replay: the replay's own pages must not trip it.
    const server = await testServer({ store, maxBufferedBytes: 16 * 1024 });
    try {
      await fillRoom(store, "r", 1_000, (i) => `${i} `.padEnd(4_000, "q")); // ~4 MB
      const reader = await RawClient.hello(server.url, "reader");
      reader.send({ type: "join", room: "r", since: 0, epoch: store.epoch });
      const joined = await reader.next("joined");
      assert.equal(joined.recovered, true);
      const seqs = () => [
        ...joined.messages.map((m: ChatMessage) => m.seq),
        ...reader.received.flatMap((m) => (m.type === "message" ? [m.seq] : [])),
      ];
      await waitFor(() => seqs().length === 1_000 || reader.closed, "the whole replay", 30_000);
      assert.equal(reader.closed, null, "the reader was not cut");
      assert.deepEqual(seqs(), Array.from({ length: 1_000 }, (_, i) => i + 1));
      reader.close();
    } finally {
      await server.close();
    }
  });

  it("a reader whose catch-up waits while the room is busy is cut once the frames held for it pass its send budget", async () => {
    const store = new MemoryStore();
    const lines: string[] = [];
    // No stall cut for a minute: a reader that trickles a few bytes now and then never trips it,
    // and the frames the room holds for it until its catch-up is out must still be bounded.
    const server = await testServer({ store, maxBufferedBytes: 64 * 1024, replayStallMs: 60_000, slowConsumerGraceMs: 20_000, maxReplayBytes: 64 * 1024 * 1024, rateLimits: false, log: (l) => lines.push(l) });
    try {
      await fillRoom(store, "r", 4_000, (i) => `${i} `.padEnd(4_000, "h")); // ~16 MB: more than kernel buffers take
      const hoarder = await RawClient.hello(server.url, "hoarder");
      tcpOf(hoarder).pause();
      hoarder.send({ type: "join", room: "r", since: 0, epoch: store.epoch });
      const writer = await RawClient.hello(server.url, "writer");
      writer.send({ type: "join", room: "r" });
      await writer.next("joined");
      const text = "w".repeat(4_000);
      const cut = () => lines.some((l) => l.includes("hoarder") && l.includes("held while its catch-ups waited") && l.includes("closed 4003"));
      // 64 KiB of held frames is 16 of these; 200 (800 KB) without a cut means no bound.
      for (let i = 0; i < 200 && !cut(); i++) {
        writer.send({ type: "send", room: "r", id: `w${i}`, text });
        await writer.next("ack", (a) => a.id === `w${i}`);
      }
      await waitFor(cut, "the server to cut the hoarder for the frames held for it", 5_000);
      tcpOf(hoarder).resume();
      const closed = await hoarder.waitClosed(20_000);
      assert.equal(closed.code, 4003);
      writer.send({ type: "ping", id: 7, sentAt: 1 });
      await writer.next("pong");
      assert.equal(writer.closed, null, "the writer, reading normally, was not touched");
      writer.close();
    } finally {
      await server.close();
    }
  });

  it("a member cut for the frames held for it stays in the room until its connection is gone: its leave never hides another tab of its name", async () => {
    const store = new MemoryStore();
    const lines: string[] = [];
    const server = await testServer({ store, maxBufferedBytes: 64 * 1024, replayStallMs: 60_000, slowConsumerGraceMs: 20_000, maxReplayBytes: 64 * 1024 * 1024, rateLimits: false, log: (l) => lines.push(l) });
    const clients: RawClient[] = [];
    try {
      await fillRoom(store, "r", 4_000, (i) => `${i} `.padEnd(4_000, "h"));
      const lurker = await RawClient.hello(server.url, "lurker");
      const writer = await RawClient.hello(server.url, "writer");
      clients.push(lurker, writer);
      tcpOf(lurker).pause();
      lurker.send({ type: "join", room: "r", since: 0, epoch: store.epoch });
      writer.send({ type: "join", room: "r" });
      await writer.next("joined");
      const cut = () => lines.some((l) => l.includes("lurker") && l.includes("held while its catch-ups waited"));
      for (let i = 0; i < 200 && !cut(); i++) {
        writer.send({ type: "send", room: "r", id: `w${i}`, text: "w".repeat(4_000) });
        await writer.next("ack", (a) => a.id === `w${i}`);
      }
      await waitFor(cut, "the server to cut the lurker for the frames held for it", 5_000);
      // The only other member leaves: the cut connection is still in the room (closing, not gone).
      writer.send({ type: "leave", room: "r" });
      await writer.next("left");
      assert.equal(server.stats().rooms, 1, "the room stays open while a member it cut is not gone");
      // Another tab of the same user joins, then the cut connection goes.
      const tab = await RawClient.hello(server.url, "lurker", lurker.welcome!.token);
      clients.push(tab);
      tab.send({ type: "join", room: "r" });
      await tab.next("joined");
      tcpOf(lurker).resume();
      assert.equal((await lurker.waitClosed(20_000)).code, 4003);
      await waitFor(() => lines.some((l) => l.includes("ended: slow")), "the cut connection to end");
      // The tab reads the room: whoever joins sees it listed.
      const victim = await RawClient.hello(server.url, "victim");
      clients.push(victim);
      victim.send({ type: "join", room: "r" });
      // (The writer's leave may still be on its way in the presence batch: only the tab is asked about.)
      assert.ok((await victim.next("joined")).online.includes("lurker"), "the tab is listed in joined");
      victim.send({ type: "who", room: "r" });
      assert.ok((await victim.next("who")).online.includes("lurker"), "the tab is listed by who");
    } finally {
      for (const c of clients) c.close();
      await server.close();
    }
  });

  it("a client that asks for a replay and stops reading is cut after replayStallMs", async () => {
    const store = new MemoryStore();
    const server = await testServer({ store, replayStallMs: 500, slowConsumerGraceMs: 20_000, maxReplayBytes: 64 * 1024 * 1024 });
    try {
      await fillRoom(store, "r", 4_000, (i) => `${i} `.padEnd(4_000, "s")); // ~16 MB: more than kernel buffers take
      const hoarder = await RawClient.hello(server.url, "hoarder");
      tcpOf(hoarder).pause();
      hoarder.send({ type: "join", room: "r", since: 0, epoch: store.epoch });
      await new Promise((r) => setTimeout(r, 1_500));
      tcpOf(hoarder).resume();
      const closed = await hoarder.waitClosed(20_000);
      assert.equal(closed.code, 4003);
    } finally {
      await server.close();
    }
  });
});
