import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { testServer, testClient } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { sleep, waitFor } from "../support/wait.js";
import WebSocket from "ws";
import type { WebSocketFactory } from "../../src/client/index.js";

/** `n` raw clients named p00, p01, ... each in `room`; resolves once all are joined. */
async function crowd(url: string, room: string, n: number, prefix = "p"): Promise<RawClient[]> {
  const clients = await Promise.all(Array.from({ length: n }, (_, i) => RawClient.hello(url, `${prefix}${String(i).padStart(2, "0")}`)));
  for (const c of clients) c.send({ type: "join", room });
  await Promise.all(clients.map((c) => c.next("joined")));
  return clients;
}

describe("online list: a count and pages, so filling a room costs O(n)", () => {
  it("joined above onlineListMax carries the count and the first page; who pages through the rest", async () => {
    const server = await testServer({ onlineListMax: 4 });
    const members = await crowd(server.url, "big", 9);
    try {
      await sleep(100); // the presence batch went out: lists are fresh
      const late = await RawClient.hello(server.url, "zz-late");
      late.send({ type: "join", room: "big" });
      const joined = await late.next("joined");
      assert.equal(joined.onlineCount, 10);
      assert.deepEqual(joined.online, ["p00", "p01", "p02", "p03"], "the first page in code-unit order");

      const seen: string[] = [];
      let after: string | undefined;
      for (let page = 0; page < 5; page++) {
        late.received.length = 0;
        late.send({ type: "who", room: "big", ...(after ? { after } : {}) });
        const who = await late.next("who");
        assert.ok(who.online.length <= 4);
        seen.push(...who.online);
        after = who.online.at(-1);
        if (!who.more) break;
      }
      assert.deepEqual(seen, [...members.map((_, i) => `p${String(i).padStart(2, "0")}`), "zz-late"].sort());

      late.received.length = 0;
      late.send({ type: "who", room: "big", after: "p07", limit: 1 });
      const one = await late.next("who");
      assert.deepEqual([one.online, one.more, one.count], [["p08"], true, 10]);
      late.close();
    } finally {
      for (const m of members) m.close();
      await server.close();
    }
  });

  it("a small room gets names and the count in presence; a large one only its count, at most every largeRoomPresenceMs", async () => {
    const server = await testServer({ onlineListMax: 3, largeRoomPresenceMs: 400, presenceBatchMs: 20 });
    const watcher = await RawClient.hello(server.url, "watcher");
    const others: RawClient[] = [];
    try {
      watcher.send({ type: "join", room: "r" });
      await watcher.next("joined");
      others.push(...(await crowd(server.url, "r", 2, "a")));
      await waitFor(() => watcher.received.some((m) => m.type === "presence" && m.count === 3), "count 3");
      const small = watcher.received.filter((m) => m.type === "presence");
      assert.ok(small.every((m) => m.type === "presence" && m.changes.length > 0), "names while at most onlineListMax");

      watcher.received.length = 0;
      const startedAt = Date.now();
      // Six more arrive one by one over about a second: the room is large from the first.
      for (let i = 0; i < 6; i++) {
        others.push(...(await crowd(server.url, "r", 1, `b${i}-`)));
        await sleep(150);
      }
      await waitFor(() => watcher.received.some((m) => m.type === "presence" && m.count === 9), "count 9", 3_000);
      const large = watcher.received.filter((m) => m.type === "presence");
      assert.ok(large.every((m) => m.type === "presence" && m.changes.length === 0), "no names in a large room");
      const elapsed = Date.now() - startedAt;
      assert.ok(large.length <= Math.ceil(elapsed / 400) + 1, `${large.length} count frames in ${elapsed} ms`);
    } finally {
      watcher.close();
      for (const o of others) o.close();
      await server.close();
    }
  });

  it("a large room counts a lone arrival after presenceBatchMs, and still sends at most one count per largeRoomPresenceMs", async () => {
    const server = await testServer({ onlineListMax: 3, largeRoomPresenceMs: 1_500, presenceBatchMs: 20 });
    const watcher = await RawClient.hello(server.url, "watcher");
    const counts: Array<{ count: number; at: number }> = [];
    watcher.ws.on("message", (data) => {
      const m = JSON.parse(String(data)) as { type: string; count?: number };
      if (m.type === "presence") counts.push({ count: m.count!, at: Date.now() });
    });
    const countSeen = (n: number) => counts.find((c) => c.count === n);
    const others: RawClient[] = [];
    try {
      watcher.send({ type: "join", room: "r" });
      await watcher.next("joined");
      others.push(...(await crowd(server.url, "r", 4)));
      await waitFor(() => countSeen(5), "count 5", 5_000);
      await sleep(1_600); // a quiet interval: the next arrival may be counted at once

      const started = Date.now();
      others.push(...(await crowd(server.url, "r", 1, "lone")));
      const six = await waitFor(() => countSeen(6), "count 6", 5_000);
      // A window fixed at the interval took 1,500 ms; 20 ms of quiet take far less, even on a loaded machine.
      assert.ok(six.at - started < 1_000, `the lone arrival was counted after ${six.at - started} ms`);

      others.push(...(await crowd(server.url, "r", 1, "next")));
      const seven = await waitFor(() => countSeen(7), "count 7", 5_000);
      // Timers never fire early: the next count frame waits for the interval after the previous one.
      assert.ok(seven.at - six.at >= 1_400, `a second count frame ${seven.at - six.at} ms after the first`);
    } finally {
      watcher.close();
      for (const o of others) o.close();
      await server.close();
    }
  });

  it("who is for members only and bounds its cursor", async () => {
    const server = await testServer();
    const c = await RawClient.hello(server.url, "ada");
    try {
      c.send({ type: "who", room: "elsewhere" });
      assert.equal((await c.next("error")).code, "not_in_room");
      c.send({ type: "join", room: "here" });
      await c.next("joined");
      c.received.length = 0;
      c.send({ type: "who", room: "here", after: "x".repeat(257) });
      assert.equal((await c.next("error")).code, "bad_message");
      c.send({ type: "who", room: "here" });
      const who = await c.next("who");
      assert.deepEqual([who.online, who.count, who.more], [["ada"], 1, false]);
    } finally {
      c.close();
      await server.close();
    }
  });

  it("the client library shows the count in a large room and the whole list again once it is small", async () => {
    const server = await testServer({ onlineListMax: 3, largeRoomPresenceMs: 200, presenceBatchMs: 20 });
    const c = testClient(server.url, "ada");
    const crowdOf: RawClient[] = [];
    try {
      c.join("r");
      await waitFor(() => c.state.kind === "open" && c.onlineCount("r") === 1, "joined");
      crowdOf.push(...(await crowd(server.url, "r", 5)));
      await waitFor(() => c.onlineCount("r") === 6, "count 6", 3_000);
      assert.ok(c.online("r").length < 6, "names are a sample in a large room");
      // The room shrinks below the threshold: presence carries names again, ada's sample
      // disagrees with the count, and the client asks `who` for the whole list.
      for (const m of crowdOf.splice(0, 4)) m.close();
      await waitFor(() => c.onlineCount("r") === 2, "count 2", 3_000);
      await waitFor(() => c.online("r").sort().join() === ["ada", "p04"].join(), `the whole list (have ${c.online("r")})`, 3_000);
      crowdOf.push(...(await crowd(server.url, "r", 1, "late")));
      await waitFor(() => c.online("r").sort().join() === ["ada", "late00", "p04"].join(), `the whole list (have ${c.online("r")})`, 3_000);
      assert.equal(c.onlineCount("r"), 3);
    } finally {
      c.close();
      for (const m of crowdOf) m.close();
      await server.close();
    }
  });

  it("the client library asks again for a large room's sample of names when its count moves, at most once per onlineSampleRefreshMs, and at its due time if it moved before", async () => {
    const server = await testServer({ onlineListMax: 3, largeRoomPresenceMs: 200, presenceBatchMs: 20 });
    // Counts the `who` requests the client sends.
    let whoSent = 0;
    class CountingSocket extends WebSocket {
      override send(data: unknown, ...rest: unknown[]): void {
        if (String(data).includes('"type":"who"')) whoSent++;
        (super.send as (...args: unknown[]) => void)(data, ...rest);
      }
    }
    const crowdOf = await crowd(server.url, "r", 5);
    const c = testClient(server.url, "ada", { onlineSampleRefreshMs: 1_500, WebSocket: CountingSocket as unknown as WebSocketFactory });
    try {
      c.join("r");
      await waitFor(() => c.onlineCount("r") === 6, "joined");
      assert.deepEqual(c.online("r").sort(), ["p00", "p01", "p02"], "the first page of names, as of the last presence batch");
      // A count frame came (ada's own arrival): her sample is asked for again once due (1.5-2.25 s).
      await waitFor(() => c.online("r").includes("ada"), `a fresh sample (have ${c.online("r")})`, 4_000);
      assert.deepEqual(c.online("r").sort(), ["ada", "p00", "p01"]);
      assert.equal(whoSent, 1);
      // p00 leaves within the refresh period: the count moves, the sample waits its turn...
      crowdOf[0]!.close();
      await waitFor(() => c.onlineCount("r") === 5, "count 5", 3_000);
      await sleep(100);
      assert.equal(whoSent, 1, "no second `who` within onlineSampleRefreshMs");
      assert.ok(c.online("r").includes("p00"), "the sample lags within its bound");
      // ...and is asked for at its due time, though nothing changed since.
      await waitFor(() => !c.online("r").includes("p00"), `p00 gone from the sample (have ${c.online("r")})`, 4_000);
      assert.deepEqual(c.online("r").sort(), ["ada", "p01", "p02"]);
      assert.equal(whoSent, 2);
      // A count that does not move asks nothing.
      await sleep(2_500);
      assert.equal(whoSent, 2, "no `who` while the count stays");
    } finally {
      c.close();
      for (const m of crowdOf) m.close();
      await server.close();
    }
  });
});
