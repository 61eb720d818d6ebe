import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { countAtEnd, Room } from "../../src/server/room.js";

const member = () => ({ socket: null as never, afterSend() {} });

describe("a room's recipients (what a send is charged in deliveries)", () => {
  it("reads a presence frame's count from its end, and nothing from other frames", () => {
    assert.equal(countAtEnd(Buffer.from('{"type":"presence","room":"r","changes":[],"count":4321}')), 4321);
    assert.equal(countAtEnd(Buffer.from('{"type":"presence","room":"r","changes":[{"nick":"a","event":"join"}],"count":0}')), 0);
    for (const other of ['{"type":"presence","count":}', '{"type":"message","text":"count":5}', '{"count":12', "", "}", '"count":7}']) {
      assert.equal(countAtEnd(Buffer.from(other)), null, other);
    }
    // Only the trailing field counts, wherever else the word appears.
    assert.equal(countAtEnd(Buffer.from('{"type":"presence","room":"\\"count\\":9","changes":[],"count":3}')), 3);
  });

  it("are this node's members, plus the names online only through other nodes as the last presence frame told", () => {
    const room = new Room("r", "10.0.0.1");
    for (let i = 0; i < 3; i++) room.members.add(member());
    room.addPresence("ann");
    room.addPresence("bob");
    assert.equal(room.recipients, 3, "nothing heard from other nodes yet");
    room.presenceHeard(Buffer.from('{"type":"presence","room":"r","changes":[],"count":502}'));
    assert.equal(room.recipients, 3 + 500, "502 names in all, 2 of them here");
    room.presenceHeard(Buffer.from('{"type":"presence","room":"r","changes":[],"count":1}'));
    assert.equal(room.recipients, 3, "a count below this node's own names adds nothing");
    room.presenceHeard(Buffer.from('{"type":"message","room":"r","seq":5}'));
    assert.equal(room.recipients, 3, "a frame without a count changes nothing");
  });

  it("lists the names online here and elsewhere as the sorted union, each once (any names, overlapping or not)", () => {
    // Both lists drawn from one pool of names, so they overlap often (a name online through two nodes).
    const pool = fc.uniqueArray(fc.string({ unit: "binary", minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 20 });
    const lists = pool.chain((names) => fc.tuple(fc.subarray(names), fc.subarray(names)));
    fc.assert(
      fc.property(lists, ([here, elsewhere]) => {
        const room = new Room("r", "10.0.0.1");
        for (const nick of here) room.addPresence(nick);
        const sortedElsewhere = [...new Set(elsewhere)].sort();
        const merged = room.onlineWith(sortedElsewhere);
        const union = [...new Set([...here, ...elsewhere])].sort();
        assert.deepEqual(merged.sorted, union);
        assert.equal(merged.remoteOnly, union.length - new Set(here).size);
      }),
      { numRuns: 300 },
    );
  });
});
