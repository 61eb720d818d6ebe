import { AddressRanges, parseRange, type AddressRange } from "./address-ranges.js";
import { limitKeyAddress } from "./client-address.js";
import { formatIp, maskBytes, type IpAddress } from "./ip-address.js";

/** Entries a deny list may hold: far more than an operator types, few enough to check at once. */
export const MAX_DENY_ENTRIES = 100_000;
/** The longest user id an entry may name (a token's `sub` is at most as long). */
const MAX_USER_ID_LENGTH = 256;
const USER_PREFIX = "user:";
/** The close reason a denied user or address reads (close code 4500: do not reconnect). */
export const DENIED_TEXT = "denied by this server's operator";
/** Bad entries quoted in one refusal: enough to fix a file, short enough to log. */
const QUOTED_PROBLEMS = 5;

/**
 * Whom the server's operator has shut out: client addresses, one address or a CIDR range
 * (`203.0.113.7`, `203.0.113.0/24`, `2001:db8:5::/48`), and users (`user:<userId>`).
 *
 * An address is matched as the per-address limits count it (ClientAddress.limitKey: IPv4 whole,
 * IPv6 by its first `ipv6PrefixBits`), so an IPv6 entry may not be narrower than that prefix: a
 * host usually holds a whole /64 and would step to the next address. Matching by the key also
 * lets the server test the connections it already has, which keep nothing but the key.
 *
 * A user entry holds in token mode for as long as the login issues that `sub`; in anonymous mode
 * an identity is as cheap as dropping the resume token, so there the address is the lever.
 */
export class DenyList {
  private ranges = new AddressRanges([]);
  private users = new Set<string>();

  constructor(private readonly ipv6PrefixBits: number) {}

  get size(): number {
    return this.ranges.size + this.users.size;
  }

  /** Replaces the whole list; on a bad entry throws a RangeError quoting it, and the list stays as it was. */
  replace(entries: readonly string[]): void {
    if (entries.length > MAX_DENY_ENTRIES) throw new RangeError(`denied: ${entries.length} entries, at most ${MAX_DENY_ENTRIES}`);
    const ranges: AddressRange[] = [];
    const users = new Set<string>();
    const problems: string[] = [];
    for (const raw of entries) {
      const entry = typeof raw === "string" ? raw.trim() : "";
      const problem = this.read(entry, ranges, users);
      if (problem !== null) problems.push(`"${String(raw).slice(0, 80)}" ${problem}`);
    }
    if (problems.length > 0) {
      const more = problems.length > QUOTED_PROBLEMS ? `; and ${problems.length - QUOTED_PROBLEMS} more` : "";
      throw new RangeError(`denied: ${problems.slice(0, QUOTED_PROBLEMS).join("; ")}${more}`);
    }
    this.ranges = new AddressRanges(ranges);
    this.users = users;
  }

  /** Whether the client whose limit key (see ClientAddress.limitKey) this is may not connect. */
  deniesAddress(limitKey: string): boolean {
    if (this.ranges.size === 0) return false;
    const address = limitKeyAddress(limitKey);
    return address !== null && this.ranges.has(address);
  }

  deniesUser(userId: string): boolean {
    return this.users.size > 0 && this.users.has(userId);
  }

  /** Adds one entry to `ranges` or `users`; or says what is wrong with it. */
  private read(entry: string, ranges: AddressRange[], users: Set<string>): string | null {
    if (entry.startsWith(USER_PREFIX)) {
      const userId = entry.slice(USER_PREFIX.length);
      if (userId.length === 0 || userId.length > MAX_USER_ID_LENGTH) return `names no user id of 1-${MAX_USER_ID_LENGTH} characters`;
      users.add(userId);
      return null;
    }
    const range = parseRange(entry);
    if (typeof range === "string") return `${range} (nor user:<id>)`;
    if (range.family === 6 && range.bits > this.ipv6PrefixBits) {
      const prefix: IpAddress = { family: 6, bytes: maskBytes(range.bytes, this.ipv6PrefixBits), zone: "" };
      const widened = `${formatIp(prefix)}/${this.ipv6PrefixBits}`;
      return `is narrower than the /${this.ipv6PrefixBits} an IPv6 client is counted by (ipv6PrefixBits): a host usually holds the whole prefix; deny ${widened}`;
    }
    ranges.push(range);
    return null;
  }
}
