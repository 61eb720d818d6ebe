import type { Clock } from "../liveness/clock.js";

/** What a throttle does when its wait is over. */
export interface ThrottleActions {
  /** Sending may resume (the outbox sends what is pending, in order). */
  resume(): void;
  /** Ask again for these rooms: a refused join, or a refused backfill page. */
  retryRooms(rooms: Set<string>): void;
}

/**
 * The server said `rate_limited` or `store_failed`: nothing is sent until the wait has passed
 * (the longest wait wins), then the refused requests go again, so nothing is lost and the
 * server is not hammered.
 */
export class Throttle {
  private readonly rooms = new Set<string>();
  private until = 0;
  private timer: unknown = null;

  constructor(private readonly clock: Clock, private readonly actions: ThrottleActions) {}

  /** Whether sends must wait. */
  get active(): boolean {
    return this.timer !== null;
  }

  pause(retryAfterMs: number): void {
    const until = this.clock.now() + Math.max(0, retryAfterMs);
    if (this.timer !== null && until <= this.until) return;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.until = until;
    this.timer = this.clock.setTimeout(() => this.release(), until - this.clock.now());
  }

  holdRoom(room: string, retryAfterMs: number): void {
    this.rooms.add(room);
    this.pause(retryAfterMs);
  }

  /** A reconnect sends everything pending anyway: forget what was held. */
  reset(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.until = 0;
    this.rooms.clear();
  }

  private release(): void {
    this.timer = null;
    const rooms = new Set(this.rooms);
    this.rooms.clear();
    this.actions.resume();
    if (rooms.size) this.actions.retryRooms(rooms);
  }
}
