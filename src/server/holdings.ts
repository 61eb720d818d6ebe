/**
 * Items (sockets) per holder (a client address or network), oldest first, with the holder of
 * the most at hand in O(1): the server must find whose socket to close when all are taken, on
 * every new connection, with thousands of holders. Holders are kept in buckets by how many
 * items they hold; since a count moves by one at a time, the largest count only ever steps.
 */
export class Holdings<T> {
  private readonly itemsOf = new Map<string, Set<T>>();
  /** Holders by how many items they hold; a bucket is dropped when empty. */
  private readonly bySize = new Map<number, Set<string>>();
  private largestSize = 0;
  private total = 0;

  /** Items held in all. */
  get size(): number {
    return this.total;
  }

  /** How many items `holder` holds. */
  countOf(holder: string): number {
    return this.itemsOf.get(holder)?.size ?? 0;
  }

  add(holder: string, item: T): void {
    let items = this.itemsOf.get(holder);
    if (!items) this.itemsOf.set(holder, (items = new Set()));
    if (items.has(item)) return;
    const before = items.size;
    items.add(item);
    this.total++;
    this.move(holder, before, before + 1);
  }

  /** Whether `item` was held by `holder` (and is no more). */
  remove(holder: string, item: T): boolean {
    const items = this.itemsOf.get(holder);
    if (!items?.delete(item)) return false;
    this.total--;
    if (items.size === 0) this.itemsOf.delete(holder);
    this.move(holder, items.size + 1, items.size);
    return true;
  }

  /** The holder of the most items (of those tied, the one that got there first), or undefined if none. */
  largest(): string | undefined {
    const holders = this.bySize.get(this.largestSize);
    return holders?.values().next().value;
  }

  /** The item `holder` has held longest. */
  oldestOf(holder: string): T | undefined {
    return this.itemsOf.get(holder)?.values().next().value;
  }

  private move(holder: string, from: number, to: number): void {
    if (from > 0) {
      const bucket = this.bySize.get(from)!;
      bucket.delete(holder);
      if (bucket.size === 0) this.bySize.delete(from);
    }
    if (to > 0) {
      let bucket = this.bySize.get(to);
      if (!bucket) this.bySize.set(to, (bucket = new Set()));
      bucket.add(holder);
    }
    if (to > this.largestSize) this.largestSize = to;
    else if (from === this.largestSize && !this.bySize.has(from)) this.largestSize = to;
  }
}
