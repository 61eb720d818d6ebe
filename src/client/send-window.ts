import type { OutboxEntry } from "./types.js";

/**
 * How many outbox messages may be on the wire unacknowledged. Sending the whole outbox at once
 * after a reconnect (up to outboxLimit) would run into the server's rate limits and, refused
 * again and again, look like abuse. The window halves to one on a refusal and grows by one per
 * ack, up to `max`: it settles at what the server accepts.
 */
export class SendWindow {
  private readonly inFlight = new Set<string>();
  private size: number;

  constructor(private readonly max: number) {
    this.size = max;
  }

  /** Entries to send now, in outbox order: pending, not on the wire yet, up to the window. */
  take(pending: OutboxEntry[]): OutboxEntry[] {
    const out: OutboxEntry[] = [];
    for (const entry of pending) {
      if (this.inFlight.size >= this.size) break;
      if (this.inFlight.has(entry.id)) continue;
      this.inFlight.add(entry.id);
      out.push(entry);
    }
    return out;
  }

  /** Acked or failed: off the wire; an ack also widens the window. */
  settled(id: string, acked: boolean): void {
    if (this.inFlight.delete(id) && acked) this.size = Math.min(this.max, this.size + 1);
  }

  /** Refused for its rate: it goes again later, and the window shrinks to one. */
  refused(id: string): void {
    this.inFlight.delete(id);
    this.size = 1;
  }

  /** A new link: nothing is on the wire. */
  reset(): void {
    this.inFlight.clear();
  }
}
