import type { ChatMessage, ServerMessage } from "../protocol/messages.js";
import { ErrorCode } from "../protocol/messages.js";
import type { MessageStore } from "../store/message-store.js";
import type { Broker } from "./broker.js";
import type { ResolvedOptions } from "./options.js";
import { NicknameRegistry, validName } from "./nicknames.js";
import { Room } from "./room.js";
import { PresenceBatcher } from "./presence-batcher.js";
import type { FanoutTarget } from "./fanout.js";
import type { ReplyPager } from "./reply-pager.js";
import { ReplayGate } from "./replay-gate.js";
import { HistoryPage, RoomCatchUp, type CatchUpSettings } from "./room-catch-up.js";

/** What the hub needs of a connection. */
export interface Member extends FanoutTarget {
  readonly nick: string;
  readonly clientId: string;
  readonly rooms: Set<string>;
  send(message: ServerMessage): void;
  sendFrame(frame: Buffer): void;
  readonly isOpen: boolean;
  /** Where paged replies (join catch-ups, history pages) wait for the socket to drain. */
  readonly replies: ReplyPager;
}

const MAX_ROOM_NAME = 64;
const frameOf = (message: ServerMessage): Buffer => Buffer.from(JSON.stringify(message));

/**
 * Rooms, presence, history and message flow for all connections of this node. Messages are
 * stored first and broadcast after the store confirms, so everything a client sees is durable.
 */
export class ChatHub {
  readonly nicknames = new NicknameRegistry();
  private readonly rooms = new Map<string, Room>();
  private readonly presence: PresenceBatcher;
  private readonly catchUp: CatchUpSettings;

  constructor(
    private readonly store: MessageStore,
    private readonly broker: Broker,
    private readonly options: ResolvedOptions,
  ) {
    const { historyLimit, maxReplay, maxReplayBytes, maxConcurrentReplays } = options;
    this.catchUp = { store, gate: new ReplayGate(maxConcurrentReplays), historyLimit, maxReplay, maxReplayBytes, messageFrame: (m) => frameOf(messageFrame(m)) };
    this.presence = new PresenceBatcher(options.presenceBatchMs, (room, changes) => {
      this.rooms.get(room)?.presenceFlushed();
      broker.publish(room, frameOf({ type: "presence", room, changes }), 0);
    });
  }

  get roomCount(): number {
    return this.rooms.size;
  }
  get epoch(): string {
    return this.store.epoch;
  }

  join(member: Member, room: string, since?: number, epoch?: string): void {
    if (!validName(room, MAX_ROOM_NAME)) {
      return member.send({ type: "error", code: ErrorCode.BadRoom, message: `a room name is 1-${MAX_ROOM_NAME} printable characters`, ref: room.slice(0, MAX_ROOM_NAME) });
    }
    if (member.rooms.has(room)) return; // idempotent; a rejoin after reconnect is a new connection
    if (member.rooms.size >= this.options.maxRooms) {
      return member.send({ type: "error", code: ErrorCode.TooManyRooms, message: `at most ${this.options.maxRooms} rooms per connection`, ref: room });
    }
    if (!this.rooms.has(room) && this.rooms.size >= this.options.maxRoomsAlive) {
      return member.send({ type: "error", code: ErrorCode.TooManyRooms, message: "this server has as many rooms open as it may; try again later", ref: room });
    }
    member.rooms.add(room);
    const state = this.roomFor(room);
    if (state.addPresence(member.nick)) this.presence.add(room, { event: "join", nick: member.nick });
    // Hold live frames from here on; history is read asynchronously and must come first.
    const held = state.startSync(member);
    const reply = new RoomCatchUp(this.catchUp, { room, ...(since !== undefined ? { since } : {}), ...(epoch !== undefined ? { epoch } : {}) }, {
      onlineJson: () => {
        this.presence.snapshot(room);
        return state.onlineJsonFor(member.nick);
      },
      stillWanted: () => member.isOpen && state.holds(member, held),
      release: (deliveredSeq) => {
        for (const frame of state.finishSync(member, deliveredSeq)) member.sendFrame(frame.frame);
      },
      failed: (err) => {
        this.options.log(`join ${room} failed: ${err.message}`);
        this.leave(member, room, "error");
        member.send({ type: "error", code: ErrorCode.StoreFailed, message: "could not read the room's history; try again", ref: room });
      },
    });
    if (!member.replies.enqueue(reply)) {
      this.leave(member, room, "error");
      member.send(tooManyReplies(room));
    }
  }

  leave(member: Member, room: string, reason: "left" | "closed" | "timeout" | "error"): void {
    if (!member.rooms.delete(room)) return;
    const state = this.rooms.get(room);
    if (!state) return;
    state.remove(member);
    if (state.removePresence(member.nick)) this.presence.add(room, { event: "leave", nick: member.nick, reason });
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

  history(member: Member, room: string, before: number, limit?: number): void {
    if (!member.rooms.has(room)) {
      return member.send({ type: "error", code: ErrorCode.NotInRoom, message: `join '${room.slice(0, MAX_ROOM_NAME)}' before reading its history`, ref: room });
    }
    const n = Math.max(1, Math.min(limit ?? this.options.historyLimit, this.options.historyLimit));
    const reply = new HistoryPage(this.store, { room, before, limit: n }, (err) => {
      this.options.log(`history of ${room} failed: ${err.message}`);
      member.send({ type: "error", code: ErrorCode.StoreFailed, message: "could not read history; try again", ref: room });
    });
    if (!member.replies.enqueue(reply)) member.send(tooManyReplies(room));
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

/** A member has as many paged replies queued as it may: the request is refused, it may retry. */
const tooManyReplies = (room: string): ServerMessage => ({
  type: "error",
  code: ErrorCode.RateLimited,
  message: "too many joins and history requests waiting for this connection; try again shortly",
  ref: room,
  retryAfterMs: 1_000,
});

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
