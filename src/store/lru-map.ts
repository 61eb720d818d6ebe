/**
 * A Map that keeps at most `capacity` entries, dropping the least recently used. For caches
 * whose keys come from clients (room names): without a bound, every name ever asked about
 * stays in memory.
 */
export class LruMap<K, V> {
  private readonly entries = new Map<K, V>();
  /**
   * The most recently used key: asked again, it is left where it is. Re-inserting leaves a
   * hole that the Map rehashes away every so often, and a busy room asks for its own entry on
   * every join (a profile of 4,000 joins into one room found the rehashes).
   */
  private newest: K | undefined;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`an LRU capacity must be a positive integer, got ${capacity}`);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined || key === this.newest) return value;
    // Map keeps insertion order: re-inserting makes this the most recent.
    this.entries.delete(key);
    this.entries.set(key, value);
    this.newest = key;
    return value;
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    this.newest = key;
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }

  delete(key: K): void {
    this.entries.delete(key);
    if (key === this.newest) this.newest = undefined;
  }
}
