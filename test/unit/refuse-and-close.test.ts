import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { describe, it } from "node:test";
import { REFUSAL_DEADLINE_MS, refuseAndClose } from "../../src/server/connection-caps.js";

/** A real TCP pair on loopback: the server's end, and a client end that reads nothing. */
async function pair(): Promise<{ served: Socket; client: Socket; close: () => void }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
  const client = connect({ port, host: "127.0.0.1" });
  client.on("error", () => {});
  client.pause();
  const served = await accepted;
  served.on("error", () => {});
  return { served, client, close: () => (client.destroy(), served.destroy(), server.close()) };
}

describe("refuseAndClose", () => {
  it("closes the socket once the refusal is written", async () => {
    const { served, close } = await pair();
    try {
      refuseAndClose(served, 503, "Service Unavailable");
      await new Promise((resolve) => served.once("close", resolve));
      assert.equal(served.destroyed, true);
    } finally {
      close();
    }
  });

  it("resets a socket whose peer never reads, once the deadline passes: the refusal behind what it did not read never finishes", async () => {
    const { served, close } = await pair();
    try {
      // More than the kernel's buffers between the two ends hold: the write cannot finish.
      served.write(Buffer.alloc(64 * 1024 * 1024));
      const started = Date.now();
      refuseAndClose(served, 426, "Upgrade Required");
      const closed = await Promise.race([new Promise((resolve) => served.once("close", () => resolve(true))), new Promise((resolve) => setTimeout(() => resolve(false), REFUSAL_DEADLINE_MS + 5_000))]);
      assert.equal(closed, true, "the socket was still open 5 s past the deadline");
      const heldMs = Date.now() - started;
      assert.ok(heldMs >= REFUSAL_DEADLINE_MS - 50 && heldMs < REFUSAL_DEADLINE_MS + 3_000, `held ${heldMs} ms`);
      assert.equal(served.writableFinished, false, "closed by the deadline, not by the write finishing");
    } finally {
      close();
    }
  });
});
