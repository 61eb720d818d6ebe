import type { OutboxEntry } from "../client/types.js";
import type { ChatMessage } from "../protocol/messages.js";
import { dayKey, dayLabel, timeElement } from "./format-time.js";
import { renderMessageText } from "./message-text.js";

export interface MessageListOptions {
  /** Our nickname, as the server normalised it (messages from it are ours). */
  nick: () => string;
  /** The scrolling box the list lives in (shared by the rooms; only the shown room scrolls it). */
  scroller: HTMLElement;
  /** Whether this list is the one on screen. */
  isShown: () => boolean;
  onRetry: (id: string) => void;
  onDiscard: (id: string) => void;
  /** The oldest rows were taken off the page to keep it within its row budget: older messages are there to load. */
  onTrimmed: () => void;
}

/** One message on screen: confirmed (has a seq) or one of ours still in the outbox. */
interface Row {
  el: HTMLLIElement;
  /** null while the server has not stored it yet: such rows stay at the bottom. */
  seq: number | null;
  from: string;
  ts: number;
  status: HTMLElement;
  retry: HTMLButtonElement;
  discard: HTMLButtonElement;
}

/** If the reader is this close to the bottom, new messages keep the view pinned there. */
const STICKY_BOTTOM_PX = 48;
/** Messages by one author closer together than this share one header. */
const GROUP_GAP_MS = 5 * 60 * 1000;
/**
 * Rows a list keeps while its reader follows the newest messages; older ones are taken off the
 * top and come back through "Load older messages". A flood within the server's limits (about
 * 150 messages a second) grew a page that kept every row to 11,000 rows and 700 MB, typing a
 * key took 42 s, and the page lagged so far behind its socket that it showed "Connection OK"
 * for 20 s over a dead link.
 */
export const MAX_ROWS = 1_000;
/** Rows kept while the reader is scrolled up reading: more, so what they read stays, but still a bound. */
export const MAX_ROWS_SCROLLED_UP = 5 * MAX_ROWS;

/**
 * The message list of one room, in its own <ol>. A stored message's row is keyed by its seq;
 * our own message is keyed by its outbox id until the ack gives it a seq, then by that seq: so
 * our entry, its ack and its echo land on one row, and a message replayed after a reconnect
 * never shows twice. Every piece of chat text goes in through textContent (links through
 * message-text).
 */
export class MessageList {
  readonly list: HTMLOListElement;
  private readonly rows = new Map<string, Row>();
  private connected = false;
  private unreadLine: HTMLElement | null = null;
  /**
   * Whether the reader was at the bottom when the view last moved (see `measure`), read
   * instead of the layout on every message: each read forced a layout of the whole list, which
   * was three quarters of the page's time under a flood.
   */
  private pinned = true;
  /** New rows wait for the next frame to be scrolled to: one layout per frame, not per message. */
  private settleRequested = false;
  private followOnSettle = false;

  constructor(private readonly opts: MessageListOptions) {
    this.list = document.createElement("ol");
    this.list.className = "messages";
    this.list.setAttribute("role", "log");
    this.list.setAttribute("aria-relevant", "additions");
  }

  /** Rebuild from a fresh page (first join, or a gap the server could not fill). */
  reset(messages: readonly ChatMessage[]): void {
    for (const [key, row] of this.rows) {
      if (row.seq !== null) {
        row.el.remove();
        this.rows.delete(key);
      }
    }
    this.add(messages, { forceScroll: true });
  }

  /** Live or replayed messages, in any order; duplicates are ignored. Returns the new ones from others. */
  add(messages: readonly ChatMessage[], { forceScroll = false } = {}): ChatMessage[] {
    const follow = forceScroll || this.pinned || !this.opts.isShown();
    const added = messages.filter((message) => this.place(message));
    // Nothing is drawn for a room or tab not on screen (and no frame comes to settle it): its
    // rows are trimmed now, or a tab left in the background would keep every message.
    if (!this.opts.isShown() || document.visibilityState !== "visible") this.trimOldest(follow ? MAX_ROWS : MAX_ROWS_SCROLLED_UP);
    if (follow) this.followOnSettle = true;
    this.requestSettle();
    return added;
  }

  /** Whether the reader was at the bottom when the view last moved; no layout is read. */
  get atBottom(): boolean {
    return this.pinned;
  }

  /** The view moved (the reader scrolled, or the room came on screen): read where it is now. */
  measure(): void {
    if (this.opts.isShown()) this.pinned = this.nearBottom();
  }

  private requestSettle(): void {
    if (this.settleRequested) return;
    this.settleRequested = true;
    requestAnimationFrame(() => this.settle());
  }

  /** Once per frame: the row budget, and the view kept at the bottom if the reader was there. */
  private settle(): void {
    this.settleRequested = false;
    const follow = this.followOnSettle;
    this.followOnSettle = false;
    // Rows above a scrolled-up reader go without moving what they look at (scroll anchoring).
    this.trimOldest(follow ? MAX_ROWS : MAX_ROWS_SCROLLED_UP);
    if (follow) this.scrollToBottom();
  }

  /** Takes the oldest confirmed rows off the page until at most `keep` rows are left. */
  private trimOldest(keep: number): void {
    let trimmed = false;
    while (this.rows.size > keep) {
      const first = this.list.firstElementChild as HTMLLIElement | null;
      const row = first ? this.rows.get(first.dataset.key ?? "") : undefined;
      if (first === null || row === undefined || row.seq === null) break;
      if (this.unreadLine !== null && first.contains(this.unreadLine)) this.unreadLine = null;
      first.remove();
      this.rows.delete(first.dataset.key!);
      trimmed = true;
    }
    if (!trimmed) return;
    const first = this.list.firstElementChild;
    if (first instanceof HTMLLIElement) this.decorate(first);
    this.opts.onTrimmed();
  }

  /** An older page: insert above, keeping what the reader looks at in place. */
  prependOlder(messages: readonly ChatMessage[]): void {
    const { scroller } = this.opts;
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    for (const message of messages) this.place(message);
    if (this.opts.isShown()) scroller.scrollTop = scroller.scrollHeight - fromBottom;
  }

  /** An outbox entry was queued or changed status. */
  upsertOutbox(entry: OutboxEntry): void {
    const key = outboxKey(entry.id);
    let row = this.rows.get(key);
    if (entry.seq !== undefined) {
      const stored = this.rows.get(seqKey(entry.seq));
      if (stored !== undefined && stored !== row) {
        // The message reached us (a replay after a reconnect) before its ack: one row.
        if (row !== undefined) this.removeRow(key, row);
        stored.el.classList.add("mine");
        return this.setStatus(stored, "sent");
      }
    }
    if (row === undefined) {
      row = this.createRow(key, entry.id, this.opts.nick(), entry.createdAt, entry.text, true);
      this.rows.set(key, row);
      this.list.append(row.el);
      this.decorateAround(row.el);
      this.scrollToBottom();
    }
    if (entry.seq !== undefined && row.seq === null) {
      this.rows.delete(key);
      const stored = seqKey(entry.seq);
      row.el.dataset.key = stored;
      this.rows.set(stored, row);
      this.confirm(row, entry.seq);
    }
    // The echo may have confirmed the row already; a late "pending" must not undo that.
    const status = row.seq !== null ? "sent" : entry.status;
    this.setStatus(row, status, entry.error);
  }

  /** A discarded message leaves the list. */
  removeOutbox(id: string): void {
    const key = outboxKey(id);
    const row = this.rows.get(key);
    if (row !== undefined && row.seq === null) this.removeRow(key, row);
  }

  private removeRow(key: string, row: Row): void {
    const next = row.el.nextElementSibling;
    row.el.remove();
    this.rows.delete(key);
    if (next instanceof HTMLLIElement) this.decorate(next);
  }

  /** Queued messages say "Waiting for connection" while there is none, "Sending…" while there is. */
  setConnected(connected: boolean): void {
    if (this.connected === connected) return;
    this.connected = connected;
    for (const row of this.rows.values()) if (row.el.dataset.status === "pending") this.setStatus(row, "pending");
  }

  /** The lowest confirmed seq on screen (for "load older"). */
  lowestSeq(): number | null {
    let lowest: number | null = null;
    for (const row of this.rows.values()) {
      if (row.seq !== null && (lowest === null || row.seq < lowest)) lowest = row.seq;
    }
    return lowest;
  }

  /** Draw the "New messages" line above the message with this seq (where the reader left off). */
  markUnreadFrom(seq: number): void {
    const row = [...this.rows.values()].find((r) => r.seq === seq);
    if (row === undefined) return;
    this.clearUnreadLine();
    const line = document.createElement("div");
    line.className = "unread-line";
    line.setAttribute("role", "separator");
    line.textContent = "New messages";
    row.el.prepend(line);
    this.unreadLine = line;
  }

  clearUnreadLine(): void {
    this.unreadLine?.remove();
    this.unreadLine = null;
  }

  /** Bring the unread line into view, or else the newest message. */
  scrollToUnreadOrBottom(): void {
    if (this.unreadLine !== null) this.unreadLine.scrollIntoView({ block: "start" });
    else this.scrollToBottom();
  }

  nearBottom(): boolean {
    const { scroller } = this.opts;
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < STICKY_BOTTOM_PX;
  }

  scrollToBottom(): void {
    if (!this.opts.isShown()) return;
    this.opts.scroller.scrollTop = this.opts.scroller.scrollHeight;
    this.pinned = true;
  }

  /** Returns whether the message was new to this list. */
  private place(message: ChatMessage): boolean {
    const key = seqKey(message.seq);
    // Already shown: a replay, or our own row that the ack confirmed.
    if (this.rows.has(key)) return false;
    const mine = message.from === this.opts.nick();
    const row = this.createRow(key, null, message.from, message.ts, message.text, mine);
    this.rows.set(key, row);
    this.confirm(row, message.seq);
    if (mine) this.setStatus(row, "sent");
    return !mine;
  }

  /** Give a row its sequence number and move it to the right place among confirmed rows. */
  private confirm(row: Row, seq: number): void {
    row.seq = seq;
    row.el.dataset.seq = String(seq);
    const oldNext = row.el.nextElementSibling;
    // Older than every row: first (pages of older messages and backfill land here; walking up
    // from the bottom past every row made filling a gap of 20,000 cost its square).
    const firstSeq = (this.list.firstElementChild as HTMLElement | null)?.dataset.seq;
    // Walk up from the bottom past pending rows and newer messages: new ones usually go last.
    let after: Element | null = firstSeq !== undefined && row.el !== this.list.firstElementChild && seq < Number(firstSeq) ? null : this.list.lastElementChild;
    while (after !== null) {
      const otherSeq = (after as HTMLElement).dataset.seq;
      if (after !== row.el && otherSeq !== undefined && Number(otherSeq) < seq) break;
      after = after.previousElementSibling;
    }
    if (after === null) this.list.prepend(row.el);
    else after.after(row.el);
    if (oldNext instanceof HTMLLIElement && oldNext !== row.el.nextElementSibling) this.decorate(oldNext);
    this.decorateAround(row.el);
  }

  /** Recompute the row's grouping and day header, and its successor's (which depend on it). */
  private decorateAround(el: HTMLLIElement): void {
    this.decorate(el);
    const next = el.nextElementSibling;
    if (next instanceof HTMLLIElement) this.decorate(next);
  }

  /**
   * A day separator above the first message of each day; a continued message (same author,
   * same day, a few minutes apart) hides its repeated name and time visually. Both stay in the
   * DOM for screen readers and copy-paste.
   */
  private decorate(el: HTMLLIElement): void {
    const row = this.rows.get(el.dataset.key ?? "");
    if (row === undefined) return;
    const prevEl = el.previousElementSibling as HTMLLIElement | null;
    const prev = prevEl ? this.rows.get(prevEl.dataset.key ?? "") : undefined;
    const newDay = prev === undefined || dayKey(prev.ts) !== dayKey(row.ts);
    let separator = el.querySelector(":scope > .day");
    if (newDay && separator === null) {
      separator = document.createElement("div");
      separator.className = "day";
      separator.setAttribute("role", "separator");
      el.prepend(separator);
    }
    if (newDay && separator !== null) separator.textContent = dayLabel(row.ts);
    if (!newDay) separator?.remove();
    const continued = !newDay && prev !== undefined && prev.from === row.from && Math.abs(row.ts - prev.ts) < GROUP_GAP_MS;
    el.classList.toggle("cont", continued);
  }

  /** `outboxId`: our own message's id, for Retry and Discard; null for a stored message. */
  private createRow(key: string, outboxId: string | null, from: string, ts: number, text: string, mine: boolean): Row {
    const el = document.createElement("li");
    el.className = mine ? "msg mine" : "msg";
    el.dataset.key = key;
    const meta = document.createElement("div");
    meta.className = "meta";
    const author = document.createElement("span");
    author.className = "from";
    author.textContent = from;
    const status = document.createElement("span");
    status.className = "msg-status";
    const retry = button("msg-retry", "Retry", () => outboxId !== null && this.opts.onRetry(outboxId));
    const discard = button("msg-discard", "Discard", () => outboxId !== null && this.opts.onDiscard(outboxId));
    meta.append(author, " ", timeElement(ts), " ", status, retry, discard);
    const body = document.createElement("p");
    body.className = "text";
    // Each message takes its direction from its own first letter: Hebrew or Arabic reads right to
    // left, its punctuation at its end, whatever the page's language.
    body.dir = "auto";
    renderMessageText(body, text);
    el.append(meta, body);
    return { el, seq: null, from, ts, status, retry, discard };
  }

  /** State is shown only where it matters: nothing on a sent message, words on the others. */
  private setStatus(row: Row, status: OutboxEntry["status"], error?: string): void {
    row.el.dataset.status = status;
    const label =
      status === "pending"
        ? this.connected
          ? "Sending…"
          : "Waiting for connection"
        : status === "sent"
          ? ""
          : `Not sent${error ? `: ${error}` : ""}`;
    if (row.status.textContent !== label) row.status.textContent = label;
    row.retry.hidden = status !== "failed";
    // A queued or failed message can be given up; one the server has is in the room for good.
    row.discard.hidden = status === "sent";
  }
}

function button(className: string, label: string, onClick: () => void): HTMLButtonElement {
  const el = document.createElement("button");
  el.type = "button";
  el.className = className;
  el.textContent = label;
  el.hidden = true;
  el.addEventListener("click", onClick);
  return el;
}

const seqKey = (seq: number): string => `seq:${seq}`;
const outboxKey = (id: string): string => `out:${id}`;
