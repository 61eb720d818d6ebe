import type { PulseStore } from "./identity-store.js";
import { MemoryStore } from "./memory-store.js";
import type { RetentionOptions } from "./retention.js";
import { SqliteStore } from "./sqlite-store.js";

export type { AppendInput, AppendResult, MessageStore, StoredMessage } from "./message-store.js";
export { toWire } from "./message-store.js";
export type { IdentityStore, NicknameClaim, ClaimResult, PulseStore } from "./identity-store.js";
export { MemoryStore, type MemoryStoreOptions } from "./memory-store.js";
export { SqliteStore, type SqliteStoreOptions } from "./sqlite-store.js";
export { RedisStore, type RedisStoreOptions } from "./redis-store.js";
export { DEFAULT_RETAIN_BYTES_PER_ROOM, DEFAULT_RETAIN_BYTES_TOTAL, DEFAULT_RETAIN_PER_ROOM, MESSAGE_OVERHEAD_BYTES, messageBytes, ROOM_OVERHEAD_BYTES, type RetentionOptions } from "./retention.js";

/** Where `pulse serve` keeps its history unless told otherwise. */
export { DEFAULT_STORE_PATH } from "./store-path.js";

export type OpenStoreOptions = RetentionOptions;

/**
 * Opens the store named by `spec`: "memory" for MemoryStore, anything else is a SQLite file
 * path (":memory:" for an in-memory SQLite database). Async so that engines which connect
 * over the network can be added behind the same call.
 */
export async function openStore(spec: string, options: OpenStoreOptions = {}): Promise<PulseStore> {
  if (spec === "memory") return new MemoryStore(options);
  return new SqliteStore({ ...options, path: spec });
}
