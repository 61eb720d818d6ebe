import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { ChatMessage, PresenceChange, PresenceMessage } from "../protocol/messages.js";
import type { RedisStore } from "../store/redis-store.js";
import type { Broker, EpochChange } from "./broker.js";
import { Script } from "../store/redis-script.js";
import { DataLossGuard } from "./data-loss-guard.js";
import type { LogFields, LogFn } from "./logger.js";
import { HEARTBEAT_LUA, PRESENCE_PUBLISH_LUA, REAP_NODE_LUA } from "./redis-presence-scripts.js";

const HEARTBEAT = new Script(HEARTBEAT_LUA, 2);
const REAP_NODE = new Script(REAP_NODE_LUA, 3);
const PRESENCE_PUBLISH = new Script(PRESENCE_PUBLISH_LUA, 3);

export interface RedisBrokerOptions {
  /** This node's id in Redis. Default: a random UUID. */
  nodeId?: string;
  /**
   * A node whose heartbeat key is this old is dead: its members are announced as `leave`.
   * The key's TTL; the node refreshes it every third of it. Default 12000 ms.
   */
  nodeTimeoutMs?: number;
  /** How often this node looks for dead nodes. Default 1000 ms. */
  reapCheckMs?: number;
  /** A room with more online than this on all nodes together hears only its count (see ServerOptions.onlineListMax). Default 100. */
  onlineListMax?: number;
  /** ...at most this often, from all nodes together (ServerOptions.largeRoomPresenceMs). Default 1000 ms. */
  largeRoomPresenceMs?: number;
  /** Where the node's Redis lines go: failures as `redis_failed` warnings (see LogBudget), the rest as info. */
  log?: LogFn;
}

/** Backfill reads at most this many messages per store call. */
const BACKFILL_PAGE = 500;
/** A backfill that fails (Redis unreachable) is tried again after this long. */
const BACKFILL_RETRY_MS = 500;
/** A join waits this long for its room's subscription, then fails (the client may try again). */
const SUBSCRIBE_DEADLINE_MS = 5_000;
/**
 * A room's names online through other nodes are read from Redis again after this long even
 * when no presence frame came (pub/sub may lose one while the link blinks).
 */
const ELSEWHERE_MAX_AGE_MS = 1_000;

/** Rooms this node remembers as large on all nodes together, at most; the least recently found large is forgotten first. */
const MAX_LARGE_ROOMS_KNOWN = 10_000;

/** A read of a room's names online through other nodes, shared by every join and `who` until the room's presence changes. */
interface ElsewhereRead {
  names: Promise<readonly string[]>;
  startedAt: number;
  /** More names than the online list's length (known once read): kept a while after the room closes here (see unsubscribe). */
  large: boolean;
}

interface Queued {
  frame: Buffer;
  seq: number;
}

/** One subscribed room on this node. */
interface RoomFeed {
  room: string;
  deliver: (frame: Buffer, seq: number) => void;
  /** Highest seq delivered to the room; null until the subscription is confirmed. */
  lastSeq: number | null;
  /** A backfill (or the initial subscription) is running: frames wait in `queued`. */
  busy: boolean;
  queued: Queued[];
  /** Settles once the room's subscription is confirmed and its latest seq read (see whenSubscribed). */
  subscribed: Promise<void>;
  confirmSubscribed: () => void;
  /** The current subscription attempt: an earlier one that finishes late does nothing. */
  attempt: number;
  closed: boolean;
}

/**
 * Fan-out and presence across nodes through Redis. Chat messages are published by the store's
 * append script (atomically with the write, so a room's channel carries them in seq order);
 * this broker publishes only presence frames. Pub/sub is at-most-once, so each room's feed
 * checks seq: a gap (a message lost while the link to Redis blinked) is filled from the stream
 * before anything newer is delivered, and on every reconnect each room catches up to the
 * stream's end. Members see gap-free, duplicate-free seq whatever node they are on.
 *
 * Presence: each node keeps its members per room in Redis and refreshes a heartbeat key with a
 * TTL. Every node checks the others' keys every `reapCheckMs`; the first to find one expired
 * announces that node's members as `leave` (reason `timeout`) in one script.
 *
 * Data loss: a Redis that comes back with less than it acknowledged is found at each heartbeat
 * and when a link to it comes back (its epoch), and by appends and reads of a room's latest seq
 * below what the room's feed delivered (DataLossGuard). The store then takes a new epoch, every
 * feed starts again from the new data, and onEpochChange's listeners resync the clients.
 */
export class RedisBroker implements Broker {
  readonly spansNodes = true;
  readonly nodeId: string;
  private readonly sub: Redis;
  private readonly feeds = new Map<string, RoomFeed>();
  private readonly roomOfChannel = new Map<string, string>();
  /** This node's members: room -> nicks, what the node re-registers after being reaped. */
  private readonly members = new Map<string, Set<string>>();
  /**
   * Subscribed rooms' names online through other nodes, as last read. Every join and `who`
   * needs them, and the list is the room's whole online hash: read per request, one address's
   * `who` requests (100/s) on a room of 9,000 took 96 % of a node's core and 31 % of Redis's.
   */
  private readonly elsewhereReads = new Map<string, ElsewhereRead>();
  /**
   * Rooms found large on all nodes together (the publish script's count), and until when that
   * is believed: what makes this node batch a room's presence as a large room's even when it
   * has few of its members, or no local room at all between one member's visits.
   */
  private readonly largeRooms = new Map<string, number>();
  /** Rooms whose count this node was told to send later, and the timer that will. */
  private readonly countsDue = new Map<string, NodeJS.Timeout>();
  private readonly onlineListMax: number;
  private readonly largeRoomPresenceMs: number;
  private readonly nodeTimeoutMs: number;
  private readonly log: LogFn;
  private readonly heartbeatTimer: NodeJS.Timeout;
  private readonly reapTimer: NodeJS.Timeout;
  /**
   * Nicknames whose presence this node could not write or publish (Redis away), by room, with
   * the reason of a leave that did not go out: put right once Redis answers again (see
   * repairPresence). Bounded by the names that came or went on this node while Redis was away.
   */
  private readonly presenceToRepair = new Map<string, Map<string, string | undefined>>();
  private repairing = false;
  private registered = false;
  private closed = false;
  /** When Redis last answered a heartbeat; the node counts as cut off nodeTimeoutMs after it. */
  private lastRedisOkAt = Date.now();
  private available = true;
  private readonly availabilityListeners: Array<(available: boolean) => void> = [];
  private readonly epochListeners: Array<(change: EpochChange) => void> = [];
  /** Finds a Redis that came back with less than it acknowledged (see DataLossGuard). */
  private readonly dataLoss: DataLossGuard;

  constructor(private readonly store: RedisStore, options: RedisBrokerOptions = {}) {
    this.nodeId = options.nodeId ?? randomUUID();
    this.nodeTimeoutMs = options.nodeTimeoutMs ?? 12_000;
    this.onlineListMax = options.onlineListMax ?? 100;
    this.largeRoomPresenceMs = options.largeRoomPresenceMs ?? 1_000;
    this.log = options.log ?? (() => {});
    this.dataLoss = new DataLossGuard(store, this.log, (change) => this.epochChanged(change));
    // Appends and reads of a room's latest seq are checked against what its feed delivered.
    store.watchSeqs({
      seen: (room) => this.feeds.get(room)?.lastSeq ?? null,
      wentBack: (room, seq, seen, call) => this.dataLoss.seqWentBack(room, seq, seen, call),
    });
    // The subscriber connection queues (re)subscriptions while Redis is away, and ioredis
    // subscribes again to every channel after a reconnect.
    this.sub = store.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, autoResubscribe: true, lazyConnect: true, commandTimeout: undefined });
    this.sub.on("error", () => {});
    const onMessage = (channel: Buffer, payload: Buffer) => this.onPayload(channel.toString(), payload);
    this.sub.on(store.sharded ? "smessageBuffer" : "messageBuffer", onMessage);
    let wasReady = false;
    this.sub.on("ready", () => {
      if (wasReady) {
        // A subscription on its way when the link dropped is never answered (ioredis drops the
        // commands it had sent, and resubscribes only to channels it had confirmed): without a
        // new attempt, the room's joins on this node waited for it and failed, each, for as
        // long as any join of the room was pending (an audit: 0 of 6 clients in 45 s).
        for (const feed of this.feeds.values()) if (feed.lastSeq === null) this.trySubscribing(feed);
        // The epoch first: a Redis that came back empty is not caught up with as if it held
        // what it served (the catch-up would find each room's seq gone back, one by one).
        void this.checkEpoch("the link to Redis came back").finally(() => this.catchUpAll("reconnected to Redis"));
      }
      wasReady = true;
    });
    void this.sub.connect().catch(() => {});
    // The store's own link (appends, reads) comes back on its own: its first ready was the
    // store's opening, before this broker.
    store.redis.on("ready", () => void this.checkEpoch("the link to Redis came back"));
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), Math.max(50, Math.floor(this.nodeTimeoutMs / 3)));
    this.heartbeatTimer.unref();
    this.reapTimer = setInterval(() => {
      this.checkAvailability();
      void this.reapDeadNodes();
    }, options.reapCheckMs ?? 1_000);
    this.reapTimer.unref();
    void this.heartbeat();
  }

  subscribe(room: string, deliver: (frame: Buffer, seq: number) => void): void {
    this.roomOfChannel.set(this.store.channelFor(room), room);
    this.follow(room, deliver);
  }

  /** A new feed of the room, busy until its subscription is confirmed and its latest seq read. */
  private follow(room: string, deliver: (frame: Buffer, seq: number) => void): void {
    let confirmSubscribed = () => {};
    const subscribed = new Promise<void>((resolve) => (confirmSubscribed = resolve));
    const feed: RoomFeed = { room, deliver, lastSeq: null, busy: true, queued: [], subscribed, confirmSubscribed, attempt: 0, closed: false };
    this.feeds.set(room, feed);
    this.trySubscribing(feed);
  }

  /**
   * Subscribes the feed's channel, then reads the room's latest seq: everything up to it is in
   * the store, everything after arrives on the channel. A refused subscription is tried again;
   * one that is never answered is tried again when the link to Redis is back (see the
   * constructor).
   */
  private trySubscribing(feed: RoomFeed): void {
    const attempt = ++feed.attempt;
    const current = () => !feed.closed && feed.attempt === attempt;
    const channel = this.store.channelFor(feed.room);
    void (async () => {
      try {
        await (this.store.sharded ? this.sub.ssubscribe(channel) : this.sub.subscribe(channel));
      } catch (err) {
        if (!current()) return;
        this.log(`subscribe to ${feed.room} failed: ${(err as Error).message}; retrying`, failure("subscribe", err, feed.room));
        await new Promise((r) => setTimeout(r, BACKFILL_RETRY_MS));
        if (current()) this.trySubscribing(feed);
        return;
      }
      for (;;) {
        if (!current()) return;
        try {
          const latest = await this.store.latestSeq(feed.room);
          if (!current()) return;
          feed.lastSeq = latest;
          break;
        } catch (err) {
          this.log(`reading ${feed.room}'s latest seq failed: ${(err as Error).message}; retrying`, failure("latest_seq", err, feed.room));
          await new Promise((r) => setTimeout(r, BACKFILL_RETRY_MS));
        }
      }
      feed.confirmSubscribed();
      this.drain(feed);
    })();
  }

  /** Resolves once frames of `room` published from now on reach this node (history read after it misses nothing). */
  whenSubscribed(room: string): Promise<void> {
    const feed = this.feeds.get(room);
    if (!feed) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`subscription to ${room} not confirmed by Redis within ${SUBSCRIBE_DEADLINE_MS} ms`)), SUBSCRIBE_DEADLINE_MS);
    });
    return Promise.race([feed.subscribed, deadline]).finally(() => clearTimeout(timer));
  }

  unsubscribe(room: string): void {
    const feed = this.feeds.get(room);
    if (!feed) return;
    feed.closed = true;
    // Anyone still waiting for it goes on (and finds the room no longer subscribed here).
    feed.confirmSubscribed();
    this.feeds.delete(room);
    // A large room's read is kept until its age runs out: a client joining and leaving a large
    // room it alone held on this node read the whole hash at each join (an audit: 20,000 names
    // elsewhere, 10 such connections of one address, a whole core at 15 joins a second). Its
    // names are a page and a count, which a client refreshes anyway; a small room's list must
    // be exact, and its hash is small.
    const read = this.elsewhereReads.get(room);
    if (read?.large) {
      const timer = setTimeout(() => {
        if (this.elsewhereReads.get(room) === read && !this.feeds.has(room)) this.elsewhereReads.delete(room);
      }, Math.max(0, read.startedAt + ELSEWHERE_MAX_AGE_MS - Date.now()));
      timer.unref();
    } else this.elsewhereReads.delete(room);
    const channel = this.store.channelFor(room);
    this.roomOfChannel.delete(channel);
    void (this.store.sharded ? this.sub.sunsubscribe(channel) : this.sub.unsubscribe(channel)).catch(() => {});
  }

  /**
   * Chat messages (seq > 0) were published by the store's append script; presence goes out
   * here, as all nodes see it: leaves of nicknames still online through another node dropped,
   * the `count` the room's on all nodes.
   */
  publish(room: string, frame: Buffer, seq: number): void {
    if (seq > 0) return;
    const presence = JSON.parse(frame.toString()) as Partial<PresenceMessage>;
    if (presence.type === "presence" && Array.isArray(presence.changes)) return this.publishPresence(room, JSON.stringify(presence.changes));
    const command = this.store.sharded ? "SPUBLISH" : "PUBLISH";
    this.store.redis.call(command, this.store.channelFor(room), Buffer.concat([Buffer.from("0 "), frame])).catch((err: Error) => this.log(`presence publish to ${room} failed: ${err.message}`, failure("presence_publish", err, room)));
  }

  /** Whether `room` was found large on all nodes together lately: its presence is batched as a large room's. */
  roomIsLarge(room: string): boolean {
    const until = this.largeRooms.get(room);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.largeRooms.delete(room);
    return false;
  }

  /** Publishes a batch of presence changes (a JSON array) through the script, which sees all nodes. */
  private publishPresence(room: string, changes: string): void {
    const command = this.store.sharded ? "SPUBLISH" : "PUBLISH";
    PRESENCE_PUBLISH.run(this.store.redis, [
      this.key(`online:${room}`), this.key(`announced:${room}`), this.key(`count-sent:${room}`),
      this.store.channelFor(room), `{"type":"presence","room":${JSON.stringify(room)},"changes":`, changes, command, this.onlineListMax, this.largeRoomPresenceMs,
    ]).then(
      (result) => {
        const count = Number(result);
        if (count > this.onlineListMax || count <= -2) this.foundLarge(room);
        else if (count >= 0) this.largeRooms.delete(room);
        if (count <= -2) this.sendCountLater(room, -count - 2);
        this.leavesSettled(room);
      },
      (err: Error) => {
        this.log(`presence publish to ${room} failed: ${err.message}`, failure("presence_publish", err, room));
        for (const change of JSON.parse(changes) as PresenceChange[]) this.needsRepair(room, change.nick, change.reason);
      },
    );
  }

  /** A nickname's presence in `room` did not reach Redis or the other nodes (see presenceToRepair). */
  private needsRepair(room: string, nick: string, reason?: string): void {
    let nicks = this.presenceToRepair.get(room);
    if (!nicks) this.presenceToRepair.set(room, (nicks = new Map()));
    nicks.set(nick, reason ?? nicks.get(nick));
  }

  /**
   * Writes the presence that failed again, as it is now on this node, and announces it through
   * the publish script (which drops a join already announced, and a leave of a name still online
   * through another node). Without it, a member who left while Redis was away for a few seconds
   * stayed listed online on every other node, and in every joiner's list, for as long as this
   * node lived (an audit: 3 runs of 3, outages of 1-6 s); the heartbeat set things right only
   * when the node had been declared dead.
   */
  private async repairPresence(): Promise<void> {
    if (this.repairing || this.presenceToRepair.size === 0) return;
    this.repairing = true;
    const work = [...this.presenceToRepair];
    this.presenceToRepair.clear();
    let done = 0;
    try {
      for (const [room, nicks] of work) {
        const here = this.members.get(room);
        const tx = this.store.redis.multi();
        const changes: PresenceChange[] = [];
        for (const [nick, reason] of nicks) {
          if (here?.has(nick)) {
            tx.hset(this.key(`online:${room}`), `${this.nodeId}|${nick}`, "1");
            changes.push({ event: "join", nick });
          } else {
            tx.hdel(this.key(`online:${room}`), `${this.nodeId}|${nick}`);
            changes.push({ event: "leave", nick, reason: reason ?? "closed" });
          }
        }
        if (here) tx.sadd(this.key(`node-rooms:${this.nodeId}`), room);
        await tx.exec();
        this.publishPresence(room, JSON.stringify(changes));
        done++;
      }
    } catch (err) {
      this.log(`presence repair in Redis failed: ${(err as Error).message}; trying again`, failure("presence_repair", err));
      for (const [room, nicks] of work.slice(done)) for (const [nick, reason] of nicks) this.needsRepair(room, nick, reason);
    } finally {
      this.repairing = false;
    }
  }

  presenceCancelled(room: string): void {
    this.leavesSettled(room);
  }

  /** A room's leaves are out (or cancelled out): a room this node has no member in leaves its rooms set now (see memberLeft). */
  private leavesSettled(room: string): void {
    if (!this.members.has(room)) this.store.redis.srem(this.key(`node-rooms:${this.nodeId}`), room).catch(() => {});
  }

  private foundLarge(room: string): void {
    this.largeRooms.delete(room); // set again below, as the most recently found
    if (this.largeRooms.size >= MAX_LARGE_ROOMS_KNOWN) this.largeRooms.delete(this.largeRooms.keys().next().value!);
    // Believed for a few intervals: long enough to cover one member's comings and goings.
    this.largeRooms.set(room, Date.now() + 10 * this.largeRoomPresenceMs);
  }

  /** The room's count was held back (another count went out less than an interval ago): sends it once that interval ends. */
  private sendCountLater(room: string, waitMs: number): void {
    if (this.closed || this.countsDue.has(room)) return;
    const timer = setTimeout(() => {
      this.countsDue.delete(room);
      if (!this.closed) this.publishPresence(room, "[]");
    }, waitMs + 1);
    timer.unref();
    this.countsDue.set(room, timer);
  }

  /** A nickname came online in a room on this node. */
  memberJoined(room: string, nick: string): void {
    let nicks = this.members.get(room);
    if (!nicks) this.members.set(room, (nicks = new Set()));
    nicks.add(nick);
    this.store.redis
      .multi()
      .hset(this.key(`online:${room}`), `${this.nodeId}|${nick}`, "1")
      .sadd(this.key(`node-rooms:${this.nodeId}`), room)
      .exec()
      .catch((err: Error) => {
        this.log(`presence join in Redis failed: ${err.message}`, failure("presence_join", err, room));
        this.needsRepair(room, nick);
      });
  }

  /**
   * A nickname's last connection in a room on this node went. The room stays in this node's
   * rooms set until the leave is published (publishPresence): if the node dies in between,
   * the reaper still visits the room and announces the leave. Dropped here, at once, a node
   * killed within the presence batch left the name listed as online for good.
   */
  memberLeft(room: string, nick: string): void {
    const nicks = this.members.get(room);
    nicks?.delete(nick);
    if (nicks?.size === 0) this.members.delete(room);
    this.store.redis.hdel(this.key(`online:${room}`), `${this.nodeId}|${nick}`).catch((err: Error) => {
      this.log(`presence leave in Redis failed: ${err.message}`, failure("presence_leave", err, room));
      this.needsRepair(room, nick);
    });
  }

  /**
   * Nicknames online in `room` through other nodes: one read of Redis per room until a presence
   * frame of the room arrives (every node publishes its changes there after writing them to
   * the hash, so a read started after that frame sees them) or ELSEWHERE_MAX_AGE_MS pass.
   * Callers that come while a read is on its way share it. A read a little older than the
   * latest change is still right for a joiner: it is a member by then, and the change's
   * presence frame reaches it after its `joined` (set operations, as on one node).
   */
  onlineElsewhere(room: string): Promise<readonly string[]> {
    const cached = this.elsewhereReads.get(room);
    if (cached && Date.now() - cached.startedAt < ELSEWHERE_MAX_AGE_MS) return cached.names;
    const read: ElsewhereRead = { names: this.readOnlineElsewhere(room), startedAt: Date.now(), large: false };
    // Kept only for rooms this node receives the presence frames of: those are what forget it.
    if (this.feeds.has(room)) this.elsewhereReads.set(room, read);
    read.names.then(
      (names) => (read.large = names.length > this.onlineListMax),
      () => {
        if (this.elsewhereReads.get(room) === read) this.elsewhereReads.delete(room);
      },
    );
    return read.names;
  }

  private async readOnlineElsewhere(room: string): Promise<string[]> {
    const fields = await this.store.redis.hkeys(this.key(`online:${room}`));
    const mine = `${this.nodeId}|`;
    const nicks = new Set<string>();
    for (const field of fields) {
      if (field.startsWith(mine)) continue;
      nicks.add(field.slice(field.indexOf("|") + 1));
    }
    return [...nicks].sort();
  }

  onAvailability(listener: (available: boolean) => void): void {
    this.availabilityListeners.push(listener);
  }

  onEpochChange(listener: (change: EpochChange) => void): void {
    this.epochListeners.push(listener);
  }

  /** Whether Redis still holds this node's epoch (see DataLossGuard.check); a failure is logged, the next heartbeat asks again. */
  private checkEpoch(when: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.dataLoss.check(when).catch((err: Error) => this.log(`reading the epoch from Redis failed: ${err.message}`, failure("epoch_read", err)));
  }

  /**
   * The store took a new epoch: every room is followed again from its latest seq in the new
   * data, as if just subscribed. A feed's lastSeq was of the data given up: kept, it dropped
   * the room's new messages up to it as delivered. A join that comes now waits for the new
   * read (whenSubscribed) before it reads the room, so the live frames it holds start where its
   * page ends. Then the listeners (the server ends its clients' connections).
   */
  private epochChanged(change: EpochChange): void {
    if (this.closed) return;
    this.elsewhereReads.clear();
    for (const feed of [...this.feeds.values()]) {
      feed.closed = true;
      // Anyone waiting for it goes on; its connection is about to be ended anyway.
      feed.confirmSubscribed();
      this.follow(feed.room, feed.deliver);
    }
    for (const listener of this.epochListeners) listener(change);
  }

  /**
   * Cut off from Redis as long as the others need to declare this node dead: by then they have
   * announced its members as gone, and it can store nothing. Say so, once per change.
   */
  private checkAvailability(): void {
    if (!this.available || Date.now() - this.lastRedisOkAt <= this.nodeTimeoutMs) return;
    this.setAvailable(false);
  }

  private setAvailable(available: boolean): void {
    if (available === this.available) return;
    this.available = available;
    this.log(available ? "Redis reachable again" : `no answer from Redis for over ${this.nodeTimeoutMs} ms: sending clients to other nodes`);
    for (const listener of this.availabilityListeners) listener(available);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.dataLoss.stop();
    clearInterval(this.heartbeatTimer);
    clearInterval(this.reapTimer);
    for (const timer of this.countsDue.values()) clearTimeout(timer);
    this.countsDue.clear();
    for (const feed of this.feeds.values()) feed.closed = true;
    this.feeds.clear();
    // A node that leaves cleanly takes its heartbeat and registrations with it; its
    // connections already left their rooms (and announced it) before close.
    await this.store.redis
      .multi()
      .del(this.key(`node:${this.nodeId}`), this.key(`node-rooms:${this.nodeId}`))
      .srem(this.key("nodes"), this.nodeId)
      .exec()
      .catch(() => {});
    await this.sub.quit().catch(() => this.sub.disconnect());
  }

  private onPayload(channel: string, payload: Buffer): void {
    const room = this.roomOfChannel.get(channel);
    const feed = room === undefined ? undefined : this.feeds.get(room);
    if (!feed) return;
    const space = payload.indexOf(0x20);
    const seq = Number(payload.subarray(0, space).toString());
    // A presence frame: someone came or went, here or elsewhere; the next reader reads again.
    if (seq === 0) this.elsewhereReads.delete(feed.room);
    const frame = payload.subarray(space + 1);
    if (feed.busy) feed.queued.push({ frame, seq });
    else this.handle(feed, { frame, seq });
  }

  /** Delivers in seq order; a gap starts a backfill and holds what follows. */
  private handle(feed: RoomFeed, item: Queued): void {
    if (item.seq === 0) return feed.deliver(item.frame, 0);
    const last = feed.lastSeq!;
    if (item.seq <= last) return; // already delivered (by a backfill)
    if (item.seq === last + 1) {
      feed.lastSeq = item.seq;
      return feed.deliver(item.frame, item.seq);
    }
    feed.queued.unshift(item);
    void this.backfill(feed, item.seq - 1, `gap: have ${last}, got ${item.seq}`);
  }

  private drain(feed: RoomFeed): void {
    feed.busy = false;
    while (!feed.busy && feed.queued.length > 0 && !feed.closed) this.handle(feed, feed.queued.shift()!);
  }

  /** Reads the room's stream from lastSeq up to `target` (or its end, when null) and delivers it. */
  private async backfill(feed: RoomFeed, target: number | null, why: string): Promise<void> {
    feed.busy = true;
    this.log(`${why}: backfilling ${feed.room} from the store`, { event: "redis_backfill", room: feed.room });
    for (;;) {
      if (feed.closed || this.closed) return;
      try {
        const end = target ?? (await this.store.latestSeq(feed.room));
        while (feed.lastSeq! < end && !feed.closed) {
          const page = await this.store.readAfter(feed.room, feed.lastSeq!, Math.min(BACKFILL_PAGE, end - feed.lastSeq!));
          // Empty: trimmed away meanwhile; members will see the jump and resync by history.
          if (page.length === 0) {
            feed.lastSeq = end;
            break;
          }
          for (const message of page) {
            feed.lastSeq = message.seq;
            feed.deliver(messageFrame(message), message.seq);
          }
        }
        break;
      } catch (err) {
        this.log(`backfill of ${feed.room} failed: ${(err as Error).message}; retrying`, failure("backfill", err, feed.room));
        await new Promise((r) => setTimeout(r, BACKFILL_RETRY_MS));
      }
    }
    this.drain(feed);
  }

  /** After a reconnect: messages published while away are lost to pub/sub; read them. */
  private catchUpAll(why: string): void {
    // Presence frames may have been lost while the link was down.
    this.elsewhereReads.clear();
    let rooms = 0;
    for (const feed of this.feeds.values()) {
      if (feed.busy || feed.lastSeq === null) continue;
      rooms++;
      void this.backfill(feed, null, why);
    }
    // One line for all rooms (each room's own is at debug): a node with thousands open wrote thousands.
    if (rooms > 0) this.log(`${why}: reading what ${rooms} room(s) missed from the store`);
  }

  private async heartbeat(): Promise<void> {
    if (this.closed) return;
    try {
      const was = Number(await HEARTBEAT.run(this.store.redis, [this.key(`node:${this.nodeId}`), this.key("nodes"), this.nodeId, this.nodeTimeoutMs]));
      // Not waited for: a renewal it starts may take a while, and the heartbeat must go on.
      void this.checkEpoch("heartbeat");
      if (was === 0 && this.registered) await this.reregister();
      this.registered = true;
      this.lastRedisOkAt = Date.now();
      this.setAvailable(true);
      await this.repairPresence();
    } catch (err) {
      this.log(`heartbeat to Redis failed: ${(err as Error).message}`, failure("heartbeat", err));
    }
  }

  /**
   * Another node took this one for dead (Redis was frozen or unreachable longer than the
   * timeout) and announced its members as gone: put them back and say they are here.
   */
  private async reregister(): Promise<void> {
    this.log("this node had been declared dead; announcing its members again");
    for (const [room, nicks] of this.members) {
      const tx = this.store.redis.multi().sadd(this.key(`node-rooms:${this.nodeId}`), room);
      for (const nick of nicks) tx.hset(this.key(`online:${room}`), `${this.nodeId}|${nick}`, "1");
      await tx.exec();
      const changes = [...nicks].map((nick) => ({ event: "join" as const, nick }));
      this.publish(room, Buffer.from(JSON.stringify({ type: "presence", room, changes, count: 0 })), 0);
    }
  }

  private async reapDeadNodes(): Promise<void> {
    if (this.closed) return;
    try {
      const nodes = await this.store.redis.smembers(this.key("nodes"));
      for (const node of nodes) {
        if (node === this.nodeId || (await this.store.redis.exists(this.key(`node:${node}`))) === 1) continue;
        const announced = await REAP_NODE.run(this.store.redis, [
          this.key("nodes"), this.key(`node-rooms:${node}`), this.key(`node:${node}`),
          node, this.store.keyPrefix, this.store.sharded ? "SPUBLISH" : "PUBLISH",
        ]);
        this.log(`node ${node} stopped its heartbeat: announced ${announced} leave(s)`);
      }
    } catch (err) {
      this.log(`dead-node check failed: ${(err as Error).message}`, failure("dead_node_check", err));
    }
  }

  private key(suffix: string): string {
    return this.store.keyPrefix + suffix;
  }
}

const messageFrame = (m: ChatMessage): Buffer => Buffer.from(JSON.stringify({ type: "message", ...m }));

/** The fields of a failed Redis call's line: a `redis_failed` warning, budgeted per event (see LogBudget). */
const failure = (op: string, err: unknown, room?: string): LogFields => ({ event: "redis_failed", op, ...(room !== undefined ? { room } : {}), err: (err as Error).message });
