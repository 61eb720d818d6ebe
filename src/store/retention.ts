/** Default for `retainPerRoom`: how many of its newest messages each room keeps. */
export const DEFAULT_RETAIN_PER_ROOM = 100_000;

/** Default for `retainBytesPerRoom`: 64 MiB of messages (messageBytes plus overhead) per room. */
export const DEFAULT_RETAIN_BYTES_PER_ROOM = 64 * 1024 * 1024;

/**
 * Default for `retainBytesTotal`: 1 GiB in all rooms together, counted as for retainBytesPerRoom.
 * Rooms are made by naming them, so without a total a client could fill the disk one room at a
 * time, each within its own budget.
 */
export const DEFAULT_RETAIN_BYTES_TOTAL = 1024 * 1024 * 1024;

/**
 * What a stored message costs beyond its fields' bytes (messageBytes), in the byte budgets: its
 * seq, timestamp, row and index headers. Counting it means a flood of tiny messages is bounded
 * by bytes too. On disk SQLite's file is 0.8-1.1x the count for texts up to 700 bytes or from
 * 4,000, but up to 3.8x for texts of 1,000-2,500 bytes, whose rows spill into a mostly empty
 * 4 KB overflow page (docs/deploy.md, "Disk").
 */
export const MESSAGE_OVERHEAD_BYTES = 256;

/**
 * What a room costs by itself, in the byte budgets, while it holds any message: counted in its
 * bytes from its first message until it is dropped whole. Redis keeps about 5 KB for a room
 * with one short message (its stream alone about 4.7 KB), SQLite a few hundred bytes. Without
 * it, a client making room after room with one character in each grew Redis by about 20 times
 * what the budgets counted.
 */
export const ROOM_OVERHEAD_BYTES = 5_120;

/**
 * A message's fields as every engine stores them, in UTF-8 bytes: text, sender and room once;
 * userId, clientId and id twice, since the idempotency index (SQLite) or dedupe hash (Redis,
 * memory) repeats them. Long ids and names are what a client chooses, so they are counted:
 * with text alone counted, the longest allowed ids, room and nick made SQLite 6x, and Redis
 * 5x, the count. A room's running count is the sum of its messages' messageBytes plus
 * ROOM_OVERHEAD_BYTES; each engine subtracts exactly what it added when a message goes.
 */
export function messageBytes(m: { room: string; userId: string; clientId: string; id: string; from: string; text: string }): number {
  return utf8Bytes(m.text) + utf8Bytes(m.from) + utf8Bytes(m.room) + 2 * (utf8Bytes(m.userId) + utf8Bytes(m.clientId) + utf8Bytes(m.id));
}

/** Options every engine accepts. */
export interface RetentionOptions {
  /**
   * Keep at most this many newest messages per room; older ones are deleted and `firstSeq`
   * moves up. Sequence numbers continue regardless. Default DEFAULT_RETAIN_PER_ROOM.
   */
  retainPerRoom?: number;
  /**
   * Keep at most this many bytes per room, counted as ROOM_OVERHEAD_BYTES plus, for each
   * message, its messageBytes (the UTF-8 bytes of its text, sender, room and ids) plus
   * MESSAGE_OVERHEAD_BYTES; over it the oldest messages are deleted and `firstSeq` moves
   * up, as with `retainPerRoom`. The newest message is always kept, whatever its size.
   * Default DEFAULT_RETAIN_BYTES_PER_ROOM (64 MiB).
   */
  retainBytesPerRoom?: number;
  /**
   * Keep at most this many bytes in all rooms together, counted as for `retainBytesPerRoom`.
   * Over it, the room holding the most gives up its oldest messages until it holds less than
   * the next largest or the total is met, then the next largest, and so on (ties: the greater
   * name first): a fair share, so rooms written a lot cannot push a quiet room's history out,
   * only cut it to the size they are cut to themselves. Never a room's newest message: a room
   * down to it goes whole when it is the largest, never one written in the same append, and
   * starts again above every seq it had. An append deletes at most `dropAllowance` messages
   * so; the cut goes on at the next append over the total. At least `retainBytesPerRoom`.
   * Default DEFAULT_RETAIN_BYTES_TOTAL (1 GiB).
   */
  retainBytesTotal?: number;
  /**
   * What a room costs by itself in both byte budgets while it holds a message. Default
   * ROOM_OVERHEAD_BYTES. A store-level setting (tests of the budgets' arithmetic set 0); a room
   * keeps the cost it started with, so changing it never unbalances the running counts.
   */
  roomOverheadBytes?: number;
}

/** The limits, validated. */
export interface RetentionLimits {
  retainPerRoom: number;
  retainBytesPerRoom: number;
  retainBytesTotal: number;
  roomOverheadBytes: number;
}

/** The validated limits; a room must keep at least its newest message. */
export function resolveRetention(options: RetentionOptions): RetentionLimits {
  const limits = {
    retainPerRoom: options.retainPerRoom ?? DEFAULT_RETAIN_PER_ROOM,
    retainBytesPerRoom: options.retainBytesPerRoom ?? DEFAULT_RETAIN_BYTES_PER_ROOM,
    retainBytesTotal: options.retainBytesTotal ?? DEFAULT_RETAIN_BYTES_TOTAL,
    roomOverheadBytes: options.roomOverheadBytes ?? ROOM_OVERHEAD_BYTES,
  };
  for (const [name, value] of Object.entries(limits)) {
    const least = name === "roomOverheadBytes" ? 0 : 1;
    if (!Number.isSafeInteger(value) || value < least) throw new RangeError(`${name} must be an integer of at least ${least}, got ${value}`);
  }
  // Below it, the room just written could hold more than the total by itself, and would be the
  // only one left.
  if (limits.retainBytesTotal < limits.retainBytesPerRoom) {
    throw new RangeError(`retainBytesTotal (${limits.retainBytesTotal}) must be at least retainBytesPerRoom (${limits.retainBytesPerRoom})`);
  }
  return limits;
}

/**
 * How many messages an append of `appended` messages may delete to get back within
 * retainBytesTotal, and how many of its own room's oldest it may trim (a room far over
 * limits lowered since gets there over several appends). Deleting a room of 100,000 messages
 * at once held the event loop (SQLite) 290 ms and Redis 1.7 s, for every connection; this
 * bounds that work to about a thousand rows. 128 per message appended: each deleted message
 * frees at least its MESSAGE_OVERHEAD_BYTES, so 128 free at least 32 KiB, more than the largest
 * message costs at the default limits (4,000 code points of 4 bytes, the longest ids, nick and
 * room, the longest userId (256 characters, in every auth mode), the overhead, and a new room's
 * ROOM_OVERHEAD_BYTES: about 24 KB), and the total cannot run away.
 */
export const dropAllowance = (appended: number): number => Math.max(1_000, 128 * appended);

/**
 * What a room holding `count` messages costs in the byte budgets, `countedBytes` being its
 * running count (ROOM_OVERHEAD_BYTES plus its messages' messageBytes; 0 for a room holding none).
 */
export const storedBytes = (count: number, countedBytes: number): number => countedBytes + count * MESSAGE_OVERHEAD_BYTES;

/**
 * Whether a room holding `count` messages with running count `countedBytes` must drop its
 * oldest one. Never true for a single message: the newest is always kept.
 */
export function overRetention(limits: RetentionLimits, count: number, countedBytes: number): boolean {
  return count > 1 && (count > limits.retainPerRoom || storedBytes(count, countedBytes) > limits.retainBytesPerRoom);
}

/** The UTF-8 length of a text, as every engine stores it (a lone surrogate becomes U+FFFD, 3 bytes). */
export const utf8Bytes = (text: string): number => Buffer.byteLength(text, "utf8");
