import { describe, it } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { fanout, UNCORKS_PER_TURN, type FanoutTarget } from "../../src/server/fanout.js";

/** A TCP socket as fanout sees it: it records what reaches the wire (written while uncorked). */
class RecordingSocket {
  writable = true;
  writableCorked = 0;
  private queued: Buffer[] = [];
  readonly wire: Buffer[] = [];
  cork(): void {
    this.writableCorked++;
  }
  uncork(): void {
    if (this.writableCorked > 0 && --this.writableCorked === 0) this.wire.push(...this.queued.splice(0));
  }
  write(chunk: Buffer): boolean {
    if (this.writableCorked > 0) this.queued.push(chunk);
    else this.wire.push(chunk);
    return true;
  }
}

/** A recipient whose ws is open on a RecordingSocket; counts its afterSend calls. */
function recipient() {
  const socket = new RecordingSocket();
  const target = { socket: { readyState: WebSocket.OPEN, _socket: socket } as unknown as WebSocket, sent: 0, afterSend() { target.sent++; } };
  return { socket, target: target satisfies FanoutTarget };
}

const nextTurn = () => new Promise((r) => setImmediate(r));
const payloadsOn = (s: RecordingSocket) => s.wire.map((b) => b.subarray(2).toString());

describe("fanout to a large room", () => {
  it("uncorks at most UNCORKS_PER_TURN sockets per turn of the event loop, and each socket's frames leave in order", async () => {
    const room = Array.from({ length: 2 * UNCORKS_PER_TURN + 500 }, recipient);
    const targets = room.map((r) => r.target);
    fanout(targets, Buffer.from("one"));
    const onWire = () => room.filter((r) => r.socket.wire.length > 0).length;
    assert.equal(onWire(), 0, "nothing leaves in the turn that wrote it");
    await nextTurn();
    assert.equal(onWire(), UNCORKS_PER_TURN, "the first turn after");
    // A second message while the rest wait: it joins their corked sockets behind the first.
    fanout(targets, Buffer.from("two"));
    await nextTurn();
    await nextTurn();
    await nextTurn();
    for (const r of room) assert.deepEqual(payloadsOn(r.socket), ["one", "two"]);
    assert.ok(room.every((r) => r.target.sent >= 1 && r.socket.writableCorked === 0));
  });
});
