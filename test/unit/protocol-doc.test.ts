import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isProtocolError, parseClientMessage, parseServerMessage } from "../../src/protocol/parse.js";
import { docBlocks, protocolDocBlocks, expectedRefusal, inlineExamples, shapeDiff } from "../support/doc-examples.js";

const parserOf = { client: parseClientMessage, server: parseServerMessage };

describe("docs/protocol.md examples", () => {
  const blocks = protocolDocBlocks();

  it("has examples of every message type in both directions", () => {
    const types = new Set(blocks.flatMap((b) => b.examples.map((e) => `${e.direction}:${String(e.value.type)}`)));
    for (const t of ["hello", "join", "send", "history", "who", "leave", "ping"]) assert.ok(types.has(`client:${t}`), `no client example of ${t}`);
    for (const t of ["welcome", "joined", "ack", "message", "history", "who", "left", "presence", "goaway", "error", "pong"]) assert.ok(types.has(`server:${t}`), `no server example of ${t}`);
  });

  it("every fenced example passes its direction's parser", () => {
    let refused = 0;
    const failures = blocks.flatMap((b) =>
      b.examples.flatMap((e, i) => {
        const parsed = parserOf[e.direction](JSON.stringify(e.value));
        const refusal = expectedRefusal(b, i);
        if (refusal) {
          refused++;
          // Documented as refused: the parser must refuse it with the documented code.
          return isProtocolError(parsed) && parsed.code === refusal ? [] : [`docs/protocol.md:${e.line}: documented as ${refusal}, parser says ${isProtocolError(parsed) ? parsed.code : "ok"}`];
        }
        return isProtocolError(parsed) ? [`docs/protocol.md:${e.line} (from ${e.direction}): ${parsed.message}`] : [];
      }),
    );
    assert.deepEqual(failures, []);
    assert.ok(refused >= 1, "the refused example was recognised");
  });

  it("every inline message example is JSON that one side's parser accepts", () => {
    const inline = inlineExamples();
    assert.ok(inline.length >= 2);
    for (const { text, line } of inline) {
      const ok = [parseClientMessage(text), parseServerMessage(text)].some((m) => !isProtocolError(m));
      assert.ok(ok, `docs/protocol.md:${line}: ${text}`);
    }
  });

  it("the extractor fails loudly on a broken example, and the shape check sees a missing or retyped field", () => {
    assert.throws(() => docBlocks("```jsonc\n// client -> server\n{\"type\":\"join\",\n```\n"), /not valid JSON/);
    assert.throws(() => docBlocks("```jsonc\n{\"type\":\"join\",\"room\":\"a\"}\n```\n"), /no direction/);
    const [block] = docBlocks("```jsonc\n// client -> server\n{\"type\":\"who\",\"room\":\"a\"}\n// server -> client\n{\"type\":\"who\",\n \"room\":\"a\",\"count\":1,\"online\":[],\"more\":false}\n```\n");
    assert.equal(block!.exchange, true);
    assert.equal(block!.examples.length, 2);
    assert.deepEqual(shapeDiff({ a: 1, b: [{ c: "x" }] }, { a: 2, b: [{ c: "y" }], extra: true }), []);
    assert.deepEqual(shapeDiff({ a: 1, b: "x" }, { a: "1" }), ["$.a: documented number, server sent string", "$.b: documented, not sent"]);
  });
});
