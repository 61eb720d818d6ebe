/** Default for `retainPerRoom`: how many of its newest messages each room keeps. */
export const DEFAULT_RETAIN_PER_ROOM = 100_000;

/** Default for `retainBytesPerRoom`: 64 MiB of text and per-message overhead per room. */
export const DEFAULT_RETAIN_BYTES_PER_ROOM = 64 * 1024 * 1024;

/**
 * Default for `retainBytesTotal`: 1 GiB of text and per-message overhead in all rooms together.
 * Rooms are made by naming them, so without a total a client could fill the disk one room at a
 * time, each within its own budget.
 */
export const DEFAULT_RETAIN_BYTES_TOTAL = 1024 * 1024 * 1024;

/**
 * What a stored message costs beyond its text, in the byte budget: its sender, ids, seq,
 * timestamp and index entries take about this much in SQLite (a row plus the idempotency
 * index entry). Counting it means a flood of tiny messages is bounded by bytes too. On disk
 * SQLite's file is 0.8-1.1x the count for texts up to 700 bytes or from 4,000, but up to 3.8x
 * for texts of 1,000-2,500 bytes, whose rows spill into a mostly empty 4 KB overflow page
 * (docs/deploy.md, "Disk"). SQLite's room_sizes.held (migration 6) is computed with it too.
 */
export const MESSAGE_OVERHEAD_BYTES = 256;

/** Options every engine accepts. */
export interface RetentionOptions {
  /**
   * Keep at most this many newest messages per room; older ones are deleted and `firstSeq`
   * moves up. Sequence numbers continue regardless. Default DEFAULT_RETAIN_PER_ROOM.
   */
  retainPerRoom?: number;
  /**
   * Keep at most this many bytes per room, counted as the UTF-8 bytes of each message's text
   * plus MESSAGE_OVERHEAD_BYTES; over it the oldest messages are deleted and `firstSeq` moves
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
}

/** The three limits, validated. */
export interface RetentionLimits {
  retainPerRoom: number;
  retainBytesPerRoom: number;
  retainBytesTotal: number;
}

/** The validated limits; a room must keep at least its newest message. */
export function resolveRetention(options: RetentionOptions): RetentionLimits {
  const limits = {
    retainPerRoom: options.retainPerRoom ?? DEFAULT_RETAIN_PER_ROOM,
    retainBytesPerRoom: options.retainBytesPerRoom ?? DEFAULT_RETAIN_BYTES_PER_ROOM,
    retainBytesTotal: options.retainBytesTotal ?? DEFAULT_RETAIN_BYTES_TOTAL,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
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
 * bounds that work to about a thousand rows. 64 per message appended: each deleted message
 * frees at least its MESSAGE_OVERHEAD_BYTES, so 64 free at least 16 KiB, more than the largest
 * message costs (4,000 code points of 4 bytes plus the overhead), and the total cannot run
 * away.
 */
export const dropAllowance = (appended: number): number => Math.max(1_000, 64 * appended);

/** What `count` messages with `textBytes` of text in all cost in the byte budgets. */
export const storedBytes = (count: number, textBytes: number): number => textBytes + count * MESSAGE_OVERHEAD_BYTES;

/**
 * Whether a room holding `count` messages with `textBytes` of text in all must drop its
 * oldest one. Never true for a single message: the newest is always kept.
 */
export function overRetention(limits: RetentionLimits, count: number, textBytes: number): boolean {
  return count > 1 && (count > limits.retainPerRoom || storedBytes(count, textBytes) > limits.retainBytesPerRoom);
}

/** The UTF-8 length of a text, as every engine stores it (a lone surrogate becomes U+FFFD, 3 bytes). */
export const utf8Bytes = (text: string): number => Buffer.byteLength(text, "utf8");
