/**
 * Caps how many replay pages (and gap sizings) are read and encoded at once on this server. A
 * replay is read and encoded a page at a time as its reader drains, so each holds about a page;
 * the cap bounds the store reads and encoding they do together (sizing a gap encodes up to
 * `maxReplayBytes`), and the rest wait their turn in arrival order. A slot is taken per page,
 * not per replay: readers that drain slowly would otherwise hold every slot.
 */
export class ReplayGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly maxConcurrent: number) {
    if (!Number.isSafeInteger(maxConcurrent) || maxConcurrent < 1) {
      throw new RangeError(`maxConcurrentReplays must be a positive integer, got ${maxConcurrent}`);
    }
  }

  get active(): number {
    return this.running;
  }
  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves with a release function once a slot is free. Call the release exactly once. */
  acquire(): Promise<() => void> {
    return new Promise((resolve) => {
      const grant = () => {
        this.running++;
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.running--;
          this.waiting.shift()?.();
        });
      };
      if (this.running < this.maxConcurrent) grant();
      else this.waiting.push(grant);
    });
  }
}
