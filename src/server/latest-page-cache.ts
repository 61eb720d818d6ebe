/**
 * The newest page of each recently joined room, as the `joined` frame carries it to a join
 * without `since`, keyed by the room's latest seq. Every joiner of a room gets the same page
 * until a message is added, so when thousands join at once (a big room filling, everyone back
 * after a restart) the store is read once, not once per joiner: a profile of 5,000 joins into
 * one room spent a fifth of the server's time in that read. What is kept is up to the caller
 * (the hub keeps the `joined` frame's bytes up to its presence fields, encoded once).
 *
 * Sound because a stored message never changes: the same latest seq means the same newest
 * messages (retention only trims when a message is added, which moves the latest seq).
 * Bounded in bytes and in rooms (room names come from clients: an empty page per name ever
 * joined would grow without bound), least recently used out first.
 */
export class LatestPageCache<Page = string[]> {
  private readonly pages = new Map<string, { latest: number; page: Page; bytes: number }>();
  private bytes = 0;
  /** The room asked for last: asked again, it is left where it is (see LruMap.newest). */
  private newest: string | undefined;

  constructor(
    private readonly maxBytes: number,
    private readonly maxRooms = 256,
  ) {}

  /** The cached page of `room` at `latest`, or undefined. */
  get(room: string, latest: number): Page | undefined {
    const entry = this.pages.get(room);
    if (!entry || entry.latest !== latest) return undefined;
    if (room === this.newest) return entry.page;
    // Re-inserted: Map order is the LRU order.
    this.pages.delete(room);
    this.pages.set(room, entry);
    this.newest = room;
    return entry.page;
  }

  set(room: string, latest: number, page: Page, bytes: number): void {
    this.drop(room);
    if (bytes > this.maxBytes) return;
    this.pages.set(room, { latest, page, bytes });
    this.newest = room;
    this.bytes += bytes;
    for (const [oldest] of this.pages) {
      if (this.bytes <= this.maxBytes && this.pages.size <= this.maxRooms) break;
      this.drop(oldest);
    }
  }

  /** Forgets every page: the store's data changed under them (a new epoch), and a seq no longer names the same page. */
  clear(): void {
    this.pages.clear();
    this.bytes = 0;
    this.newest = undefined;
  }

  get size(): number {
    return this.pages.size;
  }
  get heldBytes(): number {
    return this.bytes;
  }

  private drop(room: string): void {
    const entry = this.pages.get(room);
    if (!entry) return;
    this.pages.delete(room);
    if (room === this.newest) this.newest = undefined;
    this.bytes -= entry.bytes;
  }
}
