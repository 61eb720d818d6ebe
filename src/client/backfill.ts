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
 */
export class Backfill {
  private readonly gaps = new Map<string, Gap[]>();

  constructor(private readonly limit = Infinity) {}

  /** A rejoin that resumed from `afterSeq` got only the page starting at `pageStartSeq`. */
  open(room: string, afterSeq: number, pageStartSeq: number): boolean {
    if (pageStartSeq <= afterSeq + 1) return false;
    const list = this.gaps.get(room) ?? [];
    list.push({ afterSeq, beforeSeq: pageStartSeq, fetched: 0 });
    this.gaps.set(room, list);
    return true;
  }

  /** The `history` request to send next for `room`, if a gap is open. */
  request(room: string): { before: number } | null {
    const gap = this.gaps.get(room)?.at(-1);
    return gap ? { before: gap.beforeSeq } : null;
  }

  /** Rooms with an open gap (their requests are resent after a reconnect). */
  rooms(): string[] {
    return [...this.gaps.keys()];
  }

  /**
   * A `history` page arrived: returns the messages that belong to the gap being filled (the
   * ones the user already has are dropped) and moves the gap's upper edge down.
   */
  page(room: string, messages: ChatMessage[], hasMore: boolean): ChatMessage[] {
    const list = this.gaps.get(room);
    const gap = list?.at(-1);
    if (!list || !gap) return messages;
    const inGap = messages.filter((m) => m.seq > gap.afterSeq && m.seq < gap.beforeSeq);
    gap.fetched += inGap.length;
    const oldest = messages[0]?.seq;
    if (oldest !== undefined && oldest < gap.beforeSeq) gap.beforeSeq = oldest;
    if (!hasMore || oldest === undefined || gap.beforeSeq <= gap.afterSeq + 1 || gap.fetched >= this.limit) list.pop();
    if (list.length === 0) this.gaps.delete(room);
    return inGap;
  }

  forget(room: string): void {
    this.gaps.delete(room);
  }
}
