/** Something the sweep checks: a connection's liveness engine. */
export interface Checkable {
  check(): unknown;
  /** When a check could next change something (a ping due, suspect, dead, a probe's deadline). */
  nextCheckAt(): number;
  /**
   * The sweep's bookkeeping, kept on the member (NOT_FILED when in no sweep): the index of the
   * wheel slot it is filed under. A field, not a map of the sweep's: a map entry per connection is heap too.
   */
  sweepSlot: number;
  /**
   * The members filed before and after this one in its slot: each slot is a list through its
   * members (two fields on each, 16 bytes, where a Set per slot took 34-38 bytes per member
   * at 5,000-10,000 idle connections); null when in no slot.
   */
  sweepPrev: Checkable | null;
  sweepNext: Checkable | null;
}

/** `sweepSlot` of a member in no sweep. */
export const NOT_FILED = -2;

/** `sweepSlot` of a member being checked (in no slot). */
const CHECKING = -1;

/** `sweepSlot` of a member taken out of its slot by a tick and waiting for its check. */
const DUE = -3;

/**
 * Members a tick handles at most, on average, before the sweep ticks more often. A member's
 * check costs about a microsecond, but each tick is a timer callback with its own fixed cost
 * (a wake-up, Node's timer lists, which stay unoptimised at this rate): at 200, 10,000 idle
 * connections made 50 ticks a second and the timers were a tenth of the server's heartbeat CPU
 * in a perf profile. At 2,000, a tick stays around a millisecond of work.
 */
const MEMBERS_PER_TICK = 2_000;

/**
 * Checks each member when its engine says something could be due, with one timer for all
 * connections: a timing wheel of slots `periodMs / maxSlices` wide, keyed by each member's
 * `nextCheckAt()`. A tick checks the members of every slot whose start has passed, then files
 * each under its new due time.
 *
 * Why a wheel, not "check everyone every period": on an idle server the check itself was the
 * cost. A healthy idle client pings every intervalMs, so at most one check in five or six
 * found anything to do, and touching 10,000 engines a second (memory the CPU must fetch) was
 * about a fifth of the server's heartbeat CPU in a profile. With the wheel a member is touched
 * about once per intervalMs + grace. A check that comes early is harmless (the engine decides
 * on timestamps and finds nothing due), and nothing that happens between checks can make a
 * deadline earlier than the one filed (inbound frames and pings only move it later), so a
 * check lands at most one slot after it is due: the detection bound stays timeoutMs + periodMs.
 *
 * Ticks: one per MEMBERS_PER_TICK members per period, within [1, maxSlices]; none when empty,
 * so a quiet server does not wake up. Due times spread members over the slots by themselves
 * (clients that arrived together ping when they arrived, not all at once).
 */
export class LivenessSweep<T extends Checkable> {
  private readonly slotMs: number;
  /** The first member of each slot's list. */
  private readonly slots: Array<T | null>;
  private members = 0;
  /** The next absolute slot to process. */
  private cursor: number;
  private ticksPerPeriod = 0;
  private timer: NodeJS.Timeout | null = null;

  /**
   * `horizonMs`: the furthest ahead a member is filed; later due times are filed at the horizon
   * and checked early (harmless). Default 16 periods, beyond the default timeoutMs.
   */
  constructor(
    private readonly periodMs: number,
    private readonly maxSlices = Math.max(1, Math.round(periodMs / 20)),
    private readonly now: () => number = Date.now,
    horizonMs = 16 * periodMs,
  ) {
    this.slotMs = periodMs / maxSlices;
    this.slots = new Array<T | null>(Math.ceil(horizonMs / this.slotMs) + 1).fill(null);
    this.cursor = Math.floor(now() / this.slotMs);
  }

  add(member: T): void {
    if (member.sweepSlot !== NOT_FILED) return;
    // After a time without members the wheel stood still: it starts again from now.
    if (this.members === 0) this.cursor = Math.floor(this.now() / this.slotMs);
    this.members++;
    this.file(member, member.nextCheckAt());
    this.retime();
  }

  delete(member: T): void {
    const slot = member.sweepSlot;
    if (slot === NOT_FILED) return;
    if (slot >= 0) this.unlink(member, slot);
    member.sweepSlot = NOT_FILED;
    this.members--;
    this.retime();
  }

  get size(): number {
    return this.members;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.ticksPerPeriod = 0;
  }

  /** Checks every member whose slot has started; exposed for tests that drive a fake clock. */
  tick(): void {
    const last = Math.floor(this.now() / this.slotMs);
    // A process that slept past the whole wheel checks every slot once, not the lap twice.
    const first = Math.max(this.cursor, last - this.slots.length + 1);
    for (let s = first; s <= last; s++) {
      const i = s % this.slots.length;
      if (this.slots[i] === null) continue;
      // Taken out of the list first: checks file members again, possibly under this slot.
      const due: T[] = [];
      for (let member = this.slots[i] as T | null; member !== null; ) {
        const next = member.sweepNext as T | null;
        member.sweepPrev = member.sweepNext = null;
        member.sweepSlot = DUE;
        due.push(member);
        member = next;
      }
      this.slots[i] = null;
      for (const member of due) {
        // Deleted (or deleted and added again) by an earlier member's check: not this tick's.
        if (member.sweepSlot !== DUE) continue;
        member.sweepSlot = CHECKING;
        member.check();
        // A member deleted during its own check (the verdict ended it) is not filed again.
        if (member.sweepSlot === CHECKING) this.file(member, member.nextCheckAt(), last + 1);
      }
    }
    this.cursor = last + 1;
  }

  /** Files a member under the first slot that starts at or after `dueAt` (never before `earliest`). */
  private file(member: T, dueAt: number, earliest = this.cursor): void {
    const wanted = Math.ceil(dueAt / this.slotMs);
    const slot = Math.min(Math.max(wanted, earliest), earliest + this.slots.length - 1);
    const i = slot % this.slots.length;
    const head = this.slots[i] as T | null;
    member.sweepPrev = null;
    member.sweepNext = head;
    if (head !== null) head.sweepPrev = member;
    this.slots[i] = member;
    // The wheel's index, not the absolute slot: a small integer, kept in the engine itself
    // (an absolute slot of epoch time is a number V8 boxes, 16 bytes per connection).
    member.sweepSlot = i;
  }

  private unlink(member: T, slot: number): void {
    const { sweepPrev: prev, sweepNext: next } = member;
    if (prev !== null) prev.sweepNext = next;
    else this.slots[slot] = next as T | null;
    if (next !== null) next.sweepPrev = prev;
    member.sweepPrev = member.sweepNext = null;
  }

  private retime(): void {
    const wanted = this.size === 0 ? 0 : Math.min(this.maxSlices, Math.max(1, Math.ceil(this.size / MEMBERS_PER_TICK)));
    if (wanted === this.ticksPerPeriod) return;
    this.stop();
    if (wanted === 0) return;
    this.ticksPerPeriod = wanted;
    this.timer = setInterval(() => this.tick(), this.periodMs / wanted);
    this.timer.unref();
  }
}
