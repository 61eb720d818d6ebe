/**
 * What the server keeps about identities next to the messages: the key that signs anonymous
 * resume tokens, and who holds which nickname. Kept in the same store so that both survive a
 * restart together with the history they give meaning to.
 */
export interface NicknameClaim {
  /** The comparison key of the nickname (its confusable skeleton), not the display form. */
  key: string;
  /** The display form, as the claimant will be shown. */
  nick: string;
  userId: string;
  /** Now, on the caller's clock (ms since the epoch). */
  now: number;
  /** Another identity's claim is honoured until this long after it was last seen. */
  holdMs: number;
}

export type ClaimResult = { ok: true } | { ok: false; ownerId: string };

export interface IdentityStore {
  /**
   * 32 random bytes made on first use and kept with the data, so tokens signed before a
   * restart still verify after it. Stores that keep nothing (memory) make one per process.
   */
  signingSecret(): Promise<Uint8Array>;
  /**
   * Atomically: if `key` is held by another user seen less than `holdMs` ago, refuse and name
   * the owner; otherwise record the claimant as the holder, last seen `now`.
   */
  claimNickname(claim: NicknameClaim): Promise<ClaimResult>;
  /** The holder went offline at `at`: the hold window starts then. Ignored if someone else holds it. */
  releaseNickname(key: string, userId: string, at: number): Promise<void>;
  /** Forgets holds last seen before `before`; returns how many were dropped. */
  purgeNicknames(before: number): Promise<number>;
}

/** A store the server can run on: history plus identities. */
export type PulseStore = import("./message-store.js").MessageStore & IdentityStore;

/** Whether `existing` still shuts out a claimant other than its owner. */
export const holdsAgainst = (existing: { userId: string; lastSeenAt: number }, claim: NicknameClaim): boolean =>
  existing.userId !== claim.userId && claim.now - existing.lastSeenAt < claim.holdMs;
