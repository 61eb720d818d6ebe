import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LivenessSweep, NOT_FILED } from "../../src/server/liveness-sweep.js";
import { sleep } from "../support/wait.js";

/** A member whose next check is due at `dueAt`; each check may move it (like a ping arriving). */
class Member {
  checks: number[] = [];
  sweepSlot = NOT_FILED;
  sweepPrev: Member | null = null;
  sweepNext: Member | null = null;
  constructor(
    public dueAt: number,
    private readonly clock: { t: number },
    private readonly onCheck: (m: Member) => void = () => {},
  ) {}
  check(): void {
    this.checks.push(this.clock.t);
    this.onCheck(this);
  }
  nextCheckAt(): number {
    return this.dueAt;
  }
}

/** A sweep of period 100 ms in ten slots of 10 ms, on a clock the test moves. */
function fakeSweep(clock: { t: number }, horizonMs = 1_600) {
  return new LivenessSweep<Member>(100, 10, () => clock.t, horizonMs);
}

describe("LivenessSweep", () => {
  it("checks a member in the first tick at or after its due time, never before, and files it again by the due time its check leaves", () => {
    const clock = { t: 1_000 };
    const sweep = fakeSweep(clock);
    // Each check leaves the next due time of this script: a ping sent (nothing due until
    // 1,500), then a ping that waits for an empty send buffer (still due).
    const next = [1_500, 1_520, 1_520, 9_000];
    const m = new Member(1_255, clock, (x) => (x.dueAt = next.shift()!));
    sweep.add(m);
    for (clock.t = 1_000; clock.t < 1_255; clock.t += 10) sweep.tick();
    assert.deepEqual(m.checks, [], "not checked before it is due");
    for (; clock.t <= 1_550; clock.t += 10) sweep.tick();
    assert.deepEqual(m.checks, [1_260, 1_500, 1_520, 1_530], "due 1,255 -> checked at 1,260; then at 1,500; a member still due is checked at the next tick");
  });

  it("files a member again under the due time its check leaves (a ping moved it later)", () => {
    const clock = { t: 0 };
    const sweep = fakeSweep(clock);
    // Like an idle client that pings every 500 ms: each check finds the deadline moved by 500 ms.
    const m = new Member(500, clock, (x) => (x.dueAt += 500));
    sweep.add(m);
    for (clock.t = 0; clock.t <= 2_600; clock.t += 10) sweep.tick();
    assert.deepEqual(m.checks, [500, 1_000, 1_500, 2_000, 2_500], "touched once per deadline, not once per period");
  });

  it("checks only the members that are due, however many there are", () => {
    const clock = { t: 0 };
    const sweep = fakeSweep(clock);
    const members = Array.from({ length: 2_000 }, (_, i) => new Member(100 + (i % 1_000), clock));
    for (const m of members) sweep.add(m);
    clock.t = 349;
    sweep.tick();
    const checked = members.filter((m) => m.checks.length > 0).length;
    assert.equal(checked, 2 * 241, "the members due in [100, 340] and only those (slot 34 starts at 340 ms)");
    assert.ok(members.every((m) => m.checks.every((t) => t >= m.dueAt)));
  });

  it("a deleted member is not checked, and one deleted during its own check is not filed again", () => {
    const clock = { t: 0 };
    const sweep = fakeSweep(clock);
    const gone = new Member(50, clock);
    const ending = new Member(50, clock, (x) => sweep.delete(x));
    const staying = new Member(50, clock);
    for (const m of [gone, ending, staying]) sweep.add(m);
    sweep.delete(gone);
    clock.t = 60;
    sweep.tick();
    assert.deepEqual([gone.checks.length, ending.checks.length, staying.checks.length], [0, 1, 1]);
    assert.equal(sweep.size, 1, "only the member still there is filed");
    staying.dueAt = 200;
    clock.t = 210;
    sweep.tick();
    assert.deepEqual([ending.checks.length, staying.checks.length], [1, 2]);
  });

  it("a member deleted by another member's check in the same tick is not checked", () => {
    const clock = { t: 0 };
    const sweep = fakeSweep(clock);
    const victims: Member[] = [];
    const killer = new Member(50, clock, () => victims.forEach((v) => sweep.delete(v)));
    victims.push(new Member(50, clock), new Member(50, clock));
    // Filed after the killer, so whichever order a slot keeps, one victim is checked after it.
    sweep.add(victims[0]!);
    sweep.add(killer);
    sweep.add(victims[1]!);
    clock.t = 60;
    sweep.tick();
    assert.equal(killer.checks.length, 1);
    assert.equal(victims.reduce((n, v) => n + v.checks.length, 0) <= 1, true, "a victim is checked only if its turn came before the killer's");
    assert.equal(sweep.size, 1);
    clock.t = 2_000;
    sweep.tick();
    assert.equal(victims.reduce((n, v) => n + v.checks.length, 0) <= 1, true, "deleted members are never checked again");
  });

  it("members deleted from the start, middle and end of a slot leave the others checked once each", () => {
    const clock = { t: 0 };
    const sweep = fakeSweep(clock);
    const members = Array.from({ length: 7 }, () => new Member(50, clock));
    for (const m of members) sweep.add(m);
    for (const i of [0, 3, 6]) sweep.delete(members[i]!);
    assert.equal(sweep.size, 4);
    clock.t = 60;
    sweep.tick();
    assert.deepEqual(members.map((m) => m.checks.length), [0, 1, 1, 0, 1, 1, 0]);
    for (const m of members) sweep.delete(m);
    assert.equal(sweep.size, 0);
    clock.t = 300;
    sweep.tick();
    assert.deepEqual(members.map((m) => m.checks.length), [0, 1, 1, 0, 1, 1, 0]);
  });

  it("files a due time beyond the horizon at the horizon (checked early, which is harmless)", () => {
    const clock = { t: 0 };
    const sweep = fakeSweep(clock, 500);
    const m = new Member(10_000, clock);
    sweep.add(m);
    for (clock.t = 0; clock.t <= 600; clock.t += 10) sweep.tick();
    assert.equal(m.checks.length, 1, "checked once, at the horizon");
    assert.ok(m.checks[0]! >= 490 && m.checks[0]! <= 520, `checked at ${m.checks[0]}`);
  });

  it("after the process slept past the whole wheel, checks every member once", () => {
    const clock = { t: 0 };
    const sweep = fakeSweep(clock, 500);
    const members = Array.from({ length: 20 }, (_, i) => new Member(20 * i, clock));
    for (const m of members) sweep.add(m);
    clock.t = 5_000;
    sweep.tick();
    assert.ok(members.every((m) => m.checks.length === 1), "each checked exactly once");
  });

  it("wakes by its own timer while it has members, and not at all for none", async () => {
    type Plain = { check(): void; nextCheckAt(): number; sweepSlot: number; sweepPrev: Plain | null; sweepNext: Plain | null };
    const sweep = new LivenessSweep<Plain>(100, 10);
    const ticks: number[] = [];
    // Always due: checked at every tick, and a few members need one tick per period.
    const m: Plain = { check: () => ticks.push(Date.now()), nextCheckAt: () => Date.now(), sweepSlot: NOT_FILED, sweepPrev: null, sweepNext: null };
    try {
      sweep.add(m);
      await sleep(550);
      assert.ok(ticks.length >= 3 && ticks.length <= 6, `${ticks.length} checks in 5.5 periods`);
      sweep.delete(m);
      const n = ticks.length;
      await sleep(250);
      assert.equal(ticks.length, n);
    } finally {
      sweep.stop();
    }
  });
});
