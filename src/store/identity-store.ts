/**
 * What the server keeps about identities next to the messages: the key that signs anonymous
 * resume tokens, and who holds which nickname. Kept in the same store so that both survive a
 * restart together with the history they give meaning to.
 */

/**
 * How long a nickname stays its owner's after the owner was last seen: as long as the owner has
 * used it (online time, summed over visits while the hold never lapsed), but at least `minMs`
 * and at most `maxMs`. A name taken for a moment is free again after `minMs`, so a flood of
 * drive-by names holds at most (new connections per second x `minMs`) names per address at
 * any time, not a day's worth; a name used for hours is held for hours.
 */
export interface HoldLimits {
  minMs: number;
  maxMs: number;
}

/** The hold a name has earned after `usedMs` of use (a `minMs` above `maxMs` acts as `maxMs`). */
export const holdFor = (usedMs: number, limits: HoldLimits): number => Math.min(limits.maxMs, Math.max(limits.minMs, usedMs));

export interface NicknameClaim {
  /** The comparison key of the nickname (its confusable skeleton), not the display form. */
  key: string;
  /** The display form, as the claimant will be shown. */
  nick: string;
  userId: string;
  /** Now, on the caller's clock (ms since the epoch). */
  now: number;
  /**
   * How long from now the name stays the claimant's if its node stops writing (a crash): the
   * longest hold, as for every name online. The hold by use is written when its owner leaves.
   */
  holdMs: number;
}

/**
 * Granted: `usedMs` is the use the claimant carries over (its own hold had not lapsed), else 0;
 * `nick`, when the claimant's user is online under the name elsewhere (another node on the
 * same store), the spelling it is shown with there, to show here too. Refused: another
 * identity holds the name.
 */
export type ClaimResult = { ok: true; usedMs: number; nick?: string } | { ok: false; ownerId: string };

/** The holder was last seen at `at`, having used the name for `usedMs`; it is held until `heldUntil`. */
export interface NicknameRelease {
  key: string;
  nick: string;
  userId: string;
  at: number;
  usedMs: number;
  heldUntil: number;
  /** True when the holder is still online on the writing node (a refresh); absent or false: it left. */
  online?: boolean;
}

export interface IdentityStore {
  /**
   * 32 random bytes made on first use and kept with the data, so tokens signed before a
   * restart still verify after it. Stores that keep nothing (memory) make one per process.
   */
  signingSecret(): Promise<Uint8Array>;
  /**
   * Atomically: if `key` is held by another user until after `now`, refuse and name the owner;
   * otherwise record the claimant as the holder, carrying over its use if its own hold had not
   * lapsed, held until `now + holdMs`.
   */
  claimNickname(claim: NicknameClaim): Promise<ClaimResult>;
  /**
   * Writes the holder's use and hold end: when it goes offline (the hold by use), and with
   * several nodes while it is online (the longest hold, from now). Written even if the hold had
   * been purged meanwhile; ignored if another user holds the name.
   */
  releaseNickname(release: NicknameRelease): Promise<void>;
  /** Forgets holds that ended before `before`; returns how many were dropped. */
  purgeNicknames(before: number): Promise<number>;
}

/** A store the server can run on: history plus identities. */
export type PulseStore = import("./message-store.js").MessageStore & IdentityStore;

/** A stored hold: whose, how long used, held until when. */
export interface StoredHold {
  userId: string;
  usedMs: number;
  heldUntil: number;
}

/** Whether `existing` still shuts out a claimant other than its owner. */
export const holdsAgainst = (existing: StoredHold, claimant: { userId: string; now: number }): boolean =>
  existing.userId !== claimant.userId && claimant.now < existing.heldUntil;

/** The use a granted claimant carries over: its own hold's, if that had not lapsed. */
export const usedCarriedOver = (existing: StoredHold | undefined, claim: NicknameClaim): number =>
  existing && existing.userId === claim.userId && claim.now < existing.heldUntil ? existing.usedMs : 0;

/** Holds written before use was counted keep the hold they had then (the old default, 24 h, from last seen). */
export const LEGACY_HOLD_MS = 24 * 60 * 60 * 1000;
