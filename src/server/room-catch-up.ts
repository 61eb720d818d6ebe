import { setImmediate as nextTurn } from "node:timers/promises";
import type { ChatMessage } from "../protocol/messages.js";
import type { MessageStore } from "../store/message-store.js";
import { jsonArray, newestThatFit, PAGE_BYTES } from "./pages.js";
import type { PagedReply } from "./reply-pager.js";
import type { ReplayGate } from "./replay-gate.js";
import type { LatestPageCache } from "./latest-page-cache.js";

/** Server-wide settings of every catch-up. */
export interface CatchUpSettings {
  store: MessageStore;
  gate: ReplayGate;
  historyLimit: number;
  /** A gap of more messages than this is not replayed (`recovered: false`). */
  maxReplay: number;
  /** A gap whose `message` frames exceed this many bytes is not replayed. */
  maxReplayBytes: number;
  /** The live `message` frame of a stored message: replayed messages look exactly like live ones. */
  messageFrame(m: ChatMessage): Buffer;
  /** Rooms' newest pages, shared by the joins that ask for no replay. */
  latestPages?: LatestPageCache;
}

/** What one catch-up needs of its member and room. */
export interface CatchUpMember {
  /** Runs before the store is read (a broker spanning nodes confirms its subscription here). */
  prepare?(): Promise<void>;
  /** The `joined` frame's presence fields as JSON (`"online":[...],...`), read when it is built. */
  onlineFields(): string;
  /** Whether this join is still wanted (the member may have left or gone meanwhile). */
  stillWanted(): boolean;
  /** The `joined` frame is built: whether the gap was recovered, and how many messages it carries and the pages after it. */
  answered?(recovered: boolean, replayed: number): void;
  /** Everything up to `deliveredSeq` was sent: release the live frames held meanwhile. */
  release(deliveredSeq: number): void;
  /** The store failed: the join is abandoned. */
  failed(error: Error): void;
}

/** Rows read from the store at once. */
const ROWS_PER_READ = 16;
/** Room left in the first page for the `joined` envelope and the online list. */
const JOINED_HEADROOM_BYTES = 16 * 1024;

/**
 * A join's answer: `joined` with the first page of what the member missed, then the rest as
 * `message` frames in pages, then the live frames held meanwhile. A gap larger than
 * `maxReplay` messages or `maxReplayBytes` gets `recovered: false` with the latest page, and
 * the client pages back through `history`.
 *
 * Replies that need more than one page take a slot of the server-wide ReplayGate for as long
 * as they hold pages; the store is read a step at a time, yielding to the event loop between
 * steps, so a bomb of 10,000 x 4,000 control characters costs no stall.
 */
export class RoomCatchUp implements PagedReply {
  private started = false;
  private rest: Buffer[][] = [];
  private delivered = 0;
  private releaseSlot: (() => void) | null = null;
  private abandoned = false;

  constructor(
    private readonly settings: CatchUpSettings,
    private readonly request: { room: string; since?: number; epoch?: string },
    private readonly member: CatchUpMember,
  ) {}

  async next(): Promise<Buffer[] | null> {
    if (this.started) return this.rest.shift() ?? null;
    this.started = true;
    try {
      const joined = await this.answer();
      return joined ? [joined] : null;
    } catch (error) {
      this.abandoned = true;
      this.member.failed(error as Error);
      return null;
    }
  }

  finish(completed: boolean): void {
    this.releaseSlot?.();
    this.releaseSlot = null;
    this.rest = [];
    if (completed && !this.abandoned && this.started && this.member.stillWanted()) {
      this.member.release(Math.max(this.delivered, this.request.since ?? 0));
    }
  }

  /** The `joined` frame (pages after it wait in `rest`), or null when the join is no longer wanted. */
  private async answer(): Promise<Buffer | null> {
    const { store, maxReplay } = this.settings;
    const { room, since, epoch } = this.request;
    await this.member.prepare?.();
    const [latest, first] = await Promise.all([store.latestSeq(room), store.firstSeq(room)]);
    const resumable =
      since !== undefined &&
      epoch === store.epoch &&
      since >= 0 &&
      since <= latest &&
      latest - since <= maxReplay &&
      // Everything after `since` must still be held: nothing trimmed between.
      (latest === since || first <= since + 1);
    if (resumable) {
      const replay = await this.replay(since, latest);
      if (!this.member.stillWanted()) return null;
      if (replay) return replay;
    }
    const parts = await this.latestPage(room, latest);
    this.delivered = latest;
    return this.joined(latest, false, parts);
  }

  /** The newest page of the room up to `latest`, from the shared cache when another join just read it. */
  private async latestPage(room: string, latest: number): Promise<string[]> {
    const cache = this.settings.latestPages;
    const cached = cache?.get(room, latest);
    if (cached) return cached;
    const page = newestThatFit(await this.settings.store.readBefore(room, latest + 1, this.settings.historyLimit), PAGE_BYTES - JOINED_HEADROOM_BYTES);
    cache?.set(room, latest, page.parts, page.bytes);
    return page.parts;
  }

  /**
   * Reads the gap (since, latest] step by step into pages: the first for `joined`, the rest as
   * `message` frames. Null when the gap is over `maxReplayBytes` or no longer contiguous.
   */
  private async replay(since: number, latest: number): Promise<Buffer | null> {
    const { store, maxReplayBytes, messageFrame } = this.settings;
    const firstParts: string[] = [];
    let firstBytes = 0;
    let page: Buffer[] = [];
    let pageBytes = 0;
    let total = 0;
    let cursor = since;
    let sinceYield = 0;
    while (cursor < latest) {
      const rows = await store.readAfter(this.request.room, cursor, Math.min(ROWS_PER_READ, latest - cursor));
      if (rows.length === 0 || rows[0]!.seq !== cursor + 1) return this.giveUp(); // trimmed meanwhile
      for (const m of rows) {
        cursor = m.seq;
        if (this.rest.length === 0 && page.length === 0) {
          const json = JSON.stringify(m);
          const size = Buffer.byteLength(json) + 1;
          if (firstParts.length === 0 || firstBytes + size <= PAGE_BYTES - JOINED_HEADROOM_BYTES) {
            firstParts.push(json);
            firstBytes += size;
            total += size;
            continue;
          }
        }
        const frame = messageFrame(m);
        if (pageBytes + frame.length > PAGE_BYTES && page.length > 0) {
          this.rest.push(page);
          page = [];
          pageBytes = 0;
        }
        page.push(frame);
        pageBytes += frame.length;
        total += frame.length;
      }
      if (total > maxReplayBytes) return this.giveUp();
      // A step encodes about one page, then yields: 10,000 x 4,000 control characters (24 KB
      // each once escaped) cost a few milliseconds per step, not seconds in one go.
      if (cursor < latest && total - sinceYield >= PAGE_BYTES) {
        sinceYield = total;
        // More than one page: hold a server-wide slot while these pages exist.
        if (!this.releaseSlot && (page.length > 0 || this.rest.length > 0)) {
          this.releaseSlot = await this.settings.gate.acquire();
        }
        if (!this.member.stillWanted()) return this.giveUp();
        await nextTurn();
      }
    }
    if (page.length > 0) this.rest.push(page);
    this.delivered = latest;
    return this.joined(latest, true, firstParts);
  }

  private giveUp(): null {
    this.rest = [];
    this.releaseSlot?.();
    this.releaseSlot = null;
    return null;
  }

  private joined(seq: number, recovered: boolean, parts: string[]): Buffer {
    this.member.answered?.(recovered, parts.length + this.rest.reduce((n, page) => n + page.length, 0));
    const head = JSON.stringify({ type: "joined", room: this.request.room, seq, recovered });
    return Buffer.from(`${head.slice(0, -1)},"messages":${jsonArray(parts)},${this.member.onlineFields()}}`);
  }
}

/** A `history` answer: one page of at most PAGE_BYTES, `hasMore` when older messages exist. */
export class HistoryPage implements PagedReply {
  private sent = false;

  constructor(
    private readonly store: MessageStore,
    private readonly request: { room: string; before: number; limit: number },
    private readonly failed: (error: Error) => void,
    private readonly answered: (messages: number) => void = () => {},
  ) {}

  async next(): Promise<Buffer[] | null> {
    if (this.sent) return null;
    this.sent = true;
    const { room, before, limit } = this.request;
    try {
      // One extra row tells whether older messages exist.
      const rows = await this.store.readBefore(room, before, limit + 1);
      const extra = rows.length > limit;
      const page = newestThatFit(extra ? rows.slice(1) : rows, PAGE_BYTES - 256);
      this.answered(page.parts.length);
      const head = JSON.stringify({ type: "history", room });
      return [Buffer.from(`${head.slice(0, -1)},"messages":${jsonArray(page.parts)},"hasMore":${extra || page.dropped > 0}}`)];
    } catch (error) {
      this.failed(error as Error);
      return null;
    }
  }

  finish(): void {}
}
