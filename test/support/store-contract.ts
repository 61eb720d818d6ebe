import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ChatMessage } from "../../src/protocol/messages.js";
import { toWire, type AppendInput, type MessageStore } from "../../src/store/message-store.js";
import type { PulseStore } from "../../src/store/identity-store.js";
import { dropAllowance, MESSAGE_OVERHEAD_BYTES, messageBytes, ROOM_OVERHEAD_BYTES, type RetentionOptions } from "../../src/store/retention.js";

export interface StoreFixture {
  store: PulseStore;
  /**
   * Opens the same data again once `store` is closed, with the fixture's options or `options`;
   * omitted by engines that cannot.
   */
  reopen?: (options?: RetentionOptions) => Promise<PulseStore>;
  /** Closes every store the fixture opened (closing twice must be harmless) and removes its files. */
  cleanup: () => Promise<void>;
}

/** Makes a fresh, empty store; `options` must reach the engine (the retention tests need it). */
export type MakeStore = (options?: RetentionOptions) => Promise<StoreFixture>;

const BASE_TS = 1_700_000_000_000;

/** A distinct input per (room, n), so expected values can be recomputed in assertions. */
function input(room: string, n: number, overrides: Partial<AppendInput> = {}): AppendInput {
  return {
    room,
    userId: "user-1",
    clientId: "client-1",
    id: `${room}-${n}`,
    from: "alice",
    text: `message ${n} in ${room}`,
    ts: BASE_TS + n,
    ...overrides,
  };
}

const seqs = (messages: ChatMessage[]) => messages.map((message) => message.seq);

/** [from, from + 1, ..., to] */
const span = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * A text of exactly `bytes` UTF-8 bytes in half as many characters ("é" is two bytes), so an
 * engine that counted characters instead of bytes would keep twice too many.
 */
const textOfBytes = (bytes: number): string => "é".repeat(bytes / 2);

/** Each byte-budget test message: 1,000 bytes of messageBytes (text, sender, room, ids), and what it costs in the budget. */
const MESSAGE_BYTES = 1_000;
const COST = MESSAGE_BYTES + MESSAGE_OVERHEAD_BYTES;

/** A message whose messageBytes are exactly `bytes`: its text makes up what its other fields leave. */
function sized(room: string, n: number, bytes = MESSAGE_BYTES): AppendInput {
  const textBytes = bytes - messageBytes(input(room, n, { text: "" }));
  assert.ok(textBytes >= 0, `${bytes} bytes cannot hold the fields of ${room}-${n}`);
  return input(room, n, { text: "x".repeat(textBytes % 2) + textOfBytes(textBytes - (textBytes % 2)) });
}

/**
 * The byte tests' arithmetic counts messages only: rooms cost nothing by themselves there. The
 * room's own cost (ROOM_OVERHEAD_BYTES) has its own tests below.
 */
const MESSAGES_ONLY = { roomOverheadBytes: 0 };

/** The messageBytes of the many-message tests' messages: room for their fields and a short text. */
const SMALL = 80;

async function appendAll(store: MessageStore, inputs: AppendInput[]) {
  return Promise.all(inputs.map((each) => store.append(each)));
}

/** The one suite every MessageStore engine must pass (house style, habit 6). */
/** `persistent`: the engine keeps data across close and reopen (the fixture gives `reopen`). */
export function storeContract(name: string, makeStore: MakeStore, { persistent = false } = {}): void {
  async function withStore(
    options: RetentionOptions,
    body: (fixture: StoreFixture) => Promise<void>,
  ): Promise<void> {
    const fixture = await makeStore(options);
    try {
      await body(fixture);
    } finally {
      await fixture.cleanup();
    }
  }

  describe(`MessageStore contract: ${name}`, () => {
    it("assigns seq 1, 2, 3, ... per room, independently across rooms", () =>
      withStore({}, async ({ store }) => {
        const order = ["a", "a", "b", "a", "b"];
        const got: Array<[string, number]> = [];
        for (const [n, room] of order.entries()) {
          const result = await store.append(input(room, n));
          assert.equal(result.duplicate, false);
          assert.deepEqual(result.message, { ...input(room, n), seq: result.message.seq });
          got.push([room, result.message.seq]);
        }
        assert.deepEqual(got, [["a", 1], ["a", 2], ["b", 1], ["a", 3], ["b", 2]]);
        assert.equal(await store.latestSeq("a"), 3);
        assert.equal(await store.latestSeq("b"), 2);
      }));

    it("gives 1,000 appends made in one tick consecutive seqs in call order", () =>
      withStore({}, async ({ store }) => {
        const inputs = span(1, 1000).map((n) => input("busy", n));
        const results = await appendAll(store, inputs);
        assert.deepEqual(results.map((r) => r.message.seq), span(1, 1000));
        assert.ok(results.every((r) => !r.duplicate));
        const stored = await store.readAfter("busy", 0, 2000);
        assert.deepEqual(stored, inputs.map((each, i) => toWire({ ...each, seq: i + 1 })));
        assert.equal(await store.latestSeq("busy"), 1000);
      }));

    it("keeps seqs gap-free per room when one tick appends to several rooms", () =>
      withStore({}, async ({ store }) => {
        const rooms = ["r0", "r1", "r2"];
        const inputs = span(1, 300).map((n) => input(rooms[n % 3]!, n));
        const results = await appendAll(store, inputs);
        for (const room of rooms) {
          const mine = results.filter((r) => r.message.room === room);
          assert.deepEqual(mine.map((r) => r.message.seq), span(1, 100));
          assert.deepEqual(seqs(await store.readAfter(room, 0, 500)), span(1, 100));
        }
      }));

    it("returns the original message with duplicate=true for a repeated (userId, clientId, id)", () =>
      withStore({}, async ({ store }) => {
        const first = await store.append(input("a", 1, { text: "hello" }));
        const again = await store.append(input("a", 1, { text: "edited", ts: BASE_TS + 999 }));
        assert.equal(again.duplicate, true);
        assert.deepEqual(again.message, first.message);
        assert.equal(again.message.text, "hello");
        assert.equal(await store.latestSeq("a"), 1);

        // Another client may reuse the same id: the key is the triple.
        const other = await store.append(input("a", 1, { clientId: "client-2", text: "other client" }));
        assert.equal(other.duplicate, false);
        assert.equal(other.message.seq, 2);
        // Another user claiming the same clientId cannot pre-empt this user's ids.
        const impostor = await store.append(input("a", 1, { userId: "user-2", text: "impostor" }));
        assert.equal(impostor.duplicate, false);
        assert.equal(impostor.message.seq, 3);
        assert.deepEqual(
          (await store.readAfter("a", 0, 10)).map((m) => [m.seq, m.text]),
          [[1, "hello"], [2, "other client"], [3, "impostor"]],
        );
      }));

    it("reads messages in their wire form, without the sender's keys", () =>
      withStore({}, async ({ store }) => {
        await store.append(input("a", 1));
        const [read] = await store.readAfter("a", 0, 1);
        assert.deepEqual(Object.keys(read!).sort(), ["from", "room", "seq", "text", "ts"]);
        const [before] = await store.readBefore("a", 2, 1);
        assert.deepEqual(before, read);
      }));

    it("detects duplicates within one tick", () =>
      withStore({}, async ({ store }) => {
        const [a, aEdited, b, aAgain] = await appendAll(store, [
          input("a", 1),
          input("a", 1, { text: "edited" }),
          input("a", 2),
          input("a", 1, { text: "edited again" }),
        ]);
        assert.deepEqual([a!.duplicate, aEdited!.duplicate, b!.duplicate, aAgain!.duplicate], [false, true, false, true]);
        assert.deepEqual(aEdited!.message, a!.message);
        assert.deepEqual(aAgain!.message, a!.message);
        assert.equal(b!.message.seq, 2);
        assert.deepEqual(await store.readAfter("a", 0, 10), [toWire(a!.message), toWire(b!.message)]);
      }));

    it("treats (userId, clientId, id) as one key across rooms", () =>
      withStore({}, async ({ store }) => {
        const original = await store.append(input("a", 1));
        const elsewhere = await store.append(input("a", 1, { room: "b" }));
        assert.equal(elsewhere.duplicate, true);
        assert.deepEqual(elsewhere.message, original.message);
        assert.equal(await store.latestSeq("b"), 0);
      }));

    it("pages forward with readAfter, oldest first", () =>
      withStore({}, async ({ store }) => {
        await appendAll(store, span(1, 25).map((n) => input("a", n)));
        assert.deepEqual(seqs(await store.readAfter("a", 0, 10)), span(1, 10));
        assert.deepEqual(seqs(await store.readAfter("a", 10, 10)), span(11, 20));
        assert.deepEqual(seqs(await store.readAfter("a", 20, 10)), span(21, 25));
        assert.deepEqual(await store.readAfter("a", 25, 10), []);
        assert.deepEqual(await store.readAfter("a", 1000, 10), []);
        assert.deepEqual(await store.readAfter("a", 0, 0), []);
        assert.deepEqual(seqs(await store.readAfter("a", 24, 1)), [25]);
        const [third] = await store.readAfter("a", 2, 1);
        assert.deepEqual(third, toWire({ ...input("a", 3), seq: 3 }));
      }));

    it("pages backward with readBefore, oldest first", () =>
      withStore({}, async ({ store }) => {
        await appendAll(store, span(1, 25).map((n) => input("a", n)));
        assert.deepEqual(seqs(await store.readBefore("a", 26, 10)), span(16, 25));
        assert.deepEqual(seqs(await store.readBefore("a", 16, 10)), span(6, 15));
        assert.deepEqual(seqs(await store.readBefore("a", 6, 10)), span(1, 5));
        assert.deepEqual(await store.readBefore("a", 1, 10), []);
        assert.deepEqual(seqs(await store.readBefore("a", Number.MAX_SAFE_INTEGER, 3)), [23, 24, 25]);
        assert.deepEqual(await store.readBefore("a", 20, 0), []);
        const [second] = await store.readBefore("a", 3, 1);
        assert.deepEqual(second, toWire({ ...input("a", 2), seq: 2 }));
      }));

    it("reads nothing and reports 0 for an empty room", () =>
      withStore({}, async ({ store }) => {
        await store.append(input("other", 1));
        assert.deepEqual(await store.readAfter("empty", 0, 10), []);
        assert.deepEqual(await store.readBefore("empty", 100, 10), []);
        assert.equal(await store.latestSeq("empty"), 0);
        assert.equal(await store.firstSeq("empty"), 0);
      }));

    it("reports latestSeq and firstSeq as appends land", () =>
      withStore({}, async ({ store }) => {
        await store.append(input("a", 1));
        assert.deepEqual([await store.firstSeq("a"), await store.latestSeq("a")], [1, 1]);
        await appendAll(store, [input("a", 2), input("a", 3), input("b", 1)]);
        assert.deepEqual([await store.firstSeq("a"), await store.latestSeq("a")], [1, 3]);
        assert.deepEqual([await store.firstSeq("b"), await store.latestSeq("b")], [1, 1]);
      }));

    it("trims each room to retainPerRoom newest messages while seq continues", () =>
      withStore({ retainPerRoom: 10 }, async ({ store }) => {
        for (const [from, to] of [[1, 10], [11, 20], [21, 25]] as const) {
          await appendAll(store, span(from, to).map((n) => input("a", n)));
        }
        await appendAll(store, span(1, 3).map((n) => input("b", n)));
        assert.equal(await store.firstSeq("a"), 16);
        assert.equal(await store.latestSeq("a"), 25);
        assert.deepEqual(seqs(await store.readAfter("a", 0, 100)), span(16, 25));
        assert.deepEqual(seqs(await store.readBefore("a", 100, 100)), span(16, 25));
        assert.deepEqual(await store.readBefore("a", 16, 10), []);
        assert.deepEqual(seqs(await store.readAfter("b", 0, 100)), [1, 2, 3]);

        const next = await store.append(input("a", 26));
        assert.equal(next.message.seq, 26);
        assert.equal(await store.firstSeq("a"), 17);
      }));

    it("trims within a single batch larger than retainPerRoom", () =>
      withStore({ retainPerRoom: 10 }, async ({ store }) => {
        const results = await appendAll(store, span(1, 25).map((n) => input("a", n)));
        assert.deepEqual(results.map((r) => r.message.seq), span(1, 25));
        assert.equal(await store.firstSeq("a"), 16);
        assert.deepEqual(seqs(await store.readAfter("a", 0, 100)), span(16, 25));
      }));

    it("counts the UTF-8 bytes of the texts in a seq range, trimmed messages excluded", () =>
      withStore({ retainPerRoom: 10 }, async ({ store }) => {
        assert.ok(store.textBytesBetween, "this engine says it counts text bytes");
        const texts = ["abc", "\u0001\u0001", "é", "日本語", "🙂"]; // 3, 2, 2, 9 and 4 bytes
        await appendAll(store, texts.map((text, i) => input("a", i + 1, { text })));
        await appendAll(store, [input("b", 1, { text: "other room" })]);
        assert.equal(await store.textBytesBetween("a", 0, 5), 20);
        assert.equal(await store.textBytesBetween("a", 1, 3), 4, "seq 2 and 3");
        assert.equal(await store.textBytesBetween("a", 3, 3), 0);
        assert.equal(await store.textBytesBetween("a", 5, 99), 0);
        assert.equal(await store.textBytesBetween("nowhere", 0, 99), 0);
        await appendAll(store, span(6, 13).map((n) => input("a", n, { text: "x" })));
        // Seqs 1-3 are trimmed (10 kept: 4-13): 9 + 4 + 8 x 1.
        assert.equal(await store.textBytesBetween("a", 0, 13), 21);
      }));

    it("trims each room to retainBytesPerRoom (each message's UTF-8 field bytes plus a per-message overhead), oldest first", () =>
      withStore({ ...MESSAGES_ONLY, retainBytesPerRoom: 5 * COST }, async ({ store }) => {
        for (const n of span(1, 8)) await store.append(sized("a", n));
        await appendAll(store, span(1, 2).map((n) => sized("b", n)));
        assert.deepEqual([await store.firstSeq("a"), await store.latestSeq("a")], [4, 8]);
        assert.deepEqual(seqs(await store.readAfter("a", 0, 100)), span(4, 8));
        assert.deepEqual(await store.readBefore("a", 4, 10), []);
        assert.deepEqual(seqs(await store.readAfter("b", 0, 100)), [1, 2], "another room is not touched");

        // A message twice the size pushes out two: 4 and 5 go, 6..9 fit.
        const big = await store.append(sized("a", 9, 2 * MESSAGE_BYTES));
        assert.equal(big.message.seq, 9);
        assert.deepEqual(seqs(await store.readAfter("a", 0, 100)), span(6, 9));
        assert.equal(await store.firstSeq("a"), 6);
      }));

    it("always keeps a room's newest message, even one larger than retainBytesPerRoom", () =>
      withStore({ ...MESSAGES_ONLY, retainBytesPerRoom: 1_000 }, async ({ store }) => {
        await store.append(sized("a", 1, 2_000));
        assert.deepEqual(seqs(await store.readAfter("a", 0, 10)), [1]);
        await store.append(sized("a", 2, 2_000));
        assert.deepEqual(seqs(await store.readAfter("a", 0, 10)), [2]);
        assert.equal(await store.firstSeq("a"), 2);
        // Two small ones fit together once the large one is gone.
        await store.append(input("a", 3, { text: "hi" }));
        assert.deepEqual(seqs(await store.readAfter("a", 0, 10)), [3]);
        await store.append(input("a", 4, { text: "ho" }));
        assert.deepEqual(seqs(await store.readAfter("a", 0, 10)), [3, 4]);
      }));

    it("trims by bytes within one batch, and a duplicate adds no bytes", () =>
      withStore({ ...MESSAGES_ONLY, retainBytesPerRoom: 5 * COST }, async ({ store }) => {
        const results = await appendAll(store, span(1, 12).map((n) => sized("a", n)));
        assert.deepEqual(results.map((r) => r.message.seq), span(1, 12));
        assert.deepEqual(seqs(await store.readAfter("a", 0, 100)), span(8, 12));
        const again = await appendAll(store, span(1, 10).map(() => sized("a", 12)));
        assert.ok(again.every((r) => r.duplicate && r.message.seq === 12));
        assert.equal(await store.firstSeq("a"), 8, "repeats of a stored message took no budget");
        await store.append(sized("a", 13));
        assert.deepEqual(seqs(await store.readAfter("a", 0, 100)), span(9, 13));
      }));

    it("keeps all rooms within retainBytesTotal by cutting the largest room's oldest first, the room just written too", () =>
      withStore({ ...MESSAGES_ONLY, retainBytesPerRoom: 5 * COST, retainBytesTotal: 12 * COST }, async ({ store }) => {
        for (const room of ["a", "b", "c"]) for (const n of span(1, 3)) await store.append(sized(room, n));
        await store.append(sized("a", 4));
        for (const n of span(1, 2)) await store.append(sized("d", n));
        assert.equal(await store.firstSeq("a"), 1, "12 of 12 held: nothing cut yet");

        await store.append(sized("d", 3)); // 13 > 12: a, the largest, gives up one
        assert.deepEqual(seqs(await store.readAfter("a", 0, 100)), span(2, 4));
        for (const room of ["b", "c", "d"]) assert.deepEqual(seqs(await store.readAfter(room, 0, 100)), span(1, 3), room);

        await store.append(sized("d", 4)); // d, just written, is now the largest
        assert.deepEqual(seqs(await store.readAfter("d", 0, 100)), span(2, 4));
        await store.append(sized("e", 1)); // all four hold 3: the greatest name, d, gives up one
        assert.deepEqual(seqs(await store.readAfter("d", 0, 100)), span(3, 4));
        for (const room of ["a", "b", "c"]) assert.equal((await store.readAfter(room, 0, 100)).length, 3, room);
        assert.equal(await store.latestSeq("d"), 4, "a cut room's seqs go on");
      }));

    it("lets no one push a quiet room's history out by writing room after room to its own budget", () =>
      withStore({ ...MESSAGES_ONLY, retainBytesPerRoom: 5 * COST, retainBytesTotal: 12 * COST }, async ({ store }) => {
        for (const n of span(1, 2)) await store.append(sized("quiet", n));
        const held = new Map<string, number>();
        for (const room of ["x1", "x2", "x3", "x4"]) {
          for (const n of span(1, 5)) await store.append(sized(room, n));
        }
        for (const room of ["x1", "x2", "x3", "x4"]) held.set(room, (await store.readAfter(room, 0, 100)).length);
        assert.deepEqual(seqs(await store.readAfter("quiet", 0, 100)), [1, 2], "cut only once every other room is down to its size");
        assert.deepEqual([...held.values()].sort(), [2, 2, 3, 3], "the writer's rooms share what is left");
      }));

    it("drops the largest room whole once it is down to its newest message; it goes on above every seq it had", () =>
      withStore({ ...MESSAGES_ONLY, retainBytesPerRoom: 5 * COST, retainBytesTotal: 5 * COST }, async ({ store }) => {
        await store.append(sized("a", 1, 2 * MESSAGE_BYTES)); // holds more than one COST
        for (const room of ["b", "c", "d"]) await store.append(sized(room, 1));
        assert.equal(await store.firstSeq("a"), 1, "4 COST and a's 1,000 more bytes: within 5");
        await store.append(sized("e", 1)); // over: a, the largest, has only its newest: it goes
        assert.deepEqual(seqs(await store.readAfter("a", 0, 100)), []);
        assert.equal(await store.firstSeq("a"), 0);
        assert.equal(await store.latestSeq("a"), 2, "above every seq a had, so a resume from 1 sees a gap");
        for (const room of ["b", "c", "d", "e"]) assert.deepEqual(seqs(await store.readAfter(room, 0, 100)), [1], room);

        // a starts again above its old seqs; its old message key is forgotten with it.
        const again = await store.append(sized("a", 1));
        assert.equal(again.duplicate, false);
        assert.equal(again.message.seq, 3);
        // 6 > 5, all hold one COST, f was just written: the greatest other name, e, goes.
        await store.append(sized("f", 1));
        assert.deepEqual(seqs(await store.readAfter("e", 0, 100)), []);
        assert.equal(await store.latestSeq("e"), 2);
        for (const room of ["a", "b", "c", "d", "f"]) assert.equal((await store.readAfter(room, 0, 100)).length, 1, room);
        // A room never written before starts above the floor too: no seq is ever handed out twice in a room.
        assert.equal(await store.latestSeq("fresh"), 2);
        assert.equal((await store.append(sized("fresh", 1))).message.seq, 3);
      }));

    if (persistent) it("cuts at most dropAllowance messages per append to get back within a total lowered since; the next appends go on", () => {
      const small = SMALL + MESSAGE_OVERHEAD_BYTES;
      return withStore({ ...MESSAGES_ONLY, retainBytesPerRoom: 3_000 * small, retainBytesTotal: 3_000 * small }, async ({ store, reopen }) => {
        assert.ok(reopen, "a persistent engine's fixture must give reopen");
        await appendAll(store, span(1, 2_500).map((n) => sized("big", n, SMALL)));
        await store.close();
        // The same data with a total of 1,200 small messages: 1,301 over after the next append.
        const lowered = await reopen({ ...MESSAGES_ONLY, retainBytesPerRoom: 1_200 * small, retainBytesTotal: 1_200 * small });
        try {
          await lowered.append(sized("other", 1, SMALL));
          assert.equal(await lowered.firstSeq("big"), 1_001, "1,000 of the 1,301 went");
          await lowered.append(sized("other", 2, SMALL));
          assert.equal(await lowered.firstSeq("big"), 1_303, "the rest went, and no more: 1,198 + 2 = 1,200 held");
          assert.equal(await lowered.latestSeq("big"), 2_500);
          assert.equal(dropAllowance(1), 1_000, "the figures above assume it");
        } finally {
          await lowered.close();
        }
      });
    });

    it("trims at most dropAllowance messages of a room at once: a room far over its budget gets there over several appends", () => {
      const small = SMALL + MESSAGE_OVERHEAD_BYTES;
      return withStore({ ...MESSAGES_ONLY, retainBytesPerRoom: 3_000 * small, retainBytesTotal: 10_000 * small }, async ({ store }) => {
        await appendAll(store, span(1, 2_500).map((n) => sized("r", n, SMALL)));
        // 600,000 bytes more: 1,287 of the 2,500 would have to go at once; 1,000 go.
        await store.append(sized("r", 2_501, 600_000));
        assert.equal(await store.firstSeq("r"), 1_001);
        // The next append takes the room the rest of the way (288 more), within its budget again.
        await store.append(sized("r", 2_502, SMALL));
        assert.equal(await store.firstSeq("r"), 1_289);
        assert.equal(await store.latestSeq("r"), 2_502);
      });
    });

    it("never drops the room just written, even when it alone is left", () =>
      withStore({ ...MESSAGES_ONLY, retainBytesPerRoom: 5 * COST, retainBytesTotal: 5 * COST }, async ({ store }) => {
        for (const n of span(1, 2)) await store.append(sized("a", n));
        // One message that alone takes the whole total: a is cut to one, then dropped.
        await store.append(sized("b", 1, 5 * COST - MESSAGE_OVERHEAD_BYTES));
        assert.deepEqual(seqs(await store.readAfter("a", 0, 100)), []);
        assert.deepEqual(seqs(await store.readAfter("b", 0, 100)), [1]);
      }));

    it("counts a message's ids, sender and room in the byte budgets, not only its text", () =>
      withStore({ ...MESSAGES_ONLY, retainBytesPerRoom: 2 * COST }, async ({ store }) => {
        // Five bytes of text each, but ids a client chose 200 characters long: 823 bytes counted.
        const long = (n: number) => input("a", n, { text: "short", clientId: "c".repeat(200), id: String(n).padEnd(200, "i") });
        assert.equal(messageBytes(long(1)), 823);
        await appendAll(store, span(1, 3).map(long));
        assert.deepEqual(seqs(await store.readAfter("a", 0, 10)), [2, 3], "three cost 3,237 of 2,512");
      }));

    it("counts each room's own cost in retainBytesTotal while it holds a message, and frees it when the room goes", () =>
      withStore({ retainBytesPerRoom: ROOM_OVERHEAD_BYTES + COST, retainBytesTotal: 3 * (ROOM_OVERHEAD_BYTES + COST) }, async ({ store }) => {
        for (const room of ["a", "b", "c"]) await store.append(sized(room, 1));
        assert.equal(await store.firstSeq("c"), 1, "three rooms of one message: the whole total");
        // A fourth room is over by its own cost and its message: all hold the same, so the
        // greatest name not just written, c, goes whole.
        await store.append(sized("d", 1));
        assert.deepEqual(seqs(await store.readAfter("c", 0, 10)), []);
        for (const room of ["a", "b", "d"]) assert.deepEqual(seqs(await store.readAfter(room, 0, 10)), [1], room);
        // c's cost went with it: a fifth room takes d's place, and only d's.
        await store.append(sized("e", 1));
        assert.deepEqual(seqs(await store.readAfter("d", 0, 10)), []);
        for (const room of ["a", "b", "e"]) assert.equal((await store.readAfter(room, 0, 10)).length, 1, room);
      }));

    it("refuses a retainBytesTotal below retainBytesPerRoom", async () => {
      await assert.rejects(makeStore({ retainBytesPerRoom: 2 * COST, retainBytesTotal: COST }), RangeError);
    });

    if (persistent) it("keeps the total across rooms and the seq floor across reopen", () =>
      withStore({ ...MESSAGES_ONLY, retainBytesPerRoom: 5 * COST, retainBytesTotal: 9 * COST }, async ({ store, reopen }) => {
        assert.ok(reopen, "a persistent engine's fixture must give reopen");
        await store.append(sized("a", 1, 3 * COST)); // one message, the largest room
        for (const n of span(1, 3)) await store.append(sized("b", n));
        await store.close();
        const again = await reopen();
        try {
          for (const n of span(1, 2)) await again.append(sized("c", n));
          assert.deepEqual(seqs(await again.readAfter("a", 0, 100)), [1], "8 COST and 256 of 9 held");
          await again.append(sized("c", 3)); // over: a goes
          assert.deepEqual(seqs(await again.readAfter("a", 0, 100)), []);
          assert.deepEqual(seqs(await again.readAfter("b", 0, 100)), span(1, 3));
          assert.deepEqual(seqs(await again.readAfter("c", 0, 100)), span(1, 3));
        } finally {
          await again.close();
        }
        const third = await reopen();
        try {
          assert.equal(await third.latestSeq("a"), 2, "the floor survives a restart");
          assert.equal((await third.append(sized("a", 1))).message.seq, 3);
        } finally {
          await third.close();
        }
      }));

    it("gives each new store its own epoch", async () => {
      const one = await makeStore();
      const two = await makeStore();
      try {
        assert.equal(typeof one.store.epoch, "string");
        assert.ok(one.store.epoch.length >= 8, `epoch too short: ${one.store.epoch}`);
        assert.notEqual(one.store.epoch, two.store.epoch);
      } finally {
        await one.cleanup();
        await two.cleanup();
      }
    });

    if (persistent) it("keeps epoch, messages, seqs and idempotency keys across reopen", () =>
      withStore({}, async ({ store, reopen }) => {
        assert.ok(reopen, "a persistent engine's fixture must give reopen");
        await appendAll(store, [...span(1, 5).map((n) => input("a", n)), input("b", 1), input("b", 2)]);
        const epoch = store.epoch;
        const before = await store.readAfter("a", 0, 100);
        await store.close();

        const again = await reopen();
        try {
          assert.equal(again.epoch, epoch);
          assert.deepEqual(await again.readAfter("a", 0, 100), before);
          assert.deepEqual([await again.firstSeq("a"), await again.latestSeq("a")], [1, 5]);
          assert.equal(await again.latestSeq("b"), 2);
          const old = await again.append(input("a", 3, { text: "edited after reopen" }));
          assert.equal(old.duplicate, true);
          assert.deepEqual(toWire(old.message), before[2]);
          assert.equal((await again.append(input("a", 6))).message.seq, 6);
        } finally {
          await again.close();
        }
      }));

    if (persistent) it("keeps the trimmed range across reopen", () =>
      withStore({ retainPerRoom: 5 }, async ({ store, reopen }) => {
        assert.ok(reopen, "a persistent engine's fixture must give reopen");
        await appendAll(store, span(1, 8).map((n) => input("a", n)));
        await store.close();
        const again = await reopen();
        try {
          assert.deepEqual([await again.firstSeq("a"), await again.latestSeq("a")], [4, 8]);
          assert.equal((await again.append(input("a", 9))).message.seq, 9);
          assert.equal(await again.firstSeq("a"), 5);
        } finally {
          await again.close();
        }
      }));

    if (persistent) it("keeps a room's byte total across reopen", () =>
      withStore({ ...MESSAGES_ONLY, retainBytesPerRoom: 5 * COST }, async ({ store, reopen }) => {
        assert.ok(reopen, "a persistent engine's fixture must give reopen");
        await appendAll(store, span(1, 4).map((n) => sized("a", n)));
        await store.close();
        const again = await reopen();
        try {
          await again.append(sized("a", 5));
          assert.equal(await again.firstSeq("a"), 1, "five fit");
          await again.append(sized("a", 6));
          assert.deepEqual(seqs(await again.readAfter("a", 0, 100)), span(2, 6));
        } finally {
          await again.close();
        }
      }));

    it("commits appends still pending when close() is called", () =>
      withStore({}, async ({ store, reopen }) => {
        const pending = span(1, 50).map((n) => store.append(input("a", n)));
        await store.close();
        const results = await Promise.all(pending);
        assert.deepEqual(results.map((r) => r.message.seq), span(1, 50));
        await assert.rejects(store.append(input("a", 51)));
        if (!reopen) return;
        const again = await reopen();
        try {
          assert.deepEqual(seqs(await again.readAfter("a", 0, 100)), span(1, 50));
        } finally {
          await again.close();
        }
      }));

    it("holds a nickname for its owner against others until the hold window ends", () =>
      withStore({}, async ({ store }) => {
        const claim = { key: "ada", nick: "ada", userId: "u1", now: 1_000, holdMs: 1_000 };
        assert.deepEqual(await store.claimNickname(claim), { ok: true, usedMs: 0 });
        // A claim holds the name for holdMs from then, even if no release is ever written (a crash).
        assert.deepEqual(await store.claimNickname({ ...claim, userId: "u2", now: 1_999 }), { ok: false, ownerId: "u1" });
        // The owner may claim again at any time; another user is refused while held.
        assert.deepEqual(await store.claimNickname({ ...claim, now: 1_050 }), { ok: true, usedMs: 0 });
        // Released at 6,000 after 30 ms of use, held until 6,100 (what the server writes for the shortest hold).
        await store.releaseNickname({ key: "ada", nick: "ada", userId: "u1", at: 6_000, usedMs: 30, heldUntil: 6_100 });
        assert.deepEqual(await store.claimNickname({ ...claim, userId: "u2", now: 6_099 }), { ok: false, ownerId: "u1" });
        assert.deepEqual(await store.claimNickname({ ...claim, userId: "u2", nick: "Ada", now: 6_100 }), { ok: true, usedMs: 0 });
        // A release by the former owner does not touch the new holder's hold.
        await store.releaseNickname({ key: "ada", nick: "ada", userId: "u1", at: 6_150, usedMs: 30, heldUntil: 9_000 });
        assert.deepEqual(await store.claimNickname({ ...claim, userId: "u1", now: 6_150 }), { ok: false, ownerId: "u2" });
      }));

    it("carries a name's use over to its owner's next visit while the hold lasts, and not after it lapsed", () =>
      withStore({}, async ({ store }) => {
        const claim = { key: "bo", nick: "bo", userId: "u1", now: 0, holdMs: 1_000 };
        assert.deepEqual(await store.claimNickname(claim), { ok: true, usedMs: 0 });
        await store.releaseNickname({ key: "bo", nick: "bo", userId: "u1", at: 400, usedMs: 400, heldUntil: 800 });
        // Back within the hold: the 400 ms of use go on.
        assert.deepEqual(await store.claimNickname({ ...claim, now: 700 }), { ok: true, usedMs: 400 });
        await store.releaseNickname({ key: "bo", nick: "bo", userId: "u1", at: 900, usedMs: 600, heldUntil: 1_500 });
        assert.deepEqual(await store.claimNickname({ ...claim, userId: "u2", now: 1_499 }), { ok: false, ownerId: "u1" });
        // Back after the hold lapsed: the use starts again from nothing, for whoever claims.
        assert.deepEqual(await store.claimNickname({ ...claim, now: 1_500 }), { ok: true, usedMs: 0 });
        await store.releaseNickname({ key: "bo", nick: "bo", userId: "u1", at: 1_600, usedMs: 100, heldUntil: 1_700 });
        assert.deepEqual(await store.claimNickname({ ...claim, userId: "u2", now: 1_700 }), { ok: true, usedMs: 0 });
      }));

    it("writes a release even when the hold was purged meanwhile (its owner was online longer than it)", () =>
      withStore({}, async ({ store }) => {
        await store.claimNickname({ key: "cy", nick: "cy", userId: "u1", now: 0, holdMs: 100 });
        assert.equal(await store.purgeNicknames(500), 1);
        await store.releaseNickname({ key: "cy", nick: "cy", userId: "u1", at: 600, usedMs: 600, heldUntil: 1_200 });
        assert.deepEqual(await store.claimNickname({ key: "cy", nick: "cy", userId: "u2", now: 1_199, holdMs: 100 }), { ok: false, ownerId: "u1" });
      }));

    it("purges nickname holds that ended before a time", () =>
      withStore({}, async ({ store }) => {
        for (const [key, now] of [["a", 10], ["b", 20], ["c", 30]] as const) {
          await store.claimNickname({ key, nick: key, userId: `u-${key}`, now, holdMs: 1_000 });
        }
        // Held until 1,010, 1,020 and 1,030.
        assert.equal(await store.purgeNicknames(1_025), 2);
        assert.deepEqual(await store.claimNickname({ key: "a", nick: "a", userId: "x", now: 40, holdMs: 1_000 }), { ok: true, usedMs: 0 });
        assert.deepEqual(await store.claimNickname({ key: "c", nick: "c", userId: "x", now: 40, holdMs: 1_000 }), { ok: false, ownerId: "u-c" });
      }));

    it("gives one signing secret of 32 bytes for the life of its data", () =>
      withStore({}, async ({ store, reopen }) => {
        const secret = await store.signingSecret();
        assert.equal(secret.length, 32);
        assert.deepEqual(await store.signingSecret(), secret);
        if (!persistent) return;
        await store.claimNickname({ key: "ada", nick: "ada", userId: "u1", now: 1, holdMs: 1_000 });
        await store.close();
        const again = await reopen!();
        try {
          assert.deepEqual(await again.signingSecret(), secret);
          assert.deepEqual(await again.claimNickname({ key: "ada", nick: "ada", userId: "u2", now: 2, holdMs: 1_000 }), { ok: false, ownerId: "u1" });
        } finally {
          await again.close();
        }
      }));
  });
}
