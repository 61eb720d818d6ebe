import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { testServer } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { maskedFrame, wireOf } from "../support/wire-frames.js";
import { httpGet, parsePrometheus, sampleValue } from "../support/http-get.js";

/**
 * The server answers a heartbeat that arrives as one whole frame before ws parses it (see
 * receiver-intake). These tests write frames by hand so that they fall into TCP segments as
 * chosen, and check that the shortcut is taken only where it is the same as ws's reading.
 */
const ping = (id: number, sentAt = 1_700_000_000_000 + id) => `{"type":"ping","id":${id},"sentAt":${sentAt}}`;
const pongsOf = (c: RawClient, id: number) => c.received.filter((m) => m.type === "pong" && m.id === id).length;
/** Long enough that the server reads one segment before the next arrives. */
const READ_GAP_MS = 200;

describe("heartbeats taken before ws parses them", () => {
  it("a ping in a frame of its own is answered with its pong and counted", async () => {
    const server = await testServer();
    try {
      const c = await RawClient.hello(server.url, "solo");
      wireOf(c.ws).write(maskedFrame(ping(41, 1234567890123)));
      const pong = await c.next("pong", (m) => m.id === 41);
      assert.deepEqual(pong, { type: "pong", id: 41, sentAt: 1234567890123 });
      const answer = await httpGet(server.port, "/metrics");
      assert.equal(sampleValue(parsePrometheus(answer.body), "pulse_frames_received_total", { type: "ping" }), 1);
      c.close();
    } finally {
      await server.close();
    }
  });

  it("a ping split over two segments, or sharing one with a message, is answered in order", async () => {
    const server = await testServer();
    try {
      const c = await RawClient.hello(server.url, "split");
      const wire = wireOf(c.ws);
      const frame = maskedFrame(ping(7));
      wire.write(frame.subarray(0, 5));
      await sleep(READ_GAP_MS);
      wire.write(frame.subarray(5));
      await c.next("pong", (m) => m.id === 7);
      // A request the server answers at once (an error), then a ping, in one segment.
      wire.write(Buffer.concat([maskedFrame('{"type":"nonsense"}'), maskedFrame(ping(8))]));
      await c.next("pong", (m) => m.id === 8);
      const error = c.received.findIndex((m) => m.type === "error");
      const pong = c.received.findIndex((m) => m.type === "pong" && m.id === 8);
      assert.ok(error >= 0 && error < pong, "the frame read first is answered first");
      c.close();
    } finally {
      await server.close();
    }
  });

  it("bytes that finish another frame are not taken for a ping, even when they look like one", async () => {
    const server = await testServer();
    try {
      const c = await RawClient.hello(server.url, "lookalike");
      // A text frame whose last bytes, once masked, are exactly a whole ping frame.
      const lookalike = maskedFrame(ping(99), { mask: Buffer.from([0x11, 0x22, 0x33, 0x44]) });
      const mask = Buffer.from([0x01, 0x02, 0x03, 0x04]);
      const prefix = Buffer.from('{"type":"send","room":"r","id":"x","text":"');
      const payload = Buffer.concat([prefix, Buffer.alloc(lookalike.length)]);
      for (let i = 0; i < lookalike.length; i++) payload[prefix.length + i] = lookalike[i]! ^ mask[(prefix.length + i) & 3]!;
      const outer = maskedFrame(payload, { mask });
      assert.deepEqual(outer.subarray(outer.length - lookalike.length), lookalike);
      const wire = wireOf(c.ws);
      wire.write(outer.subarray(0, outer.length - lookalike.length));
      await sleep(READ_GAP_MS);
      wire.write(outer.subarray(outer.length - lookalike.length));
      // The whole frame is one message, and not valid UTF-8: ws closes with 1007.
      assert.equal((await c.waitClosed()).code, 1007);
      assert.equal(pongsOf(c, 99), 0);
    } finally {
      await server.close();
    }
  });

  it("a ping frame inside a fragmented message is a protocol error, not a heartbeat", async () => {
    const server = await testServer();
    try {
      const c = await RawClient.hello(server.url, "midfrag");
      const wire = wireOf(c.ws);
      wire.write(maskedFrame('{"type":', { fin: false }));
      await sleep(READ_GAP_MS);
      // A data frame may not start while a fragmented message is open (RFC 6455, 5.4).
      wire.write(maskedFrame(ping(5)));
      assert.equal((await c.waitClosed()).code, 1002);
      assert.equal(pongsOf(c, 5), 0);
    } finally {
      await server.close();
    }
  });

  it("the ping rate limit holds for pings taken this way", async () => {
    const server = await testServer({ rateLimits: { pings: { perConnection: { perSecond: 1, burst: 3 } } } });
    try {
      const c = await RawClient.hello(server.url, "pinger");
      const wire = wireOf(c.ws);
      for (let id = 1; id <= 10; id++) {
        wire.write(maskedFrame(ping(id)));
        await sleep(30);
      }
      await sleep(READ_GAP_MS);
      const answered = c.received.filter((m) => m.type === "pong").length;
      // The hello used one token; the burst allows about 3 more within these 0.5 s.
      assert.ok(answered >= 1 && answered <= 4, `${answered} of 10 pings answered`);
      c.close();
    } finally {
      await server.close();
    }
  });
});
