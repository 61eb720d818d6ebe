import type { PresenceChange } from "../protocol/messages.js";

/** When a room's batch goes out, chosen when the batch opens. */
export interface BatchTiming {
  /** The batch goes out once no change came for this long... */
  quietMs: number;
  /** ...or this long after its first change, whichever comes first... */
  maxWaitMs: number;
  /** ...but not before this time (Date.now() ms): the room's previous frame plus its interval. */
  notBefore: number;
}

interface PendingRoom {
  /** In order; null where a change was cancelled out. */
  changes: Array<PresenceChange | null>;
  /** Per change: how many online-list snapshots the room had when it was added. */
  snapshotsAt: number[];
  /** Per change: how many of those its own nick took (see `snapshot`). */
  ownSnapshotsAt: number[];
  /** Index of each nick's last change still in `changes` (a linear search was O(batch^2) when thousands joined in one window). */
  lastByNick: Map<string, number>;
  /** Per change: the index of the same nick's change before it (-1: none), to step back when one cancels out. */
  previous: number[];
  /** Online lists sent to joiners since the batch opened (see `snapshot`). */
  snapshots: number;
  /** Of those, how many each nick took: made when a nick first takes one. */
  snapshotsBy: Map<string, number> | null;
  /** When the room's batch goes out (ms, Date.now() time); moves later while changes keep coming, never past `latestDue`. */
  dueAt: number;
  quietMs: number;
  notBefore: number;
  /** The batch goes out at the latest then: its first change plus maxWaitMs, or notBefore if later. */
  latestDue: number;
}

/**
 * Gathers presence changes per room and hands each room's list over at once when its batch is
 * due. A room of n members that n clients join in a burst costs n frames per batch instead
 * of n^2 in all. The timing is chosen per room when its batch opens: small rooms (names
 * matter there) send every presenceBatchMs; large ones, where only the count goes out, at most
 * once per interval, so filling a large room costs a few count frames per member instead of
 * one per window. Within that bound a large room's batch goes out as soon as its changes pause
 * for `quietMs`: a lone arrival after a quiet spell is counted at once, and the end of a
 * burst `quietMs` after it (with a fixed window the last count of a fill came up to a whole
 * interval after the last join).
 *
 * A join and a leave of the same nick within one batch cancel out (one connection joining and
 * leaving in a loop made every member of a room of 200 receive 279 KB/s), unless another
 * joiner was sent the room's online list in between: it saw the first change and needs the
 * second. The nick's own `joined` does not count: nobody else saw its join.
 */
export class PresenceBatcher {
  private readonly pending = new Map<string, PendingRoom>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;

  constructor(
    private readonly publish: (room: string, changes: PresenceChange[]) => void,
    /** A room's batch was due with every change cancelled out: nothing is published. */
    private readonly cancelled: (room: string) => void = () => {},
  ) {}

  add(room: string, change: PresenceChange, timing: BatchTiming): void {
    const now = Date.now();
    let entry = this.pending.get(room);
    if (!entry) {
      const { quietMs, notBefore } = timing;
      const latestDue = Math.max(notBefore, now + timing.maxWaitMs);
      this.pending.set(room, (entry = { changes: [], snapshotsAt: [], ownSnapshotsAt: [], lastByNick: new Map(), previous: [], snapshots: 0, snapshotsBy: null, dueAt: latestDue, quietMs, notBefore, latestDue }));
    }
    entry.dueAt = Math.min(entry.latestDue, Math.max(entry.notBefore, now + entry.quietMs));
    const last = entry.lastByNick.get(change.nick);
    const own = entry.snapshotsBy?.get(change.nick) ?? 0;
    // Cancelled unless someone else was sent the online list since: the nick's own joins saw
    // nothing the others did not (a client joining, waiting for its `joined`, then leaving, in
    // a loop, sent every member of a small room both changes each time).
    if (last !== undefined && entry.changes[last]!.event !== change.event && entry.snapshots - entry.snapshotsAt[last]! === own - entry.ownSnapshotsAt[last]!) {
      entry.changes[last] = null;
      const before = entry.previous[last]!;
      if (before >= 0) entry.lastByNick.set(change.nick, before);
      else entry.lastByNick.delete(change.nick);
    } else {
      entry.previous.push(last ?? -1);
      entry.lastByNick.set(change.nick, entry.changes.length);
      entry.changes.push(change);
      entry.snapshotsAt.push(entry.snapshots);
      entry.ownSnapshotsAt.push(own);
    }
    if (entry.dueAt < this.timerAt) this.arm(entry.dueAt);
  }

  /** The room's online list was just sent to a joiner, `nick`: changes pending now were seen by it. */
  snapshot(room: string, nick: string): void {
    const entry = this.pending.get(room);
    if (!entry) return;
    entry.snapshots++;
    const by = (entry.snapshotsBy ??= new Map());
    by.set(nick, (by.get(nick) ?? 0) + 1);
  }

  /** Publishes every pending room now. */
  flush(): void {
    this.disarm();
    const rooms = [...this.pending];
    this.pending.clear();
    for (const [room, entry] of rooms) this.publishLive(room, entry.changes);
  }

  private flushDue(): void {
    this.disarm();
    const now = Date.now();
    const due: Array<[string, Array<PresenceChange | null>]> = [];
    let next = Infinity;
    for (const [room, entry] of this.pending) {
      if (entry.dueAt <= now) due.push([room, entry.changes]);
      else next = Math.min(next, entry.dueAt);
    }
    for (const [room] of due) this.pending.delete(room);
    if (next < Infinity) this.arm(next);
    for (const [room, changes] of due) this.publishLive(room, changes);
  }

  /** Publishes the changes that were not cancelled out, if any. */
  private publishLive(room: string, changes: Array<PresenceChange | null>): void {
    const live = changes.filter((c): c is PresenceChange => c !== null);
    if (live.length > 0) this.publish(room, live);
    else this.cancelled(room);
  }

  private arm(at: number): void {
    this.disarm();
    this.timerAt = at;
    this.timer = setTimeout(() => this.flushDue(), Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }
}

