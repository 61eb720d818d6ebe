import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { DataLossGuard, type EpochStore } from "../../src/server/data-loss-guard.js";
import type { EpochChange } from "../../src/server/broker.js";

/** A store whose Redis answers as the test says: `held` is P epoch, `agreed` what the renewal script answers. */
function fakeStore(held: string | null, agreed: () => Promise<string>) {
  const calls = { reads: 0, renewals: 0, secrets: 0 };
  let epoch = "old";
  const store: EpochStore & { held: string | null } = {
    held,
    get epoch() {
      return epoch;
    },
    async epochInRedis() {
      calls.reads++;
      return store.held;
    },
    async agreeOnNewEpoch() {
      calls.renewals++;
      return agreed();
    },
    adoptEpoch(e: string) {
      epoch = e;
    },
    async restoreSigningSecret() {
      calls.secrets++;
      return "restored" as const;
    },
  };
  return { store, calls };
}

function guardOn(store: EpochStore) {
  const changes: EpochChange[] = [];
  const lines: string[] = [];
  const guard = new DataLossGuard(store, (line) => lines.push(line), (change) => changes.push(change));
  return { guard, changes, lines };
}

describe("DataLossGuard", () => {
  it("renews nothing while Redis holds this node's epoch", async () => {
    const { store, calls } = fakeStore("old", async () => "new");
    const { guard, changes } = guardOn(store);
    await guard.check("heartbeat");
    await guard.check("heartbeat");
    assert.deepEqual([calls.reads, calls.renewals, changes.length, store.epoch], [2, 0, 0, "old"]);
  });

  it("an epoch gone: renews once though checks and a seq report come together, writes the secret back, adopts what Redis agreed, then tells", async () => {
    let answer = () => {};
    const { store, calls } = fakeStore(null, () => new Promise<string>((r) => (answer = () => r("agreed"))));
    const { guard, changes, lines } = guardOn(store);
    const checks = Promise.all([guard.check("heartbeat"), guard.check("the link to Redis came back")]);
    await new Promise((r) => setImmediate(r));
    // While the renewal waits for Redis.
    guard.seqWentBack("lobby", 3, 9, "append");
    answer();
    await checks;
    assert.equal(calls.reads, 1, "the two checks shared one read");
    assert.equal(calls.renewals, 1, "one renewal");
    assert.equal(calls.secrets, 1);
    assert.equal(store.epoch, "agreed");
    assert.deepEqual(changes.map((c) => [c.previous, c.epoch, c.cause]), [["old", "agreed", "epoch_missing"]]);
    assert.ok(lines.some((l) => l.includes("holds no epoch")));
    // Redis now holds the adopted epoch: the next check finds nothing.
    store.held = "agreed";
    await guard.check("heartbeat");
    assert.equal(changes.length, 1);
  });

  it("another epoch in Redis (another node renewed first): adopts it as epoch_changed", async () => {
    const { store } = fakeStore("theirs", async () => "theirs");
    const { guard, changes } = guardOn(store);
    await guard.check("heartbeat");
    assert.deepEqual(changes.map((c) => [c.epoch, c.cause]), [["theirs", "epoch_changed"]]);
    assert.equal(store.epoch, "theirs");
  });

  it("a seq gone back is renewed from, and asked again until Redis answers: that proof may not come twice", async () => {
    let failures = 2;
    const { store, calls } = fakeStore("old", async () => {
      if (failures-- > 0) throw new Error("Connection is closed.");
      return "fresh";
    });
    const { guard, changes } = guardOn(store);
    guard.seqWentBack("lobby", 6, 8, "latestSeq");
    const deadline = Date.now() + 10_000;
    while (changes.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(calls.renewals, 3);
    assert.deepEqual(changes.map((c) => [c.epoch, c.cause]), [["fresh", "seq_went_back"]]);
    assert.match(changes[0]!.detail, /"lobby" with seq 6, after this node had delivered seq 8/);
  });

  it("stopped (the node is closing): a renewal in flight neither adopts nor tells", async () => {
    let answer = (_: string) => {};
    const { store } = fakeStore(null, () => new Promise<string>((r) => (answer = r)));
    const { guard, changes } = guardOn(store);
    const checked = guard.check("heartbeat");
    await new Promise((r) => setImmediate(r));
    guard.stop();
    answer("late");
    await checked;
    assert.deepEqual([changes.length, store.epoch], [0, "old"]);
  });
});
