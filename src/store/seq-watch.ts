/**
 * What a node knows of the seqs Redis handed out, asked by RedisStore around the calls whose
 * answer must not be below it: a Redis that lost writes (a lagging replica promoted, a restart
 * without persistence, keys evicted) numbers a room's new messages again from where its data
 * ends, and a node (and its clients) that delivered the higher seqs would take the new messages
 * for ones it has and drop them.
 *
 * Sound, so a report is proof and never a guess: a room's seq only grows in Redis (INCR, and a
 * room dropped whole goes on above it: P floor), and one Redis orders every command, so a seq
 * delivered to this node before a call was sent is below what that call's INCR hands out and
 * not above what its read of the room's latest seq answers. `seen` is therefore read when the
 * call is sent, not when it is answered: appends answered out of order, or a publish that
 * arrives before its append's reply, move it meanwhile and prove nothing.
 */
export interface SeqWatch {
  /** The highest seq of `room` this node delivered, or null when it follows no such room. */
  seen(room: string): number | null;
  /**
   * Redis answered `seq` for `room` (an append's, or the room's latest) to a call sent when this
   * node had seen `seen` there: it lost what it had acknowledged. `append` says which call.
   */
  wentBack(room: string, seq: number, seen: number, call: "append" | "latestSeq"): void;
}
