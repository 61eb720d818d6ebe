import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ServerProcess } from "../support/server-process.js";
import { RawClient } from "../support/raw-client.js";

describe("acked means durable", () => {
  it("SIGKILL right after each ack: after restart every acked message is there", { timeout: 120_000 }, async () => {
    const server = await ServerProcess.start({ args: ["--quiet"] });
    const acked: Array<{ id: string; seq: number }> = [];
    const texts = new Map<string, string>();
    let token: string | undefined;
    try {
      for (let round = 0; round < 8; round++) {
        // The same user every round: the nickname is held for it across the kills.
        const c = await RawClient.hello(server.wsUrl, "writer", token);
        token = c.welcome!.token;
        c.send({ type: "join", room: "vault" });
        await c.next("joined");
        // A burst, so some messages are in flight when the kill lands.
        for (let i = 0; i < 20; i++) {
          texts.set(`r${round}-${i}`, `round ${round} #${i}`);
          c.send({ type: "send", room: "vault", id: `r${round}-${i}`, text: `round ${round} #${i}` });
        }
        const first = await c.next("ack");
        await server.kill(); // the instant the first ack is seen
        for (const m of c.received) if (m.type === "ack") acked.push({ id: m.id, seq: m.seq });
        assert.ok(first.seq > 0);
        c.close();
        await server.restart();
      }
      const reader = await RawClient.hello(server.wsUrl, "reader");
      reader.send({ type: "join", room: "vault", since: 0, epoch: (await reader.next("welcome")).epoch });
      const joined = await reader.next("joined");
      assert.equal(joined.recovered, true);
      const stored = new Map(joined.messages.map((m) => [m.seq, m.text]));
      for (const a of acked) assert.equal(stored.get(a.seq), texts.get(a.id), `acked ${a.id} (seq ${a.seq}) is stored with that seq`);
      assert.ok(acked.length >= 8, `${acked.length} acks seen`);
      assert.deepEqual(joined.messages.map((m) => m.seq), Array.from({ length: joined.messages.length }, (_, i) => i + 1), "gap-free");
      reader.close();
    } finally {
      await server.dispose();
    }
  });
});
