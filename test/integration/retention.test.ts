import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { testServer } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { MESSAGE_OVERHEAD_BYTES } from "../../src/store/index.js";

describe("retention through the server", () => {
  it("retainBytesPerRoom reaches the store the server opens: a newcomer finds only what fits", async () => {
    const text = "é".repeat(1_000); // 2,000 UTF-8 bytes
    const server = await testServer({ store: ":memory:", retainBytesPerRoom: 3 * (2_000 + MESSAGE_OVERHEAD_BYTES) });
    try {
      const ada = await RawClient.hello(server.url, "ada");
      ada.send({ type: "join", room: "r" });
      await ada.next("joined");
      for (let i = 1; i <= 5; i++) {
        ada.send({ type: "send", room: "r", id: `m${i}`, text });
        await ada.next("ack", (a) => a.id === `m${i}`);
      }
      const bob = await RawClient.hello(server.url, "bob");
      bob.send({ type: "join", room: "r", since: 0 });
      const joined = await bob.next("joined");
      assert.deepEqual(joined.messages.map((m) => m.seq), [3, 4, 5]);
      for (const c of [ada, bob]) c.close();
    } finally {
      await server.close();
    }
  });
});
