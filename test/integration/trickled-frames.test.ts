import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { setImmediate as nextTurn } from "node:timers/promises";
import { testServer } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { maskedFrame, wireOf } from "../support/wire-frames.js";

/** A ping padded to `bytes` of JSON: a frame the server must read whole and answer. */
const paddedPing = (id: number, bytes: number): string => {
  const head = `{"type":"ping","id":${id},"sentAt":1,"pad":"`;
  return `${head}${"x".repeat(bytes - head.length - 2)}"}`;
};

/**
 * Writes `frame` in pieces of `pieceBytes`, a turn of the event loop between them so that the
 * server reads each on its own, until it is all sent or the connection closed. Returns the
 * bytes sent.
 */
async function writeInPieces(c: RawClient, frame: Buffer, pieceBytes: number): Promise<number> {
  const wire = wireOf(c.ws);
  let sent = 0;
  while (sent < frame.length && c.closed === null && !wire.destroyed) {
    wire.write(frame.subarray(sent, sent + pieceBytes));
    sent = Math.min(frame.length, sent + pieceBytes);
    await nextTurn();
  }
  return sent;
}

describe("frames that arrive in many pieces", () => {
  it("a frame trickled a byte per segment closes with 1008 long before it is whole; the server goes on serving", async () => {
    // 4 KiB of payload: at most 4096 / 256 + 16 = 32 pieces held for one frame.
    const server = await testServer({ maxPayloadBytes: 4096 });
    try {
      const trickler = await RawClient.hello(server.url, "trickler");
      const other = await RawClient.hello(server.url, "other");
      const frame = maskedFrame(paddedPing(1, 4000));
      const sent = await writeInPieces(trickler, frame, 1);
      assert.equal((await trickler.waitClosed()).code, 1008);
      // ws held every byte read apart, 4,000 of them, before (see src/protocol/frame-pieces.ts, bufferedChunkLimit).
      assert.ok(sent < 1_000, `the connection stayed open for ${sent} of ${frame.length} bytes`);
      other.ws.send(paddedPing(2, 100));
      assert.equal((await other.next("pong", (m) => m.id === 2)).id, 2);
      other.close();
    } finally {
      await server.close();
    }
  });

  it("a frame of the largest size in the smallest TCP segments (536 bytes) is served", async () => {
    const server = await testServer();
    try {
      const c = await RawClient.hello(server.url, "slowlink");
      const frame = maskedFrame(paddedPing(3, 64_000));
      assert.equal(await writeInPieces(c, frame, 536), frame.length);
      assert.equal((await c.next("pong", (m) => m.id === 3)).id, 3);
      assert.equal(c.closed, null);
      c.close();
    } finally {
      await server.close();
    }
  });
});
