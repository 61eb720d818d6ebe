import { randomBytes, randomUUID } from "node:crypto";
import type { ChatMessage } from "../protocol/messages.js";
import { toWire, type AppendInput, type AppendResult, type MessageStore, type StoredMessage } from "./message-store.js";
import { holdsAgainst, usedCarriedOver, type ClaimResult, type IdentityStore, type NicknameClaim, type NicknameRelease, type StoredHold } from "./identity-store.js";
import { dropAllowance, messageBytes, overRetention, resolveRetention, storedBytes, type RetentionLimits, type RetentionOptions } from "./retention.js";
import { LargestRooms } from "./largest-rooms.js";

export type MemoryStoreOptions = RetentionOptions;

interface RoomLog {
  /** Held messages, oldest first; messages[i].seq === first + i. */
  messages: StoredMessage[];
  /** Seq of messages[0], or the next seq to assign when the log is empty. */
  first: number;
  /** ROOM_OVERHEAD_BYTES plus the held messages' messageBytes (0 when none is held), for the byte budgets. */
  countedBytes: number;
}

/** MessageStore held in process memory, for tests: nothing survives the process. */
export class MemoryStore implements MessageStore, IdentityStore {
  readonly epoch = randomUUID();
  private readonly retention: RetentionLimits;
  private readonly rooms = new Map<string, RoomLog>();
  /** Every room in `rooms` by what it holds, for the cut over retainBytesTotal. */
  private readonly largest = new LargestRooms();
  /** What all rooms hold, in the byte budgets' measure (storedBytes). */
  private heldBytes = 0;
  /**
   * The latest seq of a room with nothing held: above every seq of a room dropped to keep
   * within retainBytesTotal, so such a room never hands out a seq it had before.
   */
  private seqFloor = 0;
  /** Idempotency index, keyed by idempotencyKey() so keys cannot collide. */
  private readonly byKey = new Map<string, StoredMessage>();
  private readonly nicknames = new Map<string, StoredHold>();
  private readonly secret = new Uint8Array(randomBytes(32));
  private closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.retention = resolveRetention(options);
  }

  async append(input: AppendInput): Promise<AppendResult> {
    if (this.closed) throw new Error("MemoryStore is closed");
    const key = idempotencyKey(input);
    const original = this.byKey.get(key);
    if (original) return { message: { ...original }, duplicate: true };

    const log = this.log(input.room);
    const { room, userId, clientId, id, from, text, ts } = input;
    const message: StoredMessage = { room, seq: log.first + log.messages.length, userId, clientId, id, from, text, ts };
    const bytes = messageBytes(message) + (log.messages.length === 0 ? this.retention.roomOverheadBytes : 0);
    log.messages.push(message);
    log.countedBytes += bytes;
    this.heldBytes += storedBytes(1, bytes);
    this.byKey.set(key, message);
    this.trim(log);
    this.largest.set(room, heldBy(log));
    this.cutLargestOverTotal(room);
    return { message: { ...message }, duplicate: false };
  }

  async readAfter(room: string, afterSeq: number, limit: number): Promise<ChatMessage[]> {
    const log = this.rooms.get(room);
    if (!log || limit <= 0) return [];
    // seq > afterSeq means seq >= floor(afterSeq) + 1, whatever the caller passed.
    const start = Math.max(0, Math.floor(afterSeq) + 1 - log.first);
    return copies(log.messages.slice(start, start + limit));
  }

  async readBefore(room: string, beforeSeq: number, limit: number): Promise<ChatMessage[]> {
    const log = this.rooms.get(room);
    if (!log || limit <= 0) return [];
    const end = Math.min(log.messages.length, Math.ceil(beforeSeq) - log.first);
    if (end <= 0) return [];
    return copies(log.messages.slice(Math.max(0, end - limit), end));
  }

  async textBytesBetween(room: string, afterSeq: number, throughSeq: number): Promise<number> {
    const log = this.rooms.get(room);
    if (!log) return 0;
    const start = Math.max(0, Math.floor(afterSeq) + 1 - log.first);
    const end = Math.min(log.messages.length, Math.floor(throughSeq) + 1 - log.first);
    let bytes = 0;
    for (let i = start; i < end; i++) bytes += Buffer.byteLength(log.messages[i]!.text);
    return bytes;
  }

  async latestSeq(room: string): Promise<number> {
    const log = this.rooms.get(room);
    return log ? log.first + log.messages.length - 1 : this.seqFloor;
  }

  async firstSeq(room: string): Promise<number> {
    const log = this.rooms.get(room);
    return log && log.messages.length > 0 ? log.first : 0;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  async signingSecret(): Promise<Uint8Array> {
    return this.secret;
  }

  async claimNickname(claim: NicknameClaim): Promise<ClaimResult> {
    const existing = this.nicknames.get(claim.key);
    if (existing && holdsAgainst(existing, claim)) return { ok: false, ownerId: existing.userId };
    const usedMs = usedCarriedOver(existing, claim);
    this.nicknames.set(claim.key, { userId: claim.userId, usedMs, heldUntil: claim.now + claim.holdMs });
    return { ok: true, usedMs };
  }

  async releaseNickname(r: NicknameRelease): Promise<void> {
    const existing = this.nicknames.get(r.key);
    if (existing && holdsAgainst(existing, { userId: r.userId, now: r.at })) return;
    this.nicknames.set(r.key, { userId: r.userId, usedMs: r.usedMs, heldUntil: r.heldUntil });
  }

  async purgeNicknames(before: number): Promise<number> {
    let dropped = 0;
    for (const [key, hold] of this.nicknames) {
      if (hold.heldUntil < before) {
        this.nicknames.delete(key);
        dropped++;
      }
    }
    return dropped;
  }

  private log(room: string): RoomLog {
    let log = this.rooms.get(room);
    if (!log) {
      log = { messages: [], first: this.seqFloor + 1, countedBytes: 0 };
      this.rooms.set(room, log);
    }
    return log;
  }

  /**
   * Drops the oldest messages beyond the count or byte limit and forgets their keys, as SQLite
   * does: at most dropAllowance(1) at once.
   */
  private trim(log: RoomLog): void {
    const allowance = dropAllowance(1);
    let excess = 0;
    let countedBytes = log.countedBytes;
    while (excess < allowance && overRetention(this.retention, log.messages.length - excess, countedBytes)) {
      countedBytes -= messageBytes(log.messages[excess++]!);
    }
    this.deleteOldest(log, excess);
  }

  /** Deletes the room's `n` oldest messages and forgets their keys. */
  private deleteOldest(log: RoomLog, n: number): void {
    for (const message of log.messages.splice(0, n)) {
      const bytes = messageBytes(message);
      log.countedBytes -= bytes;
      this.heldBytes -= storedBytes(1, bytes);
      this.byKey.delete(idempotencyKey(message));
    }
    // A room left with nothing (dropped whole) gives up its own cost too.
    if (log.messages.length === 0 && log.countedBytes !== 0) {
      this.heldBytes -= log.countedBytes;
      log.countedBytes = 0;
    }
    log.first += n;
  }

  /**
   * Over retainBytesTotal, the largest room gives up its oldest messages until it holds less
   * than the next largest (or the total is met), then the next largest, and so on (retention.ts,
   * RetentionOptions.retainBytesTotal). A room down to its newest message goes whole when it is
   * the largest, never `written`. At most dropAllowance(1) messages.
   */
  private cutLargestOverTotal(written: string): void {
    let allowance = dropAllowance(1);
    // `written` down to its one message is neither cut nor dropped: out of the order meanwhile.
    let shelved = false;
    while (this.heldBytes > this.retention.retainBytesTotal && allowance > 0) {
      const room = this.largest.top();
      if (room === undefined) break;
      const log = this.rooms.get(room)!;
      if (log.messages.length === 1) {
        this.largest.delete(room);
        if (room === written) {
          shelved = true;
          continue;
        }
        this.deleteOldest(log, 1);
        allowance--;
        this.seqFloor = Math.max(this.seqFloor, log.first);
        this.rooms.delete(room);
        continue;
      }
      const nextLargest = this.largest.runnerUpHeld();
      const held = heldBy(log);
      let n = 0;
      let freed = 0;
      while (n < log.messages.length - 1 && n < allowance && this.heldBytes - freed > this.retention.retainBytesTotal && held - freed >= nextLargest) {
        freed += storedBytes(1, messageBytes(log.messages[n++]!));
      }
      this.deleteOldest(log, n);
      allowance -= n;
      this.largest.set(room, held - freed);
    }
    if (shelved) this.largest.set(written, heldBy(this.rooms.get(written)!));
  }
}

const heldBy = (log: RoomLog): number => storedBytes(log.messages.length, log.countedBytes);

/** Length-prefixed parts, so that no two (userId, clientId, id) triples share a key. */
function idempotencyKey({ userId, clientId, id }: { userId: string; clientId: string; id: string }): string {
  return `${userId.length}:${userId}${clientId.length}:${clientId}${id}`;
}

/** Callers get their own objects, so mutating a result cannot rewrite history. */
function copies(messages: StoredMessage[]): ChatMessage[] {
  return messages.map(toWire);
}
