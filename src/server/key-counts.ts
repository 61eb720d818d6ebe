/**
 * A count per key (a client address, an IPv6 site) of things that come and go: connections,
 * sockets, rooms opened. A key back at zero is forgotten, so the map holds only keys with
 * something counted, however many keys have come and gone.
 */
export class KeyCounts {
  private readonly counts = new Map<string, number>();

  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  add(key: string): void {
    this.counts.set(key, this.get(key) + 1);
  }

  /** One fewer under `key` (never below zero). */
  remove(key: string): void {
    const left = this.get(key) - 1;
    if (left > 0) this.counts.set(key, left);
    else this.counts.delete(key);
  }
}
