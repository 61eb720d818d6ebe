import type { ChatMessage } from "../protocol/messages.js";

/** What the server hands the store for a new message; the store assigns `seq`. */
export interface AppendInput {
  room: string;
  /** The sender as the server identified it (never a value the client chose by itself). */
  userId: string;
  clientId: string;
  id: string;
  from: string;
  text: string;
  ts: number;
}

/** A message with the key it was stored under. The key never leaves the server. */
export interface StoredMessage extends ChatMessage {
  userId: string;
  clientId: string;
  id: string;
}

export interface AppendResult {
  message: StoredMessage;
  /**
   * true when (userId, clientId, id) had been stored before: `message` is the original, which
   * may be in another room (the server refuses that as `id_reused`).
   */
  duplicate: boolean;
}

/**
 * Durable per-room history. Every engine passes test/support/store-contract.ts.
 *
 * - `append` assigns the room's next sequence number (1, 2, 3, ... without gaps) unless
 *   (userId, clientId, id) was stored before, in which case it returns the original message.
 *   When the returned promise resolves, the message is durable for this engine (SQLite:
 *   committed).
 * - Reads return messages in ascending seq order, in their wire form (no sender keys).
 * - Rooms may be trimmed to the newest `retainPerRoom` messages; `firstSeq` says what is left.
 */
export interface MessageStore {
  /** Random id fixed when the store's data was created; a new database gets a new epoch. */
  readonly epoch: string;
  append(input: AppendInput): Promise<AppendResult>;
  /** Up to `limit` messages with seq > afterSeq, oldest first. */
  readAfter(room: string, afterSeq: number, limit: number): Promise<ChatMessage[]>;
  /** The newest up to `limit` messages with seq < beforeSeq, oldest first. */
  readBefore(room: string, beforeSeq: number, limit: number): Promise<ChatMessage[]>;
  /**
   * UTF-8 bytes of the texts of the messages with afterSeq < seq <= throughSeq, counted
   * without decoding them: a catch-up learns that a gap is too large to replay before it
   * reads a row. Optional: without it, or when it answers null (it cannot count that range,
   * e.g. messages stored by an older version), the catch-up encodes the gap to find out.
   */
  textBytesBetween?(room: string, afterSeq: number, throughSeq: number): Promise<number | null>;
  /** Highest seq in the room, 0 when empty. */
  latestSeq(room: string): Promise<number>;
  /** Lowest seq still held for the room, 0 when empty. */
  firstSeq(room: string): Promise<number>;
  close(): Promise<void>;
}

/** The wire form of a stored message: the sender's keys stay on the server. */
export const toWire = ({ room, seq, from, text, ts }: StoredMessage | ChatMessage): ChatMessage => ({ room, seq, from, text, ts });
