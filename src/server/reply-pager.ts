import type { Socket } from "node:net";
import WebSocket from "ws";
import { PAGE_BYTES } from "./pages.js";
import { writeTextParts } from "./fanout.js";

/** A frame to send: its payload, or the parts of its payload in order (see writeTextParts). */
export type ReplyFrame = Buffer | readonly Buffer[];

/**
 * A reply the server sends in pages: a join's catch-up, a history page. `next` is asked for one
 * page at a time, only once the previous one left the process, so a reply never holds more
 * than it needs and a reader that stops reading stops the reply.
 */
export interface PagedReply {
  /** The frames of the next page (at most PAGE_BYTES in all), or null when the reply is complete. */
  next(): Promise<ReplyFrame[] | null>;
  /** The reply is over: `completed` false when the connection went first. Releases what it holds. */
  finish(completed: boolean): void;
}

export interface PagerHost {
  readonly socket: WebSocket;
  /** Writes one frame (the pager's own bytes: see `ReplyPager.allowanceBytes`). */
  sendFrame(frame: Buffer): void;
  /** Book-keeping after a write the pager made itself (see writeTextParts). */
  afterSend(): void;
  /** The reader made no progress for `stallMs` while a page waited: cut it. */
  onReplyStall(): void;
  /** Every queued reply went out: the host may let this pager go (and make another later). */
  onRepliesSent(pager: ReplyPager): void;
}

export interface PagerSettings {
  /** A reader whose send buffer does not shrink for this long while a page waits is cut. */
  stallMs: number;
  /** Replies queued per connection at most (joins of every room after a reconnect must fit). */
  maxQueued: number;
}

/** How often a waiting page re-checks the send buffer when no 'drain' event comes. */
const POLL_MS = 50;

/**
 * Sends a connection's paged replies one after another, each page only when the send buffer
 * is below one page: a replay of hundreds of megabytes goes out at the reader's pace in
 * PAGE_BYTES writes, never as one giant frame.
 */
export class ReplyPager {
  /**
   * Bytes of the server's own pages that may sit in the send buffer on top of the
   * slow-consumer budget: a page is written with at most one page already buffered.
   */
  static readonly allowanceBytes = 2 * PAGE_BYTES;
  private readonly queue: PagedReply[] = [];
  private running = false;
  private closed = false;

  constructor(private readonly host: PagerHost, private readonly settings: PagerSettings) {}

  get pending(): number {
    return this.queue.length + (this.running ? 1 : 0);
  }

  /** Queues a reply; false (and the reply is finished at once) when too many are queued. */
  /** Whether enqueue would refuse a reply now. */
  get full(): boolean {
    return this.closed || this.pending >= this.settings.maxQueued;
  }

  enqueue(reply: PagedReply): boolean {
    if (this.full) {
      reply.finish(false);
      return false;
    }
    this.queue.push(reply);
    if (!this.running) void this.run();
    return true;
  }

  /** The connection ended: every queued reply is finished unsent. */
  close(): void {
    this.closed = true;
    for (const reply of this.queue.splice(0)) reply.finish(false);
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      for (let reply = this.queue.shift(); reply; reply = this.queue.shift()) {
        let completed = false;
        try {
          completed = await this.pump(reply);
        } finally {
          reply.finish(completed);
        }
      }
    } finally {
      this.running = false;
    }
    if (!this.closed && this.queue.length === 0) this.host.onRepliesSent(this);
  }

  /** Sends one reply page by page; false when the connection went (or stalled) first. */
  private async pump(reply: PagedReply): Promise<boolean> {
    for (;;) {
      // Most pages find the buffer below a page: they wait for no turn of the event loop.
      const ws = this.host.socket;
      const open = !this.closed && ws.readyState === WebSocket.OPEN;
      if (!open || (ws.bufferedAmount > PAGE_BYTES && !(await this.writable()))) return false;
      const frames = await reply.next();
      if (frames === null) return true;
      if (this.closed || this.host.socket.readyState !== WebSocket.OPEN) return false;
      for (const frame of frames) {
        if (Buffer.isBuffer(frame)) this.host.sendFrame(frame);
        else writeTextParts(this.host, frame as readonly Buffer[]);
      }
    }
  }

  /** Resolves true once at most one page is buffered; false if the connection ends or stalls. */
  private writable(): Promise<boolean> {
    const ws = this.host.socket;
    const ready = () => ws.bufferedAmount <= PAGE_BYTES;
    if (this.closed || ws.readyState !== WebSocket.OPEN) return Promise.resolve(false);
    if (ready()) return Promise.resolve(true);
    return new Promise((resolve) => {
      let lowest = ws.bufferedAmount;
      let progressAt = Date.now();
      const raw = (ws as unknown as { _socket?: Socket })._socket;
      let timer: NodeJS.Timeout | null = null;
      const check = () => {
        if (timer) clearTimeout(timer);
        timer = null;
        raw?.off("drain", check);
        if (this.closed || ws.readyState !== WebSocket.OPEN) return resolve(false);
        if (ready()) return resolve(true);
        const now = Date.now();
        if (ws.bufferedAmount < lowest) {
          lowest = ws.bufferedAmount;
          progressAt = now;
        } else if (now - progressAt >= this.settings.stallMs) {
          this.host.onReplyStall();
          return resolve(false);
        }
        raw?.once("drain", check);
        timer = setTimeout(check, POLL_MS);
      };
      raw?.once("drain", check);
      timer = setTimeout(check, POLL_MS);
    });
  }
}
