import type { ChatMessage, ErrorMessage, ServerMessage } from "../protocol/messages.js";
import { ErrorCode } from "../protocol/messages.js";
import { checkText, normalizeName } from "../protocol/names.js";
import { toWire } from "../store/message-store.js";
import type { PulseStore } from "../store/identity-store.js";
import type { Broker } from "./broker.js";
import type { ResolvedOptions } from "./options.js";
import { Nicknames } from "./nicknames.js";
import { roomAllowed } from "./identity/identity.js";
import { pageOf, Room, type SyncingMember } from "./room.js";
import { PresenceBatcher, type BatchTiming } from "./presence-batcher.js";
import type { PagedReply } from "./reply-pager.js";
import type { JoinedRooms } from "./joined-rooms.js";
import { RoomsOpened } from "./rooms-opened.js";
import { IPV6_SITE_SHARE } from "./client-address.js";
import { ReplayGate } from "./replay-gate.js";
import { HistoryPage, RoomCatchUp, type CatchUpSettings } from "./room-catch-up.js";
import { LatestPageCache } from "./latest-page-cache.js";
import type { Metrics } from "./metrics.js";

/** What the hub needs of a connection. */
export interface Member extends SyncingMember {
  readonly nick: string;
  /** The server's word on who this is (see identity/). */
  readonly userId: string;
  readonly clientId: string;
  /** What the client's per-address limits count by (see ClientAddress.limitKey). */
  readonly ip: string;
  /** Rooms this identity may join: exact names and `prefix*`; undefined: all. */
  readonly allowedRooms: readonly string[] | undefined;
  /** Rooms this identity may write in (see Identity.write); undefined: all but the server's read-only rooms. */
  readonly writeRooms: readonly string[] | undefined;
  readonly rooms: JoinedRooms;
  send(message: ServerMessage): void;
  sendFrame(frame: Buffer): void;
  readonly isOpen: boolean;
  /** Queues a paged reply (a join's catch-up, a history page) to go out as the socket drains; false when too many wait. */
  enqueueReply(reply: PagedReply): boolean;
  /** Whether enqueueReply would take a reply now (the connection is open and its queue has room). */
  mayEnqueueReply(): boolean;
  /**
   * Charges the replay of a gap of `messages` to the member's `history` limits, as the same
   * messages would cost in `history` pages beyond the one a join carries anyway; false
   * (nothing charged) when they cannot pay for it now.
   */
  mayReplay(messages: number): boolean;
  /**
   * A `history` page of `bytes` was built: it costs one more `history` request per
   * HISTORY_BYTES_PER_REQUEST beyond the first, taken whether or not the limits still have them
   * (an empty bucket stays empty), so the next requests wait.
   */
  chargeHistoryBytes(bytes: number): void;
}

const MAX_ROOM_NAME = 64;
/** A `who` cursor is a nickname; anything much longer than one is not. */
const MAX_WHO_AFTER = 256;
/** Client ids and message ids: visible ASCII, so they log and compare without surprises. */
const ID_PATTERN = /^[\x21-\x7e]{1,128}$/;
export const validId = (id: string): boolean => ID_PATTERN.test(id);
/**
 * Expired nickname holds are forgotten this often: a small share of the shortest hold (10 min),
 * so what a flood of drive-by names leaves in the store is bounded by that hold, not by this.
 */
const NICKNAME_PURGE_MS = 60 * 1000;
/** Bytes of rooms' newest pages kept for the joins that follow (a page is at most 240 KiB). */
const LATEST_PAGES_BYTES = 4 * 1024 * 1024;
const frameOf = (message: ServerMessage): Buffer => Buffer.from(JSON.stringify(message));
/** Ends a `joined` frame's presence fields for a member who may not write in the room. */
const READ_ONLY_FIELD = Buffer.from(`,"readOnly":true`);

/**
 * Rooms, presence, history and message flow for all connections of this node. Messages are
 * stored first and broadcast after the store confirms, so everything a client sees is durable.
 */
export class ChatHub {
  readonly nicknames: Nicknames;
  private readonly rooms = new Map<string, Room>();
  private readonly roomsOpened: RoomsOpened;
  private readonly presence: PresenceBatcher;
  private readonly purgeTimer: NodeJS.Timeout;
  private readonly catchUp: CatchUpSettings;

  constructor(
    private readonly store: PulseStore,
    private readonly broker: Broker,
    private readonly options: ResolvedOptions,
    readonly metrics: Metrics,
  ) {
    this.roomsOpened = new RoomsOpened(options.maxRoomsOpenedPerIp);
    this.nicknames = new Nicknames(store, { minMs: options.nicknameHoldMinMs, maxMs: options.nicknameHoldMs }, options.log);
    // Other nodes see only the store: keep online holders' holds fresh there.
    if (broker.spansNodes) this.nicknames.keepHoldsFresh();
    const purge = () => this.nicknames.purgeExpired().catch((err: Error) => options.log(`nickname purge failed: ${err.message}`, { event: "nickname_store_failed", err: err.message }));
    void purge();
    this.purgeTimer = setInterval(purge, NICKNAME_PURGE_MS);
    this.purgeTimer.unref();
    const { historyLimit, maxReplay, maxReplayBytes, maxConcurrentReplays } = options;
    this.catchUp = {
      store,
      gate: new ReplayGate(maxConcurrentReplays),
      historyLimit,
      maxReplay,
      maxReplayBytes,
      messageFrame: (m) => frameOf(messageFrame(m)),
      messageFrameBytes: (m) => Buffer.byteLength(JSON.stringify(messageFrame(m))),
      latestPages: new LatestPageCache(LATEST_PAGES_BYTES),
    };
    this.presence = new PresenceBatcher((room, changes) => {
      const state = this.rooms.get(room);
      const count = state?.onlineCount ?? 0;
      // A large room hears only its count: names for every arrival would cost O(n^2) to fill it.
      const countOnly = count > options.onlineListMax || broker.roomIsLarge?.(room) === true;
      state?.presenceFlushed(countOnly ? Date.now() : undefined);
      // Several nodes: the changes go to the store's script all the same. It keeps who was
      // announced by them, and leaves the names out when the room is large on all nodes.
      broker.publish(room, frameOf({ type: "presence", room, changes: countOnly && !broker.spansNodes ? [] : changes, count }), 0);
    }, (room) => broker.presenceCancelled?.(room));
  }

  close(): void {
    clearInterval(this.purgeTimer);
    this.nicknames.stop();
    // The last leaves go out now, before the broker closes: other nodes' clients must see them.
    this.presence.flush();
  }

  get roomCount(): number {
    return this.rooms.size;
  }
  get epoch(): string {
    return this.store.epoch;
  }

  /**
   * The store took a new epoch (its data lost what it had acknowledged): what the hub keeps by
   * a room's seq is of the data given up. The newest pages are keyed by the room's latest seq,
   * which the new data hands out again for other messages.
   */
  epochChanged(): void {
    this.catchUp.latestPages?.clear();
  }

  /** The room's name as the server knows it (NFKC), or null after telling the member why not. */
  private roomName(member: Member, requested: string): string | null {
    const checked = normalizeName(requested, MAX_ROOM_NAME);
    if (!checked.ok) {
      member.send(badRoom(requested, checked.reason));
      return null;
    }
    if (!roomAllowed(member.allowedRooms, checked.name)) {
      member.send({ type: "error", code: ErrorCode.Forbidden, message: `you may not join or read '${checked.name}'`, ref: checked.name });
      return null;
    }
    return checked.name;
  }

  /**
   * Answers a send with an error that is not the store's (its client must not resend it as it
   * is), and counts it: nothing for the sender's order to wait on.
   */
  private refused(member: Member, error: ErrorMessage): StoreVerdict {
    this.metrics.countRefused(error.code);
    member.send(error);
    return null;
  }

  /** Whether the member may send to `room`: its identity's `write` list, else any room but the read-only ones. */
  private mayWrite(member: Member, room: string): boolean {
    if (member.writeRooms !== undefined) return roomAllowed(member.writeRooms, room);
    return this.options.readOnlyRooms.length === 0 || !roomAllowed(this.options.readOnlyRooms, room);
  }

  join(member: Member, requested: string, since?: number, epoch?: string): void {
    const room = this.roomName(member, requested);
    if (room === null) return;
    // A join of a room the connection is already in is served like the first (the client may
    // have lost track of it); presence does not change.
    const again = member.rooms.has(room);
    if (!again && member.rooms.size >= this.options.maxRooms) {
      return member.send({ type: "error", code: ErrorCode.TooManyRooms, message: `at most ${this.options.maxRooms} rooms per connection`, ref: room });
    }
    if (!this.rooms.has(room)) {
      if (this.rooms.size >= this.options.maxRoomsAlive) {
        return member.send({ type: "error", code: ErrorCode.TooManyRooms, message: "this server has as many rooms open as it may; try again later", ref: room });
      }
      const spent = this.roomsOpened.mayOpen(member.ip);
      if (spent !== null) {
        const budget = spent === "address" ? `your address has ${this.options.maxRoomsOpenedPerIp}` : `your network (IPv6 /48) has ${this.options.maxRoomsOpenedPerIp * IPV6_SITE_SHARE}`;
        return member.send({ type: "error", code: ErrorCode.TooManyRooms, message: `${budget} rooms open; join one that is open, or try again when one of yours closes`, ref: room });
      }
    }
    // Refused before anything changes: a join of a room the member is in, refused after its
    // live frames were held, took it out of the room (others saw a leave, it saw no `left`).
    if (!member.mayEnqueueReply()) return member.send(tooManyReplies(room));
    member.rooms.add(room);
    const state = this.roomFor(room, member.ip);
    if (!again && state.addPresence(member.nick)) {
      this.presence.add(room, { event: "join", nick: member.nick }, this.presenceTiming(state));
      this.broker.memberJoined?.(room, member.nick);
    }
    // Hold live frames from here on; history is read asynchronously and must come first.
    const held = state.startSync(member);
    // Several nodes (Redis): the history is read once this node receives the room's frames,
    // and the online list includes the names online through the other nodes.
    let elsewhere: readonly string[] = [];
    const spansNodes = this.broker.whenSubscribed !== undefined || this.broker.onlineElsewhere !== undefined;
    const reply = new RoomCatchUp(this.catchUp, { room, ...(since !== undefined ? { since } : {}), ...(epoch !== undefined ? { epoch } : {}) }, {
      // A single node has nothing to wait for: no turn of the microtask queue per joiner.
      ...(spansNodes
        ? {
            prepare: async () => {
              await this.broker.whenSubscribed?.(room);
              elsewhere = (await this.broker.onlineElsewhere?.(room)) ?? [];
            },
          }
        : {}),
      onlineFields: () => {
        this.presence.snapshot(room, member.nick);
        const online = withNames(state, member.nick, elsewhere, this.options.onlineListMax);
        const fields = [state.onlineFieldHead(online.json), Buffer.from(String(online.count))];
        return this.mayWrite(member, room) ? fields : [...fields, READ_ONLY_FIELD];
      },
      stillWanted: () => member.isOpen && state.holds(member, held),
      mayReplay: (messages) => member.mayReplay(messages),
      answered: (recovered, replayed) => this.metrics.countJoin(since, recovered, replayed),
      release: (deliveredSeq) => {
        for (const held of state.finishSync(member, deliveredSeq)) {
          member.sendFrame(held.frame);
          this.metrics.countDelivered(held.seq, 1);
        }
      },
      failed: (err) => {
        this.options.log(`join ${room} failed: ${err.message}`, { event: "store_failed", op: "join", room, user: member.userId, err: err.message });
        this.leave(member, room, "error");
        member.send(storeFailed("could not read the room's history; join again", room));
      },
    });
    if (!member.enqueueReply(reply)) {
      this.leave(member, room, "error");
      member.send(tooManyReplies(room));
    }
  }

  leave(member: Member, room: string, reason: "left" | "closed" | "timeout" | "error"): void {
    if (!member.rooms.delete(room)) return;
    const state = this.rooms.get(room);
    if (!state) return;
    state.remove(member);
    if (state.removePresence(member.nick)) {
      this.presence.add(room, { event: "leave", nick: member.nick, reason }, this.presenceTiming(state));
      this.broker.memberLeft?.(room, member.nick);
    }
    if (state.size === 0) {
      this.rooms.delete(room);
      this.roomsOpened.closed(state.openedBy);
      this.broker.unsubscribe(room);
    }
  }

  /** A `leave` request: answers `left` with the room's name as the server knows it. */
  leaveRequested(member: Member, requested: string): void {
    let room = joinedName(member, requested);
    if (!member.rooms.has(room)) {
      // Not a room it is in: answered `left` all the same, with the name as a room name. It
      // echoed any string as sent, 60 KB of it, or a right-to-left override.
      const checked = normalizeName(requested, MAX_ROOM_NAME);
      if (!checked.ok) {
        return member.send(badRoom(requested, checked.reason));
      }
      room = checked.name;
    }
    this.leave(member, room, "left");
    member.send({ type: "left", room });
  }

  /** Leaves every room: the connection is gone. Nothing of it stays reachable from the hub. */
  disconnect(member: Member, reason: "closed" | "timeout"): void {
    for (const room of [...member.rooms]) this.leave(member, room, reason);
  }

  /**
   * A `send`: stored and acked, or answered with an error. Resolves with the wait of the
   * `store_failed` refusal when the store refused it (the connection keeps the sender's order
   * with it, see SendOrderGate), else null.
   */
  async send(member: Member, requestedRoom: string, id: string, text: string): Promise<StoreVerdict> {
    if (!validId(id)) {
      return this.refused(member, { type: "error", code: ErrorCode.BadMessage, message: "a message id is 1-128 visible ASCII characters" });
    }
    const room = joinedName(member, requestedRoom);
    if (!member.rooms.has(room)) {
      return this.refused(member, { type: "error", code: ErrorCode.NotInRoom, message: `join '${room.slice(0, MAX_ROOM_NAME)}' before sending to it`, ref: id });
    }
    if (!this.mayWrite(member, room)) {
      return this.refused(member, { type: "error", code: ErrorCode.Forbidden, message: `you may read '${room}' but not write in it`, ref: id });
    }
    const textCheck = checkText(text, { maxCodePoints: this.options.maxTextLength, maxControlShare: this.options.maxControlShare });
    if (!textCheck.ok) {
      return this.refused(member, { type: "error", code: textCheck.code, message: textCheck.reason, ref: id });
    }
    let result;
    try {
      result = await this.store.append({ room, userId: member.userId, clientId: member.clientId, id, from: member.nick, text, ts: Date.now() });
    } catch (err) {
      this.options.log(`append to ${room} failed: ${(err as Error).message}`, { event: "store_failed", op: "append", room, user: member.userId, err: (err as Error).message });
      const refusal = storeFailed("the message was not stored; send it again", id);
      this.metrics.countRefused(ErrorCode.StoreFailed);
      member.send(refusal);
      return refusal.retryAfterMs;
    }
    const m = result.message;
    if (result.duplicate && m.room !== room) {
      // Acking would tell the client that a message reached this room when it never did.
      return this.refused(member, { type: "error", code: ErrorCode.IdReused, message: `message id already used in another room; send it with a new id`, ref: id });
    }
    // The ack goes first: after a reconnect the client must know the id is settled before it
    // sees the message, or it would resend it.
    member.send({ type: "ack", room, id, seq: m.seq, ts: m.ts, duplicate: result.duplicate });
    this.metrics.countReceived(result.duplicate);
    if (!result.duplicate) this.broker.publish(room, frameOf(messageFrame(m)), m.seq);
    return null;
  }

  /**
   * The members a `send` to `requested` would be written to (see Room.recipients), charged to
   * the sender's `deliveries` rate limit before the send is served; 0 when the member is not in
   * the room (the send is refused for that).
   */
  recipientsOf(member: Member, requested: string): number {
    const room = joinedName(member, requested);
    return member.rooms.has(room) ? (this.rooms.get(room)?.recipients ?? 0) : 0;
  }

  history(member: Member, requested: string, before: number, limit?: number): void {
    const room = this.roomName(member, requested);
    if (room === null) return;
    if (!member.rooms.has(room)) {
      return member.send({ type: "error", code: ErrorCode.NotInRoom, message: `join '${room.slice(0, MAX_ROOM_NAME)}' before reading its history`, ref: room });
    }
    const n = Math.max(1, Math.min(limit ?? this.options.historyLimit, this.options.historyLimit));
    const reply = new HistoryPage(this.store, { room, before, limit: n }, (err) => {
      this.options.log(`history of ${room} failed: ${err.message}`, { event: "store_failed", op: "history", room, user: member.userId, err: err.message });
      member.send(storeFailed("could not read history; ask again", room));
    }, (messages, bytes) => {
      this.metrics.messagesSent.inc({ path: "history" }, messages);
      member.chargeHistoryBytes(bytes);
    });
    if (!member.enqueueReply(reply)) member.send(tooManyReplies(room));
  }

  /** A page of the room's online list. */
  who(member: Member, requested: string, after?: string, limit?: number): void {
    const room = joinedName(member, requested);
    const state = member.rooms.has(room) ? this.rooms.get(room) : undefined;
    if (!state) {
      return member.send({ type: "error", code: ErrorCode.NotInRoom, message: `join '${room.slice(0, MAX_ROOM_NAME)}' before listing who is in it`, ref: room.slice(0, MAX_ROOM_NAME) });
    }
    if (after !== undefined && after.length > MAX_WHO_AFTER) {
      return member.send({ type: "error", code: ErrorCode.BadMessage, message: `'who': field 'after' is at most ${MAX_WHO_AFTER} characters`, ref: room });
    }
    const max = this.options.onlineListMax;
    const pageSize = Math.max(1, Math.min(limit ?? max, max));
    if (!this.broker.onlineElsewhere) {
      const page = state.onlinePage(after, pageSize);
      return member.send({ type: "who", room, count: state.onlineCount, online: page.online, more: page.more });
    }
    // Several nodes: the list is everyone online through any node, or a client that resyncs
    // with `who` would drop the names it learnt from the others.
    void this.broker.onlineElsewhere(room).then(
      (elsewhere) => {
        if (!member.isOpen) return;
        const all = state.onlineWith(elsewhere).sorted;
        const page = pageOf(all, after, pageSize);
        member.send({ type: "who", room, count: all.length, online: page.online, more: page.more });
      },
      (err: Error) => member.send(storeFailed(`could not list who is in '${room}': ${err.message}`, room)),
    );
  }

  /**
   * Small rooms batch presence briefly (names matter). Large ones send their count at most
   * once per largeRoomPresenceMs, as soon as changes pause for presenceBatchMs within that.
   */
  private presenceTiming(state: Room): BatchTiming {
    const { presenceBatchMs, largeRoomPresenceMs, onlineListMax } = this.options;
    if (state.onlineCount <= onlineListMax) {
      if (this.broker.roomIsLarge?.(state.name) !== true) return { quietMs: presenceBatchMs, maxWaitMs: presenceBatchMs, notBefore: 0 };
      // Large on all nodes, few here: a whole interval per batch. This node may have no room
      // between one member's visits (nothing to remember its last count by), and a pause
      // between a join and a leave must not send each on its own.
      return { quietMs: largeRoomPresenceMs, maxWaitMs: largeRoomPresenceMs, notBefore: 0 };
    }
    return { quietMs: presenceBatchMs, maxWaitMs: largeRoomPresenceMs, notBefore: state.countSentAt + largeRoomPresenceMs };
  }

  /** The open room `name`, opened now (and charged to `opener`, an address's limit key) if it was not. */
  private roomFor(name: string, opener: string): Room {
    let room = this.rooms.get(name);
    if (!room) {
      const created = new Room(name, opener);
      room = created;
      this.rooms.set(name, created);
      this.roomsOpened.opened(opener);
      const spansNodes = this.broker.spansNodes === true;
      this.broker.subscribe(name, (frame, seq) => {
        if (seq === 0 && spansNodes) created.presenceHeard(frame);
        this.metrics.countDelivered(seq, created.deliver(frame, seq));
      });
    }
    return room;
  }
}

/** The answer to a request naming a room by a string that is not a room name. */
const badRoom = (requested: string, reason: string): ErrorMessage => ({ type: "error", code: ErrorCode.BadRoom, message: `a room name is 1-${MAX_ROOM_NAME} visible characters: ${reason}`, ref: requested.slice(0, MAX_ROOM_NAME) });

/**
 * A room name as a request gave it, as the hub holds the member's rooms: under their normalised
 * (NFKC) names. The name as given first, so a client that uses the server's spelling costs no
 * normalisation.
 */
const joinedName = (member: Member, requested: string): string => (member.rooms.has(requested) ? requested : requested.normalize("NFKC"));

/** What the store made of a send: the wait of its `store_failed` refusal, or null when it did not refuse it. */
export type StoreVerdict = number | null;

/** A member has as many paged replies queued as it may: the request is refused, it may retry. */
const tooManyReplies = (room: string): ServerMessage => ({
  type: "error",
  code: ErrorCode.RateLimited,
  message: "too many joins and history requests waiting for this connection; try again shortly",
  ref: room,
  retryAfterMs: 1_000,
});

/**
 * The store refused (Redis unreachable or not answering, a disk error): nothing was stored or
 * read. The request may go again after `retryAfterMs`: about the time a Redis client needs to
 * reconnect, spread over [1, 2) s so the clients refused together do not all come back together.
 */
const STORE_RETRY_AFTER_MS = 1_000;
const storeFailed = (message: string, ref: string): ServerMessage & { retryAfterMs: number } => ({
  type: "error",
  code: ErrorCode.StoreFailed,
  message,
  ref,
  retryAfterMs: STORE_RETRY_AFTER_MS + Math.floor(Math.random() * STORE_RETRY_AFTER_MS),
});

/**
 * A joined frame's online list and count (see Room.onlineJsonFor), with the names online
 * through other nodes added (several nodes on one Redis); above `max` names, the first `max`
 * in code-unit order. The merged list is made once per presence batch and read of the others'
 * names (see Room.onlineWith); the joiner is listed even when its arrival came after it.
 */
function withNames(state: Room, joiner: string, elsewhere: readonly string[], max: number): { json: string; count: number } {
  if (elsewhere.length === 0) return { json: state.onlineJsonFor(joiner, max), count: state.onlineCount };
  const merged = state.onlineWith(elsewhere);
  const count = state.onlineCount + merged.remoteOnly;
  if (count > max) return { json: (merged.pageJson ??= JSON.stringify(merged.sorted.slice(0, max))), count };
  return { json: JSON.stringify(merged.sorted.includes(joiner) ? merged.sorted : [...merged.sorted, joiner]), count };
}

const messageFrame = (m: ChatMessage): ServerMessage => ({ type: "message", ...toWire(m) });
