import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseClientMessage, parseServerMessage, isProtocolError } from "../../src/protocol/parse.js";
import { isRetryable, CloseCode } from "../../src/protocol/close-codes.js";

describe("parseClientMessage", () => {
  it("accepts each valid message", () => {
    const ok = [
      { type: "hello", clientId: "c", nick: "ada", userKey: "k" },
      { type: "join", room: "lobby" },
      { type: "join", room: "lobby", since: 10, epoch: "e" },
      { type: "leave", room: "lobby" },
      { type: "send", room: "lobby", id: "1", text: "hi" },
      { type: "history", room: "lobby", before: 100, limit: 20 },
      { type: "ping", id: 1, sentAt: 12.5 },
      { type: "pong", id: 1, sentAt: 12 },
    ];
    for (const m of ok) assert.deepEqual(parseClientMessage(JSON.stringify(m)), m);
  });

  it("returns structured errors for bad frames", () => {
    const cases: Array<[string, string]> = [
      ["not json", "bad_json"],
      ["[1,2]", "bad_message"],
      ["null", "bad_message"],
      ['{"type":5}', "bad_message"],
      ['{"type":"nope"}', "unknown_type"],
      ['{"type":"constructor"}', "unknown_type"],
      ['{"type":"__proto__"}', "unknown_type"],
      ['{"type":"send","room":"a","id":1,"text":"x"}', "bad_message"],
      ['{"type":"join","room":"a","since":1.5}', "bad_message"],
      ['{"type":"ping","id":1}', "bad_message"],
    ];
    for (const [raw, code] of cases) {
      const r = parseClientMessage(raw);
      assert.ok(isProtocolError(r), raw);
      assert.equal(r.code, code, raw);
      assert.ok(r.message.length > 0);
    }
  });

  it("refuses a frame that nests arrays and objects more than 8 deep, before JSON.parse, without looking inside strings", () => {
    const padding = "x".repeat(300);
    const deep = `{"type":"send","room":"lobby","id":"1","text":"${padding}","extra":${"[".repeat(30_000)}${"]".repeat(30_000)}}`;
    const refused = parseClientMessage(deep);
    assert.ok(isProtocolError(refused));
    assert.equal(refused.code, "bad_message");
    assert.match(refused.message, /8 deep/);
    // Brackets and escaped quotes inside a string are text, however many.
    const text = `${"[{".repeat(200)}\\"${"]}".repeat(200)}`;
    const sent = parseClientMessage(JSON.stringify({ type: "send", room: "lobby", id: "1", text }));
    assert.ok(!isProtocolError(sent));
    assert.equal((sent as { text: string }).text, text);
    // Eight deep is still a message: unknown fields are ignored.
    const eight = JSON.stringify({ type: "join", room: "lobby", pad: padding, x: [[[[[[[1]]]]]]] });
    assert.ok(!isProtocolError(parseClientMessage(eight)));
  });

  it("server messages are validated on the client too", () => {
    const r = parseServerMessage('{"type":"ack","room":"a","id":"1","seq":"2","ts":1,"duplicate":false}');
    assert.ok(isProtocolError(r));
  });
});

describe("parseServerMessage: what arrays and objects hold", () => {
  const joined = { type: "joined", room: "r", seq: 1, recovered: true, messages: [{ room: "r", seq: 1, from: "ada", text: "hi", ts: 1 }], online: ["ada"], onlineCount: 1 };
  const welcome = {
    type: "welcome", protocol: 1, sessionId: "s", nick: "ada", userId: "u", epoch: "e", serverTime: 1,
    liveness: { intervalMs: 5000, suspectMs: 8000, timeoutMs: 12000, pingSlotMs: 250 }, retry: { baseMs: 500, capMs: 30000 },
    limits: { maxPayloadBytes: 65536, maxTextLength: 4000, maxRooms: 32, maxNickLength: 32 }, historyLimit: 50,
  };
  const parsed = (m: object) => parseServerMessage(JSON.stringify(m));

  it("accepts what the server sends, and refuses items that are not what the protocol lists", () => {
    assert.equal(isProtocolError(parsed(joined)), false);
    assert.equal(isProtocolError(parsed({ ...joined, readOnly: true })), false);
    assert.equal(isProtocolError(parsed(welcome)), false);
    assert.equal(isProtocolError(parsed({ type: "presence", room: "r", changes: [{ event: "join", nick: "b" }, { event: "leave", nick: "c", reason: "timeout" }], count: 2 })), false);
    const refused: object[] = [
      { ...joined, messages: [null] },
      { ...joined, messages: [{ room: "r", seq: "1", from: "ada", text: "hi", ts: 1 }] },
      { ...joined, online: ["ada", 7] },
      { ...joined, readOnly: "yes" },
      { type: "history", room: "r", messages: [{}], hasMore: false },
      { type: "presence", room: "r", changes: [{ event: "arrive", nick: "b" }], count: 1 },
      { type: "presence", room: "r", changes: ["b"], count: 1 },
      { type: "who", room: "r", count: 1, online: [null], more: false },
      { ...welcome, liveness: {} },
      { ...welcome, retry: { baseMs: "soon", capMs: 1 } },
      { ...welcome, retry: { baseMs: 500, capMs: -1 } },
      { ...welcome, limits: { maxPayloadBytes: 1 } },
    ];
    for (const m of refused) {
      const result = parsed(m);
      assert.ok(isProtocolError(result) && result.code === "bad_message", JSON.stringify(m));
    }
  });

  it("never throws, and whatever it accepts holds items of the listed shape (property)", () => {
    const nested = fc.array(fc.oneof(fc.anything({ maxDepth: 2 }), fc.record({ room: fc.string(), seq: fc.integer(), from: fc.string(), text: fc.string(), ts: fc.integer() })), { maxLength: 4 });
    fc.assert(
      fc.property(nested, nested, (items, names) => {
        for (const m of [
          { ...joined, messages: items, online: names },
          { type: "presence", room: "r", changes: items, count: 1 },
          { type: "history", room: "r", messages: items, hasMore: false },
        ]) {
          const raw = JSON.stringify(m);
          const result = parseServerMessage(raw);
          if (isProtocolError(result)) continue;
          // Accepted: every item is an object, as the client reads it.
          const { messages, changes } = JSON.parse(raw) as { messages?: unknown[]; changes?: unknown[] };
          for (const item of messages ?? changes ?? []) assert.ok(typeof item === "object" && item !== null && !Array.isArray(item), raw);
        }
      }),
      { numRuns: 2_000 },
    );
  });
});

describe("close codes", () => {
  it("4500-4999 are terminal, everything else is retried", () => {
    assert.equal(isRetryable(CloseCode.HeartbeatTimeout), true);
    assert.equal(isRetryable(CloseCode.Abnormal), true);
    assert.equal(isRetryable(CloseCode.ServerRestart), true);
    assert.equal(isRetryable(CloseCode.NicknameTaken), false);
    assert.equal(isRetryable(CloseCode.PolicyViolation), false);
  });
});

describe("canonical ping fast path", () => {
  it("accepts exactly the reference client's ping and answers with the same bytes as a pong", async () => {
    const { parseClientMessage } = await import("../../src/protocol/parse.js");
    const { isCanonicalPing, pongFrameOf, PONG_HEADER_BYTES } = await import("../../src/server/canonical-ping.js");
    const ping = Buffer.from('{"type":"ping","id":42,"sentAt":1764091200500}');
    assert.equal(isCanonicalPing(ping), true);
    const frame = pongFrameOf(ping);
    assert.deepEqual([frame[0], frame[1]], [0x81, ping.length], "a final, unmasked text frame of the ping's length");
    assert.deepEqual(JSON.parse(frame.subarray(PONG_HEADER_BYTES).toString()), { type: "pong", id: 42, sentAt: 1764091200500 });
    assert.deepEqual(parseClientMessage(ping.toString()), { type: "ping", id: 42, sentAt: 1764091200500 }, "the general parser agrees");
    for (const other of [
      '{"type":"ping","id":42,"sentAt":1764091200500,"x":1}',
      '{"type":"ping","id":-1,"sentAt":1}',
      '{"type":"ping","id":1.5,"sentAt":1}',
      '{"type":"ping","id":1234567890123456,"sentAt":1}',
      '{"type":"ping","id":1,"sentAt":1.5}',
      '{"type":"ping","id":1,"sentAt":}',
      '{"type":"ping","id":,"sentAt":1}',
      '{"type":"ping","id":1,"sentAt":1} ',
      '{"type":"ping", "id":1,"sentAt":1}',
      '{"type":"pong","id":1,"sentAt":1}',
    ]) {
      assert.equal(isCanonicalPing(Buffer.from(other)), false, other);
    }
  });

  it("reads a canonical ping straight from a whole masked client frame, and nothing else", async () => {
    const { pongFrameOf, pongFrameOfMaskedPing } = await import("../../src/server/canonical-ping.js");
    const { maskedFrame } = await import("../support/wire-frames.js");
    const ping = '{"type":"ping","id":42,"sentAt":1764091200500}';
    const pong = pongFrameOfMaskedPing(maskedFrame(ping));
    assert.ok(pong);
    assert.deepEqual(pong, pongFrameOf(Buffer.from(ping)), "the same pong as from the unmasked bytes");
    const whole = maskedFrame(ping);
    for (const [why, wire] of [
      ["not final", maskedFrame(ping, { fin: false })],
      ["binary", maskedFrame(ping, { opcode: 2 })],
      ["compressed (RSV1)", Buffer.concat([Buffer.from([0xc1]), whole.subarray(1)])],
      ["unmasked", Buffer.concat([Buffer.from([0x81, ping.length]), Buffer.from(ping)])],
      ["part of the frame", whole.subarray(0, whole.length - 1)],
      ["the frame and more", Buffer.concat([whole, Buffer.from([0x81])])],
      ["another message", maskedFrame('{"type":"pong","id":42,"sentAt":1764091200500}')],
      ["a ping in another form", maskedFrame('{"type":"ping", "id":42,"sentAt":1764091200500}')],
    ] as const) {
      assert.equal(pongFrameOfMaskedPing(wire), null, why);
    }
  });
});
