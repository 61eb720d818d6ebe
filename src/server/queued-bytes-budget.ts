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
 */
export class QueuedBytesBudget<T extends QueuedBytesHolder> {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly maxTotalBytes: number,
    private readonly checkMs: number,
    private readonly holders: () => Iterable<T>,
  ) {}

  /** Checks now; returns the connections it cut. */
  check(): T[] {
    let total = 0;
    const loaded: Array<{ holder: T; bytes: number }> = [];
    for (const holder of this.holders()) {
      const bytes = holder.bufferedAmount();
      total += bytes;
      if (bytes > 0) loaded.push({ holder, bytes });
    }
    if (total <= this.maxTotalBytes) return [];
    loaded.sort((a, b) => b.bytes - a.bytes);
    const cut: T[] = [];
    for (const { holder, bytes } of loaded) {
      if (total <= this.maxTotalBytes) break;
      holder.cutForBudget();
      cut.push(holder);
      total -= bytes;
    }
    return cut;
  }

  /** Checks every checkMs while there are connections (an idle server does not wake up). */
  connectionsChanged(count: number): void {
    if (count > 0 && !this.timer) {
      this.timer = setInterval(() => this.check(), this.checkMs);
      this.timer.unref();
    } else if (count === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  stop(): void {
    this.connectionsChanged(0);
  }
}
