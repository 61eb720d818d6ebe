import type { FanoutTarget } from "./fanout.js";
import { fanout } from "./fanout.js";

/** A room's online list across nodes (see Room.onlineWith). */
export interface OnlineAcrossNodes {
  /** The others' names it was made from (the broker hands out the same array until they change). */
  readonly elsewhere: readonly string[];
  /** Everyone online, in code-unit order. */
  readonly sorted: string[];
  /** How many of them are online only through other nodes. */
  readonly remoteOnly: number;
  /** The first page of `sorted` as JSON, once asked for. */
  pageJson: string | null;
}

/** A member that joined but has not yet received its history: live frames wait here. */
interface PendingFrame {
  frame: Buffer;
  /** The message's seq, or 0 for frames that are not chat messages (presence). */
  seq: number;
}

/** A member whose catch-up may be going out. */
export interface SyncingMember extends FanoutTarget {
  /**
   * What is held for it changed by `deltaBytes` (in all its rooms together); false: too much,
   * stop holding for it (it is being cut).
   */
  holdFrames(deltaBytes: number): boolean;
}

/** The frames held for one syncing member, and what they cost: their bytes plus each entry's own. */
interface HeldFrames {
  readonly frames: PendingFrame[];
  bytes: number;
  /** Joins of the room by this member still in flight: the last to finish releases the frames. */
  joins: number;
}

/** What one held entry costs beyond its frame: the entry object and its slot in the array. */
const HELD_ENTRY_BYTES = 48;

/**
 * One chat room on this node: who receives its frames, and who is online. Presence counts
 * connections per nickname, so a nickname with several tabs is online once and leaves when its
 * last connection goes.
 */
export class Room {
  readonly members = new Set<FanoutTarget>();
  private readonly syncing = new Map<SyncingMember, HeldFrames>();
  /**
   * Members whose held frames passed their budget while their catch-up waited: the room sends
   * them nothing more, but they are in it (and in its presence) until they leave, which comes
   * when their cut connection ends. Counted in `size`, so the room is not closed under them:
   * their leave, by name, would otherwise land on a new room of that name and take another
   * connection of the same nickname out of its presence (a reader no one sees listed).
   */
  private readonly cut = new Set<SyncingMember>();
  private readonly presence = new Map<string, number>();
  /**
   * The room's count of nicknames on all nodes, as its last presence frame said (0 until one
   * came; only brokers that span nodes pass it, see presenceHeard).
   */
  private countAcrossNodes = 0;

  /** `openedBy`: the limit key of the address whose join opened the room (see RoomsOpened). */
  constructor(
    readonly name: string,
    readonly openedBy: string,
  ) {}

  get size(): number {
    return this.members.size + this.syncing.size + this.cut.size;
  }

  /** A presence frame of the room arrived through a broker that spans nodes: its count is the room's on all of them. */
  presenceHeard(frame: Buffer): void {
    const count = countAtEnd(frame);
    if (count !== null) this.countAcrossNodes = count;
  }

  /**
   * The members a message to the room reaches: this node's connections, plus the names online
   * only through other nodes as far as the last presence frame told (each at least one
   * connection there). What a send is charged in the `deliveries` rate limit.
   */
  get recipients(): number {
    return this.size + Math.max(0, this.countAcrossNodes - this.presence.size);
  }

  online(): string[] {
    return [...this.presence.keys()];
  }

  /** Nicknames online in the room now. */
  get onlineCount(): number {
    return this.presence.size;
  }

  /**
   * The `online` list of a `joined` frame, as JSON, made at most once per presence batch.
   * Filling a room of n would otherwise serialize n lists of up to n names.
   *
   * Up to `max` online: the whole list. A list made before the latest changes is still right
   * for a joiner: those changes are pending in the presence batch, which reaches the joiner (a
   * member by then) and is applied as set operations. The joiner is always listed: its own
   * arrival may still be pending in the batch.
   *
   * Above `max`: the first `max` names in code-unit order, the page a `who` request starts
   * with, so a joined frame costs O(max) however large the room.
   */
  onlineJsonFor(joiner: string, max: number): string {
    if (this.presence.size > max) return (this.pageCache ??= JSON.stringify(this.sortedOnline().slice(0, max)));
    const cache = (this.onlineCache ??= { names: new Set(this.presence.keys()), json: JSON.stringify(this.online()) });
    if (cache.names.has(joiner)) return cache.json;
    return cache.json === "[]" ? `[${JSON.stringify(joiner)}]` : `${cache.json.slice(0, -1)},${JSON.stringify(joiner)}]`;
  }

  /**
   * `"online":<onlineJson>,"onlineCount":` as UTF-8, encoded once while the list stays the same
   * string (above `max` online, every joiner of a presence batch gets the same page of names).
   */
  onlineFieldHead(onlineJson: string): Buffer {
    if (this.fieldHead?.json !== onlineJson) this.fieldHead = { json: onlineJson, bytes: Buffer.from(`"online":${onlineJson},"onlineCount":`) };
    return this.fieldHead.bytes;
  }
  private fieldHead: { json: string; bytes: Buffer } | null = null;

  /**
   * A page of the online list in code-unit order, after `after` (exclusive). The sorted list is
   * made at most once per presence batch; a page may lag the latest changes by one batch.
   */
  onlinePage(after: string | undefined, limit: number): { online: string[]; more: boolean } {
    return pageOf(this.sortedOnline(), after, limit);
  }

  /** When the room last sent a count-only presence frame (Date.now() ms; 0: never): the next waits an interval. */
  countSentAt = 0;

  /** The presence batch went out (`countOnlyAt`: as a count-only frame, then): the next joiner needs a fresh list. */
  presenceFlushed(countOnlyAt?: number): void {
    if (countOnlyAt !== undefined) this.countSentAt = countOnlyAt;
    this.onlineCache = null;
    this.sortedCache = null;
    this.pageCache = null;
    this.mergedCache = null;
  }
  private onlineCache: { names: Set<string>; json: string } | null = null;
  private sortedCache: string[] | null = null;
  private pageCache: string | null = null;
  private mergedCache: OnlineAcrossNodes | null = null;

  /**
   * The names online through this node and through the others (`elsewhere`, several nodes on
   * one Redis), sorted: made once per presence batch and read of the others' names, as the
   * local list is. Each join and `who` of a large room merged and sorted the whole list.
   */
  onlineWith(elsewhere: readonly string[]): OnlineAcrossNodes {
    if (this.mergedCache?.elsewhere !== elsewhere) {
      const sorted = mergeSorted([...this.presence.keys()].sort(), elsewhere);
      this.mergedCache = { elsewhere, sorted, remoteOnly: sorted.length - this.presence.size, pageJson: null };
    }
    return this.mergedCache;
  }

  private sortedOnline(): string[] {
    return (this.sortedCache ??= this.online().sort());
  }

  /** Counts a connection of `nick`; true when the nickname just came online in this room. */
  addPresence(nick: string): boolean {
    const n = this.presence.get(nick) ?? 0;
    this.presence.set(nick, n + 1);
    return n === 0;
  }

  /** Uncounts a connection of `nick`; true when its last connection left. */
  removePresence(nick: string): boolean {
    const n = this.presence.get(nick) ?? 0;
    if (n <= 1) {
      this.presence.delete(nick);
      return n === 1;
    }
    this.presence.set(nick, n - 1);
    return false;
  }

  /**
   * A joining member: frames published from now on are held until `finishSync`. Returns what
   * `holds` checks against: the frames held for this join.
   */
  startSync(member: SyncingMember): object {
    // A member joining again stops receiving live frames until its new `joined` went out; a
    // join already in flight keeps the frames it holds.
    this.members.delete(member);
    this.cut.delete(member);
    let held = this.syncing.get(member);
    if (held) held.joins++;
    else this.syncing.set(member, (held = { frames: [], bytes: 0, joins: 1 }));
    return held;
  }

  /** Whether `member` is still syncing with the `held` frames that startSync gave (not left or cut meanwhile). */
  holds(member: SyncingMember, held: object): boolean {
    return this.syncing.get(member) === held;
  }

  /**
   * History up to `deliveredSeq` was sent; now release held frames that are newer, in order,
   * and make the member live. While another join of the member is still in flight the frames
   * stay held for it: its answer comes next and the frames after it follow that (released here,
   * the later join found nothing held and was never answered).
   */
  finishSync(member: SyncingMember, deliveredSeq: number): PendingFrame[] {
    const pending = this.syncing.get(member);
    if (pending && pending.joins > 1) {
      pending.joins--;
      return [];
    }
    const held = this.stopHolding(member);
    this.members.add(member);
    return held.filter((f) => f.seq === 0 || f.seq > deliveredSeq);
  }

  remove(member: SyncingMember): void {
    this.members.delete(member);
    this.cut.delete(member);
    this.stopHolding(member);
  }

  private stopHolding(member: SyncingMember): PendingFrame[] {
    const held = this.syncing.get(member);
    if (!held) return [];
    this.syncing.delete(member);
    if (held.bytes > 0) member.holdFrames(-held.bytes);
    return held.frames;
  }

  /** A frame for everyone in the room; returns how many live members it was written to. */
  deliver(frame: Buffer, seq: number): number {
    const written = fanout(this.members, frame);
    // A catch-up goes out only as fast as its reader reads (the pager cuts a reader only when
    // it makes no progress at all), so what is held for one is bounded by its send budget.
    const cost = frame.length + HELD_ENTRY_BYTES;
    for (const [member, held] of this.syncing) {
      held.frames.push({ frame, seq });
      held.bytes += cost;
      // Too much: it no longer gets this room's frames; its catch-up sees it is not held any more.
      if (!member.holdFrames(cost)) {
        this.stopHolding(member);
        this.cut.add(member);
      }
    }
    return written;
  }
}

/** A page of a sorted list of names: those after `after` (exclusive), at most `limit`. */
export function pageOf(sorted: readonly string[], after: string | undefined, limit: number): { online: string[]; more: boolean } {
  let lo = 0;
  if (after !== undefined) {
    // First index whose name sorts after `after`.
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid]! <= after) lo = mid + 1;
      else hi = mid;
    }
  }
  return { online: sorted.slice(lo, lo + limit), more: lo + limit < sorted.length };
}

const COUNT_FIELD = Buffer.from(',"count":');

/**
 * The `count` of a presence frame, read from its end without parsing it: the presence frames of
 * every node (the publish script's and the broker's) end with `,"count":<digits>}`. Null for
 * a frame that does not.
 */
export function countAtEnd(frame: Buffer): number | null {
  let i = frame.length - 2;
  if (i < 0 || frame[i + 1] !== 0x7d) return null;
  let count = 0;
  let scale = 1;
  while (i >= 0 && frame[i]! >= 0x30 && frame[i]! <= 0x39 && scale <= 1e9) {
    count += (frame[i]! - 0x30) * scale;
    scale *= 10;
    i--;
  }
  if (scale === 1) return null;
  const start = i + 1 - COUNT_FIELD.length;
  return start >= 0 && frame.compare(COUNT_FIELD, 0, COUNT_FIELD.length, start, i + 1) === 0 ? count : null;
}

/**
 * Two sorted lists of names as one, sorted, each name once: linear, where sorting the union
 * again cost each new room of a large cross-node room (20,000 names) a sort per read.
 */
function mergeSorted(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const next = j >= b.length || (i < a.length && a[i]! <= b[j]!) ? a[i++]! : b[j++]!;
    if (out.length === 0 || out[out.length - 1] !== next) out.push(next);
  }
  return out;
}
