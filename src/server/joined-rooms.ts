/** No rooms: one array for every connection that is in none. */
const NONE: readonly string[] = [];

/**
 * The rooms one connection is in, with the part of Set's interface the hub uses. A connection
 * is in few rooms (at most maxRooms, usually one), and every idle connection holds this, so it
 * is kept small: a Set is about 150 bytes for one room; an array of exactly one name is 56
 * (the array and its element store); the name itself is nothing more. Lookups scan, which for
 * a few dozen names at most is as fast as hashing.
 */
export class JoinedRooms implements Iterable<string> {
  /**
   * In one room: its name. In none or several: an array, replaced, never grown in place, made
   * by literals, concat and slice, which size an array exactly (spread, push and filter leave
   * room for 17 elements).
   */
  private names: string | readonly string[] = NONE;

  get size(): number {
    const names = this.names;
    return typeof names === "string" ? 1 : names.length;
  }

  has(room: string): boolean {
    const names = this.names;
    return typeof names === "string" ? names === room : names.includes(room);
  }

  add(room: string): this {
    if (this.has(room)) return this;
    const names = this.names;
    this.names = typeof names === "string" ? [names, room] : names.length === 0 ? room : names.concat(room);
    return this;
  }

  /** True when the room was there. */
  delete(room: string): boolean {
    const names = this.names;
    if (typeof names === "string") {
      if (names !== room) return false;
      this.names = NONE;
      return true;
    }
    const i = names.indexOf(room);
    if (i < 0) return false;
    this.names = names.length === 2 ? names[1 - i]! : names.slice(0, i).concat(names.slice(i + 1));
    return true;
  }

  [Symbol.iterator](): Iterator<string> {
    const names = this.names;
    return (typeof names === "string" ? [names] : names)[Symbol.iterator]();
  }
}
