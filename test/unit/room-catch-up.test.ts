import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Room, type SyncingMember } from "../../src/server/room.js";
import { RoomCatchUp } from "../../src/server/room-catch-up.js";
import { ReplayGate } from "../../src/server/replay-gate.js";
import { MemoryStore } from "../../src/store/memory-store.js";

const frameOf = (seq: number): Buffer => Buffer.from(JSON.stringify({ type: "message", seq }));

/**
 * A join of `room` by a member that records the seqs it is sent (live frames released after
 * the catch-up), with the store holding messages 1..20 and messages 21-23 published while its
 * `joined` goes out.
 */
async function joinWhileMessagesArrive(requestFor: (epoch: string) => { since?: number; epoch?: string }): Promise<{ joinedSeq: number; recovered: boolean; released: number[] }> {
  const store = new MemoryStore();
  const request = requestFor(store.epoch);
  for (let i = 1; i <= 20; i++) await store.append({ room: "r", userId: "u", clientId: "c", id: `m${i}`, from: "ada", text: "t", ts: i });
  const room = new Room("r", "127.0.0.1");
  const member: SyncingMember = { socket: null as never, afterSend() {}, holdFrames: () => true };
  const released: number[] = [];
  const held = room.startSync(member);
  const catchUp = new RoomCatchUp(
    { store, gate: new ReplayGate(4), historyLimit: 50, maxReplay: 10_000, maxReplayBytes: 8 << 20, messageFrame: (m) => frameOf(m.seq), messageFrameBytes: (m) => frameOf(m.seq).length },
    { room: "r", ...request },
    {
      onlineFields: () => [Buffer.from('"online":[],"onlineCount":1')],
      stillWanted: () => room.holds(member, held),
      release: (seq) => released.push(...room.finishSync(member, seq).map((f) => f.seq)),
      failed: (err) => assert.fail(err),
    },
  );
  const joined = (await catchUp.next())!;
  const { seq: joinedSeq, recovered } = JSON.parse(Buffer.concat(joined[0] as Buffer[]).toString()) as { seq: number; recovered: boolean };
  for (const seq of [21, 22, 23]) room.deliver(frameOf(seq), seq);
  assert.equal(await catchUp.next(), null);
  catchUp.finish(true);
  return { joinedSeq, recovered, released };
}

describe("a join's catch-up", () => {
  it("releases the live frames after what its joined carried, whatever since asked for", async () => {
    const cases: Array<[string, (epoch: string) => { since?: number; epoch?: string }, boolean]> = [
      ["no since", () => ({}), false],
      ["a resume at the latest seq", (epoch) => ({ since: 20, epoch }), true],
      ["since beyond the latest seq", (epoch) => ({ since: 1_020, epoch }), false],
      ["since of another epoch", () => ({ since: 500, epoch: "another-epoch" }), false],
    ];
    for (const [name, requestFor, recovers] of cases) {
      const { joinedSeq, recovered, released } = await joinWhileMessagesArrive(requestFor);
      assert.deepEqual([joinedSeq, recovered], [20, recovers], name);
      // Before: a since beyond the latest seq released only frames above it, and 21-23 were lost.
      assert.deepEqual(released, [21, 22, 23], name);
    }
  });
});
