import type { Database } from "better-sqlite3";
import { ROOM_OVERHEAD_BYTES } from "./retention.js";

/**
 * A message row's messageBytes (retention.ts) in SQL: text, sender and room once, the three
 * parts of the idempotency key twice (the row and its index). octet_length() reads lengths from
 * the record header without loading long texts.
 */
export const MESSAGE_BYTES_SQL =
  "octet_length(text) + octet_length(sender) + octet_length(room) + 2 * (octet_length(user_id) + octet_length(client_id) + octet_length(msg_id))";

/**
 * Schema migrations for SqliteStore, in order. Migration `i` moves a database from
 * `PRAGMA user_version = i` to `i + 1`; applied ones are never edited, only appended to.
 */
export const SQLITE_MIGRATIONS: readonly string[] = [
  // 1: messages clustered by (room, seq) so a room's history is one contiguous range scan;
  // the idempotency key is global, as client message ids are unique per client, not per room.
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE messages (
    room      TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    client_id TEXT    NOT NULL,
    msg_id    TEXT    NOT NULL,
    sender    TEXT    NOT NULL,
    text      TEXT    NOT NULL,
    ts        INTEGER NOT NULL,
    PRIMARY KEY (room, seq)
  ) WITHOUT ROWID;

  CREATE UNIQUE INDEX messages_idempotency_key ON messages (client_id, msg_id);
  `,
  // 2: the idempotency key includes the server-side identity, so one connection can no longer
  // pre-empt another's ids; nickname holds survive restarts. Rows from before have user_id ''.
  `
  ALTER TABLE messages ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
  DROP INDEX messages_idempotency_key;
  CREATE UNIQUE INDEX messages_idempotency_key ON messages (user_id, client_id, msg_id);

  CREATE TABLE nicknames (
    key          TEXT    PRIMARY KEY,
    nick         TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    last_seen_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX nicknames_last_seen ON nicknames (last_seen_at);
  `,
  // 3: each room's text bytes, kept with every append, so the per-room byte budget is checked
  // without summing the room (up to 64 MiB of text) whenever its cache entry was dropped.
  // Rooms already stored are summed once here.
  `
  CREATE TABLE room_sizes (
    room       TEXT    PRIMARY KEY,
    text_bytes INTEGER NOT NULL
  ) WITHOUT ROWID;

  INSERT INTO room_sizes (room, text_bytes)
  SELECT room, SUM(octet_length(text)) FROM messages GROUP BY room;
  `,
  // 4: each room's message count and when it was last written (a counter, not a clock), so the
  // total across rooms is summed from this table at open and whole rooms can be dropped, least
  // recently written first, when it is over retainBytesTotal. Rooms already stored are ordered
  // by their newest message's time.
  `
  ALTER TABLE room_sizes ADD COLUMN message_count INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE room_sizes ADD COLUMN written INTEGER NOT NULL DEFAULT 0;
  UPDATE room_sizes SET
    message_count = (SELECT count(*) FROM messages WHERE messages.room = room_sizes.room),
    written = coalesce((SELECT max(ts) FROM messages WHERE messages.room = room_sizes.room), 0);
  CREATE INDEX room_sizes_written ON room_sizes (written);
  `,
  // 5: a nickname is held for as long as it was used (between a minimum and a maximum), so each
  // hold keeps its use and when it ends, and is purged by that end. Holds already stored keep
  // the hold they had: 24 h (the default then) from when their owner was last seen.
  `
  ALTER TABLE nicknames ADD COLUMN used_ms INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE nicknames ADD COLUMN held_until INTEGER NOT NULL DEFAULT 0;
  UPDATE nicknames SET used_ms = 86400000, held_until = last_seen_at + 86400000;
  DROP INDEX nicknames_last_seen;
  CREATE INDEX nicknames_held_until ON nicknames (held_until);
  `,
  // 6: over retainBytesTotal the largest rooms are cut first (a fair share), no longer whole
  // rooms dropped least recently written first: what each room holds in the byte budget's
  // measure (text bytes plus MESSAGE_OVERHEAD_BYTES, 256, per message), indexed largest first.
  // The index entries end with the room (the key), so ties come by name.
  `
  ALTER TABLE room_sizes ADD COLUMN held INTEGER GENERATED ALWAYS AS (text_bytes + 256 * message_count) VIRTUAL;
  CREATE INDEX room_sizes_held ON room_sizes (held);
  DROP INDEX room_sizes_written;
  `,
  // 7: the byte budgets count what a client chooses beyond the text too (its ids, nick and the
  // room's name: long ones made the file 6x the count) and each room's own cost: the running
  // count becomes counted_bytes, ROOM_OVERHEAD_BYTES plus each held row's messageBytes, summed
  // once here. held follows the renamed column.
  `
  ALTER TABLE room_sizes RENAME COLUMN text_bytes TO counted_bytes;
  UPDATE room_sizes SET counted_bytes = ${ROOM_OVERHEAD_BYTES} +
    coalesce((SELECT sum(${MESSAGE_BYTES_SQL}) FROM messages WHERE messages.room = room_sizes.room), 0);
  `,
];

/**
 * Brings `db` to the latest schema, one transaction per migration so a crash between two
 * leaves a consistent `user_version`. Refuses a database written by a newer Pulse.
 */
export function applyMigrations(db: Database, migrations: readonly string[] = SQLITE_MIGRATIONS): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > migrations.length) {
    throw new Error(
      `database schema version ${current} is newer than this Pulse supports (${migrations.length})`,
    );
  }
  migrations.slice(current).forEach((sql, i) => {
    const version = current + i + 1;
    db.transaction(() => {
      db.exec(sql);
      // PRAGMA takes no bound parameters; `version` is an integer we computed.
      db.pragma(`user_version = ${version}`);
    })();
  });
}
