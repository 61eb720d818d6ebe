import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ConnectionState } from "../../src/client/types.js";
import { CloseCode } from "../../src/protocol/close-codes.js";
import { describeConnection, describeTerminalClose, formatDuration } from "../../src/web/indicator.js";

const NOW = 1_700_000_000_000;

describe("describeConnection", () => {
  it("idle: not connected, no retry, nothing ticking", () => {
    const view = describeConnection({ kind: "idle" }, NOW);
    assert.equal(view.text, "Not connected");
    assert.equal(view.tone, "neutral");
    assert.equal(view.retry, false);
    assert.equal(view.ticking, false);
  });

  it("connecting: the first attempt says Connecting; a later one is part of the outage, with the count only in the detail", () => {
    const first = describeConnection({ kind: "connecting", attempt: 0 }, NOW);
    assert.equal(first.text, "Connecting…");
    assert.equal(first.detail, "");
    assert.equal(first.phase, "connecting");
    const third = describeConnection({ kind: "connecting", attempt: 2 }, NOW, { rttMs: 21 });
    assert.equal(third.text, "Reconnecting…");
    assert.doesNotMatch(third.text, /Attempt/);
    assert.equal(third.detail, "Attempt 3 · Last round trip 21 ms");
  });

  it("one outage has one phase, one colour and one announcement across its retry cycles", () => {
    const waiting = describeConnection({ kind: "reconnecting", attempt: 3, retryAt: NOW + 4_000, reason: "connection lost" }, NOW);
    const trying = describeConnection({ kind: "connecting", attempt: 3 }, NOW);
    assert.equal(waiting.phase, trying.phase);
    assert.equal(waiting.tone, trying.tone);
    assert.equal(waiting.announce, trying.announce);
  });

  it("open: green Connection OK with the round-trip time", () => {
    const state: ConnectionState = { kind: "open", since: NOW - 5000, rttMs: 12.6 };
    const view = describeConnection(state, NOW);
    assert.equal(view.text, "Connection OK");
    assert.equal(view.tone, "ok");
    assert.equal(view.icon, "✓");
    assert.equal(view.detail, "Round trip 13 ms");
    assert.equal(view.announce, "Connection OK");
  });

  it("open: the client's latest RTT wins over the one in the state; none yet says so", () => {
    const state: ConnectionState = { kind: "open", since: NOW, rttMs: 40 };
    assert.equal(describeConnection(state, NOW, { rttMs: 7 }).detail, "Round trip 7 ms");
    const unknown: ConnectionState = { kind: "open", since: NOW, rttMs: null };
    assert.equal(describeConnection(unknown, NOW, { rttMs: null }).detail, "Measuring round trip…");
  });

  it("suspect: red Server not responding with how long it has been silent", () => {
    const state: ConnectionState = { kind: "suspect", silentSince: NOW - 4_300, since: NOW - 1_000 };
    const view = describeConnection(state, NOW);
    assert.equal(view.text, "Server not responding");
    assert.equal(view.tone, "bad");
    assert.equal(view.detail, "Silent for 4 s");
    assert.equal(view.ticking, true);
    // The silence grows with the clock while the state stays the same.
    assert.equal(describeConnection(state, NOW + 70_000).detail, "Silent for 1 min 14 s");
  });

  it("reconnecting: a live countdown, rounded up, with a Retry now button", () => {
    const state: ConnectionState = { kind: "reconnecting", attempt: 1, retryAt: NOW + 2_100, reason: "heartbeat timeout" };
    const view = describeConnection(state, NOW);
    assert.equal(view.text, "Reconnecting in 3 s");
    assert.equal(view.retry, true);
    assert.equal(view.tone, "warn");
    assert.equal(view.detail, "Reason: heartbeat timeout · Attempt 1");
    assert.doesNotMatch(view.text, /heartbeat|Reason|Attempt/, "the technical reason is not in the headline");
    assert.equal(describeConnection(state, NOW + 1_200).text, "Reconnecting in 1 s");
    assert.equal(describeConnection(state, NOW + 2_100).text, "Reconnecting…");
    assert.equal(describeConnection(state, NOW + 9_000).text, "Reconnecting…");
  });

  it("reconnecting: the announcement does not change as the countdown ticks", () => {
    const state: ConnectionState = { kind: "reconnecting", attempt: 1, retryAt: NOW + 5_000, reason: "" };
    const early = describeConnection(state, NOW);
    const late = describeConnection(state, NOW + 3_000);
    assert.notEqual(early.text, late.text);
    assert.equal(early.announce, late.announce);
    assert.equal(early.detail, "Attempt 1");
  });

  it("offline: says Offline and that messages will go out later", () => {
    const view = describeConnection({ kind: "offline", since: NOW - 3_000 }, NOW);
    assert.equal(view.text, "Offline, messages will be sent when you are back");
    assert.match(view.detail, /3 s/);
    assert.equal(view.retry, false);
  });

  it("closed: a plain sentence for a terminal close", () => {
    const taken = describeConnection({ kind: "closed", code: CloseCode.NicknameTaken, reason: "nick in use" }, NOW);
    // Names are server-wide: the sentence says to change the nickname, not the room.
    assert.equal(taken.text, "This nickname is in use by someone else. Choose another nickname");
    assert.doesNotMatch(taken.text, /room/i);
    assert.equal(taken.detail, "Close code 4501: nick in use");
    assert.equal(taken.announce, taken.text);
    assert.equal(taken.tone, "bad");
    assert.equal(taken.retry, false);
    assert.equal(taken.ticking, false);
    const bye = describeConnection({ kind: "closed", code: CloseCode.Normal, reason: "" }, NOW);
    assert.equal(bye.text, "Disconnected");
  });

  it("every state has visible text and an icon, never colour alone", () => {
    const states: ConnectionState[] = [
      { kind: "idle" },
      { kind: "connecting", attempt: 0 },
      { kind: "open", since: NOW, rttMs: 1 },
      { kind: "suspect", silentSince: NOW, since: NOW },
      { kind: "reconnecting", attempt: 0, retryAt: NOW, reason: "x" },
      { kind: "offline", since: NOW },
      { kind: "closed", code: 4500, reason: "" },
    ];
    for (const state of states) {
      const view = describeConnection(state, NOW);
      assert.equal(view.kind, state.kind);
      assert.ok(view.text.length > 0, state.kind);
      assert.ok(view.icon.length > 0, state.kind);
      assert.ok(view.announce.length > 0, state.kind);
    }
  });
});

describe("describeTerminalClose", () => {
  it("uses the protocol's description, or the server's reason for an unknown code", () => {
    assert.equal(describeTerminalClose(CloseCode.InvalidNickname, ""), "Disconnected: this nickname is not allowed");
    assert.equal(describeTerminalClose(4777, "banned for spam"), "Disconnected: banned for spam");
    assert.equal(describeTerminalClose(4777, ""), "Disconnected: closed (4777)");
  });
});

describe("formatDuration", () => {
  it("formats seconds, minutes and hours", () => {
    assert.equal(formatDuration(-5), "0 s");
    assert.equal(formatDuration(999), "0 s");
    assert.equal(formatDuration(59_999), "59 s");
    assert.equal(formatDuration(60_000), "1 min");
    assert.equal(formatDuration(125_000), "2 min 5 s");
    assert.equal(formatDuration(3_725_000), "1 h 2 min");
  });
});
