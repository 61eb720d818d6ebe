import { LruMap } from "../store/lru-map.js";

/**
 * Addresses whose HTTP requests were just refused for their rate, each turned away at accept
 * until enough of its budget has come back. Node parses every request that came in one read
 * and hands each to the server, so one connection carrying 2,000 pipelined requests cost about
 * 24 ms of the event loop even when all but the first few were dropped unanswered; with a new
 * connection every few milliseconds, one address held a whole core (an audit, 103 %). A
 * socket turned away here is answered 429 and closed before any request on it is parsed.
 *
 * Keys are what the rate limit refused: an address's limit key, or an IPv6 site. At most
 * `capacity` are kept, least recently refused forgotten first (it then only gets the plain
 * rate limit again).
 */
export class CoolingAddresses {
  private readonly until: LruMap<string, number>;

  constructor(
    capacity: number,
    private readonly now: () => number = Date.now,
  ) {
    this.until = new LruMap(capacity);
  }

  /** `key` was refused: new sockets from it are turned away for `ms`. */
  cool(key: string, ms: number): void {
    this.until.set(key, this.now() + ms);
  }

  /** Milliseconds before `key` may open sockets again; 0 when it may now. */
  leftMs(key: string): number {
    const until = this.until.get(key);
    if (until === undefined) return 0;
    const left = until - this.now();
    if (left > 0) return left;
    this.until.delete(key);
    return 0;
  }
}
