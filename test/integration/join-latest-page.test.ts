import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { RawClient } from "../support/raw-client.js";
import { testServer } from "../support/test-server.js";
import { httpGet } from "../support/http-get.js";

/** How many times the store's readBefore ran, from the server's own metrics. */
async function readBeforeCalls(port: number): Promise<number> {
  const body = (await httpGet(port, "/metrics")).body;
  const line = body.split("\n").find((l) => l.startsWith('pulse_store_seconds_count{op="readBefore",outcome="ok"}'));
  return line ? Number(line.split(" ").pop()) : 0;
}

describe("joins without since share the room's newest page", () => {
  it("forty joiners at once get the same history from one store read; a new message makes the next joiner read again", async () => {
    const server = await testServer({ rateLimits: false });
    const url = `ws://127.0.0.1:${server.port}`;
    const clients: RawClient[] = [];
    try {
      const author = await RawClient.hello(url, "author");
      clients.push(author);
      author.send({ type: "join", room: "hall" });
      await author.next("joined");
      for (let i = 1; i <= 5; i++) {
        author.send({ type: "send", room: "hall", id: `m${i}`, text: `message ${i}` });
        await author.next("ack", (a) => a.id === `m${i}`);
      }
      const joiners = await Promise.all(Array.from({ length: 40 }, (_, i) => RawClient.hello(url, `joiner${i}`)));
      clients.push(...joiners);
      const before = await readBeforeCalls(server.port);
      for (const j of joiners) j.send({ type: "join", room: "hall" });
      const answers = await Promise.all(joiners.map((j) => j.next("joined")));
      for (const a of answers) assert.deepEqual(a.messages.map((m) => m.text), ["message 1", "message 2", "message 3", "message 4", "message 5"]);
      assert.equal((await readBeforeCalls(server.port)) - before, 1, "one store read for forty joins");

      author.send({ type: "send", room: "hall", id: "m6", text: "message 6" });
      await author.next("ack", (a) => a.id === "m6");
      const late = await RawClient.hello(url, "late");
      clients.push(late);
      late.send({ type: "join", room: "hall" });
      const joined = await late.next("joined");
      assert.deepEqual(joined.messages.map((m) => m.text).slice(-2), ["message 5", "message 6"], "the page moved with the new message");
      assert.equal((await readBeforeCalls(server.port)) - before, 2);
    } finally {
      for (const c of clients) c.ws.terminate();
      await server.close();
    }
  });
});
