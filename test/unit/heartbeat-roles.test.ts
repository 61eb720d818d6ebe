import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LivenessEngine, type HealthChange, type LivenessHost, type PingRole } from "../../src/liveness/liveness-engine.js";
import { DEFAULT_LIVENESS, defaultServerCheckMs, detectionBoundMs, responderGraceMs, serverPingGapMs } from "../../src/liveness/settings.js";
import type { PingMessage } from "../../src/protocol/messages.js";
import { FakeClock } from "../support/fake-clock.js";

const settings = DEFAULT_LIVENESS;
const CHECK_MS = defaultServerCheckMs(settings);
const responder: PingRole = { kind: "responder", graceMs: responderGraceMs(settings, CHECK_MS) };

/**
 * A client engine and a server engine joined by a lossless zero-delay link on a fake clock.
 * The client checks on its own timer (nextCheckAt, as PulseClient does) unless `clientTimersRunEveryMs`
 * throttles it; the server checks every CHECK_MS (its sweep). Pings are answered when they
 * arrive (frame handlers are not throttled), unless the client is `frozen` (a dead peer).
 */
function link(opts: { clientTimersRunEveryMs?: number } = {}) {
  const clock = new FakeClock();
  const frames = { clientPings: 0, serverPings: 0, clientPongs: 0, serverPongs: 0 };
  const serverDeaths: HealthChange[] = [];
  let frozen = false;
  const clientHost: LivenessHost = {
    sendPing: (p) => {
      frames.clientPings++;
      client.noteSent();
      toServer(() => {
        server.noteInbound();
        frames.serverPongs++;
        server.noteSent();
        toClient(() => {
          client.noteInbound();
          client.onPong({ type: "pong", id: p.id, sentAt: p.sentAt });
        });
      });
    },
    bufferedAmount: () => 0,
    onHealthChange: () => {},
  };
  const serverHost: LivenessHost = {
    sendPing: (p: PingMessage) => {
      frames.serverPings++;
      toClient(() => {
        client.noteInbound();
        frames.clientPongs++;
        client.noteSent();
        toServer(() => {
          server.noteInbound();
          server.onPong({ type: "pong", id: p.id, sentAt: p.sentAt });
        });
      });
    },
    bufferedAmount: () => 0,
    onHealthChange: (c) => serverDeaths.push(c),
  };
  const toServer = (deliver: () => void) => !frozen && deliver();
  const toClient = (deliver: () => void) => !frozen && deliver();
  const client: LivenessEngine = new LivenessEngine(settings, clientHost, clock);
  const server: LivenessEngine = new LivenessEngine(settings, serverHost, clock, { role: responder });

  const scheduleClient = (): void => {
    const every = opts.clientTimersRunEveryMs;
    const wait = every ?? Math.max(0, client.nextCheckAt() - clock.now()) + 1;
    clock.setTimeout(() => {
      if (!frozen) client.check();
      scheduleClient();
    }, wait);
  };
  const scheduleServer = (): void => {
    clock.setTimeout(() => {
      server.check();
      if (server.health !== "dead") scheduleServer();
    }, CHECK_MS);
  };
  scheduleClient();
  scheduleServer();
  return {
    clock, frames, client, server, serverDeaths,
    freezeClient: () => (frozen = true),
    /** The server sends a chat frame to the client (the client hears it). */
    serverSends: () => {
      server.noteSent();
      toClient(() => client.noteInbound());
    },
  };
}

describe("heartbeat roles: the client pings, the server answers", () => {
  it("an idle healthy link carries one ping and one pong per interval, both from the client's heartbeat", () => {
    const { clock, frames, client, server } = link();
    clock.advance(10 * settings.intervalMs + 10);
    assert.equal(frames.clientPings, 10, "one client ping per interval");
    assert.equal(frames.serverPongs, 10);
    assert.equal(frames.serverPings, 0, "the server never pings a client that pings");
    assert.equal(frames.clientPongs, 0);
    assert.equal(client.health, "alive");
    assert.equal(server.health, "alive");
  });

  it("a background tab whose timers run once a minute, in a busy room: the server pings it and it stays alive", () => {
    const { clock, frames, server, serverDeaths, serverSends } = link({ clientTimersRunEveryMs: 60_000 });
    for (let t = 0; t < 120_000; t += 100) {
      clock.advance(100);
      serverSends(); // the room is busy: the tab hears plenty and says nothing
    }
    assert.equal(serverDeaths.length, 0, "never declared dead");
    assert.equal(server.health, "alive");
    const gap = serverPingGapMs(settings, CHECK_MS);
    // About one server ping per gap, minus the minutes where the tab's own timer pinged.
    assert.ok(frames.serverPings >= Math.floor(120_000 / gap) - 2, `${frames.serverPings} server pings in 120 s`);
    assert.ok(frames.serverPings <= Math.ceil(120_000 / (settings.intervalMs + responder.graceMs)), `${frames.serverPings} server pings in 120 s`);
    assert.equal(frames.clientPongs, frames.serverPings, "each answered at once");
  });

  it("a client that only answers hears a server ping at most intervalMs + grace + checkMs apart, below suspectMs", () => {
    const clock = new FakeClock();
    const pingTimes: number[] = [];
    let server!: LivenessEngine;
    const host: LivenessHost = {
      sendPing: () => {
        pingTimes.push(clock.now());
        server.noteInbound(); // answered at once
      },
      bufferedAmount: () => 0,
      onHealthChange: () => {},
    };
    server = new LivenessEngine(settings, host, clock, { role: responder });
    // The sweep's phase is arbitrary: start the checks 999 ms late.
    clock.advance(CHECK_MS - 1);
    for (let t = 0; t < 60_000; t += CHECK_MS) {
      server.check();
      clock.advance(CHECK_MS);
    }
    const gaps = pingTimes.slice(1).map((t, i) => t - pingTimes[i]!);
    assert.ok(gaps.length >= 7);
    const bound = serverPingGapMs(settings, CHECK_MS);
    assert.equal(bound, 7_000, "5 s + 1 s grace + 1 s check at the defaults");
    for (const g of gaps) assert.ok(g <= bound && g >= settings.intervalMs + responder.graceMs, `gap ${g}`);
    assert.ok(bound < settings.suspectMs);
  });

  it("a client that stops answering is dead on the server within timeoutMs + checkMs of its last frame", () => {
    const { clock, server, serverDeaths, freezeClient } = link();
    clock.advance(12_345);
    freezeClient();
    const frozenAt = clock.now();
    clock.advance(detectionBoundMs(settings, CHECK_MS) + 1);
    assert.equal(server.health, "dead");
    assert.equal(serverDeaths.at(-1)!.reason, "timeout");
    // Its last frame came at or before frozenAt; the verdict needs timeoutMs of silence.
    const silent = serverDeaths.at(-1)!.silentForMs;
    assert.ok(silent >= settings.timeoutMs && silent <= settings.timeoutMs + CHECK_MS, `silent ${silent}`);
    assert.ok(clock.now() - frozenAt >= settings.timeoutMs - settings.intervalMs);
  });

  it("the responder does not ping on its own idleness, only on the peer's silence", () => {
    const clock = new FakeClock();
    let pings = 0;
    const server = new LivenessEngine(settings, { sendPing: () => pings++, bufferedAmount: () => 0, onHealthChange: () => {} }, clock, { role: responder });
    for (let t = 0; t < 30_000; t += 500) {
      clock.advance(500);
      if (t % 4_000 === 0) server.noteInbound(); // the peer's ping every 4 s; we send nothing
      server.check();
    }
    assert.equal(pings, 0);
  });

  it("a responder reports the RTT of each answered ping, pings again after the next silence, and ignores pongs it did not ask for", () => {
    const clock = new FakeClock();
    const sent: PingMessage[] = [];
    const samples: number[] = [];
    const server = new LivenessEngine(settings, { sendPing: (p) => sent.push(p), bufferedAmount: () => 0, onHealthChange: () => {}, onRttSample: (ms) => samples.push(ms) }, clock, { role: responder });
    server.onPong({ type: "pong", id: 1, sentAt: clock.now() });
    assert.deepEqual(samples, [], "no ping of ours was out");
    const unheardMs = settings.intervalMs + responder.graceMs;
    for (let round = 1; round <= 3; round++) {
      clock.advance(unheardMs);
      server.check();
      assert.equal(sent.length, round, `round ${round}: pinged after ${unheardMs} ms of silence`);
      clock.advance(40);
      server.noteInbound();
      server.onPong({ type: "pong", id: sent.at(-1)!.id, sentAt: sent.at(-1)!.sentAt });
      assert.deepEqual(samples.at(-1), 40);
      // Answered: no other ping until the peer has been silent for the whole interval again.
      clock.advance(unheardMs - 40 - 1);
      server.check();
      assert.equal(sent.length, round);
    }
    assert.equal(samples.length, 3);
    assert.equal(server.health, "alive");
    clock.advance(1);
    server.onPong({ type: "pong", id: 99, sentAt: clock.now() - 10 });
    assert.equal(samples.length, 3, "a pong with an id we never sent is not a sample");
    // The round trip is timed from the engine's own record: an echoed sentAt is the peer's word.
    clock.advance(unheardMs);
    server.check();
    clock.advance(40);
    server.noteInbound();
    server.onPong({ type: "pong", id: sent.at(-1)!.id, sentAt: sent.at(-1)!.sentAt - 110_000 });
    assert.deepEqual(samples.at(-1), 40, "a forged sentAt does not make a 110 s round trip");
  });

  it("settings where a client that only answers would turn suspect are refused", () => {
    assert.throws(() => responderGraceMs({ intervalMs: 5_000, suspectMs: 6_000, timeoutMs: 9_000 }, 1_000), /checkMs/);
    assert.equal(responderGraceMs(settings, 1_000), 1_000);
    assert.equal(defaultServerCheckMs({ intervalMs: 5_000, suspectMs: 6_000, timeoutMs: 9_000 }), 500);
  });
});
