import type { OutboxEntry } from "../client/types.js";
import type { ChatMessage } from "../protocol/messages.js";
import { MessageList } from "./message-list.js";

export interface RoomViewOptions {
  room: string;
  /** Our nickname, as the server normalised it (messages from it are ours). */
  nick: () => string;
  scroller: HTMLElement;
  onRetry: (id: string) => void;
  onDiscard: (id: string) => void;
  onLoadOlder: (before: number) => void;
  /** The unread count or the "load older" state changed: redraw the badges and buttons. */
  onChange: () => void;
}

/** Give up waiting for an older page after this long, so the button never stays stuck. */
const OLDER_WAIT_MS = 10_000;

/**
 * One room the person is in: its message list, who is online, how much is unread, the
 * draft in the composer and where the reader had scrolled. Rooms not on screen keep all of
 * it, so switching back shows the room as it was left.
 */
export class RoomView {
  readonly messages: MessageList;
  online: string[] = [];
  /** How many are online; above the server's list size `online` holds only a page of them. */
  onlineCount = 0;
  unread = 0;
  draft = "";
  hasOlder = false;
  olderLoading = false;
  /** The server lets this user read the room but not write in it (from its `joined`). */
  readOnly = false;
  private shown = false;
  /** scrollTop when the room was switched away from; null: it was at the bottom. */
  private savedScrollTop: number | null = null;
  private olderTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly opts: RoomViewOptions) {
    this.messages = new MessageList({
      nick: opts.nick,
      scroller: opts.scroller,
      isShown: () => this.shown,
      onRetry: opts.onRetry,
      onDiscard: opts.onDiscard,
      onTrimmed: () => {
        if (this.hasOlder) return;
        this.hasOlder = true;
        this.opts.onChange();
      },
    });
    this.messages.list.hidden = true;
    this.messages.list.setAttribute("aria-label", `Messages in ${opts.room}`);
  }

  get room(): string {
    return this.opts.room;
  }

  /** The first page of the room (first join), or a fresh one after a gap. */
  reset(messages: readonly ChatMessage[]): void {
    this.messages.reset(messages);
    this.hasOlder = (this.messages.lowestSeq() ?? 1) > 1;
  }

  /** New messages (live, or replayed after a reconnect); counts what the reader has not seen. */
  add(messages: readonly ChatMessage[]): void {
    const fresh = this.messages.add(messages);
    if (fresh.length === 0 || this.isBeingRead()) return;
    if (this.unread === 0) this.messages.markUnreadFrom(fresh[0]!.seq);
    this.unread += fresh.length;
    this.opts.onChange();
  }

  prependOlder(messages: readonly ChatMessage[], hasMore: boolean): void {
    this.messages.prependOlder(messages);
    this.hasOlder = hasMore;
    this.setOlderLoading(false);
  }

  upsertOutbox(entry: OutboxEntry): void {
    this.messages.upsertOutbox(entry);
  }

  requestOlder(): boolean {
    const lowest = this.messages.lowestSeq();
    if (lowest === null || lowest <= 1 || this.olderLoading) return false;
    this.setOlderLoading(true);
    this.opts.onLoadOlder(lowest);
    return true;
  }

  /** Put this room's list on screen, where the reader left it (or at the unread line). */
  show(): void {
    this.shown = true;
    this.messages.list.hidden = false;
    this.messages.list.id = "messages";
    if (this.unread > 0) this.messages.scrollToUnreadOrBottom();
    else if (this.savedScrollTop !== null) this.opts.scroller.scrollTop = this.savedScrollTop;
    else this.messages.scrollToBottom();
    this.messages.measure();
    this.noteReading();
  }

  hide(): void {
    this.savedScrollTop = this.messages.nearBottom() ? null : this.opts.scroller.scrollTop;
    this.shown = false;
    this.messages.list.hidden = true;
    this.messages.list.removeAttribute("id");
    // The line marked where the reader left off; once they have been back, it has done its job.
    if (this.unread === 0) this.messages.clearUnreadLine();
  }

  /** The reader scrolled or came back to the tab: at the bottom, everything is read. */
  noteReading(): void {
    this.messages.measure();
    if (this.unread > 0 && this.isBeingRead()) {
      this.unread = 0;
      this.opts.onChange();
    }
  }

  dispose(): void {
    if (this.olderTimer !== null) clearTimeout(this.olderTimer);
    this.messages.list.remove();
  }

  /** On screen, scrolled to the bottom, in a visible tab. */
  private isBeingRead(): boolean {
    return this.shown && document.visibilityState === "visible" && this.messages.atBottom;
  }

  private setOlderLoading(loading: boolean): void {
    if (this.olderTimer !== null) clearTimeout(this.olderTimer);
    this.olderLoading = loading;
    this.olderTimer = loading ? setTimeout(() => this.setOlderLoading(false), OLDER_WAIT_MS) : null;
    this.opts.onChange();
  }
}
