import type { PresenceChange } from "../protocol/messages.js";

/**
 * Gathers presence changes per room for `windowMs` and hands each room's list over at once.
 * A room of n members that n clients join in a burst costs n frames per window instead of n^2
 * in all.
 */
export class PresenceBatcher {
  private readonly pending = new Map<string, PresenceChange[]>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly windowMs: number,
    private readonly publish: (room: string, changes: PresenceChange[]) => void,
  ) {}

  add(room: string, change: PresenceChange): void {
    let list = this.pending.get(room);
    if (!list) this.pending.set(room, (list = []));
    list.push(change);
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), this.windowMs);
    this.timer.unref();
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const rooms = [...this.pending];
    this.pending.clear();
    for (const [room, changes] of rooms) this.publish(room, changes);
  }
}
