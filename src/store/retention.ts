/** Default for `retainPerRoom`: how many of its newest messages each room keeps. */
export const DEFAULT_RETAIN_PER_ROOM = 100_000;

/** Options every engine accepts. */
export interface RetentionOptions {
  /**
   * Keep at most this many newest messages per room; older ones are deleted and `firstSeq`
   * moves up. Sequence numbers continue regardless. Default DEFAULT_RETAIN_PER_ROOM.
   */
  retainPerRoom?: number;
}

/** The validated `retainPerRoom`; a room must keep at least its newest message. */
export function resolveRetainPerRoom(options: RetentionOptions): number {
  const value = options.retainPerRoom ?? DEFAULT_RETAIN_PER_ROOM;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`retainPerRoom must be a positive integer, got ${value}`);
  }
  return value;
}
