import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { RawClient } from "../support/raw-client.js";
import { ServerProcess } from "../support/server-process.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Runs `pulse <args>` from dist/ (what `npm test` builds first). */
function pulse(...args: string[]): { status: number | null; out: string } {
  const run = spawnSync(process.execPath, ["dist/cli/pulse.js", ...args], { cwd: ROOT, encoding: "utf8", env: { ...process.env, PULSE_STORE: "" } });
  return { status: run.status, out: `${run.stdout}${run.stderr}` };
}

async function say(c: RawClient, id: string, text: string): Promise<number> {
  c.send({ type: "send", room: "r", id, text });
  return (await c.next("ack", (a) => a.id === id)).seq;
}

describe("pulse backup and pulse restore (SQLite)", () => {
  it("a backup taken while the server writes, restored, has a new epoch: a client that saw later messages resyncs instead of skipping the new ones", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "pulse-backup-"));
    const store = join(dir, "pulse.db");
    const copy = join(dir, "copy.db");
    const server = await ServerProcess.start({ store });
    try {
      const ada = await RawClient.hello(server.wsUrl, "ada");
      ada.send({ type: "join", room: "r" });
      await ada.next("joined");
      for (const n of [1, 2, 3]) await say(ada, `m${n}`, `before the backup ${n}`);

      const backup = pulse("backup", "--store", store, "--to", copy);
      assert.equal(backup.status, 0, backup.out);
      assert.match(backup.out, /3 messages/);
      assert.equal(pulse("backup", "--store", store, "--to", copy).status, 1, "never over an existing file");

      // Bob reads up to seq 5, then goes away.
      for (const n of [4, 5]) await say(ada, `m${n}`, `after the backup ${n}`);
      const bob = await RawClient.hello(server.wsUrl, "bob");
      bob.send({ type: "join", room: "r" });
      const before = await bob.next("joined");
      assert.equal(before.seq, 5);
      const epoch = bob.welcome!.epoch;
      bob.close();
      ada.close();
      const whileRunning = pulse("restore", "--from", copy, "--store", store, "--force");
      assert.equal(whileRunning.status, 1, whileRunning.out);
      assert.match(whileRunning.out, /is open in another process \(a running server\?\): stop it/);
      // A crash: its write-ahead log stays beside the database, holding the last commits.
      await server.kill();
      assert.equal(existsSync(`${store}-wal`), true, "the crashed server left its log");

      const refused = pulse("restore", "--from", copy, "--store", store);
      assert.equal(refused.status, 1);
      assert.match(refused.out, /exists: stop the server that uses it, then restore with --force/);
      const restored = pulse("restore", "--from", copy, "--store", store, "--force");
      assert.equal(restored.status, 0, restored.out);
      assert.match(restored.out, /3 messages/);

      // Seqs 4-6 are handed out again, for other messages, while bob is away.
      await server.restart();
      const carol = await RawClient.hello(server.wsUrl, "carol");
      carol.send({ type: "join", room: "r" });
      await carol.next("joined");
      for (const n of [1, 2, 3]) assert.equal(await say(carol, `c${n}`, `after the restore ${n}`), 3 + n);

      // Bob comes back from seq 5 of the old history: told the truth, not seq 6 alone.
      const back = await RawClient.hello(server.wsUrl, "bob");
      back.send({ type: "join", room: "r", since: 5, epoch });
      const resumed = await back.next("joined");
      assert.notEqual(back.welcome!.epoch, epoch, "the restored store has an epoch of its own");
      assert.equal(resumed.recovered, false, "bob's view must be rebuilt, not patched");
      assert.deepEqual(resumed.messages.map((m) => m.text).slice(-3), ["after the restore 1", "after the restore 2", "after the restore 3"]);
      for (const c of [carol, back]) c.close();
    } finally {
      await server.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses what is not a Pulse store, and a missing --to or --from", () => {
    const dir = mkdtempSync(join(tmpdir(), "pulse-backup-"));
    try {
      const notPulse = join(dir, "notes.txt");
      writeFileSync(notPulse, "not a database at all, just some text that is long enough".repeat(20));
      const restore = pulse("restore", "--from", notPulse, "--store", join(dir, "pulse.db"));
      assert.equal(restore.status, 1);
      assert.match(restore.out, /is not a Pulse store/);
      assert.equal(existsSync(join(dir, "pulse.db")), false, "nothing was put in the store's place");
      const missing = pulse("backup", "--store", join(dir, "none.db"), "--to", join(dir, "b.db"));
      assert.match(missing.out, /none\.db does not exist/);
      assert.match(pulse("backup", "--store", notPulse).out, /--to is missing/);
      assert.match(pulse("restore").out, /--from is missing/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
