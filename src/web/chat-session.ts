import { PulseClient } from "../client/index.js";
import type { ConnectionState } from "../client/types.js";
import type { IndicatorSource } from "./indicator-view.js";
import { MessageList, type MessageListElements } from "./message-list.js";
import { OnlineList } from "./online-list.js";
import type { Identity } from "./identity.js";

export interface ChatElements extends MessageListElements {
  online: HTMLUListElement;
  onlineCount: HTMLElement;
  /** The box around the online list; marked stale while we are not connected. */
  onlineBox: HTMLElement;
  notice: HTMLElement;
}

export interface ChatSessionOptions {
  url: string;
  nick: string;
  room: string;
  identity: Identity;
  elements: ChatElements;
  /** Every state change, after the session updated its own views. */
  onState: (next: ConnectionState) => void;
}

/** Batch size of "Load older messages". */
const OLDER_PAGE = 50;

/**
 * One person in one room: a PulseClient plus the views that render its events. The page
 * creates one per join and disposes it on leave; nothing here decides liveness, it only
 * draws what the client reports.
 */
export class ChatSession {
  readonly client: PulseClient;
  private readonly messages: MessageList;
  private readonly online: OnlineList;
  private readonly unsubscribe: Array<() => void>;

  constructor(private readonly opts: ChatSessionOptions) {
    const { elements: el, room, nick } = opts;
    this.client = new PulseClient({
      url: opts.url,
      nick,
      clientId: opts.identity.clientId,
      // sessionStorage: messages queued in this tab survive its reload, and only its reload.
      storage: sessionStorage,
      // localStorage: every tab of this browser is the same user, with the same nickname.
      identityStorage: localStorage,
      autoConnect: false,
    });
    this.messages = new MessageList(el, {
      nick: () => this.client.nick,
      onRetry: (id) => this.client.retry(id),
      onLoadOlder: (before) => this.client.loadOlder(room, before, OLDER_PAGE),
    });
    this.online = new OnlineList(el.online, el.onlineCount, nick);
    el.notice.textContent = "";
    const client = this.client;
    this.unsubscribe = [
      client.on("state", (next) => {
        // Presence is only as fresh as the link; say so instead of showing a stale list as live.
        el.onlineBox.dataset.stale = String(next.kind !== "open");
        opts.onState(next);
      }),
      client.on("joined", (event) => {
        if (event.room !== room) return;
        if (event.first || !event.recovered) this.messages.reset(event.messages);
        else this.messages.add(event.messages);
      }),
      client.on("message", (message) => {
        if (message.room === room) this.messages.add([message]);
      }),
      client.on("online", (event) => {
        if (event.room === room) this.online.show(event.online, event.onlineCount);
      }),
      client.on("history", (event) => {
        if (event.room === room) this.messages.prependOlder(event.messages, event.hasMore);
      }),
      client.on("outbox", (entry) => {
        if (entry.room === room) this.messages.upsertOutbox(entry);
      }),
      client.on("error", (error) => {
        el.notice.textContent = `Server error: ${error.message}`;
      }),
    ];
    // Messages queued before a reload of this tab are still in the outbox: show them first.
    for (const entry of client.outboxEntries()) {
      if (entry.room === room) this.messages.upsertOutbox(entry);
    }
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

  start(): void {
    this.client.connect();
    this.client.join(this.opts.room);
  }

  /** Queue a message. Returns a sentence when it could not be queued (the outbox is full). */
  send(text: string): string | null {
    try {
      this.client.send(this.opts.room, text);
      return null;
    } catch (error) {
      if (error instanceof Error && error.name === "OutboxFullError") {
        return "Too many messages are waiting to be sent. Wait for the connection to come back.";
      }
      return error instanceof Error ? error.message : "The message could not be queued.";
    }
  }

  loadOlder(): void {
    this.messages.requestOlder();
  }

  dispose(): void {
    for (const off of this.unsubscribe) off();
    this.messages.dispose();
    this.client.close();
  }
}
