import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as wsModule from "ws";
import { textFrameHeader } from "../../src/server/fanout.js";

/** ws's own framing (undeclared in @types/ws): the header it writes before a payload. */
const frame = (wsModule as unknown as {
  Sender: { frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Buffer[] };
}).Sender.frame;

describe("textFrameHeader", () => {
  it("is the header ws writes for an unmasked text frame, at every length encoding's edges", () => {
    for (const length of [0, 1, 125, 126, 127, 65_535, 65_536, 300_000]) {
      const [header] = frame(Buffer.alloc(length), { fin: true, opcode: 0x1, mask: false, readOnly: true, rsv1: false });
      assert.deepEqual(textFrameHeader(length), header, `length ${length}`);
    }
  });
});
