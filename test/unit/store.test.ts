import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import fc from "fast-check";
import { MemoryStore, openStore, SqliteStore } from "../../src/store/index.js";
import { MESSAGE_OVERHEAD_BYTES, ROOM_OVERHEAD_BYTES, type RetentionOptions } from "../../src/store/retention.js";
import { applyMigrations, SQLITE_MIGRATIONS } from "../../src/store/sqlite-migrations.js";
import { storeContract, type StoreFixture } from "../support/store-contract.js";

/** A SQLite file in a fresh temp directory; the db sits in a subdirectory the store must create. */
async function sqliteFileFixture(options: RetentionOptions = {}): Promise<StoreFixture & { path: string }> {
  const dir = await mkdtemp(join(tmpdir(), "pulse-store-"));
  const path = join(dir, "nested", "pulse.db");
  const opened: SqliteStore[] = [];
  const open = (withOptions = options) => {
    const store = new SqliteStore({ ...withOptions, path });
    opened.push(store);
    return store;
  };
  return {
    path,
    store: open(),
    reopen: async (withOptions) => open(withOptions),
    cleanup: async () => {
      for (const store of opened) await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Replaces the fixture's database with one at schema `version` (the first `version`
 * migrations) and epoch `epoch`, for the caller to fill as an older Pulse would have.
 */
async function databaseAtVersion(fixture: StoreFixture & { path: string }, version: number, epoch: string): Promise<Database.Database> {
  await fixture.store.close();
  await rm(fixture.path);
  const old = new Database(fixture.path);
  applyMigrations(old, SQLITE_MIGRATIONS.slice(0, version));
  old.prepare(`INSERT INTO meta (key, value) VALUES ('epoch', ?)`).run(epoch);
  return old;
}

storeContract("MemoryStore", async (options) => {
  const store = new MemoryStore(options);
  return { store, cleanup: () => store.close() };
});

storeContract("SqliteStore on a temp file", sqliteFileFixture, { persistent: true });

storeContract("SqliteStore on :memory:", async (options) => {
  const store = new SqliteStore({ ...options, path: ":memory:" });
  return { store, cleanup: () => store.close() };
});

/** Appends the same messages to a MemoryStore and a SqliteStore; both must hold the same seqs of every room after each. */
async function cutsAlike(appends: { room: string; bytes: number }[], retention: RetentionOptions): Promise<void> {
  const memory = new MemoryStore(retention);
  const sqlite = new SqliteStore({ ...retention, path: ":memory:" });
  const rooms = new Set<string>();
  const held = async (store: MemoryStore | SqliteStore, room: string) => [await store.firstSeq(room), await store.latestSeq(room)];
  try {
    for (const [i, { room, bytes }] of appends.entries()) {
      rooms.add(room);
      const input = { room, userId: "u", clientId: "c", id: `m${i}`, from: "ada", text: "x".repeat(bytes), ts: i };
      assert.equal((await sqlite.append(input)).message.seq, (await memory.append(input)).message.seq, `append ${i} to ${room}`);
    }
    for (const room of rooms) assert.deepEqual(await held(sqlite, room), await held(memory, room), room);
  } finally {
    await memory.close();
    await sqlite.close();
  }
}

describe("SqliteStore specifics", () => {
  it("cuts rooms over the total exactly as the memory store does, many rooms of one size included", async () => {
    // The memory store keeps its rooms in a heap, SQLite in an index, Redis in a sorted set
    // (store-contract.ts covers Redis): the same order, ties and cut.
    const tiny = MESSAGE_OVERHEAD_BYTES + 1;
    const fill = (rooms: string[], each: number) => rooms.flatMap((room) => Array.from({ length: each }, () => ({ room, bytes: 1 })));
    // 70 rooms of three tiny messages tie; a long message then needs about 79 cuts, one from each
    // in turn, then from the first again.
    const seventy = Array.from({ length: 70 }, (_, i) => `t${String(i).padStart(2, "0")}`);
    await cutsAlike([...fill(seventy, 3), { room: "z", bytes: 20_000 }], { retainBytesPerRoom: 210 * tiny + 100, retainBytesTotal: 210 * tiny + 100 });
    // Rooms of 10, 9 and 2: the first two are cut down in turn, not the second down to the third.
    await cutsAlike([...fill(["a"], 10), ...fill(["b"], 9), ...fill(["c"], 2), { room: "z", bytes: 8 * tiny }], { retainBytesPerRoom: 21 * tiny + 100, retainBytesTotal: 21 * tiny + 100 });

    // Many rooms of tiny messages tie, and a long message then needs many cuts; a few rooms
    // leave gaps between the largest.
    const scenario = fc.constantFrom(150, 80, 6).chain((rooms) =>
      fc.array(fc.record({ room: fc.integer({ min: 0, max: rooms - 1 }).map((n) => `r${n}`), bytes: fc.constantFrom(1, 1, 1, 1, 40, 200, 4_000, 20_000) }), { minLength: 100, maxLength: 400 }),
    );
    await fc.assert(
      fc.asyncProperty(scenario, (appends) => cutsAlike(appends, { retainBytesPerRoom: 40_000, retainBytesTotal: 60_000 })),
      { numRuns: 25 },
    );
  });

  it("migrates a version 1 database: history kept, old keys no longer pre-empt new users", async () => {
    const fixture = await sqliteFileFixture();
    try {
      const old = await databaseAtVersion(fixture, 1, "e1");
      old.prepare(`INSERT INTO messages (room, seq, client_id, msg_id, sender, text, ts) VALUES ('a', 1, 'c', 'm1', 'ada', 'before', 1)`).run();
      old.close();
      const store = (await fixture.reopen!()) as SqliteStore;
      assert.equal(store.epoch, "e1");
      assert.deepEqual(await store.readAfter("a", 0, 10), [{ room: "a", seq: 1, from: "ada", text: "before", ts: 1 }]);
      const fresh = await store.append({ room: "a", userId: "u1", clientId: "c", id: "m1", from: "bob", text: "after", ts: 2 });
      assert.deepEqual([fresh.duplicate, fresh.message.seq], [false, 2]);
    } finally {
      await fixture.cleanup();
    }
  });

  it("migrates a version 2 database: each room's text bytes are summed, so the byte budget holds at once", async () => {
    // 1,000 text bytes and 12-14 of sender, room and ids (messageBytes) each; a room costs ROOM_OVERHEAD_BYTES too.
    const cost = 1_014 + MESSAGE_OVERHEAD_BYTES;
    const fixture = await sqliteFileFixture({ retainBytesPerRoom: ROOM_OVERHEAD_BYTES + 5 * cost });
    try {
      const old = await databaseAtVersion(fixture, 2, "e2");
      const insert = old.prepare(`INSERT INTO messages (room, seq, user_id, client_id, msg_id, sender, text, ts) VALUES (?, ?, 'u', 'c', ?, 'ada', ?, 1)`);
      // 4 messages of 1,000 UTF-8 bytes (500 characters) in "a", one short one in "b".
      for (const seq of [1, 2, 3, 4]) insert.run("a", seq, `a${seq}`, "é".repeat(500));
      insert.run("b", 1, "b1", "hi");
      old.close();
      const store = (await fixture.reopen!()) as SqliteStore;
      assert.equal(store.epoch, "e2");
      const base = { room: "a", userId: "u1", clientId: "c", from: "bob", text: "é".repeat(500), ts: 2 };
      await store.append({ ...base, id: "n5" });
      assert.equal(await store.firstSeq("a"), 1, "five fit the budget");
      await store.append({ ...base, id: "n6" });
      assert.deepEqual((await store.readAfter("a", 0, 10)).map((m) => m.seq), [2, 3, 4, 5, 6], "the migrated bytes count: the oldest went");
      assert.deepEqual((await store.readAfter("b", 0, 10)).map((m) => m.text), ["hi"]);
    } finally {
      await fixture.cleanup();
    }
  });

  it("migrates a version 3 database: rooms are counted toward the total, and cut largest first", async () => {
    // Every message: 1,000 text bytes and 14 of sender, room and ids (messageBytes).
    const cost = 1_014 + MESSAGE_OVERHEAD_BYTES;
    const fixture = await sqliteFileFixture({ retainBytesPerRoom: ROOM_OVERHEAD_BYTES + 5 * cost, retainBytesTotal: 3 * ROOM_OVERHEAD_BYTES + 7 * cost });
    try {
      const old = await databaseAtVersion(fixture, 3, "e3");
      const insert = old.prepare(`INSERT INTO messages (room, seq, user_id, client_id, msg_id, sender, text, ts) VALUES (?, ?, 'u', 'c', ?, 'ada', ?, ?)`);
      // Three messages of 1,000 bytes each in "new" and "old".
      for (const seq of [1, 2, 3]) insert.run("new", seq, `n${seq}`, "é".repeat(500), 20);
      for (const seq of [1, 2, 3]) insert.run("old", seq, `o${seq}`, "é".repeat(500), 10);
      old.prepare(`INSERT INTO room_sizes (room, text_bytes) VALUES ('new', 3000), ('old', 3000)`).run();
      old.close();
      const store = (await fixture.reopen!()) as SqliteStore;
      const base = { room: "c", userId: "u1", clientId: "c", from: "bob", text: "é".repeat(500), ts: 30 };
      await store.append({ ...base, id: "c1" });
      assert.equal((await store.readAfter("old", 0, 10)).length, 3, "7 of 7 held");
      await store.append({ ...base, id: "c2" });
      // The migrated rooms count: 8 of 7. "new" and "old" hold as much, the greater name gives up one.
      assert.deepEqual((await store.readAfter("old", 0, 10)).map((m) => m.seq), [2, 3]);
      assert.equal(await store.latestSeq("old"), 3);
      assert.equal((await store.readAfter("new", 0, 10)).length, 3);
      await store.append({ ...base, id: "c3" });
      assert.deepEqual((await store.readAfter("new", 0, 10)).map((m) => m.seq), [2, 3], "then the other");
    } finally {
      await fixture.cleanup();
    }
  });

  it("migrates a version 4 database: nickname holds keep the 24 h they had from when their owner was last seen", async () => {
    const fixture = await sqliteFileFixture();
    try {
      const old = await databaseAtVersion(fixture, 4, "e4");
      const day = 24 * 60 * 60 * 1000;
      old.prepare(`INSERT INTO nicknames (key, nick, user_id, last_seen_at) VALUES ('ada', 'Ada', 'u1', 1000), ('bo', 'bo', 'u2', 0)`).run();
      old.close();
      const store = (await fixture.reopen!()) as SqliteStore;
      assert.deepEqual(await store.claimNickname({ key: "ada", nick: "ada", userId: "u9", now: 1000 + day - 1, holdMs: 200 }), { ok: false, ownerId: "u1" });
      assert.deepEqual(await store.claimNickname({ key: "ada", nick: "ada", userId: "u9", now: 1000 + day, holdMs: 200 }), { ok: true, usedMs: 0 });
      // The owner coming back within the hold carries its 24 h of use over.
      assert.deepEqual(await store.claimNickname({ key: "bo", nick: "bo", userId: "u2", now: day - 1, holdMs: 200 }), { ok: true, usedMs: day });
      assert.equal(await store.purgeNicknames(day + 199), 0);
      assert.equal(await store.purgeNicknames(day + 200), 1);
    } finally {
      await fixture.cleanup();
    }
  });

  it("migrates a version 6 database: each room's count takes in its messages' ids, sender and room, and the room's own cost", async () => {
    // Five bytes of text, but 200-character ids: 823 bytes of messageBytes, 1,079 with the overhead.
    const cost = 823 + MESSAGE_OVERHEAD_BYTES;
    const fixture = await sqliteFileFixture({ retainBytesPerRoom: ROOM_OVERHEAD_BYTES + 3 * cost });
    try {
      const old = await databaseAtVersion(fixture, 6, "e6");
      const row = { room: "a", user: "user-1", client: "c".repeat(200), sender: "alice", text: "short" };
      const insert = old.prepare(`INSERT INTO messages (room, seq, user_id, client_id, msg_id, sender, text, ts) VALUES (?, ?, ?, ?, ?, ?, ?, 1)`);
      for (const seq of [1, 2, 3]) insert.run(row.room, seq, row.user, row.client, String(seq).padEnd(200, "i"), row.sender, row.text);
      // As version 6 counted them: text bytes only.
      old.prepare(`INSERT INTO room_sizes (room, text_bytes, message_count, written) VALUES ('a', 15, 3, 1)`).run();
      old.close();
      const store = (await fixture.reopen!()) as SqliteStore;
      await store.append({ room: "a", userId: row.user, clientId: row.client, id: "4".padEnd(200, "i"), from: row.sender, text: row.text, ts: 2 });
      assert.deepEqual((await store.readAfter("a", 0, 10)).map((m) => m.seq), [2, 3, 4], "the ids count: four do not fit");
    } finally {
      await fixture.cleanup();
    }
  });

  it("creates a WAL database at the latest schema version with the epoch in meta", async () => {
    const fixture = await sqliteFileFixture();
    try {
      const inspector = new Database(fixture.path, { readonly: true });
      try {
        assert.equal(inspector.pragma("journal_mode", { simple: true }), "wal");
        assert.equal(inspector.pragma("user_version", { simple: true }), SQLITE_MIGRATIONS.length);
        const row = inspector.prepare("SELECT value FROM meta WHERE key = 'epoch'").get();
        assert.deepEqual(row, { value: fixture.store.epoch });
      } finally {
        inspector.close();
      }
    } finally {
      await fixture.cleanup();
    }
  });

  it("rejects a whole batch when its transaction fails, leaving no gap", async () => {
    const fixture = await sqliteFileFixture();
    const { store } = fixture;
    try {
      // A second connection installs a trigger that aborts one insert, failing the batch.
      const saboteur = new Database(fixture.path);
      saboteur.exec(`CREATE TRIGGER refuse_boom BEFORE INSERT ON messages WHEN NEW.text = 'boom'
                     BEGIN SELECT RAISE(ABORT, 'boom refused'); END;`);
      saboteur.close();
      const base = { room: "a", userId: "u", clientId: "c", from: "alice", ts: 1 };
      const batch = [
        store.append({ ...base, id: "1", text: "fine" }),
        store.append({ ...base, id: "2", text: "boom" }),
        store.append({ ...base, id: "3", text: "fine too" }),
      ];
      const outcomes = await Promise.allSettled(batch);
      assert.deepEqual(outcomes.map((o) => o.status), ["rejected", "rejected", "rejected"]);
      assert.equal(await store.latestSeq("a"), 0);
      assert.deepEqual(await store.readAfter("a", 0, 10), []);

      const retry = await store.append({ ...base, id: "1", text: "fine" });
      assert.deepEqual([retry.message.seq, retry.duplicate], [1, false]);
    } finally {
      await fixture.cleanup();
    }
  });
});

/**
 * Child process body: appends three messages, reports their seqs once the promises resolve,
 * then idles with the database still open until it is killed.
 */
const APPEND_THEN_IDLE = `
  const { SqliteStore } = await import(process.env.STORE_MODULE);
  const store = new SqliteStore({ path: process.env.DB_PATH });
  const base = { room: "a", userId: "u", clientId: "c", from: "alice", text: "kept", ts: 1 };
  const results = await Promise.all(["1", "2", "3"].map((id) => store.append({ ...base, id })));
  console.log(JSON.stringify(results.map((r) => r.message.seq)));
  setInterval(() => {}, 60_000);
`;

describe("SqliteStore durability", () => {
  it("keeps resolved appends when the process is killed with SIGKILL", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pulse-store-kill-"));
    const path = join(dir, "pulse.db");
    const storeModule = new URL("../../src/store/sqlite-store.ts", import.meta.url).href;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", APPEND_THEN_IDLE], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      env: { ...process.env, STORE_MODULE: storeModule, DB_PATH: path },
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const exitedEarly = once(child, "exit").then(([code]) => {
        throw new Error(`child exited with ${code} before reporting`);
      });
      const [line] = (await Promise.race([once(child.stdout, "data"), exitedEarly])) as [Buffer];
      exitedEarly.catch(() => {}); // the kill below makes it settle too; that exit is expected
      assert.equal(line.toString().trim(), "[1,2,3]");
      child.kill("SIGKILL");
      await once(child, "exit");
      const store = new SqliteStore({ path });
      try {
        assert.deepEqual((await store.readAfter("a", 0, 10)).map((m) => m.seq), [1, 2, 3]);
      } finally {
        await store.close();
      }
    } finally {
      child.kill("SIGKILL");
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("openStore", () => {
  it('opens a MemoryStore for "memory" and SQLite for anything else', async () => {
    const memory = await openStore("memory", { retainPerRoom: 3 });
    const sqlite = await openStore(":memory:");
    try {
      assert.ok(memory instanceof MemoryStore);
      assert.ok(sqlite instanceof SqliteStore);
    } finally {
      await memory.close();
      await sqlite.close();
    }
  });

  it("refuses a retainPerRoom or retainBytesPerRoom below 1", async () => {
    await assert.rejects(openStore("memory", { retainPerRoom: 0 }), RangeError);
    await assert.rejects(openStore(":memory:", { retainPerRoom: -5 }), RangeError);
    await assert.rejects(openStore("memory", { retainBytesPerRoom: 0 }), RangeError);
    await assert.rejects(openStore(":memory:", { retainBytesPerRoom: 1.5 }), RangeError);
  });
});
