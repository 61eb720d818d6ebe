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
 */
export class RoomsOpened {
  /** Rooms open per address that opened them. */
  private readonly byAddress = new KeyCounts();

  constructor(private readonly maxPerAddress: number) {}

  /** Whether `address` may open one more room now. */
  mayOpen(address: string): boolean {
    return this.byAddress.get(address) < this.maxPerAddress;
  }

  opened(address: string): void {
    this.byAddress.add(address);
  }

  closed(address: string): void {
    this.byAddress.remove(address);
  }
}
