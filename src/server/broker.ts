/**
 * Carries a room's frames to every node that has members in it. The in-process broker
 * delivers synchronously on this node; a Redis engine can replace it to span machines, the way
 * Socket.IO's adapter does. Frames are already serialized: a node serializes a message once.
 */
export interface Broker {
  /** Start receiving a room's frames on this node (one subscription per room). */
  subscribe(room: string, deliver: (frame: Buffer, seq: number) => void): void;
  unsubscribe(room: string): void;
  /** `seq` is the chat message's sequence number, 0 for other frames (presence). */
  publish(room: string, frame: Buffer, seq: number): void;
  close(): Promise<void>;

  // Brokers that span nodes (Redis) also carry presence and nickname holds across them.
  /** true when other nodes serve the same rooms. Default false. */
  readonly spansNodes?: boolean;
  /** Resolves once frames published from now on reach this node, so a history read after it misses nothing. */
  whenSubscribed?(room: string): Promise<void>;
  /** A nickname came online in a room on this node. */
  memberJoined?(room: string, nick: string): void;
  /** A nickname's last connection in a room on this node went. */
  memberLeft?(room: string, nick: string): void;
  /** A room's presence batch went out with nothing in it: its changes all cancelled out. */
  presenceCancelled?(room: string): void;
  /**
   * Nicknames online in the room through other nodes, sorted (code-unit order, as
   * `Array.prototype.sort`). The same array may be handed to every caller until the room's
   * presence changes: read it, never change it.
   */
  onlineElsewhere?(room: string): Promise<readonly string[]>;
  /**
   * Whether the room was lately found to have more than `onlineListMax` online on all nodes
   * together, so this node batches its presence as a large room's even with few members here.
   */
  roomIsLarge?(room: string): boolean;
  /**
   * Called when the node loses (false) or regains (true) its link to the shared store for
   * longer than the liveness bound: cut off, it can neither store nor fan out, so its clients
   * are sent to another node.
   */
  onAvailability?(listener: (available: boolean) => void): void;
  /**
   * Called when the shared store's data was found to have less than it acknowledged (see
   * DataLossGuard) and the store took a new epoch: every seq known under the old one means
   * nothing any more, so the node's clients must resync.
   */
  onEpochChange?(listener: (change: EpochChange) => void): void;
}

/**
 * Why the store's epoch changed under a running node: `epoch_missing`, the data was gone (the
 * epoch with it); `epoch_changed`, Redis held another epoch (another node renewed it first, or
 * an operator restored the data); `seq_went_back`, a room's seq in Redis was below what this
 * node had delivered.
 */
export type EpochChangeCause = "epoch_missing" | "epoch_changed" | "seq_went_back";

export interface EpochChange {
  previous: string;
  epoch: string;
  cause: EpochChangeCause;
  /** What was found, in a sentence (for the log). */
  detail: string;
}

export class LocalBroker implements Broker {
  private readonly rooms = new Map<string, (frame: Buffer, seq: number) => void>();

  subscribe(room: string, deliver: (frame: Buffer, seq: number) => void): void {
    this.rooms.set(room, deliver);
  }
  unsubscribe(room: string): void {
    this.rooms.delete(room);
  }
  publish(room: string, frame: Buffer, seq: number): void {
    this.rooms.get(room)?.(frame, seq);
  }
  async close(): Promise<void> {
    this.rooms.clear();
  }
}
