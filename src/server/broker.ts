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
