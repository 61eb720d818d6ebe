import { parseArgs } from "node:util";
import { DEFAULT_STORE_PATH, RedisStore } from "../store/index.js";
import { redactedUrl } from "../store/redis-store.js";
import { backupSqlite, restoreSqlite, type CopySummary } from "../store/sqlite-copy.js";

const BACKUP_USAGE = `usage: pulse backup [--store PATH] --to FILE
  Copies the SQLite store (default ${DEFAULT_STORE_PATH}, or PULSE_STORE) to a new FILE while the
  server runs: the store as of one moment. The copy holds the resume-token signing key: keep it
  as secret as the store.`;

const RESTORE_USAGE = `usage: pulse restore --from FILE [--store PATH] [--force]
       pulse restore --redis URL
  Stop the server first: a store that a process has open is refused. Puts a backup made by
  \`pulse backup\` in the place of the SQLite store (default ${DEFAULT_STORE_PATH}, or PULSE_STORE),
  with a new epoch, so that clients resync instead of taking the messages written after the
  backup for ones they have. --force replaces an existing store. With --redis, after Redis
  itself was restored from a snapshot, or a replica that may have lagged was promoted: gives its
  data a new epoch (running nodes adopt it at their next heartbeat and resync their clients).`;

/** --store, else PULSE_STORE as `pulse serve` reads it, else the default. */
const storePath = (given: string | undefined): string => given ?? (process.env.PULSE_STORE || DEFAULT_STORE_PATH);

const described = (s: CopySummary) => `${s.messages.toLocaleString("en-US")} messages, schema version ${s.schemaVersion}, epoch ${s.epoch}`;

/** `pulse backup`: see BACKUP_USAGE. */
export async function backup(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { store: { type: "string" }, to: { type: "string" }, help: { type: "boolean" } } });
  if (values.help) return void console.log(BACKUP_USAGE);
  if (values.to === undefined) throw new Error(`--to is missing\n${BACKUP_USAGE}`);
  const store = storePath(values.store);
  console.log(`backed up ${store} to ${values.to}: ${described(backupSqlite(store, values.to))}`);
}

/** `pulse restore`: see RESTORE_USAGE. */
export async function restore(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { from: { type: "string" }, store: { type: "string" }, redis: { type: "string" }, force: { type: "boolean" }, help: { type: "boolean" } } });
  if (values.help) return void console.log(RESTORE_USAGE);
  if (values.redis !== undefined) {
    if (values.from !== undefined || values.store !== undefined) throw new Error(`--redis takes no --from or --store: Redis is restored by its own means\n${RESTORE_USAGE}`);
    const store = await RedisStore.open({ url: values.redis });
    try {
      console.log(`Redis ${redactedUrl(values.redis)}: new epoch ${await store.renewEpoch()}; clients resync when they come back`);
    } finally {
      await store.close();
    }
    return;
  }
  if (values.from === undefined) throw new Error(`--from is missing\n${RESTORE_USAGE}`);
  const store = storePath(values.store);
  const summary = restoreSqlite(values.from, store, { replace: values.force === true });
  console.log(`restored ${values.from} to ${store}: ${described(summary)} (new); clients resync when they come back`);
}
