import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { testServer } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { protocolDocBlocks, shapeDiff, type DocExample } from "../support/doc-examples.js";
import type { ServerMessage } from "../../src/protocol/messages.js";

/**
 * Every exchange in docs/protocol.md (a block with both directions), replayed in order against
 * a real server on a fresh connection: client values are sent as written, and each server
 * value must match the next frame of its type that the server really sent, by shape (and by
 * `code` for errors). Values differ run to run (ids, times), so they are not compared.
 */
describe("docs/protocol.md exchanges against a real server", () => {
  const blocks = protocolDocBlocks();
  const exchanges = blocks.filter((b) => b.exchange);
  const hello = blocks.flatMap((b) => b.examples).find((e) => e.direction === "client" && e.value.type === "hello");

  it("the document has exchanges, and a hello to open sessions with", () => {
    assert.ok(exchanges.length >= 3, `${exchanges.length} exchanges`);
    assert.ok(hello, "a client hello example");
  });

  for (const block of exchanges) {
    const types = block.examples.map((e) => `${e.direction === "client" ? ">" : "<"}${String(e.value.type)}`).join(" ");
    it(`docs/protocol.md:${block.line}: ${types}`, async () => {
      const server = await testServer();
      const client = await RawClient.connect(server.url);
      try {
        const steps: DocExample[] = block.examples[0]!.value.type === "hello" ? block.examples : [hello!, { direction: "server", value: { type: "welcome" }, line: 0 }, ...block.examples];
        let seen = 0; // frames before this index are consumed
        for (const step of steps) {
          if (step.direction === "client") {
            client.send(step.value);
            continue;
          }
          const type = step.value.type as ServerMessage["type"];
          const code = type === "error" ? step.value.code : undefined;
          const at = await waitIndex(client, seen, (m) => m.type === type && (code === undefined || (m as { code?: unknown }).code === code), `docs/protocol.md:${step.line}: a '${type}'${code ? ` (${String(code)})` : ""}`);
          seen = at + 1;
          assert.deepEqual(shapeDiff(step.value, client.received[at]), [], `docs/protocol.md:${step.line}: the server sent ${JSON.stringify(client.received[at])}`);
        }
      } finally {
        client.close();
        await server.close();
      }
    });
  }
});

/** The index of the first received frame at or after `from` that matches. */
async function waitIndex(client: RawClient, from: number, match: (m: ServerMessage) => boolean, what: string): Promise<number> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const i = client.received.findIndex((m, k) => k >= from && match(m));
    if (i >= 0) return i;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${client.received.slice(from).map((m) => m.type).join(", ")}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
