import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { WebSocketServer, type WebSocket } from "ws";
import { SUBPROTOCOL } from "../../src/protocol/messages.js";
import { testClient } from "../support/test-server.js";
import { sleep, waitFor } from "../support/wait.js";

/**
 * The client library against a server that lies: a real WebSocket server (ws) that speaks
 * enough of the protocol to welcome a client and answer its join, but puts what it should not
 * into a message of a known type. Before, the client read such messages without looking: a
 * `joined` or `presence` with a null among its items threw out of the socket's message
 * handler (in Node, an uncaught exception that ends the app), and a `welcome` whose retry
 * advice was not a pair of delays (a string, a negative cap) made every reconnect delay NaN,
 * that is none.
 */

const WELCOME = {
  type: "welcome", protocol: 1, sessionId: "s1", userId: "u1", epoch: "e1",
  liveness: { intervalMs: 5_000, suspectMs: 8_000, timeoutMs: 12_000 },
  retry: { baseMs: 500, capMs: 30_000 },
  limits: { maxPayloadBytes: 65_536, maxTextLength: 4_000, maxRooms: 32, maxNickLength: 32 },
  historyLimit: 50,
};
const joinedOf = (room: string) => ({ type: "joined", room, seq: 0, recovered: true, messages: [], online: ["ada"], onlineCount: 1 });

interface LyingServer {
  url: string;
  /** Connections it accepted so far. */
  connections: number;
  close(): Promise<void>;
}

/** `onHello` / `onJoin` send what the server says to a hello and a join (the honest answers by default). */
async function lyingServer(script: { onHello?: (ws: WebSocket, nick: string) => void; onJoin?: (ws: WebSocket, room: string) => void }): Promise<LyingServer> {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false) });
  await new Promise((listening) => wss.once("listening", listening));
  const server: LyingServer = {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    connections: 0,
    close: () => {
      for (const ws of wss.clients) ws.terminate();
      return new Promise((closed) => wss.close(() => closed()));
    },
  };
  wss.on("connection", (ws) => {
    server.connections++;
    ws.on("message", (data) => {
      const m = JSON.parse(String(data)) as { type: string; nick?: string; room?: string };
      if (m.type === "hello") (script.onHello ?? ((w, nick) => w.send(JSON.stringify({ ...WELCOME, nick, serverTime: Date.now() }))))(ws, m.nick!);
      if (m.type === "join") (script.onJoin ?? ((w, room) => w.send(JSON.stringify(joinedOf(room)))))(ws, m.room!);
    });
  });
  return server;
}

const welcome = (ws: WebSocket, nick: string, changes: object = {}) => ws.send(JSON.stringify({ ...WELCOME, nick, serverTime: Date.now(), ...changes }));

describe("the client against a server that lies", () => {
  for (const [name, lie] of [
    ["a joined whose messages hold a null", (ws: WebSocket, room: string) => ws.send(JSON.stringify({ ...joinedOf(room), messages: [null] }))],
    ["a joined whose online list holds a number", (ws: WebSocket, room: string) => ws.send(JSON.stringify({ ...joinedOf(room), online: [7] }))],
    ["a presence whose changes hold a null", (ws: WebSocket, room: string) => {
      ws.send(JSON.stringify(joinedOf(room)));
      ws.send(JSON.stringify({ type: "presence", room, changes: [null], count: 2 }));
    }],
    ["a history page whose messages lack their seq", (ws: WebSocket, room: string) => {
      ws.send(JSON.stringify(joinedOf(room)));
      ws.send(JSON.stringify({ type: "history", room, messages: [{ room, from: "x", text: "hi", ts: 1 }], hasMore: false }));
    }],
  ] as const) {
    it(`${name}: the client does not act on it, drops the link with 4007 and comes back with backoff`, async () => {
      const server = await lyingServer({ onJoin: lie });
      const client = testClient(server.url, "ada", { backoff: { baseMs: 100, capMs: 400 } });
      const reasons: string[] = [];
      client.on("state", (s) => {
        if (s.kind === "reconnecting") reasons.push(s.reason);
      });
      try {
        client.connect();
        client.join("lobby");
        await waitFor(() => server.connections >= 3, "the client back twice", 10_000);
        assert.match(reasons[0] ?? "", /malformed message/, `reasons: ${reasons.join(" | ")}`);
        assert.notEqual(client.state.kind, "closed", "a lying server is a failure like any other: the client keeps trying");
      } finally {
        client.close();
        await server.close();
      }
    });
  }

  it("a welcome whose retry advice is not a pair of delays: the client keeps its own backoff instead of reconnecting at once", async () => {
    // The server welcomes with bad advice, then drops every link after its welcome.
    const server = await lyingServer({
      onHello: (ws, nick) => {
        welcome(ws, nick, { retry: { baseMs: "soon", capMs: -1 } });
        setTimeout(() => ws.terminate(), 10);
      },
    });
    const client = testClient(server.url, "ada", { backoff: { baseMs: 200, capMs: 400 } });
    try {
      client.connect();
      await sleep(2_000);
      // Full jitter over 200-400 ms: at most about 2,000 / 100 links in 2 s even when every draw is short;
      // before, a NaN delay is no delay, and the client was back hundreds of times.
      assert.ok(server.connections <= 25, `${server.connections} connections in 2 s`);
      assert.ok(server.connections >= 2, "the client came back");
    } finally {
      client.close();
      await server.close();
    }
  });

  it("a frame larger than any a server writes (9 MiB) is refused unread: 1009, nothing delivered, the client comes back", async () => {
    const huge = "x".repeat(9 * 1024 * 1024);
    const server = await lyingServer({
      onJoin: (ws, room) => {
        ws.send(JSON.stringify(joinedOf(room)));
        ws.send(JSON.stringify({ type: "message", room, seq: 1, from: "mallory", text: huge, ts: 1 }));
      },
    });
    const client = testClient(server.url, "ada", { backoff: { baseMs: 100, capMs: 400 } });
    const delivered: number[] = [];
    const reasons: string[] = [];
    client.on("message", (m) => delivered.push(m.text.length));
    client.on("state", (s) => {
      if (s.kind === "reconnecting") reasons.push(s.reason);
    });
    try {
      client.connect();
      client.join("lobby");
      await waitFor(() => server.connections >= 2, "the client back", 10_000);
      assert.deepEqual(delivered, [], "the frame was not taken in");
      assert.ok(reasons.length >= 1, "the link was dropped");
    } finally {
      client.close();
      await server.close();
    }
  });

  it("a message of a type it does not know is ignored: the link stays open", async () => {
    const server = await lyingServer({
      onJoin: (ws, room) => {
        ws.send(JSON.stringify(joinedOf(room)));
        ws.send(JSON.stringify({ type: "reaction", room, emoji: "+1" }));
      },
    });
    const client = testClient(server.url, "ada");
    try {
      client.connect();
      client.join("lobby");
      await waitFor(() => client.state.kind === "open", "open");
      await sleep(300);
      assert.equal(client.state.kind, "open");
      assert.equal(server.connections, 1);
    } finally {
      client.close();
      await server.close();
    }
  });
});
