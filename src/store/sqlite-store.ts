import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import type { ChatMessage } from "../protocol/messages.js";
import type { AppendInput, AppendResult, MessageStore, StoredMessage } from "./message-store.js";
import { holdsAgainst, usedCarriedOver, type ClaimResult, type IdentityStore, type NicknameClaim, type NicknameRelease, type StoredHold } from "./identity-store.js";
import { dropAllowance, MESSAGE_OVERHEAD_BYTES, messageBytes, overRetention, resolveRetention, storedBytes, type RetentionLimits, type RetentionOptions } from "./retention.js";
import { applyMigrations, MESSAGE_BYTES_SQL } from "./sqlite-migrations.js";
import { LruMap } from "./lru-map.js";

export interface SqliteStoreOptions extends RetentionOptions {
  /**
   * Database file (its directory is created if missing), or ":memory:" for a private
   * in-memory database that disappears on close. One SqliteStore per file: sequence numbers
   * are assigned from an in-process cache, so a second writer would collide.
   */
  path: string;
  /**
   * Rooms whose seq range is kept in memory (least recently used are dropped and re-read from
   * the index when needed). Room names come from clients: unbounded, churning names grew the
   * heap without end. Default 1024.
   */
  roomCacheSize?: number;
}

interface PendingAppend {
  input: AppendInput;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Seqs held for a room and its running count for the byte budgets (ROOM_OVERHEAD_BYTES plus
 * the held rows' messageBytes). With nothing held, `first` is 0, `countedBytes` 0 and `last`
 * the seq the room's next message follows (the store's seq floor).
 */
interface RoomRange {
  first: number;
  last: number;
  countedBytes: number;
}

const heldCount = (range: RoomRange): number => (range.first === 0 ? 0 : range.last - range.first + 1);
const heldBytesOf = (range: RoomRange): number => storedBytes(heldCount(range), range.countedBytes);

/** What a batch changed beyond its rooms' ranges, published after its commit. */
interface TotalsAfter {
  heldBytes: number;
  seqFloor: number;
  writeTick: number;
  /** Rooms dropped whole to keep within retainBytesTotal (their cached ranges are stale). */
  dropped: string[];
}

type SeqRow = { seq: number };
type HeldRow = { room: string; held: number; count: number };
type SizedRow = { seq: number; bytes: number };

/** The wire form: the sender's keys stay in the database. */
const MESSAGE_COLUMNS = `room, seq, sender AS "from", text, ts`;
const STORED_COLUMNS = `${MESSAGE_COLUMNS}, user_id AS userId, client_id AS clientId, msg_id AS id`;

/**
 * MessageStore on SQLite (better-sqlite3). Appends requested in one event-loop tick are
 * written in one transaction, so throughput is bounded by commits per second rather than by
 * messages per second; every append promise settles after that commit.
 */
export class SqliteStore implements MessageStore, IdentityStore {
  readonly epoch: string;
  private readonly db: Database.Database;
  private readonly retention: RetentionLimits;
  /**
   * Committed seq ranges, loaded lazily per room so joins never scan the table. Dropping one
   * is always safe: between batches the table is the truth, and a batch works on copies.
   */
  private readonly rooms: LruMap<string, RoomRange>;
  private pending: PendingAppend[] = [];
  /** What all rooms hold, in the byte budgets' measure (storedBytes), as committed. */
  private heldBytes: number;
  /**
   * The latest seq of a room with nothing held: above every seq of a room dropped whole, so
   * such a room never hands out a seq it had before (kept in meta as seq_floor).
   */
  private seqFloor: number;
  /** Marks the rooms a batch wrote (room_sizes.written, one more per batch): never dropped whole by it. */
  private writeTick: number;
  private flushHandle: NodeJS.Immediate | undefined;
  private closed = false;

  private readonly insertMessage: Database.Statement<
    [string, number, string, string, string, string, string, number]
  >;
  private readonly selectByKey: Database.Statement<[string, string, string], StoredMessage>;
  private readonly selectAfter: Database.Statement<[string, number, number], ChatMessage>;
  private readonly selectBefore: Database.Statement<[string, number, number], ChatMessage>;
  private readonly selectGapTextBytes: Database.Statement<[string, number, number], { bytes: number }>;
  private readonly selectFirstSeq: Database.Statement<[string], SeqRow>;
  private readonly selectLastSeq: Database.Statement<[string], SeqRow>;
  private readonly deleteBefore: Database.Statement<[string, number]>;
  private readonly selectOldest: Database.Statement<[string, number], SizedRow>;
  private readonly selectCountedBytes: Database.Statement<[string], { bytes: number }>;
  private readonly upsertRoomSize: Database.Statement<[string, number, number, number]>;
  private readonly selectLargest: Database.Statement<[number], HeldRow>;
  private readonly shrinkRoomSize: Database.Statement<[number, number, string]>;
  private readonly deleteRoom: Database.Statement<[string]>;
  private readonly deleteRoomSize: Database.Statement<[string]>;
  private readonly upsertSeqFloor: Database.Statement<[string]>;
  private readonly writeBatch: (batch: PendingAppend[]) => {
    results: AppendResult[];
    ranges: Map<string, RoomRange>;
    totals: TotalsAfter;
  };

  constructor(options: SqliteStoreOptions) {
    this.retention = resolveRetention(options);
    this.rooms = new LruMap(options.roomCacheSize ?? 1024);
    const inMemory = options.path === ":memory:";
    if (!inMemory) mkdirSync(dirname(options.path), { recursive: true });
    this.db = new Database(options.path);
    try {
      if (!inMemory) this.db.pragma("journal_mode = WAL");
      // In WAL mode NORMAL skips the fsync per commit, yet a commit is in the WAL file (the OS
      // cache) before it returns: it survives a process crash or SIGKILL, only an OS crash or
      // power loss can lose the last few commits.
      this.db.pragma("synchronous = NORMAL");
      applyMigrations(this.db);
      this.epoch = this.loadOrCreateEpoch();

      this.insertMessage = this.db.prepare(
        `INSERT INTO messages (room, seq, user_id, client_id, msg_id, sender, text, ts)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (user_id, client_id, msg_id) DO NOTHING`,
      );
      this.selectByKey = this.db.prepare(
        `SELECT ${STORED_COLUMNS} FROM messages WHERE user_id = ? AND client_id = ? AND msg_id = ?`,
      );
      this.selectAfter = this.db.prepare(
        `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?`,
      );
      this.selectBefore = this.db.prepare(
        `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? AND seq < ?
         ORDER BY seq DESC LIMIT ?`,
      );
      // octet_length() of a TEXT column is read from the record header: the text itself (in
      // overflow pages when long) is not loaded, so a gap of 10,000 long messages is summed
      // in a few milliseconds.
      this.selectGapTextBytes = this.db.prepare(
        `SELECT coalesce(sum(octet_length(text)), 0) AS bytes FROM messages WHERE room = ? AND seq > ? AND seq <= ?`,
      );
      // Two single-ended queries: SQLite answers a lone MIN or MAX from the index edge, but
      // scans the whole room when both appear in one SELECT.
      this.selectFirstSeq = this.db.prepare(
        `SELECT seq FROM messages WHERE room = ? ORDER BY seq ASC LIMIT 1`,
      );
      this.selectLastSeq = this.db.prepare(
        `SELECT seq FROM messages WHERE room = ? ORDER BY seq DESC LIMIT 1`,
      );
      this.deleteBefore = this.db.prepare(`DELETE FROM messages WHERE room = ? AND seq < ?`);
      this.selectOldest = this.db.prepare(
        `SELECT seq, ${MESSAGE_BYTES_SQL} AS bytes FROM messages WHERE room = ? AND seq >= ? ORDER BY seq`,
      );
      this.selectCountedBytes = this.db.prepare(`SELECT counted_bytes AS bytes FROM room_sizes WHERE room = ?`);
      this.upsertRoomSize = this.db.prepare(
        `INSERT INTO room_sizes (room, counted_bytes, message_count, written) VALUES (?, ?, ?, ?)
         ON CONFLICT (room) DO UPDATE SET counted_bytes = excluded.counted_bytes,
           message_count = excluded.message_count, written = excluded.written`,
      );
      // The two largest rooms, but not one that this batch wrote (`written`) down to its single
      // message: that room is neither cut nor dropped. A backward walk of room_sizes_held.
      this.selectLargest = this.db.prepare(
        `SELECT room, held, message_count AS count FROM room_sizes
         WHERE NOT (message_count = 1 AND written = ?) ORDER BY held DESC, room DESC LIMIT 2`,
      );
      this.shrinkRoomSize = this.db.prepare(
        `UPDATE room_sizes SET counted_bytes = counted_bytes - ?, message_count = message_count - ? WHERE room = ?`,
      );
      this.deleteRoom = this.db.prepare(`DELETE FROM messages WHERE room = ?`);
      this.deleteRoomSize = this.db.prepare(`DELETE FROM room_sizes WHERE room = ?`);
      this.upsertSeqFloor = this.db.prepare(
        `INSERT INTO meta (key, value) VALUES ('seq_floor', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      );
      const totals = this.db
        .prepare(`SELECT coalesce(sum(counted_bytes + message_count * ${MESSAGE_OVERHEAD_BYTES}), 0) AS bytes, coalesce(max(written), 0) AS tick FROM room_sizes`)
        .get() as { bytes: number; tick: number };
      this.heldBytes = totals.bytes;
      this.writeTick = totals.tick;
      const floor = this.db.prepare(`SELECT value FROM meta WHERE key = 'seq_floor'`).get() as { value: string } | undefined;
      this.seqFloor = floor ? Number(floor.value) : 0;
      this.writeBatch = this.db.transaction((batch: PendingAppend[]) => this.writeInTransaction(batch));
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  append(input: AppendInput): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new Error("SqliteStore is closed"));
    return new Promise((resolve, reject) => {
      this.pending.push({ input, resolve, reject });
      this.flushHandle ??= setImmediate(() => this.flush());
    });
  }

  async readAfter(room: string, afterSeq: number, limit: number): Promise<ChatMessage[]> {
    if (limit <= 0) return [];
    return this.selectAfter.all(room, afterSeq, limit);
  }

  async readBefore(room: string, beforeSeq: number, limit: number): Promise<ChatMessage[]> {
    if (limit <= 0) return [];
    return this.selectBefore.all(room, beforeSeq, limit).reverse();
  }

  async textBytesBetween(room: string, afterSeq: number, throughSeq: number): Promise<number> {
    if (throughSeq <= afterSeq) return 0;
    return this.selectGapTextBytes.get(room, afterSeq, throughSeq)!.bytes;
  }

  async latestSeq(room: string): Promise<number> {
    return this.roomRange(room).last;
  }

  async firstSeq(room: string): Promise<number> {
    return this.roomRange(room).first;
  }

  /** Commits the appends already requested, then closes the database. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.flushHandle) clearImmediate(this.flushHandle);
    this.flush();
    this.db.close();
  }

  private flush(): void {
    this.flushHandle = undefined;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    let outcome: ReturnType<typeof this.writeBatch>;
    try {
      outcome = this.writeBatch(batch);
    } catch (error) {
      // Rolled back: nothing in the batch is stored and the cached ranges are untouched.
      for (const request of batch) request.reject(error);
      return;
    }
    for (const [room, range] of outcome.ranges) this.rooms.set(room, range);
    const { totals } = outcome;
    for (const room of totals.dropped) this.rooms.delete(room);
    this.heldBytes = totals.heldBytes;
    this.seqFloor = totals.seqFloor;
    this.writeTick = totals.writeTick;
    batch.forEach((request, i) => request.resolve(outcome.results[i]!));
  }

  /**
   * Runs inside the batch transaction. Ranges are advanced on copies and published by
   * `flush` only after the commit, so a rollback cannot leave a gap in the sequence.
   */
  private writeInTransaction(batch: PendingAppend[]) {
    const ranges = new Map<string, RoomRange>();
    const results: AppendResult[] = [];
    let heldBytes = this.heldBytes;
    for (const { input } of batch) {
      let range = ranges.get(input.room);
      if (!range) {
        range = { ...this.roomRange(input.room) };
        heldBytes -= heldBytesOf(range);
        ranges.set(input.room, range);
      }
      const seq = range.last + 1;
      const { room, userId, clientId, id, from, text, ts } = input;
      const { changes } = this.insertMessage.run(room, seq, userId, clientId, id, from, text, ts);
      if (changes === 1) {
        range.last = seq;
        // A room's first held message brings the room's own cost with it.
        range.countedBytes += messageBytes(input) + (range.first === 0 ? this.retention.roomOverheadBytes : 0);
        if (range.first === 0) range.first = seq;
        results.push({ message: { room, seq, userId, clientId, id, from, text, ts }, duplicate: false });
      } else {
        // The key exists, stored earlier or earlier in this very batch (the transaction sees
        // its own writes), possibly in another room.
        const original = this.selectByKey.get(userId, clientId, id);
        if (!original) throw new Error(`append of ${clientId}/${id} conflicted but found no row`);
        results.push({ message: original, duplicate: true });
      }
    }
    const writeTick = this.writeTick + 1;
    const allowance = dropAllowance(batch.length);
    let trimAllowance = allowance;
    for (const [room, range] of ranges) {
      trimAllowance -= this.trim(room, range, trimAllowance);
      heldBytes += heldBytesOf(range);
      // A room that only met duplicates (of messages in other rooms) holds nothing: no row.
      if (range.first !== 0) this.upsertRoomSize.run(room, range.countedBytes, heldCount(range), writeTick);
    }
    return { results, ranges, totals: this.cutLargestOverTotal(heldBytes, writeTick, allowance, ranges) };
  }

  /**
   * Over retainBytesTotal, the largest room gives up its oldest messages until it holds less
   * than the next largest (or the total is met), then the next largest, and so on (retention.ts,
   * RetentionOptions.retainBytesTotal). A room down to its newest message goes whole when it is
   * the largest, never one this batch wrote; the seq floor moves above its latest seq. At most
   * `allowance` rows in all. A room cut keeps its range in `ranges`, published after the commit.
   */
  private cutLargestOverTotal(heldBytes: number, writeTick: number, allowance: number, ranges: Map<string, RoomRange>): TotalsAfter {
    const dropped: string[] = [];
    let seqFloor = this.seqFloor;
    while (heldBytes > this.retention.retainBytesTotal && allowance > 0) {
      const [largest, next] = this.selectLargest.all(writeTick);
      if (!largest) break;
      if (largest.count === 1) {
        const last = this.selectLastSeq.get(largest.room)?.seq ?? 0;
        this.deleteRoom.run(largest.room);
        this.deleteRoomSize.run(largest.room);
        dropped.push(largest.room);
        heldBytes -= largest.held;
        allowance--;
        seqFloor = Math.max(seqFloor, last + 1);
        continue;
      }
      let range = ranges.get(largest.room);
      if (!range) {
        range = { ...this.roomRange(largest.room) };
        ranges.set(largest.room, range);
      }
      const held = heldBytesOf(range);
      const countedBytes = range.countedBytes;
      const nextHeld = next?.held ?? 0;
      const n = this.deleteOldestWhile(largest.room, range, allowance, (count, counted) => {
        const left = storedBytes(count, counted);
        return count > 1 && heldBytes - (held - left) > this.retention.retainBytesTotal && left >= nextHeld;
      });
      // The largest room always gives up one: none means its row and range disagree, and the
      // loop would spin inside the transaction.
      if (n === 0) throw new Error(`room_sizes disagrees with the messages of ${largest.room}`);
      this.shrinkRoomSize.run(countedBytes - range.countedBytes, n, largest.room);
      heldBytes -= held - heldBytesOf(range);
      allowance -= n;
    }
    if (seqFloor !== this.seqFloor) this.upsertSeqFloor.run(String(seqFloor));
    return { heldBytes, seqFloor, writeTick, dropped };
  }

  /**
   * Deletes the room's oldest messages while it is over its count or byte limit, at most
   * `allowance` of them (a room far over, after its limits were lowered, gets there over
   * several appends); returns how many. Seqs are contiguous from `first` to `last`, so the count
   * is their difference; the rows to drop are read oldest first and the scan stops at the first
   * one kept.
   */
  private trim(room: string, range: RoomRange, allowance: number): number {
    if (range.first === 0 || !overRetention(this.retention, heldCount(range), range.countedBytes)) return 0;
    return this.deleteOldestWhile(room, range, allowance, (count, countedBytes) => overRetention(this.retention, count, countedBytes));
  }

  /**
   * Deletes the room's oldest messages, at most `n`, while `more(count, countedBytes)` holds for
   * what the room would then keep; moves `range` past them and returns how many went.
   */
  private deleteOldestWhile(room: string, range: RoomRange, n: number, more: (count: number, countedBytes: number) => boolean): number {
    const from = heldCount(range);
    let count = from;
    let keepFrom = range.first;
    for (const row of this.selectOldest.iterate(room, range.first)) {
      if (from - count === n || !more(count, range.countedBytes)) break;
      range.countedBytes -= row.bytes;
      count--;
      keepFrom = row.seq + 1;
    }
    this.deleteBefore.run(room, keepFrom);
    range.first = keepFrom;
    return from - count;
  }

  private roomRange(room: string): RoomRange {
    let range = this.rooms.get(room);
    if (!range) {
      range = {
        first: this.selectFirstSeq.get(room)?.seq ?? 0,
        last: this.selectLastSeq.get(room)?.seq ?? this.seqFloor,
        countedBytes: this.selectCountedBytes.get(room)?.bytes ?? 0,
      };
      this.rooms.set(room, range);
    }
    return range;
  }

  async signingSecret(): Promise<Uint8Array> {
    this.db
      .prepare(`INSERT INTO meta (key, value) VALUES ('token_secret', ?) ON CONFLICT (key) DO NOTHING`)
      .run(randomBytes(32).toString("hex"));
    const row = this.db.prepare(`SELECT value FROM meta WHERE key = 'token_secret'`).get() as { value: string };
    return new Uint8Array(Buffer.from(row.value, "hex"));
  }

  /** Prepared on first use, then kept: a reconnect storm claims thousands of names a second. */
  private get holds(): HoldStatements {
    return (this.holdStatements ??= prepareHolds(this.db));
  }
  private holdStatements: HoldStatements | null = null;

  async claimNickname(claim: NicknameClaim): Promise<ClaimResult> {
    return this.holds.claim(claim);
  }

  async releaseNickname(r: NicknameRelease): Promise<void> {
    this.holds.release(r);
  }

  async purgeNicknames(before: number): Promise<number> {
    return this.holds.endedBefore.run(before).changes;
  }

  private loadOrCreateEpoch(): string {
    this.db
      .prepare(`INSERT INTO meta (key, value) VALUES ('epoch', ?) ON CONFLICT (key) DO NOTHING`)
      .run(randomUUID());
    const row = this.db.prepare(`SELECT value FROM meta WHERE key = 'epoch'`).get() as
      | { value: string }
      | undefined;
    if (!row) throw new Error("meta table has no epoch");
    return row.value;
  }
}

type HoldStatements = ReturnType<typeof prepareHolds>;

function prepareHolds(db: Database.Database) {
  const select = db.prepare<[string], StoredHold>(`SELECT user_id AS userId, used_ms AS usedMs, held_until AS heldUntil FROM nicknames WHERE key = ?`);
  const upsert = db.prepare<[string, string, string, number, number, number]>(
    `INSERT INTO nicknames (key, nick, user_id, last_seen_at, used_ms, held_until) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET nick = excluded.nick, user_id = excluded.user_id, last_seen_at = excluded.last_seen_at,
       used_ms = excluded.used_ms, held_until = excluded.held_until`,
  );
  const claim = db.transaction((c: NicknameClaim): ClaimResult => {
    const existing = select.get(c.key);
    if (existing && holdsAgainst(existing, c)) return { ok: false, ownerId: existing.userId };
    const usedMs = usedCarriedOver(existing, c);
    upsert.run(c.key, c.nick, c.userId, c.now, usedMs, c.now + c.holdMs);
    return { ok: true, usedMs };
  });
  const release = db.transaction((r: NicknameRelease): void => {
    const existing = select.get(r.key);
    if (existing && holdsAgainst(existing, { userId: r.userId, now: r.at })) return;
    upsert.run(r.key, r.nick, r.userId, r.at, r.usedMs, r.heldUntil);
  });
  return {
    /** One IMMEDIATE transaction: the read and the write cannot interleave with another claim. */
    claim: (c: NicknameClaim): ClaimResult => claim.immediate(c),
    release: (r: NicknameRelease): void => release.immediate(r),
    endedBefore: db.prepare<[number]>(`DELETE FROM nicknames WHERE held_until < ?`),
  };
}
