import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LivenessEngine, type HealthChange } from "../../src/liveness/liveness-engine.js";
import type { PingMessage } from "../../src/protocol/messages.js";
import { FakeClock } from "../support/fake-clock.js";

const settings = { intervalMs: 1_000, suspectMs: 2_500, timeoutMs: 4_000 };

function setup(buffered = 0) {
  const clock = new FakeClock();
  const pings: PingMessage[] = [];
  const changes: HealthChange[] = [];
  const host = { buffered, sendPing: (p: PingMessage) => pings.push(p), bufferedAmount: () => host.buffered, onHealthChange: (c: HealthChange) => changes.push(c) };
  const engine = new LivenessEngine(settings, host, clock);
  return { clock, pings, changes, host, engine };
}

describe("LivenessEngine", () => {
  it("pings only after intervalMs without sending", () => {
    const { clock, pings, engine } = setup();
    clock.advance(999);
    engine.check();
    assert.equal(pings.length, 0);
    clock.advance(1);
    engine.check();
    assert.equal(pings.length, 1);
    assert.equal(pings[0]!.sentAt, clock.now());
    engine.check();
    assert.equal(pings.length, 1, "no second ping right after the first");
  });

  it("sent traffic suppresses pings", () => {
    const { clock, pings, engine } = setup();
    for (let i = 0; i < 20; i++) {
      clock.advance(600);
      engine.noteSent();
      engine.noteInbound();
      engine.check();
    }
    assert.equal(pings.length, 0);
  });

  it("pings a peer that only listens, even while we keep sending (once per interval)", () => {
    const { clock, pings, engine } = setup();
    for (let i = 0; i < 20; i++) {
      clock.advance(100);
      engine.noteSent(); // we talk all the time; the peer says nothing
      engine.check();
    }
    assert.equal(pings.length, 2, "at 1 s and 2 s of silence");
    engine.noteInbound();
    for (let i = 0; i < 9; i++) {
      clock.advance(100);
      engine.noteSent();
      engine.check();
    }
    assert.equal(pings.length, 2, "heard again: no ping for a full interval");
  });

  it("does not ping while the send buffer is non-empty", () => {
    const { clock, pings, engine, host } = setup(128);
    clock.advance(2_000);
    engine.check();
    assert.equal(pings.length, 0);
    host.buffered = 0;
    engine.check();
    assert.equal(pings.length, 1);
  });

  it("becomes suspect and dead at exactly the thresholds", () => {
    const { clock, changes, engine } = setup();
    clock.advance(1_000);
    engine.check();
    clock.advance(1_000);
    engine.check();
    clock.advance(499);
    assert.equal(engine.check(), "alive");
    clock.advance(1);
    assert.equal(engine.check(), "suspect");
    assert.deepEqual(changes[0], { next: "suspect", prev: "alive", reason: "silence", silentForMs: 2_500 });
    clock.advance(1_000);
    assert.equal(engine.check(), "suspect");
    clock.advance(499);
    assert.equal(engine.check(), "suspect");
    clock.advance(1);
    assert.equal(engine.check(), "dead");
    assert.deepEqual(changes[1], { next: "dead", prev: "suspect", reason: "timeout", silentForMs: 4_000 });
    engine.noteInbound();
    assert.equal(engine.check(), "dead", "dead is final");
  });

  it("inbound resets the silence and clears suspect", () => {
    const { clock, changes, engine } = setup();
    for (let i = 0; i < 6; i++) {
      clock.advance(500);
      engine.check();
    }
    assert.equal(engine.health, "suspect");
    engine.noteInbound();
    assert.equal(engine.health, "alive");
    assert.equal(changes.at(-1)!.reason, "inbound");
    for (let i = 0; i < 39; i++) {
      clock.advance(100);
      engine.check();
    }
    assert.equal(engine.check(), "suspect");
    clock.advance(50);
    assert.equal(engine.check(), "suspect", "not dead: silence counts from the last inbound");
  });

  it("a 60 s clock jump with inbound traffic in between causes no false dead", () => {
    const { clock, changes, engine } = setup();
    // The timer was frozen (sleep, throttled tab) but frames kept arriving.
    for (let i = 0; i < 60; i++) {
      clock.jump(1_000);
      engine.noteInbound();
    }
    assert.equal(engine.check(), "alive");
    assert.equal(changes.length, 0);
  });

  it("a 60 s clock jump (our timers slept) probes first: no verdict until the probe's deadline", () => {
    const { clock, engine, pings, changes } = setup();
    clock.jump(60_000);
    assert.equal(engine.check(), "alive", "no verdict on a silence that may be ours");
    assert.equal(pings.length, 1, "a probe went out at once");
    clock.advance(1_999);
    assert.equal(engine.check(), "alive");
    engine.noteInbound(); // frames that waited while we slept, or the pong
    clock.advance(10);
    assert.equal(engine.check(), "alive");
    assert.equal(changes.length, 0);
  });

  it("after a clock jump, an unanswered probe means dead", () => {
    const { clock, engine, changes } = setup();
    clock.jump(60_000);
    engine.check();
    clock.advance(2_000);
    assert.equal(engine.check(), "dead");
    assert.equal(changes.at(-1)!.reason, "probe-timeout");
  });

  it("regular checks judge at once: the slept rule needs a gap between checks longer than suspectMs", () => {
    const { clock, engine } = setup();
    for (let t = 0; t < 4_000; t += 1_000) {
      clock.advance(1_000);
      engine.check();
    }
    assert.equal(engine.health, "dead");
  });

  it("measures RTT from pong and smooths it", () => {
    const { clock, pings, engine } = setup();
    clock.advance(1_000);
    engine.check();
    clock.advance(80);
    engine.onPong({ type: "pong", id: pings[0]!.id, sentAt: pings[0]!.sentAt });
    assert.deepEqual(engine.rtt, { lastMs: 80, smoothedMs: 80 });
    clock.advance(1_000);
    engine.check();
    clock.advance(160);
    engine.onPong({ type: "pong", id: pings[1]!.id, sentAt: pings[1]!.sentAt });
    assert.equal(engine.rtt.lastMs, 160);
    assert.equal(engine.rtt.smoothedMs, 90);
    engine.onPong({ type: "pong", id: 999, sentAt: 0 });
    assert.equal(engine.rtt.lastMs, 160, "pongs for unknown ids are ignored");
  });

  it("answers a ping by echoing id and sentAt", () => {
    const { engine } = setup();
    assert.deepEqual(engine.answer({ type: "ping", id: 7, sentAt: 123 }), { type: "pong", id: 7, sentAt: 123 });
  });

  it("a probe pings at once and declares dead when its deadline passes unanswered", () => {
    const { clock, pings, engine, changes } = setup();
    clock.advance(100);
    engine.probe(300);
    assert.equal(pings.length, 1);
    clock.advance(299);
    assert.equal(engine.check(), "alive");
    clock.advance(1);
    assert.equal(engine.check(), "dead");
    assert.equal(changes.at(-1)!.reason, "probe-timeout");
  });

  it("an answered probe keeps the link alive", () => {
    const { clock, engine } = setup();
    engine.probe(300);
    clock.advance(50);
    engine.noteInbound();
    clock.advance(1_000);
    assert.equal(engine.check(), "alive");
  });

  it("a probe brings a verdict earlier, never later than timeoutMs of silence", () => {
    const { clock, engine, changes } = setup();
    for (let t = 0; t < 3_500; t += 500) {
      clock.advance(500);
      engine.check();
    }
    assert.equal(engine.health, "suspect");
    // The user types while "not responding": the host probes with a 2 s deadline (until 5.5 s).
    engine.probe(2_000);
    clock.advance(499);
    assert.equal(engine.check(), "suspect");
    assert.ok(engine.nextCheckAt() <= clock.now() + 1, "the next check is due at timeoutMs, not at the probe's deadline");
    clock.advance(1);
    assert.equal(engine.check(), "dead", "dead at 4 s of silence, as without the probe");
    assert.deepEqual(changes.at(-1), { next: "dead", prev: "suspect", reason: "timeout", silentForMs: 4_000 });
  });

  it("a probe whose deadline comes first still decides first", () => {
    const { clock, engine, changes } = setup();
    clock.advance(1_000);
    engine.check();
    engine.probe(300);
    clock.advance(300);
    assert.equal(engine.check(), "dead");
    assert.equal(changes.at(-1)!.reason, "probe-timeout");
  });

  it("nextCheckAt points at the earliest decision", () => {
    const { clock, engine } = setup();
    const t0 = clock.now();
    assert.equal(engine.nextCheckAt(), t0 + 1_000);
    clock.advance(900);
    engine.noteSent();
    assert.equal(engine.nextCheckAt(), t0 + 1_000, "unheard for an interval: ping then");
    engine.noteInbound();
    assert.equal(engine.nextCheckAt(), t0 + 1_900, "heard and sent at 900: next ping due at 1900");
    engine.probe(200);
    assert.equal(engine.nextCheckAt(), t0 + 1_100);
  });

  it("rejects incoherent settings", () => {
    const host = { sendPing() {}, bufferedAmount: () => 0, onHealthChange() {} };
    assert.throws(() => new LivenessEngine({ intervalMs: 1_000, suspectMs: 900, timeoutMs: 2_000 }, host, new FakeClock()), /suspectMs/);
    assert.throws(() => new LivenessEngine({ intervalMs: 1_000, suspectMs: 2_000, timeoutMs: 1_500 }, host, new FakeClock()), /timeoutMs/);
    assert.throws(() => new LivenessEngine({ intervalMs: 0, suspectMs: 2_000, timeoutMs: 3_000 }, host, new FakeClock()), /intervalMs/);
  });
});
