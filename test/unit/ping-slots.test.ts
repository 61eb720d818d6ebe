import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LivenessEngine, type LivenessHost } from "../../src/liveness/liveness-engine.js";
import { DEFAULT_LIVENESS, defaultPingSlotMs, idlePingAt, validateLiveness } from "../../src/liveness/settings.js";
import type { LivenessSettings } from "../../src/protocol/messages.js";
import { FakeClock } from "../support/fake-clock.js";

const SLOT = 1_000;
const settings: LivenessSettings = { ...DEFAULT_LIVENESS, pingSlotMs: SLOT };
/** Where a time falls in a slot of the server's clock. */
const phase = (t: number, offset: number): number => (((t + offset) % SLOT) + SLOT) % SLOT;

/**
 * A client engine on a fake clock, checking on its own timer at nextCheckAt (as PulseClient
 * does); every ping is answered at once. Returns the times of its pings.
 */
function idleClient(clock: FakeClock, serverOffsetMs: number | null) {
  const pings: number[] = [];
  let engine!: LivenessEngine;
  const host: LivenessHost = {
    sendPing: () => {
      pings.push(clock.now());
      engine.noteInbound(); // the pong
    },
    bufferedAmount: () => 0,
    onHealthChange: () => {},
  };
  engine = new LivenessEngine(settings, host, clock);
  if (serverOffsetMs !== null) engine.alignPings(serverOffsetMs);
  const schedule = (): void => {
    clock.setTimeout(() => {
      engine.check();
      schedule();
    }, Math.max(0, engine.nextCheckAt() - clock.now()));
  };
  schedule();
  return { engine, pings };
}

describe("ping slots: idle clients ping on the server's slot boundaries", () => {
  it("idlePingAt is the last boundary of the server's clock at or before the due time, never later", () => {
    for (const offset of [0, 1, 337, -337, 999.5, -1_700_000_000_123.25, 4_321_987]) {
      for (let lastSentAt = 1_700_000_000_000; lastSentAt < 1_700_000_003_000; lastSentAt += 97) {
        const due = lastSentAt + settings.intervalMs;
        const at = idlePingAt(settings, lastSentAt, offset);
        assert.ok(at <= due && at > due - SLOT, `offset ${offset}, last ${lastSentAt}: ${at} vs due ${due}`);
        const p = phase(at, offset);
        assert.ok(p < 1e-3 || p > SLOT - 1e-3, `on a boundary: phase ${p}`);
      }
    }
    assert.equal(idlePingAt(settings, 10, null), 10 + settings.intervalMs, "no offset known: due time");
    assert.equal(idlePingAt({ ...settings, pingSlotMs: 0 }, 10, 337), 10 + settings.intervalMs, "slot 0: due time");
    assert.equal(idlePingAt(DEFAULT_LIVENESS, 10, 337), 10 + settings.intervalMs, "no slot advertised: due time");
  });

  it("an idle client's pings stay on boundaries, one per intervalMs, and a send moves the next no later than intervalMs", () => {
    const clock = new FakeClock(1_700_000_000_041);
    const offset = 12_345_678.5; // the server's clock is ahead of ours, by a fraction too
    const { engine, pings } = idleClient(clock, offset);
    clock.advance(30_000);
    assert.ok(pings.length >= 6, `${pings.length} pings`);
    for (const t of pings) assert.ok(phase(t, offset) < 1e-3 || phase(t, offset) > SLOT - 1e-3, `ping at phase ${phase(t, offset)}`);
    const gaps = pings.slice(1).map((t, i) => t - pings[i]!);
    assert.deepEqual(new Set(gaps), new Set([settings.intervalMs]), "one ping per interval once on a boundary");
    // A chat frame (acked at once) at an odd moment: the next ping is at most intervalMs later, at least a slot less.
    for (const pause of [123, 777, 2_001, 4_999]) {
      clock.advance(pause);
      engine.noteSent();
      engine.noteInbound(); // its ack
      const sentAt = clock.now();
      const before = pings.length;
      clock.advance(settings.intervalMs);
      assert.equal(pings.length, before + 1, "pinged within intervalMs of the send");
      const waited = pings.at(-1)! - sentAt;
      assert.ok(waited <= settings.intervalMs && waited > settings.intervalMs - SLOT, `pinged ${waited} ms after the send`);
    }
    assert.equal(engine.health, "alive");
  });

  it("many clients that went idle at scattered moments ping at a handful of instants, not one each", () => {
    const clock = new FakeClock(1_700_000_000_000);
    const aligned: number[][] = [];
    const free: number[][] = [];
    for (let i = 0; i < 50; i++) {
      clock.advance(97); // each client's last frame at its own moment
      aligned.push(idleClient(clock, -42).pings);
      free.push(idleClient(clock, null).pings);
    }
    clock.advance(20_000);
    const instants = (all: number[][]) => new Set(all.flatMap((p) => p.filter((t) => t >= 1_700_000_010_000 && t < 1_700_000_015_000)));
    const alignedInstants = instants(aligned);
    assert.ok(alignedInstants.size <= settings.intervalMs / SLOT, `${alignedInstants.size} distinct instants in one interval with slots`);
    assert.equal(instants(free).size, 50, "without slots each client pings at its own instant");
  });

  it("settings: a slot is 0 (none) up to intervalMs / 2, and the server's default is 250 ms where the interval allows", () => {
    assert.doesNotThrow(() => validateLiveness({ ...DEFAULT_LIVENESS, pingSlotMs: 0 }));
    assert.doesNotThrow(() => validateLiveness({ ...DEFAULT_LIVENESS, pingSlotMs: 2_500 }));
    assert.throws(() => validateLiveness({ ...DEFAULT_LIVENESS, pingSlotMs: 2_501 }), /pingSlotMs/);
    assert.throws(() => validateLiveness({ ...DEFAULT_LIVENESS, pingSlotMs: -1 }), /pingSlotMs/);
    assert.throws(() => validateLiveness({ ...DEFAULT_LIVENESS, pingSlotMs: 1.5 }), /pingSlotMs/);
    assert.equal(defaultPingSlotMs(DEFAULT_LIVENESS), 250);
    assert.equal(defaultPingSlotMs({ intervalMs: 499, suspectMs: 1_000, timeoutMs: 2_000 }), 0);
  });
});
