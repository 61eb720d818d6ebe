import type { OutboxEntry, OutboxStorage } from "./types.js";

/**
 * Messages the user sent that the server has not acknowledged yet, in send order. Entries are
 * resent after every reconnect until acked; the server dedupes by (clientId, id), so a resend
 * never doubles a message. With a storage the pending entries survive a page reload.
 */
export class Outbox {
  private readonly entries = new Map<string, OutboxEntry>();

  constructor(
    private readonly limit: number,
    private readonly storage: OutboxStorage | undefined,
    private readonly storageKey: string,
  ) {
    const saved = storage?.getItem(storageKey);
    if (!saved) return;
    try {
      for (const e of JSON.parse(saved) as OutboxEntry[]) this.entries.set(e.id, { ...e, status: "pending" });
    } catch {
      storage?.removeItem(storageKey);
    }
  }

  /** Queues a new entry. When full, the oldest pending entry is failed (returned) to make room. */
  add(entry: OutboxEntry): OutboxEntry | null {
    let evicted: OutboxEntry | null = null;
    if (this.pendingCount() >= this.limit) {
      for (const e of this.entries.values()) {
        if (e.status === "pending") {
          evicted = this.fail(e.id, `outbox full (${this.limit} unsent messages): not sent`);
          break;
        }
      }
    }
    this.entries.set(entry.id, entry);
    this.save();
    return evicted;
  }

  get(id: string): OutboxEntry | undefined {
    return this.entries.get(id);
  }

  /** Acked: the entry leaves the outbox. */
  ack(id: string, seq: number): OutboxEntry | undefined {
    const e = this.entries.get(id);
    if (!e) return undefined;
    this.entries.delete(id);
    this.save();
    return { ...e, status: "sent", seq, error: undefined };
  }

  fail(id: string, error: string): OutboxEntry | null {
    const e = this.entries.get(id);
    if (!e) return null;
    e.status = "failed";
    e.error = error;
    this.save();
    return { ...e };
  }

  /** A failed entry goes back to pending (the user pressed retry). */
  retry(id: string): OutboxEntry | null {
    const e = this.entries.get(id);
    if (!e || e.status !== "failed") return null;
    e.status = "pending";
    e.error = undefined;
    this.save();
    return { ...e };
  }

  /** The user discarded an unsent entry: it leaves the outbox without being sent. */
  remove(id: string): OutboxEntry | null {
    const e = this.entries.get(id);
    if (!e) return null;
    this.entries.delete(id);
    this.save();
    return { ...e };
  }

  pending(): OutboxEntry[] {
    return [...this.entries.values()].filter((e) => e.status === "pending");
  }

  all(): OutboxEntry[] {
    return [...this.entries.values()].map((e) => ({ ...e }));
  }

  private pendingCount(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.status === "pending") n++;
    return n;
  }

  private save(): void {
    if (!this.storage) return;
    if (this.entries.size === 0) this.storage.removeItem(this.storageKey);
    else this.storage.setItem(this.storageKey, JSON.stringify([...this.entries.values()]));
  }
}
