import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { LIVE_MARK_STALE_MS, RedisStore } from "../../src/store/redis-store.js";
import { MESSAGE_OVERHEAD_BYTES, type RetentionOptions } from "../../src/store/retention.js";
import { storeContract, type StoreFixture } from "../support/store-contract.js";
import { RedisServer } from "../support/redis-server.js";
import { joinOversizedGap } from "../support/oversized-gap.js";
import { testServer } from "../support/test-server.js";

/** One redis-server for the file; each fixture gets its own key prefix, so each is a fresh store. */
let redis: RedisServer;
before(async () => {
  redis = await RedisServer.start();
});
after(async () => {
  await redis?.dispose();
});

async function redisFixture(options: RetentionOptions = {}): Promise<StoreFixture> {
  const keyPrefix = `t-${randomUUID()}:`;
  const opened: RedisStore[] = [];
  const open = async (withOptions = options) => {
    const store = await RedisStore.open({ ...withOptions, url: redis.url, keyPrefix });
    opened.push(store);
    return store;
  };
  return {
    store: await open(),
    reopen: open,
    cleanup: async () => {
      for (const store of opened) await store.close();
    },
  };
}

storeContract("RedisStore", redisFixture, { persistent: true });

describe("RedisStore on a real redis-server", () => {
  it("keeps acked appends across a Redis restart (AOF), and refuses appends while Redis is down", async () => {
    const fixture = await redisFixture();
    const store = fixture.store as RedisStore;
    try {
      const base = { room: "a", userId: "u", clientId: "c", from: "ada", text: "kept", ts: 1 };
      const acked = await Promise.all(["1", "2", "3"].map((id) => store.append({ ...base, id })));
      assert.deepEqual(acked.map((r) => r.message.seq), [1, 2, 3]);
      await redis.stop();
      await assert.rejects(store.append({ ...base, id: "4" }));
      await redis.restart();
      const deadline = Date.now() + 20_000;
      let next;
      for (;;) {
        try {
          next = await store.append({ ...base, id: "4" });
          break;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.deepEqual([next.message.seq, next.duplicate], [4, false]);
      assert.deepEqual((await store.readAfter("a", 0, 10)).map((m) => m.seq), [1, 2, 3, 4]);
      const again = await store.append({ ...base, id: "2" });
      assert.deepEqual([again.duplicate, again.message.seq], [true, 2]);
    } finally {
      await fixture.cleanup();
    }
  });

  it("fails an append within the command timeout while Redis is frozen", async () => {
    const keyPrefix = `t-${randomUUID()}:`;
    const store = await RedisStore.open({ url: redis.url, keyPrefix, commandTimeoutMs: 300 });
    try {
      redis.pause();
      const started = Date.now();
      await assert.rejects(store.append({ room: "a", userId: "u", clientId: "c", id: "1", from: "ada", text: "x", ts: 1 }), /timed out/i);
      assert.ok(Date.now() - started < 5_000);
    } finally {
      redis.resume();
      await store.close();
    }
  });

  it("sums a room stored before its byte total was kept, once, so the byte budget holds at once; its entries count what they added", async () => {
    // The four entries an older Pulse wrote added their text (1,000 bytes) and carry no w; new
    // ones add their messageBytes: 1,000 of text and 10 of sender, room and ids.
    const [legacy, current] = [1_000 + MESSAGE_OVERHEAD_BYTES, 1_010 + MESSAGE_OVERHEAD_BYTES];
    const fixture = await redisFixture({ roomOverheadBytes: 0, retainBytesPerRoom: 4 * legacy + 2 * current - legacy });
    const store = fixture.store as RedisStore;
    const key = (name: string) => `${store.keyPrefix}${name}`;
    try {
      const base = { room: "a", userId: "u", clientId: "c", from: "ada", text: "é".repeat(500), ts: 1 };
      // As an older Pulse left it: entries without w (nor the running text count b), no byte total.
      for (const seq of [1, 2, 3, 4]) {
        await store.redis.xadd(key("log:a"), `${seq}-0`, "u", "u", "c", "c", "i", String(seq), "f", "ada", "t", base.text, "ts", "1");
        await store.redis.hset(key("dedupe"), `1:u1:c${seq}`, `${seq}:a`);
      }
      await store.redis.set(key("seq:a"), "4");
      await store.append({ ...base, id: "5" });
      assert.equal(await store.firstSeq("a"), 1, "five fit the budget");
      await store.append({ ...base, id: "6" });
      assert.deepEqual((await store.readAfter("a", 0, 10)).map((m) => m.seq), [2, 3, 4, 5, 6]);
      assert.equal(await store.redis.get(key("bytes:a")), String(3 * 1_000 + 2 * 1_010), "the oldest took off what it had added");
      assert.equal((await store.append({ ...base, id: "2" })).duplicate, true, "the older entries' keys were kept");
    } finally {
      await fixture.cleanup();
    }
  });

  it("moves rooms from the order kept before (least recently written) into the size order, counted once in the total", async () => {
    // Each message: 1,000 bytes of text and 18 of sender, room and ids; "c1" 12.
    const cost = 1_018 + MESSAGE_OVERHEAD_BYTES;
    const cCost = 1_012 + MESSAGE_OVERHEAD_BYTES;
    const fixture = await redisFixture({ roomOverheadBytes: 0, retainBytesPerRoom: 5 * cost, retainBytesTotal: 7 * cost });
    const store = fixture.store as RedisStore;
    const key = (name: string) => `${store.keyPrefix}${name}`;
    try {
      const base = { userId: "u", clientId: "c", from: "ada", text: "é".repeat(500), ts: 1 };
      for (const room of ["old", "new"]) for (const n of [1, 2, 3]) await store.append({ ...base, room, id: `${room}${n}` });
      // As an older Pulse left it: the rooms in P written, scored by an append count; no P sizes.
      await store.redis.del(key("sizes"));
      await store.redis.zadd(key("written"), 1, "old", 2, "new");
      assert.equal(Number(await store.redis.get(key("held"))), 6 * cost);

      await store.append({ ...base, room: "new", id: "new4" });
      assert.equal(Number(await store.redis.get(key("held"))), 7 * cost, "new was counted already: only its fourth message is added");
      assert.equal(await store.redis.exists(key("written")), 0, "both rooms moved");
      assert.equal(Number(await store.redis.zscore(key("sizes"), "old")), 3 * cost);

      await store.append({ ...base, room: "c", id: "c1" }); // over 7: new, the largest, gives up one
      assert.deepEqual((await store.readAfter("new", 0, 10)).map((m) => m.seq), [2, 3, 4]);
      assert.equal((await store.readAfter("old", 0, 10)).length, 3);
      assert.equal(Number(await store.redis.get(key("held"))), 6 * cost + cCost);
    } finally {
      await fixture.cleanup();
    }
  });

  it("pulse restore --redis gives a Redis restored from a snapshot a new epoch, which the next open reads", async () => {
    const before = await RedisStore.open({ url: redis.url });
    const old = before.epoch;
    await before.close();
    const run = spawnSync(process.execPath, ["dist/cli/pulse.js", "restore", "--redis", redis.url], { cwd: fileURLToPath(new URL("../..", import.meta.url)), encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    const after = await RedisStore.open({ url: redis.url });
    try {
      assert.notEqual(after.epoch, old);
      assert.ok(run.stdout.includes(`new epoch ${after.epoch}`), run.stdout);
    } finally {
      await after.close();
    }
  });

  it("a new epoch for lost data is agreed: nodes that find the loss at once adopt one, an epoch set meanwhile stays, the signing secret is written back", async () => {
    const keyPrefix = `t-${randomUUID()}:`;
    const [one, two] = await Promise.all([0, 1].map(() => RedisStore.open({ url: redis.url, keyPrefix })));
    try {
      const old = one!.epoch;
      const secret = Buffer.from(await one!.signingSecret()).toString("hex");
      await two!.signingSecret();
      assert.equal(await one!.epochInRedis(), old);
      // The data is gone, the epoch and the secret with it.
      await one!.redis.del(`${keyPrefix}epoch`, `${keyPrefix}secret`);
      assert.equal(await one!.epochInRedis(), null);
      const [a, b] = await Promise.all([one!.agreeOnNewEpoch(), two!.agreeOnNewEpoch()]);
      assert.equal(a, b, "both got the first one's");
      assert.notEqual(a, old);
      assert.equal(one!.epoch, old, "not adopted by the call");
      one!.adoptEpoch(a);
      // A node that still holds the old epoch gets the one set, not a third.
      assert.equal(await two!.agreeOnNewEpoch(), a);
      // One already on the new epoch that renews again (a later loss) replaces it.
      const later = await one!.agreeOnNewEpoch();
      assert.notEqual(later, a);
      assert.deepEqual([await one!.restoreSigningSecret(), await two!.restoreSigningSecret()], ["restored", "kept"]);
      assert.equal(await one!.redis.get(`${keyPrefix}secret`), secret);
      await one!.redis.set(`${keyPrefix}secret`, "00");
      assert.equal(await two!.restoreSigningSecret(), "differs");
    } finally {
      await Promise.all([one!.close(), two!.close()]);
    }
  });

  it("reports an append or a latest seq below what its watch saw; not a duplicate's seq, nor an answer that comes after a new epoch", async () => {
    const fixture = await redisFixture();
    const store = fixture.store as RedisStore;
    let seen: number | null = null;
    const reports: Array<[string, number, number, string]> = [];
    store.watchSeqs({ seen: () => seen, wentBack: (room, seq, was, call) => reports.push([room, seq, was, call]) });
    try {
      const base = { room: "back", userId: "u", clientId: "c", from: "ada", text: "x", ts: 1 };
      for (const id of ["1", "2", "3", "4"]) await store.append({ ...base, id });
      seen = 4;
      assert.equal(await store.latestSeq("back"), 4);
      assert.equal((await store.append({ ...base, id: "2" })).duplicate, true, "a resend of seq 2");
      assert.deepEqual(reports, [], "nothing below 4 that Redis handed out anew");
      // What a promoted replica that missed seqs 3 and 4 holds.
      await store.redis.set(`${store.keyPrefix}seq:back`, "2");
      await store.redis.xdel(`${store.keyPrefix}log:back`, "3-0", "4-0");
      await store.redis.xsetid(`${store.keyPrefix}log:back`, "2-0");
      assert.equal((await store.append({ ...base, id: "5" })).message.seq, 3);
      assert.equal(await store.latestSeq("back"), 3);
      assert.deepEqual(reports, [["back", 3, 4, "append"], ["back", 3, 4, "latestSeq"]]);
      // Sent before the node moved to a new epoch: `seen` was of the old one.
      const stale = store.latestSeq("back");
      store.adoptEpoch(randomUUID());
      await stale;
      assert.equal(reports.length, 2);
    } finally {
      await fixture.cleanup();
    }
  });

  it("holds a nickname written before use was counted for 24 h from when its owner was last seen, and purges it then", async () => {
    const fixture = await redisFixture();
    const store = fixture.store as RedisStore;
    const day = 24 * 60 * 60 * 1000;
    try {
      // As an older Pulse left them: user, nick and seen, indexed by seen.
      for (const [key, seen] of [["ada", 1000], ["bo", 0]] as const) {
        await store.redis.hset(`${store.keyPrefix}nick:${key}`, "user", `u-${key}`, "nick", key, "seen", seen);
        await store.redis.zadd(`${store.keyPrefix}nicks`, seen, key);
      }
      // A purge before their 24 h are up scores them by their end instead of dropping them.
      assert.equal(await store.purgeNicknames(5_000), 0);
      assert.deepEqual(await store.claimNickname({ key: "ada", nick: "ada", userId: "u9", now: 1000 + day - 1, holdMs: 200 }), { ok: false, ownerId: "u-ada" });
      assert.deepEqual(await store.claimNickname({ key: "bo", nick: "bo", userId: "u-bo", now: day - 1, holdMs: 200 }), { ok: true, usedMs: day });
      assert.equal(await store.purgeNicknames(day + 199), 0);
      assert.equal(await store.purgeNicknames(day + 200), 1, "bo's new hold (200 ms from its claim) ended");
      assert.equal(await store.purgeNicknames(1000 + day), 0);
      assert.equal(await store.purgeNicknames(1000 + day + 1), 1, "ada's legacy hold ended");
      assert.equal(await store.redis.exists(`${store.keyPrefix}nick:ada`), 0);
    } finally {
      await fixture.cleanup();
    }
  });

  it("a user online on two nodes is one spelling on both: one node's release does not end what the other holds", async () => {
    const keyPrefix = `t-${randomUUID()}:`;
    const [one, two] = await Promise.all(["node-1", "node-2"].map((nodeId) => RedisStore.open({ url: redis.url, keyPrefix, nodeId })));
    try {
      const day = 86_400_000;
      const claim = (store: RedisStore, nick: string, now: number) => store.claimNickname({ key: "sp", nick, userId: "u-sp", now, holdMs: day });
      assert.deepEqual(await claim(one!, "Sp", 1_000), { ok: true, usedMs: 0 });
      assert.equal((await claim(two!, "Sp", 2_000)).ok, true, "a second tab, on the other node");
      // The first tab leaves: its node writes the hold its use earned, and that it is not online there.
      await one!.releaseNickname({ key: "sp", nick: "Sp", userId: "u-sp", at: 3_000, usedMs: 2_000, heldUntil: 3_000 + 600_000, online: false });
      assert.equal(Number(await one!.redis.hget(`${keyPrefix}nick:sp`, "until")), 2_000 + day, "the hold stays the one node 2's claim wrote");
      const third = await claim(one!, "SP", 4_000);
      assert.deepEqual(third, { ok: true, usedMs: 2_000, nick: "Sp" }, "still online on node 2: shown as it is there");
      // Both nodes let go: the next tab is shown as it asks.
      for (const [store, at] of [[one!, 5_000], [two!, 6_000]] as const) await store.releaseNickname({ key: "sp", nick: "Sp", userId: "u-sp", at, usedMs: 4_000, heldUntil: at + 600_000, online: false });
      assert.deepEqual(await claim(two!, "SP", 7_000), { ok: true, usedMs: 4_000 });
    } finally {
      await Promise.all([one?.close(), two?.close()]);
    }
  });

  it("a node that went without releasing stops counting once its mark is stale, and its mark is dropped", async () => {
    const keyPrefix = `t-${randomUUID()}:`;
    const [crashed, live] = await Promise.all(["node-gone", "node-live"].map((nodeId) => RedisStore.open({ url: redis.url, keyPrefix, nodeId })));
    try {
      const day = 86_400_000;
      const hash = `${keyPrefix}nick:sp`;
      const claim = (store: RedisStore, nick: string, now: number) => store.claimNickname({ key: "sp", nick, userId: "u-sp", now, holdMs: day });
      assert.equal((await claim(crashed!, "Sp", 1_000)).ok, true, "online through a node that then dies without a word");
      assert.deepEqual(await claim(live!, "SP", 1_000 + LIVE_MARK_STALE_MS - 1), { ok: true, usedMs: 0, nick: "Sp" }, "its mark still counts");
      await live!.releaseNickname({ key: "sp", nick: "Sp", userId: "u-sp", at: 2_000 + LIVE_MARK_STALE_MS, usedMs: 1_000, heldUntil: 2_000 + LIVE_MARK_STALE_MS + 600_000, online: false });
      assert.equal(Number(await live!.redis.hget(hash, "until")), 2_000 + LIVE_MARK_STALE_MS + 600_000, "the release sets the hold its use earned: the dead node no longer keeps it longest");
      assert.equal(await live!.redis.hexists(hash, "live:node-gone"), 0, "the stale mark is gone");
      assert.deepEqual(await claim(live!, "SP", 3_000 + LIVE_MARK_STALE_MS), { ok: true, usedMs: 1_000 }, "shown as asked");
      const fields = await live!.redis.hkeys(hash);
      assert.deepEqual(fields.filter((f) => f.startsWith("live")), ["live:node-live"]);
    } finally {
      await Promise.all([crashed?.close(), live?.close()]);
    }
  });

  it("a server on it refuses a gap whose texts alone exceed maxReplayBytes without reading a row of it", async () => {
    const fixture = await redisFixture();
    const store = fixture.store as RedisStore;
    let rowsReadAfter = 0;
    const readAfter = store.readAfter.bind(store);
    store.readAfter = async (room, afterSeq, limit) => {
      const rows = await readAfter(room, afterSeq, limit);
      rowsReadAfter += rows.length;
      return rows;
    };
    const server = await testServer({ store, maxReplayBytes: 1024 * 1024 });
    try {
      const joined = await joinOversizedGap(server.url, store);
      assert.equal(joined.recovered, false);
      assert.equal(rowsReadAfter, 0, "the running byte counts settled it");
    } finally {
      await server.close();
      await fixture.cleanup();
    }
  });

  it("counts a range's text bytes only over entries that carry the running count; older entries answer null", async () => {
    const fixture = await redisFixture();
    const store = fixture.store as RedisStore;
    try {
      const log = `${store.keyPrefix}log:a`;
      // As an older Pulse left it: entries without the running count, the room's seq and bytes.
      for (const seq of [1, 2]) await store.redis.xadd(log, `${seq}-0`, "u", "u", "c", "c", "i", `old${seq}`, "f", "ada", "t", "abc", "ts", "1");
      await store.redis.set(`${store.keyPrefix}seq:a`, "2");
      await store.redis.set(`${store.keyPrefix}bytes:a`, "6");
      const base = { room: "a", userId: "u", clientId: "c", from: "ada", ts: 1 };
      await store.append({ ...base, id: "3", text: "日本" });
      await store.append({ ...base, id: "4", text: "x" });
      assert.equal(await store.textBytesBetween("a", 0, 4), null, "the range starts among older entries");
      assert.equal(await store.textBytesBetween("a", 1, 4), null);
      assert.equal(await store.textBytesBetween("a", 2, 4), 7, "seq 3 and 4: 6 + 1 bytes");
      assert.equal(await store.textBytesBetween("a", 3, 4), 1);
      assert.equal(await store.textBytesBetween("a", 2, 3), 6);
    } finally {
      await fixture.cleanup();
    }
  });
});
