import { holdFor, type HoldLimits, type IdentityStore } from "../store/identity-store.js";
import { nicknameKey } from "./confusables.js";
import type { LogFn } from "./logger.js";

/** `nick`: the display form to use; a user already online keeps the form it came with. */
export type NicknameClaimResult = { ok: true; key: string; nick: string } | { ok: false };

/**
 * Who holds which nickname. Names compare by their confusable skeleton, so "ada", "Ada",
 * "аda" (Cyrillic а) and "ａda" are one name. A name belongs to one userId:
 * - while any connection of that user is online on this node (tabs share it), and
 * - after its last connection went, across restarts (the store keeps the hold), for as long as
 *   the owner has used it, between `hold.minMs` and `hold.maxMs` (HoldLimits), so a name cannot
 *   be taken in the blip of a reconnect or after a server restart, and names taken for a moment
 *   do not pile up for a day. While online, the store holds it for `hold.maxMs` from the claim
 *   (or the last refresh), so a node that dies without writing the release leaves it held.
 * The owner always gets its name back; another user gets 4501 until the hold ends.
 */
export class Nicknames {
  /** `usedBefore`: use carried over from earlier visits; `since`: when this node's visit began. */
  private readonly online = new Map<string, { userId: string; nick: string; connections: number; usedBefore: number; since: number }>();
  private freshTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: IdentityStore,
    private readonly hold: HoldLimits,
    private readonly log: LogFn,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.online.size;
  }

  /** `nick` must already be normalised (normalizeName); `key` is its nicknameKey, when the caller has it. */
  async claim(nick: string, userId: string, key = nicknameKey(nick)): Promise<NicknameClaimResult> {
    if (this.heldByOther(key, userId)) return { ok: false };
    const now = this.now();
    const stored = await this.store.claimNickname({ key, nick, userId, now, holdMs: this.hold.maxMs });
    // Checked again: another connection may have come online while the store answered.
    if (!stored.ok || this.heldByOther(key, userId)) return { ok: false };
    const holder = this.online.get(key);
    if (holder) holder.connections++;
    else this.online.set(key, { userId, nick: stored.nick ?? nick, connections: 1, usedBefore: stored.usedMs, since: now });
    // "Ada" in one tab and "ada" in another are one person in presence, shown one way: as this
    // node shows it, else as another node does (the store says), else as asked.
    return { ok: true, key, nick: holder?.nick ?? stored.nick ?? nick };
  }

  /** One connection of the holder went; after the last, the hold window starts. */
  release(key: string): void {
    const holder = this.online.get(key);
    if (!holder || --holder.connections > 0) return;
    this.online.delete(key);
    this.write(key, holder, this.now(), false).catch((err: Error) => this.log(`nickname release failed: ${err.message}`, { event: "nickname_store_failed", op: "release", err: err.message }));
  }

  /**
   * The holder's use so far, as of `at`, and its hold: the longest while it is still online
   * (so a crash of this node leaves it held as long as any), else the hold its use earned.
   */
  private write(key: string, holder: { userId: string; nick: string; usedBefore: number; since: number }, at: number, online: boolean): Promise<void> {
    const usedMs = holder.usedBefore + Math.max(0, at - holder.since);
    const heldUntil = at + (online ? this.hold.maxMs : holdFor(usedMs, this.hold));
    return this.store.releaseNickname({ key, nick: holder.nick, userId: holder.userId, at, usedMs, heldUntil, online });
  }

  /**
   * With several nodes on one store, a node sees other nodes' online holders only through
   * the store: write their use and hold often enough that a hold never lapses while its owner
   * is online (every third of the hold, at most once a minute, at least once a second).
   */
  keepHoldsFresh(): void {
    const everyMs = Math.max(1_000, Math.min(60_000, Math.floor(this.hold.maxMs / 3)));
    this.freshTimer = setInterval(() => {
      const now = this.now();
      for (const [key, holder] of this.online) this.write(key, holder, now, true).catch((err: Error) => this.log(`nickname refresh failed: ${err.message}`, { event: "nickname_store_failed", op: "refresh", err: err.message }));
    }, everyMs);
    this.freshTimer.unref();
  }

  stop(): void {
    if (this.freshTimer) clearInterval(this.freshTimer);
    this.freshTimer = null;
  }

  /** Forgets holds that ended; returns how many. */
  purgeExpired(): Promise<number> {
    return this.store.purgeNicknames(this.now());
  }

  private heldByOther(key: string, userId: string): boolean {
    const holder = this.online.get(key);
    return holder !== undefined && holder.userId !== userId;
  }
}
