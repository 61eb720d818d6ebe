import { setImmediate as nextTurn } from "node:timers/promises";
import type { ChatMessage } from "../protocol/messages.js";
import type { MessageStore } from "../store/message-store.js";
import { jsonArray, newestThatFit, PAGE_BYTES } from "./pages.js";
import type { PagedReply, ReplyFrame } from "./reply-pager.js";
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
  /** The byte length of that frame, without building the Buffer (a gap is sized before it is sent). */
  messageFrameBytes(m: ChatMessage): number;
  /** Rooms' newest pages, shared by the joins that ask for no replay. */
  latestPages?: LatestPageCache<LatestJoined>;
}

/**
 * The `joined` frame of a join without replay, up to its presence fields, encoded once per
 * room and latest seq: every such joiner gets the same bytes there. A profile of 4,000 joins
 * into a room with a page of history spent about a tenth of the server's time building and
 * encoding this part again for each of them.
 */
export interface LatestJoined {
  /** `{"type":"joined","room":..,"seq":..,"recovered":false,"messages":[..],` as UTF-8. */
  head: Buffer;
  /** Messages in the page. */
  messages: number;
}

/** What one catch-up needs of its member and room. */
export interface CatchUpMember {
  /** Runs before the store is read (a broker spanning nodes confirms its subscription here). */
  prepare?(): Promise<void>;
  /**
   * The `joined` frame's presence fields as UTF-8 JSON (`"online":[...],"onlineCount":n`), in
   * parts that are written one after the other, read when it is built.
   */
  onlineFields(): readonly Buffer[];
  /** Whether this join is still wanted (the member may have left or gone meanwhile). */
  stillWanted(): boolean;
  /**
   * A replay of a gap of `messages` may go ahead (its cost taken from the member's limits);
   * false: `joined` says `recovered: false` with the latest page, and the client pages back
   * through `history`, which is limited anyway. Asked before the store is read: a client
   * repeating `join` with `since: 0` on a room of 10,000 small messages, within the join
   * limits, took the server to a whole core, sizing and replaying the gap at every try.
   */
  mayReplay?(messages: number): boolean;
  /** The `joined` frame is built: whether the gap was recovered, and how many messages it carries and the pages after it. */
  answered?(recovered: boolean, replayed: number): void;
  /** Everything up to `deliveredSeq` was sent: release the live frames held meanwhile. */
  release(deliveredSeq: number): void;
  /** The store failed: the join is abandoned. */
  failed(error: Error): void;
}

const CLOSE_BRACE = Buffer.from("}");
/** Rows read from the store at once. */
const ROWS_PER_READ = 16;
/**
 * Rows read at once when a gap is sized, each measured and dropped: a query per 16 rows made
 * sizing a gap of 10,000 small messages 625 store reads.
 */
const ROWS_PER_SIZING_READ = 128;
/** Rows whose text bytes are summed by one store query (a few ms for 4 KB texts). */
const ROWS_PER_SIZE_CHECK = 512;
/** Room left in the first page for the `joined` envelope and the online list. */
const JOINED_HEADROOM_BYTES = 16 * 1024;

/** The part of the gap still to send after `joined`: (cursor, latest]. */
interface ReplayCursor {
  cursor: number;
  latest: number;
}

/**
 * A join's answer: `joined` with the first page of what the member missed, then the rest as
 * `message` frames in pages, then the live frames held meanwhile. A gap larger than
 * `maxReplay` messages or `maxReplayBytes` gets `recovered: false` with the latest page, and
 * the client pages back through `history`.
 *
 * A gap is sized before it is promised: from the store's text byte count when the engine has
 * one (a gap far over the limit is refused without reading a row), then exactly, encoding
 * each message and dropping it. Only then is `joined` sent with `recovered: true`, and the
 * rest is read and encoded a page at a time, when the pager asks for it: a replay holds one
 * page, not all of them (before: up to `maxReplayBytes` per replay, built before the first
 * was written). The store is read a step at a time with a turn of the event loop between
 * steps, so a bomb of 10,000 x 4,000 control characters costs no stall; replays of more than
 * one page take a slot of the server-wide ReplayGate while they run.
 */
export class RoomCatchUp implements PagedReply {
  private started = false;
  /** What is left to replay after `joined`; null when nothing is. */
  private remaining: ReplayCursor | null = null;
  private delivered = 0;
  private abandoned = false;

  constructor(
    private readonly settings: CatchUpSettings,
    private readonly request: { room: string; since?: number; epoch?: string },
    private readonly member: CatchUpMember,
  ) {}

  async next(): Promise<ReplyFrame[] | null> {
    try {
      if (this.started) return await this.nextPage();
      this.started = true;
      const joined = await this.answer();
      return joined ? [joined] : null;
    } catch (error) {
      this.abandoned = true;
      this.remaining = null;
      this.member.failed(error as Error);
      return null;
    }
  }

  finish(completed: boolean): void {
    this.remaining = null;
    if (completed && !this.abandoned && this.started && this.member.stillWanted()) {
      // What was sent, not what was asked for: a `since` beyond the room's latest seq (or of
      // another epoch) gets the latest page, and the live frames after it must follow.
      this.member.release(this.delivered);
    }
  }

  /** The `joined` frame, or null when the join is no longer wanted. */
  private async answer(): Promise<ReplyFrame | null> {
    const { store, maxReplay } = this.settings;
    const { room, since, epoch } = this.request;
    // Each await is a turn of the microtask queue per joiner: none is taken that is not needed
    // (a single node has nothing to prepare; a join without `since` needs no first seq).
    if (this.member.prepare) await this.member.prepare();
    if (since === undefined) return this.latest(room, await store.latestSeq(room));
    const [latest, first] = await Promise.all([store.latestSeq(room), store.firstSeq(room)]);
    const resumable =
      epoch === store.epoch &&
      since >= 0 &&
      since <= latest &&
      latest - since <= maxReplay &&
      // Everything after `since` must still be held: nothing trimmed between.
      (latest === since || first <= since + 1) &&
      // Paid for before anything is read (see mayReplay).
      (this.member.mayReplay?.(latest - since) ?? true);
    if (resumable) {
      const replay = await this.replay(since, latest);
      if (!this.member.stillWanted()) return null;
      if (replay) return replay;
    }
    return this.latest(room, latest);
  }

  /** `joined` with the newest page up to `latest`: no await when another join just read that page. */
  private latest(room: string, latest: number): ReplyFrame | Promise<ReplyFrame> {
    this.delivered = latest;
    const cached = this.settings.latestPages?.get(room, latest);
    if (cached) return this.latestJoined(cached);
    return this.readLatest(room, latest).then((page) => this.latestJoined(page));
  }

  private async readLatest(room: string, latest: number): Promise<LatestJoined> {
    const rows = await this.settings.store.readBefore(room, latest + 1, this.settings.historyLimit);
    const page = newestThatFit(rows, PAGE_BYTES - JOINED_HEADROOM_BYTES);
    const head = JSON.stringify({ type: "joined", room, seq: latest, recovered: false });
    const entry = { head: Buffer.from(`${head.slice(0, -1)},"messages":${jsonArray(page.parts)},`), messages: page.parts.length };
    this.settings.latestPages?.set(room, latest, entry, entry.head.length);
    return entry;
  }

  /** The shared head and this joiner's tail, written as one frame without copying the head. */
  private latestJoined(page: LatestJoined): ReplyFrame {
    this.member.answered?.(false, page.messages);
    return [page.head, ...this.member.onlineFields(), CLOSE_BRACE];
  }

  /**
   * `joined` with the first page of the gap (since, latest], the rest left for `nextPage`;
   * null when the gap is over `maxReplayBytes` or no longer contiguous.
   */
  private async replay(since: number, latest: number): Promise<ReplyFrame | null> {
    if (!(await this.mayFit(since, latest))) return null;
    const parts: string[] = [];
    let bytes = 0;
    let cursor = since;
    // The first page: messages as `joined` carries them.
    while (cursor < latest) {
      const rows = await this.readGap(cursor, latest);
      if (!rows) return null;
      let full = false;
      for (const m of rows) {
        const json = JSON.stringify(m);
        const size = Buffer.byteLength(json) + 1;
        if (parts.length > 0 && bytes + size > PAGE_BYTES - JOINED_HEADROOM_BYTES) {
          full = true;
          break;
        }
        parts.push(json);
        bytes += size;
        cursor = m.seq;
      }
      if (full) break;
    }
    if (cursor < latest) {
      // More than a page: sized exactly first, in a server-wide slot.
      const restBytes = await this.inSlot(() => (this.member.stillWanted() ? this.frameBytes(cursor, latest, this.settings.maxReplayBytes - bytes) : Promise.resolve(null)));
      if (restBytes === null) return this.giveUp();
      this.remaining = { cursor, latest };
    }
    this.delivered = latest;
    return this.joined(latest, true, parts, latest - since);
  }

  /**
   * The next page of `message` frames after `joined`, read and encoded now (about PAGE_BYTES),
   * or null when the replay is complete.
   */
  private async nextPage(): Promise<Buffer[] | null> {
    const left = this.remaining;
    // A member that left (or went) meanwhile needs no more of it.
    if (!left || left.cursor >= left.latest || !this.member.stillWanted()) return null;
    return this.inSlot(() => (this.member.stillWanted() ? this.readPage(left) : Promise.resolve(null)));
  }

  /**
   * Runs `work` (store reads and encoding of a replay) in a slot of the server-wide
   * ReplayGate. A slot is held for one page or one sizing, not for the whole replay: held
   * while the reader drained, four readers that read just fast enough not to be cut held every
   * slot, and other members' joins with a gap waited for them (17 s in an audit).
   */
  private async inSlot<T>(work: () => Promise<T>): Promise<T> {
    const release = await this.settings.gate.acquire();
    try {
      return await work();
    } finally {
      release();
    }
  }

  /** About PAGE_BYTES of `message` frames from `left.cursor` on. */
  private async readPage(left: ReplayCursor): Promise<Buffer[]> {
    const page: Buffer[] = [];
    let pageBytes = 0;
    while (left.cursor < left.latest && pageBytes < PAGE_BYTES) {
      const rows = await this.readGap(left.cursor, left.latest);
      // Trimmed since it was sized (it would take retainPerRoom new messages meanwhile): the
      // promise of `joined` cannot be kept, so the join fails and the client joins again.
      if (!rows) throw new Error(`messages after seq ${left.cursor} were trimmed while they were replayed`);
      for (const m of rows) {
        const frame = this.settings.messageFrame(m);
        if (page.length > 0 && pageBytes + frame.length > PAGE_BYTES) return page;
        page.push(frame);
        pageBytes += frame.length;
        left.cursor = m.seq;
      }
    }
    return page;
  }

  /** The next rows of the gap after `cursor`, or null when they are no longer contiguous. */
  private async readGap(cursor: number, latest: number, rows = ROWS_PER_READ): Promise<ChatMessage[] | null> {
    const read = await this.settings.store.readAfter(this.request.room, cursor, Math.min(rows, latest - cursor));
    return read.length > 0 && read[0]!.seq === cursor + 1 ? read : null;
  }

  /**
   * False when the gap's frames certainly exceed `maxReplayBytes`, learnt from the store's
   * count of text bytes without reading a row; true when they may fit (`frameBytes` then
   * counts exact bytes) or the engine cannot count. Before, the gap was encoded up to the
   * limit to find out: a `join` with `since: 0` on a room of 10,000 x 4,000 control
   * characters built and dropped 8 MiB of frames at every try, and a client repeating it grew
   * the server's RSS by 66 MiB (bench:abuse).
   */
  private async mayFit(since: number, latest: number): Promise<boolean> {
    const { store, maxReplayBytes } = this.settings;
    if (!store.textBytesBetween) return true;
    const { room } = this.request;
    // Every message's JSON is at least this long: its text's bytes come on top.
    const overhead = Buffer.byteLength(JSON.stringify({ room, seq: 0, from: "", text: "", ts: 0 }));
    let bytes = 0;
    for (let cursor = since; cursor < latest; ) {
      const through = Math.min(latest, cursor + ROWS_PER_SIZE_CHECK);
      const counted = await store.textBytesBetween(room, cursor, through);
      if (counted === null) return true;
      bytes += counted + (through - cursor) * overhead;
      if (bytes > maxReplayBytes) return false;
      cursor = through;
      if (cursor < latest) await nextTurn();
    }
    return true;
  }

  /**
   * The exact bytes of the `message` frames of (cursor, latest], each encoded and dropped at
   * once; null past `budgetBytes`, when no longer contiguous, or when the join is no longer
   * wanted. Yields to the event loop after about a page of encoding.
   */
  private async frameBytes(cursor: number, latest: number, budgetBytes: number): Promise<number | null> {
    let total = 0;
    let sinceYield = 0;
    while (cursor < latest) {
      const rows = await this.readGap(cursor, latest, ROWS_PER_SIZING_READ);
      if (!rows) return null;
      for (const m of rows) {
        total += this.settings.messageFrameBytes(m);
        cursor = m.seq;
      }
      if (total > budgetBytes) return null;
      if (total - sinceYield >= PAGE_BYTES && cursor < latest) {
        sinceYield = total;
        await nextTurn();
        if (!this.member.stillWanted()) return null;
      }
    }
    return total;
  }

  private giveUp(): null {
    this.remaining = null;
    return null;
  }

  private joined(seq: number, recovered: boolean, parts: string[], replayed: number): ReplyFrame {
    this.member.answered?.(recovered, replayed);
    const head = JSON.stringify({ type: "joined", room: this.request.room, seq, recovered });
    return [Buffer.from(`${head.slice(0, -1)},"messages":${jsonArray(parts)},`), ...this.member.onlineFields(), CLOSE_BRACE];
  }
}

/** A `history` answer: one page of at most PAGE_BYTES, `hasMore` when older messages exist. */
export class HistoryPage implements PagedReply {
  private sent = false;

  constructor(
    private readonly store: MessageStore,
    private readonly request: { room: string; before: number; limit: number },
    private readonly failed: (error: Error) => void,
    /** The page is built: its messages, and its bytes. */
    private readonly answered: (messages: number, bytes: number) => void = () => {},
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
      this.answered(page.parts.length, page.bytes);
      // `before` as asked: a client paging back through several gaps of one room (or paging
      // back while the app does) knows which of its requests this answers.
      const head = JSON.stringify({ type: "history", room, before });
      return [Buffer.from(`${head.slice(0, -1)},"messages":${jsonArray(page.parts)},"hasMore":${extra || page.dropped > 0}}`)];
    } catch (error) {
      this.failed(error as Error);
      return null;
    }
  }

  finish(): void {}
}
