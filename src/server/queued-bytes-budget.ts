/** A connection as the budget sees it. */
export interface QueuedBytesHolder {
  bufferedAmount(): number;
  /** Cut as a slow consumer (4003). */
  cutForBudget(): void;
}

/**
 * A budget for the bytes queued to all clients together. Each connection has its own cap
 * (maxBufferedBytes), but thousands of connections each just under it would still exhaust
 * memory; over the budget, the connections with the most queued (the slowest readers) are cut
 * first until the total is back under it.
 *
 * Only connections that had bytes left queued after a write are looked at (`noteQueued`): a
 * queue grows only by writes, so no other connection can hold any. On an idle server the kernel
 * takes every pong at once and the budget never wakes; a profile of 10,000 idle connections had
 * a scan of all of them four times a second at a tenth of the server's heartbeat CPU.
 */
export class QueuedBytesBudget<T extends QueuedBytesHolder> {
  private readonly loaded = new Set<T>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly maxTotalBytes: number,
    private readonly checkMs: number,
  ) {}

  /** `holder` has bytes queued after a write: watch it until its queue is empty or it ends. */
  noteQueued(holder: T): void {
    if (this.loaded.has(holder)) return;
    this.loaded.add(holder);
    if (!this.timer) {
      this.timer = setInterval(() => this.check(), this.checkMs);
      this.timer.unref();
    }
  }

  /** The connection ended. */
  forget(holder: T): void {
    this.loaded.delete(holder);
    if (this.loaded.size === 0) this.stop();
  }

  /** How many connections are watched (those with bytes queued at their last write). */
  get watched(): number {
    return this.loaded.size;
  }

  /** Checks now; returns the connections it cut. */
  check(): T[] {
    let total = 0;
    const queued: Array<{ holder: T; bytes: number }> = [];
    for (const holder of this.loaded) {
      const bytes = holder.bufferedAmount();
      if (bytes === 0) {
        this.loaded.delete(holder);
        continue;
      }
      total += bytes;
      queued.push({ holder, bytes });
    }
    if (this.loaded.size === 0) this.stop();
    if (total <= this.maxTotalBytes) return [];
    queued.sort((a, b) => b.bytes - a.bytes);
    const cut: T[] = [];
    for (const { holder, bytes } of queued) {
      if (total <= this.maxTotalBytes) break;
      holder.cutForBudget();
      cut.push(holder);
      total -= bytes;
    }
    return cut;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
