import type { OutboxEntry } from "../client/types.js";
import type { ChatMessage } from "../protocol/messages.js";
import { timeElement } from "./format-time.js";

export interface MessageListElements {
  /** The scrolling box around the list. */
  scroller: HTMLElement;
  list: HTMLOListElement;
  olderButton: HTMLButtonElement;
}

export interface MessageListOptions {
  /** Our nickname, as the server normalised it (messages from it are ours). */
  nick: () => string;
  onRetry: (id: string) => void;
  /** Ask for messages with seq below `before`; the answer comes back through prependOlder. */
  onLoadOlder: (before: number) => void;
}

/** One message on screen: confirmed (has a seq) or one of ours still in the outbox. */
interface Row {
  el: HTMLLIElement;
  /** null while the server has not stored it yet: such rows stay at the bottom. */
  seq: number | null;
  status: HTMLElement;
  retry: HTMLButtonElement;
}

/** If the reader is this close to the bottom, new messages keep the view pinned there. */
const STICKY_BOTTOM_PX = 48;
/** Give up waiting for an older page after this long, so the button never stays stuck. */
const OLDER_WAIT_MS = 10_000;

/**
 * The message list of one room. A stored message's row is keyed by its seq; our own message
 * is keyed by its outbox id until the ack gives it a seq, then by that seq: so our entry, its
 * ack and its echo land on one row, and a message replayed after a reconnect never shows
 * twice. Every piece of chat text goes in through textContent.
 */
export class MessageList {
  private readonly rows = new Map<string, Row>();
  private hasOlder = false;
  private olderTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly el: MessageListElements,
    private readonly opts: MessageListOptions,
  ) {
    // One list per session: a previous room's rows must not linger.
    el.list.replaceChildren();
    this.updateOlderButton();
  }

  /** The "Load older messages" button was pressed (the page binds the button once). */
  requestOlder(): void {
    const lowest = this.lowestSeq();
    if (lowest === null || lowest <= 1) return;
    this.setOlderLoading(true);
    this.opts.onLoadOlder(lowest);
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
    this.hasOlder = (this.lowestSeq() ?? 1) > 1;
    this.updateOlderButton();
  }

  /** Live or replayed messages, in any order; duplicates are ignored. */
  add(messages: readonly ChatMessage[], { forceScroll = false } = {}): void {
    const stick = forceScroll || this.nearBottom();
    for (const message of messages) this.place(message);
    if (stick) this.scrollToBottom();
  }

  /** An older page from loadOlder(): insert above, keeping what the reader looks at in place. */
  prependOlder(messages: readonly ChatMessage[], hasMore: boolean): void {
    const { scroller } = this.el;
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    for (const message of messages) this.place(message);
    scroller.scrollTop = scroller.scrollHeight - fromBottom;
    this.hasOlder = hasMore;
    this.setOlderLoading(false);
  }

  /** An outbox entry was queued or changed status. */
  upsertOutbox(entry: OutboxEntry): void {
    const key = outboxKey(entry.id);
    let row = this.rows.get(key);
    if (entry.seq !== undefined) {
      const stored = this.rows.get(seqKey(entry.seq));
      if (stored !== undefined && stored !== row) {
        // The message reached us (a replay after a reconnect) before its ack: one row.
        row?.el.remove();
        this.rows.delete(key);
        stored.el.classList.add("mine");
        return this.setStatus(stored, "sent");
      }
    }
    if (row === undefined) {
      row = this.createRow(key, entry.id, this.opts.nick(), entry.createdAt, entry.text, true);
      this.rows.set(key, row);
      this.el.list.append(row.el);
      this.scrollToBottom();
    }
    if (entry.seq !== undefined && row.seq === null) {
      this.rows.delete(key);
      this.rows.set(seqKey(entry.seq), row);
      this.confirm(row, entry.seq);
    }
    // The echo may have confirmed the row already; a late "pending" must not undo that.
    const status = row.seq !== null ? "sent" : entry.status;
    this.setStatus(row, status, entry.error);
  }

  dispose(): void {
    if (this.olderTimer !== null) clearTimeout(this.olderTimer);
  }

  private place(message: ChatMessage): void {
    const key = seqKey(message.seq);
    // Already shown: a replay, or our own row that the ack confirmed.
    if (this.rows.has(key)) return;
    const mine = message.from === this.opts.nick();
    const row = this.createRow(key, null, message.from, message.ts, message.text, mine);
    this.rows.set(key, row);
    this.confirm(row, message.seq);
    if (mine) this.setStatus(row, "sent");
  }

  /** Give a row its sequence number and move it to the right place among confirmed rows. */
  private confirm(row: Row, seq: number): void {
    row.seq = seq;
    row.el.dataset.seq = String(seq);
    // Walk up from the bottom past pending rows and newer messages: new ones usually go last.
    let after: Element | null = this.el.list.lastElementChild;
    while (after !== null) {
      const otherSeq = (after as HTMLElement).dataset.seq;
      if (after !== row.el && otherSeq !== undefined && Number(otherSeq) < seq) break;
      after = after.previousElementSibling;
    }
    if (after === null) this.el.list.prepend(row.el);
    else after.after(row.el);
  }

  /** `outboxId`: our own message's id, for Retry; null for a stored message. */
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
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "msg-retry";
    retry.textContent = "Retry";
    retry.hidden = true;
    meta.append(author, " ", timeElement(ts), " ", status, retry);
    const body = document.createElement("p");
    body.className = "text";
    body.textContent = text;
    el.append(meta, body);
    const row: Row = { el, seq: null, status, retry };
    if (outboxId !== null) retry.addEventListener("click", () => this.opts.onRetry(outboxId));
    return row;
  }

  private setStatus(row: Row, status: OutboxEntry["status"], error?: string): void {
    row.el.dataset.status = status;
    const label =
      status === "pending" ? "Sending…" : status === "sent" ? "✓ Sent" : `Failed${error ? `: ${error}` : ""}`;
    row.status.textContent = label;
    row.retry.hidden = status !== "failed";
  }

  private lowestSeq(): number | null {
    let lowest: number | null = null;
    for (const row of this.rows.values()) {
      if (row.seq !== null && (lowest === null || row.seq < lowest)) lowest = row.seq;
    }
    return lowest;
  }

  private setOlderLoading(loading: boolean): void {
    if (this.olderTimer !== null) clearTimeout(this.olderTimer);
    this.olderTimer = loading ? setTimeout(() => this.setOlderLoading(false), OLDER_WAIT_MS) : null;
    this.el.olderButton.disabled = loading;
    this.el.olderButton.textContent = loading ? "Loading older messages…" : "Load older messages";
    this.updateOlderButton();
  }

  private updateOlderButton(): void {
    this.el.olderButton.hidden = !this.hasOlder;
  }

  private nearBottom(): boolean {
    const { scroller } = this.el;
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < STICKY_BOTTOM_PX;
  }

  private scrollToBottom(): void {
    this.el.scroller.scrollTop = this.el.scroller.scrollHeight;
  }
}

const seqKey = (seq: number): string => `seq:${seq}`;
const outboxKey = (id: string): string => `out:${id}`;
