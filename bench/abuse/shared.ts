/** Names shared by the abuse benchmark's coordinator and its attacker processes. */
export const ATTACK_KINDS = ["message-flood", "ping-flood", "ping-frame-flood", "pong-frame-flood", "join-leave-churn", "replay-bomb", "non-reader", "page-flood"] as const;
export type AttackKind = (typeof ATTACK_KINDS)[number];
/** Where the honest clients chat (and the floods aim). */
export const HONEST_ROOM = "lobby";
/** Pre-filled with 10,000 messages of 4,000 control characters. */
export const BOMB_ROOM = "bomb";
