import { PulseClient } from "../client/index.js";
import type { ConnectionState, OutboxEntry } from "../client/types.js";
import type { IndicatorSource } from "./indicator-view.js";
import { OnlineList } from "./online-list.js";
import { MAX_ROWS } from "./message-list.js";
import { RoomView } from "./room-view.js";
import type { Identity } from "./identity.js";

export interface ChatElements {
  scroller: HTMLElement;
  online: HTMLUListElement;
  onlineCount: HTMLElement;
  /** The box around the online list; marked stale while we are not connected. */
  onlineBox: HTMLElement;
  notice: HTMLElement;
}

export interface ChatSessionOptions {
  url: string;
  nick: string;
  identity: Identity;
  elements: ChatElements;
  /** Every state change, after the session updated its own views. */
  onState: (next: ConnectionState) => void;
  /** The rooms, the room on screen, an unread count or a queued message changed. */
  onChange: () => void;
}

/** Room names as the server and the client library know them (NFKC), so events find their view. */
const roomName = (name: string): string => name.normalize("NFKC");

/** Batch size of "Load older messages". */
const OLDER_PAGE = 50;

/**
 * One person on the page: one PulseClient (one connection, any number of rooms) and a view
 * per room. Switching rooms only changes which view is on screen; leaving a room is the only
 * thing that tells the server. Nothing here decides liveness, it only draws what the client
 * reports.
 */
export class ChatSession {
  readonly client: PulseClient;
  private readonly rooms = new Map<string, RoomView>();
  private readonly online: OnlineList;
  private readonly unsubscribe: Array<() => void>;
  /** Ids of our own messages: a server error about one belongs on its row, not in the notice. */
  private readonly ownIds = new Set<string>();
  private shown: RoomView | null = null;

  constructor(private readonly opts: ChatSessionOptions) {
    const { elements: el, nick } = opts;
    this.client = new PulseClient({
      url: opts.url,
      nick,
      clientId: opts.identity.clientId,
      // sessionStorage: messages queued in this tab survive its reload, and only its reload.
      storage: sessionStorage,
      // localStorage: every tab of this browser is the same user, with the same nickname.
      identityStorage: localStorage,
      autoConnect: false,
      // A long absence fetches no more of what was missed than the page keeps on screen; the
      // rest is a "Load older messages" away (filling a gap of 20,000 took the page 104 s).
      maxBackfill: MAX_ROWS,
    });
    this.online = new OnlineList(el.online, el.onlineCount, nick);
    el.notice.textContent = "";
    const client = this.client;
    this.unsubscribe = [
      client.on("state", (next) => {
        const connected = next.kind === "open";
        // Presence is only as fresh as the link; say so instead of showing a stale list as live.
        el.onlineBox.dataset.stale = String(!connected);
        for (const view of this.rooms.values()) view.messages.setConnected(connected);
        opts.onState(next);
        opts.onChange();
      }),
      client.on("joined", (event) => {
        const view = this.rooms.get(event.room);
        if (view === undefined) return;
        if (event.first || !event.recovered) view.reset(event.messages);
        else view.add(event.messages);
        view.readOnly = event.readOnly;
        opts.onChange();
      }),
      client.on("message", (message) => {
        this.rooms.get(message.room)?.add([message]);
      }),
      client.on("online", (event) => {
        // joined, presence and `who` pages all end here: the room's online view to show.
        const view = this.rooms.get(event.room);
        if (view === undefined) return;
        view.online = event.online;
        view.onlineCount = event.onlineCount;
        if (view === this.shown) this.online.show(view.online, view.onlineCount);
      }),
      client.on("history", (event) => {
        this.rooms.get(event.room)?.prependOlder(event.messages, event.hasMore);
      }),
      client.on("outbox", (entry) => {
        this.ownIds.add(entry.id);
        this.rooms.get(entry.room)?.upsertOutbox(entry);
        opts.onChange();
      }),
      client.on("error", (error) => {
        // A refused message is marked on its own row, in its own room.
        if (error.ref !== undefined && this.ownIds.has(error.ref)) return;
        el.notice.textContent = `Server error: ${error.message}`;
      }),
    ];
    el.onlineBox.dataset.stale = "true";
    this.online.show([]);
  }

  /** What the connection indicator reads on every render. */
  get indicatorSource(): IndicatorSource {
    const client = this.client;
    return {
      get state() {
        return client.state;
      },
      get inputs() {
        return { rttMs: client.rtt.smoothedMs ?? client.rtt.lastMs };
      },
    };
  }

  /** The nickname this tab asked for (the server may have normalised it: client.nick). */
  get nick(): string {
    return this.opts.nick;
  }

  /** The room on screen. */
  get current(): RoomView | null {
    return this.shown;
  }

  roomNames(): string[] {
    return [...this.rooms.keys()];
  }

  room(name: string): RoomView | undefined {
    return this.rooms.get(name);
  }

  /**
   * Per room, our messages the server does not have: `unsent` (queued or failed) and
   * `waiting` (queued for the connection). One pass over the outbox, for one redraw.
   */
  outboxByRoom(): Map<string, { unsent: number; waiting: number }> {
    const counts = new Map<string, { unsent: number; waiting: number }>();
    for (const entry of this.client.outboxEntries()) {
      const count = counts.get(entry.room) ?? { unsent: 0, waiting: 0 };
      count.unsent++;
      if (entry.status === "pending") count.waiting++;
      counts.set(entry.room, count);
    }
    return counts;
  }

  /** Whether we are in this room (joined, on screen or not). */
  isIn(room: string): boolean {
    return this.rooms.has(room);
  }

  /** Drop every message waiting for a room we are not in. */
  discardHeld(room: string): void {
    if (this.rooms.has(room)) return;
    for (const entry of this.client.outboxEntries()) if (entry.room === room) this.client.discard(entry.id);
    this.opts.onChange();
  }

  totalUnread(): number {
    let total = 0;
    for (const view of this.rooms.values()) total += view.unread;
    return total;
  }

  start(): void {
    this.client.connect();
  }

  /** Join a room (if not in it yet) and show it. */
  open(name: string): void {
    const room = roomName(name);
    let view = this.rooms.get(room);
    if (view === undefined) {
      view = new RoomView({
        room,
        nick: () => this.client.nick,
        scroller: this.opts.elements.scroller,
        onRetry: (id) => this.client.retry(id),
        onDiscard: (id) => this.discard(id),
        onLoadOlder: (before) => this.client.loadOlder(room, before, OLDER_PAGE),
        onChange: () => this.opts.onChange(),
      });
      this.rooms.set(room, view);
      this.opts.elements.scroller.append(view.messages.list);
      view.messages.setConnected(this.client.state.kind === "open");
      // Messages held for this room (queued before a reload or a leave) are shown in it first.
      for (const entry of this.client.outboxEntries()) if (entry.room === room) view.upsertOutbox(entry);
      this.client.join(room);
    }
    this.show(view);
  }

  /** Leave a room. Its unsent messages stay in the outbox and go out if it is joined again. */
  leave(name: string): void {
    const room = roomName(name);
    const view = this.rooms.get(room);
    if (view === undefined) return;
    this.client.leave(room);
    this.rooms.delete(room);
    view.dispose();
    if (this.shown === view) {
      this.shown = null;
      const next = this.rooms.values().next();
      if (!next.done) this.show(next.value);
      else this.online.show([]);
    }
    this.opts.onChange();
  }

  /** Queue a message for the room on screen. Returns a sentence when it could not be queued. */
  send(text: string): string | null {
    if (this.shown === null) return "Join a room first.";
    try {
      this.client.send(this.shown.room, text);
      return null;
    } catch (error) {
      return error instanceof Error ? error.message : "The message could not be queued.";
    }
  }

  loadOlder(): void {
    this.shown?.requestOlder();
  }

  /** The reader scrolled, or the tab became visible: unread counts may clear. */
  noteReading(): void {
    this.shown?.noteReading();
  }

  dispose(): void {
    for (const off of this.unsubscribe) off();
    for (const view of this.rooms.values()) view.dispose();
    this.rooms.clear();
    this.client.close();
  }

  private show(view: RoomView): void {
    if (this.shown === view) return;
    this.shown?.hide();
    this.shown = view;
    view.show();
    this.online.show(view.online, view.onlineCount);
    this.opts.onChange();
  }

  private discard(id: string): void {
    const entry: OutboxEntry | null = this.client.discard(id);
    if (entry !== null) this.rooms.get(entry.room)?.messages.removeOutbox(id);
    this.opts.onChange();
  }
}
