import { describe, it } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { ServerProcess } from "../support/server-process.js";
import { BlackHoleProxy } from "../support/black-hole-proxy.js";
import { testClient, FAST_LIVENESS } from "../support/test-server.js";
import { waitFor, sleep } from "../support/wait.js";
import type { PulseClient } from "../../src/client/pulse-client.js";

const ROOM = "chaos";
const SENDERS = ["ann", "ben", "cat"];
const TOTAL = 10_000;
const BREAKS = 50;

describe("chat that loses nothing", () => {
  it(`${TOTAL} messages from ${SENDERS.length} senders through ${BREAKS} broken links: 0 lost, 0 duplicated, order kept`, { timeout: 600_000 }, async () => {
    const server = await ServerProcess.start({ liveness: FAST_LIVENESS, checkMs: 100, args: ["--quiet", "--no-rate-limits"] }); // 10,000 messages in seconds: far over any sane rate limit
    const proxies: BlackHoleProxy[] = [];
    const clients: PulseClient[] = [];
    try {
      const nicks = [...SENDERS, "reader"];
      const timelines = new Map<string, string[]>();
      for (const nick of nicks) {
        const proxy = await new BlackHoleProxy(server.port).start();
        proxies.push(proxy);
        const c = testClient(`ws://127.0.0.1:${proxy.port}`, nick, { backoff: { baseMs: 50, capMs: 400 }, outboxLimit: TOTAL });
        const timeline: string[] = [];
        timelines.set(nick, timeline);
        c.on("joined", (e) => {
          // Every rejoin must resume; a reset view would hide losses, so it fails the test.
          if (!e.first) assert.equal(e.recovered, true, `${nick} rejoined without recovery`);
          else timeline.push(...e.messages.map((m) => `${m.from}:${m.text}`));
        });
        c.on("message", (m) => timeline.push(`${m.from}:${m.text}`));
        c.join(ROOM);
        clients.push(c);
      }
      await waitFor(() => clients.every((c) => c.online(ROOM).length === nicks.length), "everyone in the room", 20_000);

      // Senders keep a window of unacked messages; the outbox resends across every break.
      const perSender = Math.ceil(TOTAL / SENDERS.length);
      const counts = SENDERS.map((_, i) => (i < SENDERS.length - 1 ? perSender : TOTAL - perSender * (SENDERS.length - 1)));
      const done = SENDERS.map((nick, i) => new Promise<void>((resolve) => {
        const c = clients[i]!;
        let sent = 0;
        let acked = 0;
        const next = () => sent < counts[i]! && c.send(ROOM, `${nick}-${sent++}`);
        c.on("outbox", (e) => {
          if (e.status !== "sent") return;
          acked++;
          next();
          if (acked === counts[i]) resolve();
        });
        for (let k = 0; k < 20; k++) next();
      }));

      // The chaos: black holes (silent), resets (RST), SIGKILL and SIGTERM restarts.
      const kinds: string[] = [];
      for (let b = 0; b < BREAKS; b++) {
        const kind = b % 10 === 4 ? "sigkill" : b % 10 === 9 ? "sigterm" : b % 2 === 0 ? "blackhole" : "reset";
        kinds.push(kind);
        const proxy = proxies[b % proxies.length]!;
        if (kind === "blackhole") {
          proxy.blackHole();
          await sleep(FAST_LIVENESS.timeoutMs + 300);
          proxy.heal();
        } else if (kind === "reset") {
          proxy.heal(); // cuts every connection through it at once
        } else if (kind === "sigkill") {
          await server.restart();
        } else {
          await server.stop();
          await server.restart();
        }
        await sleep(150);
      }
      await Promise.all(done);
      await waitFor(() => nicks.every((n) => timelines.get(n)!.length >= TOTAL), "every client to see every message", 120_000);

      const expected = new Map(SENDERS.map((nick, i) => [nick, Array.from({ length: counts[i]! }, (_, k) => `${nick}:${nick}-${k}`)]));
      for (const [nick, timeline] of timelines) {
        assert.equal(timeline.length, TOTAL, `${nick} saw ${timeline.length} messages`);
        assert.equal(new Set(timeline).size, TOTAL, `${nick} saw duplicates`);
        for (const [sender, want] of expected) {
          assert.deepEqual(timeline.filter((t) => t.startsWith(`${sender}:`)), want, `${nick}'s view of ${sender}'s order`);
        }
      }
      assert.deepEqual(timelines.get("ann"), timelines.get("reader"), "one order for everyone");

      for (const c of clients) c.close();
      await server.stop();
      const db = new Database(server.storePath, { readonly: true });
      const rows = db.prepare("SELECT * FROM messages WHERE room = ? ORDER BY seq").all(ROOM) as Array<Record<string, unknown>>;
      db.close();
      assert.equal(rows.length, TOTAL, "rows in the database");
      assert.deepEqual(rows.map((r) => r.seq), Array.from({ length: TOTAL }, (_, i) => i + 1), "gap-free sequence");
      for (const [sender, want] of expected) {
        assert.deepEqual(rows.filter((r) => r.sender === sender).map((r) => `${sender}:${r.text}`), want, `${sender}'s rows in order`);
      }
      assert.equal(kinds.length, BREAKS);
    } finally {
      for (const c of clients) c.close();
      for (const p of proxies) await p.close();
      await server.dispose();
    }
  });
});
