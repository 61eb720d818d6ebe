/** No rooms: one array for every connection that is in none. */
const NONE: readonly string[] = [];

/**
 * The rooms one connection is in, with the part of Set's interface the hub uses. A connection
 * is in few rooms (at most maxRooms, usually one or two), and every idle connection holds
 * this: an array of exactly its rooms is about 90 bytes for one room where a Set is about 150
 * (its hash table starts with room for several). Lookups scan, which for a few dozen names at
 * most is as fast as hashing.
 */
export class JoinedRooms implements Iterable<string> {
  /**
   * Replaced, never grown in place, and made by concat and slice, which size an array
   * exactly (spread, push and filter leave room for 17 elements).
   */
  private names: readonly string[] = NONE;

  get size(): number {
    return this.names.length;
  }

  has(room: string): boolean {
    return this.names.includes(room);
  }

  add(room: string): this {
    if (!this.names.includes(room)) this.names = this.names.concat(room);
    return this;
  }

  /** True when the room was there. */
  delete(room: string): boolean {
    const i = this.names.indexOf(room);
    if (i < 0) return false;
    this.names = this.names.length === 1 ? NONE : this.names.slice(0, i).concat(this.names.slice(i + 1));
    return true;
  }

  [Symbol.iterator](): Iterator<string> {
    return this.names[Symbol.iterator]();
  }
}
