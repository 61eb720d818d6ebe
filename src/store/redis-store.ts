import { randomBytes, randomUUID } from "node:crypto";
import { Redis, type RedisOptions } from "ioredis";
import type { ChatMessage } from "../protocol/messages.js";
import type { AppendInput, AppendResult, MessageStore, StoredMessage } from "./message-store.js";
import { LEGACY_HOLD_MS, type ClaimResult, type IdentityStore, type NicknameClaim, type NicknameRelease } from "./identity-store.js";
import { dropAllowance, MESSAGE_OVERHEAD_BYTES, messageBytes, resolveRetention, type RetentionLimits, type RetentionOptions } from "./retention.js";
import { Script } from "./redis-script.js";
import { APPEND_LUA, CLAIM_NICKNAME_LUA, PURGE_NICKNAMES_LUA, RELEASE_NICKNAME_LUA, RENEW_EPOCH_LUA, TEXT_BYTES_BETWEEN_LUA } from "./redis-scripts.js";
import type { SeqWatch } from "./seq-watch.js";

export interface RedisStoreOptions extends RetentionOptions {
  /** redis://[user:pass@]host:port[/db] */
  url: string;
  /** Every key and channel starts with this, so several chats can share one Redis. Default "pulse:". */
  keyPrefix?: string;
  /**
   * A command Redis has not answered in this long fails (the caller tells its client to send
   * again; the write may still land, and the resend is then a duplicate). Default 2000 ms.
   */
  commandTimeoutMs?: number;
  /** Publish each new message on its room's channel, inside the append script. Default true. */
  publish?: boolean;
  /** This store's name among the nodes sharing the Redis (see the nickname holds' `live:` fields). Default: a random UUID. */
  nodeId?: string;
}

/**
 * A node's mark that a user is online through it counts for this long after it was written.
 * Nodes write it again at least every 60 s while the user stays (Nicknames.keepHoldsFresh), so
 * three missed refreshes mean the node went without releasing; the margin covers clocks apart.
 */
export const LIVE_MARK_STALE_MS = 180_000;

/** Pages of idempotency keys purged per script run, so one run never blocks Redis long. */
const PURGE_BATCH = 1_000;

const APPEND = new Script(APPEND_LUA, 4);
const TEXT_BYTES_BETWEEN = new Script(TEXT_BYTES_BETWEEN_LUA, 1);
const CLAIM = new Script(CLAIM_NICKNAME_LUA, 2);
const RELEASE = new Script(RELEASE_NICKNAME_LUA, 2);
const PURGE = new Script(PURGE_NICKNAMES_LUA, 1);
const RENEW_EPOCH = new Script(RENEW_EPOCH_LUA, 1);

type StreamEntry = [id: string, fields: string[]];

/** The connection settings every Pulse Redis client shares: fail fast, reconnect forever. */
export function redisConnectionOptions(commandTimeoutMs: number): RedisOptions {
  return {
    // A command issued while Redis is unreachable fails at once instead of waiting in a
    // queue: a send is refused (never acked) and the client keeps it in its outbox.
    enableOfflineQueue: false,
    // A reply lost with the connection is not resent behind the caller's back: the caller
    // was told to retry, and the dedupe key makes the retry safe.
    autoResendUnfulfilledCommands: false,
    commandTimeout: commandTimeoutMs,
    maxRetriesPerRequest: 0,
    // Reconnect forever: 50 ms, 100 ms, ... capped at 2 s.
    retryStrategy: (times) => Math.min(times * 50, 2_000),
    lazyConnect: true,
  };
}

/**
 * MessageStore and IdentityStore on Redis (ioredis). Every append is one Lua script: dedupe,
 * the room's INCR, XADD to the room's stream under id "seq-0", exact trim to retainPerRoom
 * and retainBytesPerRoom (a per-room byte total kept next to the stream), the largest rooms
 * cut first over retainBytesTotal, and the publish of the message frame on the room's channel. An append resolves only after
 * Redis answered, so an ack means Redis has the message (durable as far as its AOF setting
 * makes it: see the README).
 */
export class RedisStore implements MessageStore, IdentityStore {
  readonly keyPrefix: string;
  private readonly retention: RetentionLimits;
  private readonly publish: boolean;
  /** Names this node in the holds it marks live (each node opens its own store). */
  private readonly nodeId: string;
  private publishCommand = "PUBLISH";
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;
  private epochValue = "";
  /** The token-signing secret as this node read it (hex), once signingSecret was asked: written back when Redis lost it. */
  private secretHex: string | null = null;
  /** See watchSeqs. */
  private seqWatch: SeqWatch | null = null;

  private constructor(readonly redis: Redis, options: RedisStoreOptions) {
    this.keyPrefix = options.keyPrefix ?? "pulse:";
    this.retention = resolveRetention(options);
    this.publish = options.publish ?? true;
    this.nodeId = options.nodeId ?? randomUUID();
  }

  /** Connects, then reads (or creates) the epoch. Fails if Redis cannot be reached now. */
  static async open(options: RedisStoreOptions): Promise<RedisStore> {
    const redis = new Redis(options.url, redisConnectionOptions(options.commandTimeoutMs ?? 2_000));
    redis.on("error", () => {}); // reconnects by itself; failures surface on commands
    const store = new RedisStore(redis, options);
    try {
      await redis.connect();
      store.publishCommand = (await supportsShardedPubSub(redis)) ? "SPUBLISH" : "PUBLISH";
      await redis.set(store.key("epoch"), randomUUID(), "NX");
      store.epochValue = (await redis.get(store.key("epoch")))!;
    } catch (error) {
      redis.disconnect();
      throw new Error(`could not open the Redis store at ${redactedUrl(options.url)} (is redis-server running there?): ${(error as Error).message}`);
    }
    return store;
  }

  get epoch(): string {
    return this.epochValue;
  }

  /**
   * Has appends and latest-seq reads checked against what the node delivered (see SeqWatch):
   * the broker's feeds know it. Without a watch (a store opened by a tool) nothing is checked.
   */
  watchSeqs(watch: SeqWatch): void {
    this.seqWatch = watch;
  }

  /** What P epoch holds in Redis now: null when it is gone (Redis came back empty, was flushed, or evicted it). */
  epochInRedis(): Promise<string | null> {
    return this.redis.get(this.key("epoch"));
  }

  /**
   * A new epoch for data this node found lost, agreed with the other nodes (RENEW_EPOCH_LUA): a
   * fresh one when P epoch is missing or still holds this node's, else the one it holds. Not
   * adopted here: the caller adopts it (adoptEpoch) in the same turn as it drops what it
   * cached under the old one, so nothing reads the new epoch next to an old seq.
   */
  async agreeOnNewEpoch(): Promise<string> {
    return String(await RENEW_EPOCH.run(this.redis, [this.key("epoch"), this.epochValue, randomUUID()]));
  }

  adoptEpoch(epoch: string): void {
    this.epochValue = epoch;
  }

  /**
   * Writes the signing secret back (SET NX) after Redis lost it: every node holds the one it
   * read at start, the same for all, and signs and verifies resume tokens with it, so clients
   * keep their identity and nickname holds through the loss. A node started while P secret was
   * gone wrote a new one first: then the nodes disagree until they restart ("differs"; a
   * token of one is ignored by the other, and its holder becomes a new user there).
   * "unknown": this node never read it (tokens are not signed with it: JWT or a hook).
   */
  async restoreSigningSecret(): Promise<"restored" | "kept" | "differs" | "unknown"> {
    if (this.secretHex === null) return "unknown";
    if ((await this.redis.set(this.key("secret"), this.secretHex, "NX")) === "OK") return "restored";
    return (await this.redis.get(this.key("secret"))) === this.secretHex ? "kept" : "differs";
  }

  /**
   * Gives the data a new epoch, for after Redis was restored from a snapshot (RDB or AOF): the
   * rooms go on from their seqs at snapshot time, so the seqs written after it are handed out
   * again, for other messages, and a client that saw them would drop the new ones as seen (see
   * restoreSqlite). Nodes started after it read it; running nodes find it at their next
   * heartbeat (DataLossGuard) and resync their clients.
   */
  async renewEpoch(): Promise<string> {
    this.epochValue = randomUUID();
    await this.redis.set(this.key("epoch"), this.epochValue);
    return this.epochValue;
  }

  /** Whether channels are sharded (SPUBLISH / SSUBSCRIBE, Redis 7+). */
  get sharded(): boolean {
    return this.publishCommand === "SPUBLISH";
  }

  /** The channel a room's frames travel on. */
  channelFor(room: string): string {
    return this.key(`room:${room}`);
  }

  append(input: AppendInput): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new Error("RedisStore is closed"));
    const pending = this.appendNow(input);
    this.inFlight.add(pending);
    const forget = () => this.inFlight.delete(pending);
    pending.then(forget, forget);
    return pending;
  }

  private async appendNow(input: AppendInput): Promise<AppendResult> {
    const { room, userId, clientId, id, from, text, ts } = input;
    const seen = this.seqWatch?.seen(room) ?? null;
    const epoch = this.epochValue;
    // The frame is serialized here, around the seq that only the script knows, exactly as the
    // hub would (same key order), so every node forwards the bytes untouched.
    const head = `{"type":"message","room":${JSON.stringify(room)},"seq":`;
    const tail = `,"from":${JSON.stringify(from)},"text":${JSON.stringify(text)},"ts":${ts}}`;
    const reply = (await APPEND.run(this.redis, [
      this.key("dedupe"), this.key(`seq:${room}`), this.key(`log:${room}`), this.key(`bytes:${room}`),
      userId, clientId, id, from, text, ts, this.retention.retainPerRoom,
      this.publish ? this.channelFor(room) : "", head, tail, room, this.keyPrefix, this.publishCommand,
      this.retention.retainBytesPerRoom, MESSAGE_OVERHEAD_BYTES, this.retention.retainBytesTotal, dropAllowance(1),
      messageBytes(input), this.retention.roomOverheadBytes,
    ])) as [0, number] | [1, string, string, string[]];
    if (reply[0] === 0) {
      const seq = Number(reply[1]);
      // Under another epoch by now: `seen` was of the data given up since.
      if (seen !== null && seq <= seen && epoch === this.epochValue) this.seqWatch!.wentBack(room, seq, seen, "append");
      return { message: { room, seq, userId, clientId, id, from, text, ts }, duplicate: false };
    }
    const [, originalRoom, seq, fields] = reply;
    return { message: storedFrom(originalRoom, `${seq}-0`, fields), duplicate: true };
  }

  async readAfter(room: string, afterSeq: number, limit: number): Promise<ChatMessage[]> {
    if (limit <= 0) return [];
    const start = Math.max(0, Math.floor(afterSeq) + 1);
    const entries = (await this.redis.xrange(this.key(`log:${room}`), `${start}-0`, "+", "COUNT", limit)) as StreamEntry[];
    return entries.map(([entryId, fields]) => wireFrom(room, entryId, fields));
  }

  async readBefore(room: string, beforeSeq: number, limit: number): Promise<ChatMessage[]> {
    if (limit <= 0) return [];
    const end = Math.ceil(beforeSeq) - 1;
    if (end < 1) return [];
    const entries = (await this.redis.xrevrange(this.key(`log:${room}`), `${end}-0`, "-", "COUNT", limit)) as StreamEntry[];
    return entries.reverse().map(([entryId, fields]) => wireFrom(room, entryId, fields));
  }

  async textBytesBetween(room: string, afterSeq: number, throughSeq: number): Promise<number | null> {
    const bytes = Number(await TEXT_BYTES_BETWEEN.run(this.redis, [this.key(`log:${room}`), Math.floor(afterSeq), Math.floor(throughSeq)]));
    return bytes < 0 ? null : bytes;
  }

  async latestSeq(room: string): Promise<number> {
    const seen = this.seqWatch?.seen(room) ?? null;
    const epoch = this.epochValue;
    // A room with no counter (never written, or dropped whole) continues from the floor.
    const [seq, floor] = await this.redis.mget(this.key(`seq:${room}`), this.key("floor"));
    const latest = Number(seq ?? floor ?? 0);
    if (seen !== null && latest < seen && epoch === this.epochValue) this.seqWatch!.wentBack(room, latest, seen, "latestSeq");
    return latest;
  }

  async firstSeq(room: string): Promise<number> {
    const [first] = (await this.redis.xrange(this.key(`log:${room}`), "-", "+", "COUNT", 1)) as StreamEntry[];
    return first ? seqOf(first[0]) : 0;
  }

  /** Waits for appends already requested, then disconnects. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  async signingSecret(): Promise<Uint8Array> {
    await this.redis.set(this.key("secret"), randomBytes(32).toString("hex"), "NX");
    this.secretHex = (await this.redis.get(this.key("secret")))!;
    return new Uint8Array(Buffer.from(this.secretHex, "hex"));
  }

  async claimNickname(claim: NicknameClaim): Promise<ClaimResult> {
    const [granted, value, nick] = (await CLAIM.run(this.redis, [
      this.key(`nick:${claim.key}`), this.key("nicks"),
      claim.userId, claim.nick, claim.now, claim.holdMs, claim.key, LEGACY_HOLD_MS, this.nodeId, LIVE_MARK_STALE_MS,
    ])) as [number, string | number, string | undefined];
    if (granted !== 1) return { ok: false, ownerId: String(value) };
    return { ok: true, usedMs: Number(value), ...(nick !== undefined && nick !== claim.nick ? { nick } : {}) };
  }

  async releaseNickname(r: NicknameRelease): Promise<void> {
    await RELEASE.run(this.redis, [this.key(`nick:${r.key}`), this.key("nicks"), r.userId, r.nick, r.at, r.usedMs, r.heldUntil, r.key, LEGACY_HOLD_MS, r.online ? 1 : 0, this.nodeId, LIVE_MARK_STALE_MS]);
  }

  async purgeNicknames(before: number): Promise<number> {
    let total = 0;
    // Bounded: each round handles up to PURGE_BATCH holds; at most 1,000 rounds per call.
    for (let round = 0; round < 1_000; round++) {
      const [handled, dropped] = (await PURGE.run(this.redis, [this.key("nicks"), before, this.keyPrefix, PURGE_BATCH, LEGACY_HOLD_MS])) as [number, number];
      total += dropped;
      if (handled < PURGE_BATCH) break;
    }
    return total;
  }

  private key(suffix: string): string {
    return this.keyPrefix + suffix;
  }
}

/** Sharded pub/sub arrived in Redis 7.0. */
async function supportsShardedPubSub(redis: Redis): Promise<boolean> {
  const info = await redis.info("server");
  const major = Number(/redis_version:(\d+)/.exec(info)?.[1] ?? 0);
  return major >= 7;
}

const seqOf = (entryId: string): number => Number(entryId.slice(0, entryId.indexOf("-")));

function fieldsOf(fields: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i]!] = fields[i + 1]!;
  return out;
}

function wireFrom(room: string, entryId: string, fields: string[]): ChatMessage {
  const f = fieldsOf(fields);
  return { room, seq: seqOf(entryId), from: f.f!, text: f.t!, ts: Number(f.ts) };
}

function storedFrom(room: string, entryId: string, fields: string[]): StoredMessage {
  const f = fieldsOf(fields);
  return { room, seq: seqOf(entryId), userId: f.u!, clientId: f.c!, id: f.i!, from: f.f!, text: f.t!, ts: Number(f.ts) };
}

/** The URL without its password, for messages. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparsable URL)";
  }
}
