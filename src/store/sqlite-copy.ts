import { randomUUID } from "node:crypto";
import { copyFileSync, existsSync, renameSync, rmSync } from "node:fs";
import { dirname, join, basename } from "node:path";
import Database from "better-sqlite3";
import { SQLITE_MIGRATIONS } from "./sqlite-migrations.js";

/** What a copy holds, for the operator to check. */
export interface CopySummary {
  messages: number;
  schemaVersion: number;
  epoch: string;
}

/**
 * Copies a SQLite store while its server runs: one read transaction (`VACUUM INTO`), so the copy
 * is the database as of one moment, compacted, and the server goes on writing meanwhile (the
 * write-ahead log lets a reader keep its snapshot). SQLite's page-by-page backup API starts
 * over whenever another process writes, which a busy server always does. Refuses to overwrite
 * `to`, and a file that is not a Pulse store.
 */
export function backupSqlite(from: string, to: string): CopySummary {
  if (existsSync(to)) throw new Error(`${to} exists: name a new file for the backup`);
  const db = openPulseDatabase(from);
  try {
    db.prepare("VACUUM INTO ?").run(to);
  } finally {
    db.close();
  }
  return summaryOf(to);
}

/**
 * Puts a backup in the place of a store, with a new epoch. The server must be stopped. The
 * epoch is what makes a restore honest: the backup's rooms go on from their last seq at backup
 * time, so the seqs written after it are handed out again, for other messages. A client that saw
 * them, coming back with the old epoch, would take the new messages for ones it has and drop
 * them; with a new epoch every client resyncs (`recovered: false`) and loses nothing. The
 * target's write-ahead log and shared-memory files belong to the database being replaced and
 * would be replayed into the restored one: they are removed. Refuses a backup that is not a
 * Pulse store or is newer than this Pulse, an existing target unless `replace`, and a target
 * another process has open (see refuseIfOpenElsewhere).
 */
export function restoreSqlite(backup: string, target: string, { replace = false } = {}): CopySummary {
  const checked = openPulseDatabase(backup);
  checked.close();
  if (existsSync(target)) {
    if (!replace) throw new Error(`${target} exists: stop the server that uses it, then restore with --force to replace it`);
    refuseIfOpenElsewhere(target);
  }
  const staging = join(dirname(target), `.${basename(target)}.restoring-${process.pid}`);
  rmSync(staging, { force: true });
  copyFileSync(backup, staging);
  try {
    const db = new Database(staging, { fileMustExist: true });
    try {
      db.prepare(`UPDATE meta SET value = ? WHERE key = 'epoch'`).run(randomUUID());
    } finally {
      db.close();
    }
    for (const suffix of ["-wal", "-shm"]) rmSync(target + suffix, { force: true });
    renameSync(staging, target);
  } catch (error) {
    rmSync(staging, { force: true });
    throw error;
  }
  return summaryOf(target);
}

/**
 * Throws when another process has the database at `path` open: a running server. Replacing its
 * file under it would not stop it: it would go on writing to the old file's write-ahead log,
 * which is removed, and acknowledge messages that are then nowhere. In WAL mode every open
 * connection holds a shared lock on the database file, so an exclusive lock, asked for once
 * without waiting, is refused exactly while one is open (a stopped or crashed server holds none).
 */
function refuseIfOpenElsewhere(path: string): void {
  let db: Database.Database;
  try {
    db = new Database(path, { fileMustExist: true, timeout: 0 });
  } catch {
    return; // not a database SQLite can open: nothing of ours holds it
  }
  try {
    db.pragma("locking_mode = EXCLUSIVE");
    db.exec("BEGIN EXCLUSIVE");
    db.exec("COMMIT");
  } catch (error) {
    if (error instanceof Database.SqliteError && (error.code === "SQLITE_BUSY" || error.code === "SQLITE_LOCKED")) {
      throw new Error(`${path} is open in another process (a running server?): stop it, then restore`);
    }
    // Anything else (not a database, say): --force replaces it as it is.
  } finally {
    db.close();
  }
}

/** Opens `path` read-only, refusing what is not a Pulse store this Pulse can open. */
function openPulseDatabase(path: string): Database.Database {
  if (!existsSync(path)) throw new Error(`${path} does not exist`);
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const version = db.pragma("user_version", { simple: true }) as number;
    if (version > SQLITE_MIGRATIONS.length) throw new Error(`${path} was written by a newer Pulse (schema ${version}; this one knows ${SQLITE_MIGRATIONS.length})`);
    const hasEpoch = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).get() !== undefined && db.prepare(`SELECT 1 FROM meta WHERE key = 'epoch'`).get() !== undefined;
    if (!hasEpoch) throw new Error(`${path} is not a Pulse store (no epoch in its meta table)`);
    return db;
  } catch (error) {
    db.close();
    throw error instanceof Database.SqliteError ? new Error(`${path} is not a Pulse store: ${error.message}`) : error;
  }
}

function summaryOf(path: string): CopySummary {
  const db = openPulseDatabase(path);
  try {
    return {
      messages: (db.prepare(`SELECT count(*) AS n FROM messages`).get() as { n: number }).n,
      schemaVersion: db.pragma("user_version", { simple: true }) as number,
      epoch: (db.prepare(`SELECT value FROM meta WHERE key = 'epoch'`).get() as { value: string }).value,
    };
  } finally {
    db.close();
  }
}
