import type { ChatMessage, JoinedMessage, ServerMessage } from "../protocol/messages.js";
import { ErrorCode } from "../protocol/messages.js";
import type { MessageStore } from "../store/message-store.js";
import type { Broker } from "./broker.js";
import type { ResolvedOptions } from "./options.js";
import { NicknameRegistry, validName } from "./nicknames.js";
import { Room } from "./room.js";
import { PresenceBatcher } from "./presence-batcher.js";
import type { FanoutTarget } from "./fanout.js";

/** What the hub needs of a connection. */
export interface Member extends FanoutTarget {
  readonly nick: string;
  readonly clientId: string;
  readonly rooms: Set<string>;
  send(message: ServerMessage): void;
  sendFrame(frame: Buffer): void;
  readonly isOpen: boolean;
}

const MAX_ROOM_NAME = 64;
/** A `who` cursor is a nickname; anything much longer than one is not. */
const MAX_WHO_AFTER = 256;
const frameOf = (message: ServerMessage): Buffer => Buffer.from(JSON.stringify(message));

/**
 * Rooms, presence, history and message flow for all connections of this node. Messages are
 * stored first and broadcast after the store confirms, so everything a client sees is durable.
 */
export class ChatHub {
  readonly nicknames = new NicknameRegistry();
  private readonly rooms = new Map<string, Room>();
  private readonly presence: PresenceBatcher;

  constructor(
    private readonly store: MessageStore,
    private readonly broker: Broker,
    private readonly options: ResolvedOptions,
  ) {
    this.presence = new PresenceBatcher((room, changes) => {
      const state = this.rooms.get(room);
      state?.presenceFlushed();
      const count = state?.onlineCount ?? 0;
      // A large room hears only its count: names for every arrival would cost O(n^2) to fill it.
      broker.publish(room, frameOf({ type: "presence", room, changes: count > options.onlineListMax ? [] : changes, count }), 0);
    });
  }

  get roomCount(): number {
    return this.rooms.size;
  }
  get epoch(): string {
    return this.store.epoch;
  }

  async join(member: Member, room: string, since?: number, epoch?: string): Promise<void> {
    if (!validName(room, MAX_ROOM_NAME)) {
      return member.send({ type: "error", code: ErrorCode.BadRoom, message: `a room name is 1-${MAX_ROOM_NAME} printable characters`, ref: room.slice(0, MAX_ROOM_NAME) });
    }
    // A join of a room the connection is already in is served like the first (the client may
    // have lost track of it); presence does not change.
    const again = member.rooms.has(room);
    if (!again && member.rooms.size >= this.options.maxRooms) {
      return member.send({ type: "error", code: ErrorCode.TooManyRooms, message: `at most ${this.options.maxRooms} rooms per connection`, ref: room });
    }
    member.rooms.add(room);
    const state = this.roomFor(room);
    if (!again && state.addPresence(member.nick)) this.presence.add(room, { event: "join", nick: member.nick }, this.presenceWindowMs(state));
    // Hold live frames from here on; history is read asynchronously and must come first.
    state.startSync(member);
    try {
      const { messages, recovered, latest } = await this.readForJoin(room, since, epoch);
      if (!member.isOpen || !member.rooms.has(room)) return;
      member.sendFrame(joinedFrame({ type: "joined", room, seq: latest, recovered, messages }, state.onlineJsonFor(member.nick, this.options.onlineListMax), state.onlineCount));
      const delivered = messages.length ? messages[messages.length - 1]!.seq : latest;
      for (const held of state.finishSync(member, Math.max(delivered, since ?? 0))) member.sendFrame(held.frame);
    } catch (err) {
      this.options.log(`join ${room} failed: ${(err as Error).message}`);
      this.leave(member, room, "error");
      member.send({ type: "error", code: ErrorCode.StoreFailed, message: "could not read the room's history; try again", ref: room });
    }
  }

  /** What a joining client gets: the gap since `since`, or the latest page when it can't be served. */
  private async readForJoin(room: string, since: number | undefined, epoch: string | undefined) {
    const { historyLimit, maxReplay } = this.options;
    const [latest, first] = await Promise.all([this.store.latestSeq(room), this.store.firstSeq(room)]);
    const resumable =
      since !== undefined &&
      epoch === this.store.epoch &&
      since >= 0 &&
      since <= latest &&
      latest - since <= maxReplay &&
      // Everything after `since` must still be held: nothing trimmed between.
      (latest === since || first <= since + 1);
    if (resumable) {
      const messages = latest > since ? await this.store.readAfter(room, since, latest - since) : [];
      return { messages, recovered: true, latest };
    }
    const messages = await this.store.readBefore(room, latest + 1, historyLimit);
    return { messages, recovered: false, latest };
  }

  leave(member: Member, room: string, reason: "left" | "closed" | "timeout" | "error"): void {
    if (!member.rooms.delete(room)) return;
    const state = this.rooms.get(room);
    if (!state) return;
    state.remove(member);
    if (state.removePresence(member.nick)) this.presence.add(room, { event: "leave", nick: member.nick, reason }, this.presenceWindowMs(state));
    if (state.size === 0) {
      this.rooms.delete(room);
      this.broker.unsubscribe(room);
    }
  }

  /** Leaves every room: the connection is gone. Nothing of it stays reachable from the hub. */
  disconnect(member: Member, reason: "closed" | "timeout"): void {
    for (const room of [...member.rooms]) this.leave(member, room, reason);
    if (member.nick) this.nicknames.release(member.nick);
  }

  async send(member: Member, room: string, id: string, text: string): Promise<void> {
    if (!member.rooms.has(room)) {
      return member.send({ type: "error", code: ErrorCode.NotInRoom, message: `join '${room.slice(0, MAX_ROOM_NAME)}' before sending to it`, ref: id });
    }
    if (text.length > this.options.maxTextLength || text.length === 0 || id.length === 0 || id.length > 128) {
      return member.send({ type: "error", code: ErrorCode.TextTooLong, message: `a message is 1-${this.options.maxTextLength} characters with an id of 1-128`, ref: id });
    }
    let result;
    try {
      result = await this.store.append({ room, clientId: member.clientId, id, from: member.nick, text, ts: Date.now() });
    } catch (err) {
      this.options.log(`append to ${room} failed: ${(err as Error).message}`);
      return member.send({ type: "error", code: ErrorCode.StoreFailed, message: "the message was not stored; send it again", ref: id });
    }
    const m = result.message;
    // The ack goes first: after a reconnect the client must know the id is settled before it
    // sees the message, or it would resend it.
    member.send({ type: "ack", room, id, seq: m.seq, ts: m.ts, duplicate: result.duplicate });
    if (!result.duplicate) this.broker.publish(room, frameOf(messageFrame(m)), m.seq);
  }

  async history(member: Member, room: string, before: number, limit?: number): Promise<void> {
    if (!member.rooms.has(room)) {
      return member.send({ type: "error", code: ErrorCode.NotInRoom, message: `join '${room.slice(0, MAX_ROOM_NAME)}' before reading its history`, ref: room });
    }
    const n = Math.max(1, Math.min(limit ?? this.options.historyLimit, this.options.historyLimit));
    try {
      // One extra row tells whether older messages exist.
      const rows = await this.store.readBefore(room, before, n + 1);
      const hasMore = rows.length > n;
      member.send({ type: "history", room, messages: hasMore ? rows.slice(1) : rows, hasMore });
    } catch (err) {
      this.options.log(`history of ${room} failed: ${(err as Error).message}`);
      member.send({ type: "error", code: ErrorCode.StoreFailed, message: "could not read history; try again", ref: room });
    }
  }

  /** A page of the room's online list. */
  who(member: Member, room: string, after?: string, limit?: number): void {
    const state = member.rooms.has(room) ? this.rooms.get(room) : undefined;
    if (!state) {
      return member.send({ type: "error", code: ErrorCode.NotInRoom, message: `join '${room.slice(0, MAX_ROOM_NAME)}' before listing who is in it`, ref: room.slice(0, MAX_ROOM_NAME) });
    }
    if (after !== undefined && after.length > MAX_WHO_AFTER) {
      return member.send({ type: "error", code: ErrorCode.BadMessage, message: `'who': field 'after' is at most ${MAX_WHO_AFTER} characters`, ref: room });
    }
    const max = this.options.onlineListMax;
    const page = state.onlinePage(after, Math.max(1, Math.min(limit ?? max, max)));
    member.send({ type: "who", room, count: state.onlineCount, online: page.online, more: page.more });
  }

  /** Small rooms batch presence briefly (names matter); large ones send their count rarely. */
  private presenceWindowMs(state: Room): number {
    return state.onlineCount > this.options.onlineListMax ? this.options.largeRoomPresenceMs : this.options.presenceBatchMs;
  }

  private roomFor(name: string): Room {
    let room = this.rooms.get(name);
    if (!room) {
      const created = new Room(name);
      room = created;
      this.rooms.set(name, created);
      this.broker.subscribe(name, (frame, seq) => created.deliver(frame, seq));
    }
    return room;
  }
}

/** A `joined` frame with an online list that is already JSON (spliced in, not re-encoded). */
function joinedFrame(joined: Omit<JoinedMessage, "online" | "onlineCount">, onlineJson: string, onlineCount: number): Buffer {
  const head = JSON.stringify(joined);
  return Buffer.from(`${head.slice(0, -1)},"online":${onlineJson},"onlineCount":${onlineCount}}`);
}

const messageFrame = (m: ChatMessage): ServerMessage => ({
  type: "message",
  room: m.room,
  seq: m.seq,
  clientId: m.clientId,
  id: m.id,
  from: m.from,
  text: m.text,
  ts: m.ts,
});
