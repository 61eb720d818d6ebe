import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import type { PulseServer } from "../../src/server/index.js";
import { testServer } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { LobbyPair } from "../support/lobby-pair.js";

describe("bad input", () => {
  let server: PulseServer;
  let pair: LobbyPair;
  let bystander: RawClient;

  before(async () => {
    server = await testServer({ maxPayloadBytes: 4 * 1024, maxTextLength: 100 });
    pair = await LobbyPair.join(server.url);
    bystander = pair.bystander;
  });
  after(async () => {
    pair.close();
    await server.close();
  });

  /** After each abuse the room still works for everyone else. */
  const othersStillChat = (tag: string) => pair.stillChat(tag);

  const errorCases: Array<[string, string | Buffer, string]> = [
    ["non-JSON", "{not json", "bad_json"],
    ["a JSON array", "[1,2,3]", "bad_message"],
    ["an unknown type", JSON.stringify({ type: "teleport" }), "unknown_type"],
    ["wrong field types", JSON.stringify({ type: "send", room: "lobby", id: 5, text: ["x"] }), "bad_message"],
    ["a binary frame", Buffer.from([1, 2, 3]), "binary_not_supported"],
  ];
  for (const [i, [name, payload, code]] of errorCases.entries()) {
    it(`${name} gets error '${code}' and the connection stays`, async () => {
      const c = await RawClient.hello(server.url, `abuser-${i}`);
      c.ws.send(payload, { binary: Buffer.isBuffer(payload) });
      const err = await c.next("error");
      assert.equal(err.code, code);
      assert.ok(err.message.length > 5);
      c.send({ type: "join", room: "lobby" });
      await c.next("joined");
      assert.equal(c.closed, null);
      c.close();
      await othersStillChat(code);
    });
  }

  it("an oversized frame closes that connection with 1009", async () => {
    const c = await RawClient.hello(server.url, "big");
    c.send({ type: "send", room: "lobby", id: "1", text: "x".repeat(5_000) });
    assert.equal((await c.waitClosed()).code, 1009);
    await othersStillChat("big");
  });

  it("invalid UTF-8 in a text frame closes that connection with 1007", async () => {
    const c = await RawClient.hello(server.url, "utf");
    c.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    assert.equal((await c.waitClosed()).code, 1007);
    await othersStillChat("utf");
  });

  it("text over the limit, sending to a room not joined, and too-long room names are refused", async () => {
    const c = await RawClient.hello(server.url, "limits");
    c.send({ type: "send", room: "lobby", id: "a", text: "hi" });
    assert.equal((await c.next("error", (e) => e.ref === "a")).code, "not_in_room");
    c.send({ type: "join", room: "lobby" });
    await c.next("joined");
    c.send({ type: "send", room: "lobby", id: "b", text: "y".repeat(101) });
    assert.equal((await c.next("error", (e) => e.ref === "b")).code, "text_too_long");
    c.send({ type: "join", room: "r".repeat(65) });
    assert.equal((await c.next("error", (e) => e.code === "bad_room")).code, "bad_room");
    c.close();
    await othersStillChat("limits");
  });

  it("chat before hello is refused with not_ready", async () => {
    const c = await RawClient.connect(server.url);
    c.send({ type: "join", room: "lobby" });
    assert.equal((await c.next("error")).code, "not_ready");
    c.close();
  });

  it("a client that never says hello is closed with 4002", async () => {
    const quick = await testServer({ handshakeTimeoutMs: 200 });
    try {
      const c = await RawClient.connect(quick.url);
      assert.equal((await c.waitClosed()).code, 4002);
    } finally {
      await quick.close();
    }
  });

  it("an upgrade without the pulse.v1 subprotocol, or from a foreign Origin, is refused", async () => {
    await assert.rejects(RawClient.connect(server.url, ["chat"]), /426/);
    const { default: WebSocket } = await import("ws");
    const foreign = new WebSocket(server.url, ["pulse.v1"], { origin: "https://evil.example" });
    foreign.on("error", () => {});
    const status = await new Promise<number>((resolve) => foreign.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0)));
    assert.equal(status, 403);
    await othersStillChat("upgrade");
  });

  it("a nickname held by another user is refused with 4501; the same user may open a second tab", async () => {
    const tab2 = await RawClient.hello(server.url, "bystander", bystander.welcome!.token);
    assert.equal(tab2.closed, null);
    const thief = await RawClient.connect(server.url);
    thief.send({ type: "hello", clientId: "t", nick: "bystander" });
    assert.equal((await thief.waitClosed()).code, 4501);
    tab2.close();
  });
});
