import type { ChatMessage } from "../protocol/messages.js";

/** Messages a rejoin could not replay: seq in (afterSeq, beforeSeq), fetched newest first. */
interface Gap {
  afterSeq: number;
  beforeSeq: number;
  /** Messages of the gap fetched so far. */
  fetched: number;
}

/**
 * Fills the holes that a `joined` with `recovered: false` leaves after a reconnect. The server
 * answers a gap too large to replay (more than `maxReplay` messages or `maxReplayBytes`) with
 * the latest page only; the client then pages back through `history` until it reaches what it
 * already had, so nothing the user missed is lost. Pages arrive as `history` events, newest
 * first, like a scroll back. With a `limit`, a gap stops after that many of its newest
 * messages: the last page's `hasMore` says more are there, for the app to page back to.
 *
 * One page per room is asked at a time, and a page is matched to its request by the `before`
 * the server echoes: matched by room alone, the answer to a gap's request resent after a
 * reconnect closed the newer gap that had opened meanwhile, and an app's own `loadOlder`
 * closed the gap being filled (2,000 messages of each never fetched).
 */
export class Backfill {
  private readonly gaps = new Map<string, Gap[]>();
  /** Per room, the `before` of the page asked on this link and not answered yet. */
  private readonly asked = new Map<string, number>();

  constructor(private readonly limit = Infinity) {}

  /** A rejoin that resumed from `afterSeq` got only the page starting at `pageStartSeq`. */
  open(room: string, afterSeq: number, pageStartSeq: number): boolean {
    if (pageStartSeq <= afterSeq + 1) return false;
    const list = this.gaps.get(room) ?? [];
    list.push({ afterSeq, beforeSeq: pageStartSeq, fetched: 0 });
    this.gaps.set(room, list);
    return true;
  }

  /** Whether a gap of `room` is being filled (a refused page of it is asked again). */
  filling(room: string): boolean {
    return this.gaps.has(room);
  }

  /**
   * The `history` request to send now for `room`, the newest gap first; null when no gap is
   * open or a page is already asked. The caller sends it: it counts as asked.
   */
  request(room: string): { before: number } | null {
    if (this.asked.has(room)) return null;
    const gap = this.gaps.get(room)?.at(-1);
    if (!gap) return null;
    this.asked.set(room, gap.beforeSeq);
    return { before: gap.beforeSeq };
  }

  /** Rooms with an open gap (their requests are sent again on a new link). */
  rooms(): string[] {
    return [...this.gaps.keys()];
  }

  /** A new link: nothing asked on the old one will be answered. */
  linkLost(): void {
    this.asked.clear();
  }

  /** The page asked for `room` was refused: it is asked again later. */
  refused(room: string): void {
    this.asked.delete(room);
  }

  /**
   * A `history` page arrived, answering `before` (absent from older servers: then the page
   * asked). Null when it answers no request of ours (the app's own); else the messages that
   * belong to its gap (the ones the user already has are dropped), the gap's upper edge moved down.
   */
  page(room: string, before: number | undefined, messages: ChatMessage[], hasMore: boolean): ChatMessage[] | null {
    const asked = this.asked.get(room);
    if (asked === undefined || (before !== undefined && before !== asked)) return null;
    this.asked.delete(room);
    const list = this.gaps.get(room);
    const gap = list?.find((g) => g.beforeSeq === asked);
    if (!list || !gap) return [];
    const inGap = messages.filter((m) => m.seq > gap.afterSeq && m.seq < gap.beforeSeq);
    gap.fetched += inGap.length;
    const oldest = messages[0]?.seq;
    if (oldest !== undefined && oldest < gap.beforeSeq) gap.beforeSeq = oldest;
    if (!hasMore || oldest === undefined || gap.beforeSeq <= gap.afterSeq + 1 || gap.fetched >= this.limit) list.splice(list.indexOf(gap), 1);
    if (list.length === 0) this.gaps.delete(room);
    return inGap;
  }

  forget(room: string): void {
    this.gaps.delete(room);
    this.asked.delete(room);
  }
}
