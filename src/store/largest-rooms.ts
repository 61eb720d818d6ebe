/**
 * Rooms ordered by what they hold, largest first (ties: the greater name first, as SQLite's
 * index and Redis's sorted set order them for ASCII names). Over retainBytesTotal the store
 * takes from the top, so a room is only cut once every room above it is down to its size.
 *
 * A binary max-heap with each room's index beside it: set, delete and the top two are
 * O(log n) or O(1), whatever the number of rooms (an attacker can make millions of small ones).
 */
export class LargestRooms {
  private readonly heap: { room: string; held: number }[] = [];
  private readonly at = new Map<string, number>();

  get size(): number {
    return this.heap.length;
  }

  /** Sets what `room` holds, adding it when new. */
  set(room: string, held: number): void {
    const i = this.at.get(room);
    if (i === undefined) {
      this.heap.push({ room, held });
      this.at.set(room, this.heap.length - 1);
      this.up(this.heap.length - 1);
      return;
    }
    const entry = this.heap[i]!;
    const grew = held > entry.held;
    entry.held = held;
    if (grew) this.up(i);
    else this.down(i);
  }

  delete(room: string): void {
    const i = this.at.get(room);
    if (i === undefined) return;
    const last = this.heap.pop()!;
    this.at.delete(room);
    if (i === this.heap.length) return;
    this.heap[i] = last;
    this.at.set(last.room, i);
    this.up(i);
    this.down(i);
  }

  /** The room holding the most, or undefined when there is none. */
  top(): string | undefined {
    return this.heap[0]?.room;
  }

  /** What the second largest room holds (the larger of the top's two children), 0 when none. */
  runnerUpHeld(): number {
    const [, left, right] = this.heap;
    if (!left) return 0;
    return right && above(right, left) ? right.held : left.held;
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!above(this.heap[i]!, this.heap[parent]!)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let largest = i;
      if (left < this.heap.length && above(this.heap[left]!, this.heap[largest]!)) largest = left;
      if (right < this.heap.length && above(this.heap[right]!, this.heap[largest]!)) largest = right;
      if (largest === i) return;
      this.swap(i, largest);
      i = largest;
    }
  }

  private swap(i: number, j: number): void {
    const a = this.heap[i]!;
    const b = this.heap[j]!;
    this.heap[i] = b;
    this.heap[j] = a;
    this.at.set(b.room, i);
    this.at.set(a.room, j);
  }
}

/** Whether `a` comes before `b`: it holds more, or as much with a greater name. */
const above = (a: { room: string; held: number }, b: { room: string; held: number }): boolean =>
  a.held > b.held || (a.held === b.held && a.room > b.room);
