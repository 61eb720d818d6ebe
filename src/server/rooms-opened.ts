import { IPV6_SITE_SHARE, siteKeyOf } from "./client-address.js";
import { KeyCounts } from "./key-counts.js";

/**
 * How many of this node's open rooms each client address opened, against a budget per address.
 *
 * `maxRoomsAlive` bounds the memory that rooms take (about 1 KB each), but alone it is a
 * lockout: a few addresses, each with its connections in `maxRooms` fresh rooms, fill it, and
 * nobody else can open a room until they leave. With a budget per address, filling it takes
 * as many addresses as filling `maxConnections` does at the defaults.
 *
 * A room is charged to the address that opened it for as long as the room is open, whoever is
 * in it later: moving the charge to the members still in it would let two addresses open rooms
 * without end (one opens, the other joins, the opener leaves and opens the next), and would
 * let an opener push its charge onto whoever it invited.
 *
 * The /64s of an IPv6 /48 (siteKeyOf) also share a budget of IPV6_SITE_SHARE times an
 * address's, as they share a connection cap of that many addresses' worth: with budgets per /64
 * only, one /48 (free from tunnel brokers) filled all 10,000 rooms in 14 s from 250 of its
 * /64s, 4 connections each, its cap of 1,000 (bench/room-lockout.ts --ipv6-site).
 */
export class RoomsOpened {
  /** Rooms open per address (the limit key) that opened them. */
  private readonly byAddress = new KeyCounts();
  /** The same, per IPv6 site of those addresses. */
  private readonly bySite = new KeyCounts();

  constructor(private readonly maxPerAddress: number) {}

  /** Null when `address` may open one more room now; else whose budget is spent. */
  mayOpen(address: string): "address" | "network" | null {
    if (this.byAddress.get(address) >= this.maxPerAddress) return "address";
    const site = siteKeyOf(address);
    return site !== null && this.bySite.get(site) >= this.maxPerAddress * IPV6_SITE_SHARE ? "network" : null;
  }

  opened(address: string): void {
    this.byAddress.add(address);
    const site = siteKeyOf(address);
    if (site !== null) this.bySite.add(site);
  }

  closed(address: string): void {
    this.byAddress.remove(address);
    const site = siteKeyOf(address);
    if (site !== null) this.bySite.remove(site);
  }
}
