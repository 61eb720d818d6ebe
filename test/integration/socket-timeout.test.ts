import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { describe, it } from "node:test";
import WebSocket from "ws";
import { SUBPROTOCOL } from "../../src/protocol/messages.js";
import { dropClearedTimeout, holdsTimer } from "../../src/server/socket-timeout.js";
import { testServer } from "../support/test-server.js";

/** A connected pair of TCP sockets on loopback: [the accepted end, the connecting end]. */
async function socketPair(): Promise<[Socket, Socket]> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
  const client = connect((server.address() as { port: number }).port, "127.0.0.1");
  const pair: [Socket, Socket] = [await accepted, client];
  server.close();
  return pair;
}

describe("the HTTP idle timeout of an upgraded socket", () => {
  it("a cleared timer is let go, a running one is not", async () => {
    const [accepted, client] = await socketPair();
    try {
      accepted.setTimeout(60_000);
      dropClearedTimeout(accepted);
      assert.equal(holdsTimer(accepted), true, "a socket whose timeout runs keeps its timer");
      accepted.setTimeout(0);
      assert.equal(holdsTimer(accepted), true, "Node keeps the cleared timer on the socket");
      dropClearedTimeout(accepted);
      assert.equal(holdsTimer(accepted), false);
    } finally {
      accepted.destroy();
      client.destroy();
    }
  });

  it("a WebSocket's socket holds no timer once the server accepted it", async () => {
    // The server's sockets come through takeSocket here, so the test holds the server's end.
    const server = await testServer({ listen: false });
    const served: Socket[] = [];
    const front = createServer((socket) => {
      served.push(socket);
      server.takeSocket(socket);
    });
    await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve));
    const ws = new WebSocket(`ws://127.0.0.1:${(front.address() as { port: number }).port}`, [SUBPROTOCOL]);
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once("open", () => resolve());
        ws.once("error", reject);
      });
      // The server accepts in the upgrade's callback, before its 101 answer reaches the client.
      assert.equal(served.length, 1);
      assert.equal(served[0]!.timeout, 0, "ws turned the idle timeout off at the upgrade");
      assert.equal(holdsTimer(served[0]!), false, "the upgraded socket keeps no timer (about 170 bytes each)");
    } finally {
      ws.terminate();
      front.close();
      await server.close();
    }
  });
});
