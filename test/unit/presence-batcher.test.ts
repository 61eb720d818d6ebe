import { describe, it, mock, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { PresenceBatcher, type BatchTiming } from "../../src/server/presence-batcher.js";
import type { PresenceChange } from "../../src/protocol/messages.js";

const join = (nick: string): PresenceChange => ({ event: "join", nick });

/** A batcher on mocked time; each publish is recorded with the time it went out. */
function recorder(): { batcher: PresenceBatcher; sent: Array<{ at: number; nicks: string[] }> } {
  const sent: Array<{ at: number; nicks: string[] }> = [];
  return { batcher: new PresenceBatcher((_room, changes) => sent.push({ at: Date.now(), nicks: changes.map((c) => c.nick) })), sent };
}

describe("PresenceBatcher timing", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setTimeout", "Date"], now: 100_000 }));
  afterEach(() => mock.timers.reset());

  const small: BatchTiming = { quietMs: 50, maxWaitMs: 50, notBefore: 0 };
  // A large room whose previous count frame went out long ago.
  const largeAfterQuiet = (lastSentAt: number): BatchTiming => ({ quietMs: 50, maxWaitMs: 1_000, notBefore: lastSentAt + 1_000 });

  it("a small room's batch goes out presenceBatchMs after its first change, however many follow", () => {
    const { batcher, sent } = recorder();
    batcher.add("r", join("a"), small);
    mock.timers.tick(30);
    batcher.add("r", join("b"), small);
    mock.timers.tick(20);
    assert.deepEqual(sent, [{ at: 100_050, nicks: ["a", "b"] }]);
  });

  it("a lone change in a large room goes out once changes pause, not an interval later", () => {
    const { batcher, sent } = recorder();
    batcher.add("big", join("a"), largeAfterQuiet(0));
    mock.timers.tick(50);
    assert.deepEqual(sent, [{ at: 100_050, nicks: ["a"] }]);
  });

  /** Joins every 10 ms for `burstMs` into a large room, then 2 s of quiet; the batches' times from the start. */
  function fill(burstMs: number): { times: number[]; changes: number } {
    const { batcher, sent } = recorder();
    let lastSentAt = 0;
    for (let t = 0; t < burstMs; t += 10) {
      batcher.add("big", join(`n${t}`), largeAfterQuiet(lastSentAt));
      mock.timers.tick(10);
      lastSentAt = sent.at(-1)?.at ?? lastSentAt;
    }
    // In small steps: a mocked Date reads the end of the tick inside the timers it runs.
    for (let t = 0; t < 2_000; t += 10) mock.timers.tick(10);
    return { times: sent.map((s) => s.at - 100_000), changes: sent.flatMap((s) => s.nicks).length };
  }

  it("a burst shorter than the interval goes out quietMs after it ends", () => {
    const { times, changes } = fill(600);
    assert.deepEqual(times, [590 + 50], "one batch, 50 ms after the last join at 590 ms");
    assert.equal(changes, 60);
  });

  it("a long burst: at most one batch per interval, the last one when the burst paused", () => {
    const { times, changes } = fill(2_500);
    // The first batch waits for a pause that never comes: its first change plus maxWaitMs.
    assert.equal(times[0], 1_000);
    for (let i = 1; i < times.length; i++) assert.ok(times[i]! - times[i - 1]! >= 1_000, `batches ${times.join(", ")} ms: closer than the interval`);
    assert.ok(times.at(-1)! <= Math.max(2_490 + 50, times.at(-2)! + 1_000), `the last batch waited longer than it had to (${times.join(", ")})`);
    assert.equal(changes, 250, "every change went out once");
  });
});
