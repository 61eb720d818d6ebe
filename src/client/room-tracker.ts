import type { ChatMessage } from "../protocol/messages.js";

interface RoomView {
  /** Highest seq delivered to the app; resume asks for everything after it. */
  lastSeq: number;
  /** Nicknames known to be online: all of them in a small room, a sample in a large one. */
  online: Set<string>;
  /** How many are online, by the server's latest word. */
  onlineCount: number;
  /** Whether a `joined` was ever received (first join vs. rejoin after reconnect). */
  everJoined: boolean;
  /** When a large room's sample of names may be asked for again (clock ms; see `sampleDue`). */
  sampleDueAt: number;
  /** The seq a recovered `joined`'s replay runs to (its `seq`); 0 when none was promised. */
  replayUntil: number;
}

/** The rooms the client is in, and how far into each it has read. */
export class RoomTracker {
  private readonly rooms = new Map<string, RoomView>();
  /** Store epoch the lastSeq values belong to. */
  epoch: string | undefined;

  add(room: string): boolean {
    if (this.rooms.has(room)) return false;
    this.rooms.set(room, { lastSeq: 0, online: new Set(), onlineCount: 0, everJoined: false, sampleDueAt: 0, replayUntil: 0 });
    return true;
  }
  remove(room: string): void {
    this.rooms.delete(room);
  }
  has(room: string): boolean {
    return this.rooms.has(room);
  }
  names(): string[] {
    return [...this.rooms.keys()];
  }
  /** `since` for a (re)join: undefined on the first join. */
  since(room: string): number | undefined {
    const v = this.rooms.get(room);
    return v?.everJoined ? v.lastSeq : undefined;
  }
  online(room: string): string[] {
    return [...(this.rooms.get(room)?.online ?? [])];
  }
  onlineCount(room: string): number {
    return this.rooms.get(room)?.onlineCount ?? 0;
  }

  /** Records a `joined` (its names a fresh sample, next due at `sampleDueAt`); returns whether it was the first. */
  joined(room: string, latestSeq: number, recovered: boolean, online: string[], onlineCount: number, sampleDueAt: number): boolean {
    const v = this.rooms.get(room);
    if (!v) return false;
    const first = !v.everJoined;
    v.everJoined = true;
    v.online = new Set(online);
    v.onlineCount = onlineCount;
    v.sampleDueAt = sampleDueAt;
    // Not recovered: the view restarts from the page the server sent, which ends at latestSeq.
    if (!recovered) v.lastSeq = latestSeq;
    v.replayUntil = recovered ? latestSeq : 0;
    return first;
  }

  /** Whether a recovered `joined` promised messages of `room` that have not all arrived yet. */
  replaying(room: string): boolean {
    const v = this.rooms.get(room);
    return v !== undefined && v.lastSeq < v.replayUntil;
  }

  /**
   * Classifies an incoming message: "new" (next in order, delivered), "old" (already seen:
   * a replay overlap), or "gap" (something is missing before it).
   */
  accept(m: ChatMessage): "new" | "old" | "gap" {
    const v = this.rooms.get(m.room);
    if (!v) return "old";
    if (m.seq <= v.lastSeq) return "old";
    if (m.seq !== v.lastSeq + 1) return "gap";
    v.lastSeq = m.seq;
    return "new";
  }

  /** The server's count (from `presence` or `who`). */
  setOnlineCount(room: string, count: number): void {
    const v = this.rooms.get(room);
    if (v) v.onlineCount = count;
  }

  /**
   * A `who` page. A first page replaces the names held (the whole list when it is also the
   * last, else a fresh sample, next due at `sampleDueAt`); a later page adds its names.
   */
  whoPage(room: string, names: string[], fromStart: boolean, sampleDueAt: number): void {
    const v = this.rooms.get(room);
    if (!v) return;
    if (fromStart) {
      v.online = new Set(names);
      v.sampleDueAt = sampleDueAt;
    } else {
      for (const name of names) v.online.add(name);
    }
  }

  /** Whether the names known disagree with the count (the room was large for a while). */
  listDrifted(room: string): boolean {
    const v = this.rooms.get(room);
    return v !== undefined && v.online.size !== v.onlineCount;
  }

  /**
   * When a large room's sample of names may be asked for again: a count-only `presence` says
   * only how many came and went, so names in the sample may have left.
   */
  sampleDueAt(room: string): number {
    return this.rooms.get(room)?.sampleDueAt ?? 0;
  }

  /** Applies a presence change; false when it changed nothing (already known). */
  presence(room: string, event: "join" | "leave", nick: string): boolean {
    const v = this.rooms.get(room);
    if (!v) return false;
    if (event === "join") {
      if (v.online.has(nick)) return false;
      v.online.add(nick);
      return true;
    }
    return v.online.delete(nick);
  }
}
