/**
 * `node --import tsx bench/nickname-flood.ts`: one address says `hello` with a new name, leaves at
 * once, and does it again, as fast as the server lets it in (the default upgrade limit: 20 new
 * connections a second, burst 200), for --seconds (default 150). --addresses N spreads the flood
 * over N loopback source addresses (127.0.0.2 on), N times the limit, to find how many names
 * the server itself can grant a second. --ipv6-site: instead, one IPv6 /48 (2001:db8:5::/48)
 * through a trusted proxy's header (the server trusts 127.0.0.1), each hello from the next of
 * its /64s, as a host with a free tunnel-broker /48 can. Every 10 s it prints how many
 * names were granted so far and how many holds the store keeps (rows of SQLite's nicknames
 * table). The shortest hold is set to --min-hold-ms (default 30,000, through
 * PULSE_NICKNAME_HOLD_MIN_MS, which a build without it ignores), so the plateau shows within the
 * run; at the default 10 min it is 20 times as high. --server PATH runs another build's pulse.js.
 */
import Database from "better-sqlite3";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { SUBPROTOCOL } from "../src/protocol/messages.js";
import { cpuSeconds } from "./lib/proc.js";
import { listeningPort, SERVER_CORE, spawnPinned, stopProcess } from "./lib/spawn.js";
import { sleep } from "./lib/stats.js";
import { textTable } from "./lib/table.js";

const { values } = parseArgs({ options: { seconds: { type: "string" }, "min-hold-ms": { type: "string" }, server: { type: "string" }, addresses: { type: "string" }, "ipv6-site": { type: "boolean" } } });
const SECONDS = Number(values.seconds ?? 150);
const MIN_HOLD_MS = Number(values["min-hold-ms"] ?? 30_000);
const SERVER_SCRIPT = values.server ?? "dist/cli/pulse.js";
const ADDRESSES = Number(values.addresses ?? 1);
const IPV6_SITE = values["ipv6-site"] === true;
/** With --ipv6-site: hellos in flight at once, enough to meet a /48's limit if it has one. */
const SITE_IN_FLIGHT = 64;
/** Hellos in flight at once per address: enough to meet the upgrade limit on loopback. */
const IN_FLIGHT = 8;

const dir = mkdtempSync(join(tmpdir(), "pulse-nick-flood-"));
const storePath = join(dir, "pulse.db");
process.env.PULSE_NICKNAME_HOLD_MIN_MS = String(MIN_HOLD_MS);
const child = spawnPinned(SERVER_CORE, process.execPath, [SERVER_SCRIPT, "serve", "--port", "0", "--host", "127.0.0.1", "--store", storePath, "--quiet", ...(IPV6_SITE ? ["--trusted-proxy", "127.0.0.1"] : [])]);
const port = await listeningPort(child);

let granted = 0;
let refused = 0;
let next = 0;
/** One drive-by name: hello, welcome, gone. Resolves false when the upgrade was refused (429). */
function driveBy(localAddress: string): Promise<boolean> {
  const i = next++;
  // The next /64 of the site each time (its 65,536 come round again after that many hellos).
  const headers = IPV6_SITE ? { "x-forwarded-for": `2001:db8:5:${(i % 65_536).toString(16)}::1` } : undefined;
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, [SUBPROTOCOL], { localAddress, headers });
    ws.on("unexpected-response", (_req, res) => {
      res.resume();
      resolve(false);
    });
    ws.on("error", () => resolve(false));
    ws.on("open", () => ws.send(JSON.stringify({ type: "hello", clientId: `flood-${i}`, nick: `flood${i}` })));
    ws.on("message", (data) => {
      if ((JSON.parse(String(data)) as { type: string }).type !== "welcome") return;
      ws.close();
      resolve(true);
    });
  });
}

const heldRows = (): number => {
  const db = new Database(storePath, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM nicknames`).get() as { n: number }).n;
  } finally {
    db.close();
  }
};

const cpu0 = cpuSeconds(child.pid!);
const start = Date.now();
const deadline = start + SECONDS * 1000;
const flooders = Array.from({ length: IPV6_SITE ? SITE_IN_FLIGHT : IN_FLIGHT * ADDRESSES }, async (_, k) => {
  const from = ADDRESSES === 1 ? "127.0.0.1" : `127.0.0.${2 + (k % ADDRESSES)}`;
  while (Date.now() < deadline) {
    if (await driveBy(from)) granted++;
    else {
      refused++;
      await sleep(50);
    }
  }
});
const rows: string[][] = [];
for (let t = 10; t <= SECONDS; t += 10) {
  await sleep(start + t * 1000 - Date.now());
  rows.push([String(t), String(granted), String(refused), String(heldRows())]);
  console.log(`${t} s: ${granted} names granted, ${refused} upgrades refused, ${rows.at(-1)![3]} holds kept`);
}
await Promise.all(flooders);
const serverCpu = (cpuSeconds(child.pid!) - cpu0) / SECONDS;
await stopProcess(child, "SIGTERM", 5_000);
// After a clean stop the WAL is checkpointed into the file: its size is what the holds take.
const held = heldRows();
const fileBytes = statSync(storePath).size;
rmSync(dir, { recursive: true, force: true });
console.log(`\nserver ${SERVER_SCRIPT}, shortest hold ${MIN_HOLD_MS} ms (PULSE_NICKNAME_HOLD_MIN_MS), ${IPV6_SITE ? "one IPv6 /48, a new /64 per hello" : `${ADDRESSES} address(es)`}, default limits`);
console.log(`names granted per second: ${(granted / SECONDS).toFixed(0)}; server CPU ${(serverCpu * 100).toFixed(0)} % of a core`);
console.log(`store file ${fileBytes} bytes for ${held} holds: ${held ? Math.round(fileBytes / held) : "-"} bytes per hold (the empty store's pages included)`);
console.log(textTable(["s", "names granted", "upgrades refused (429)", "holds kept"], rows));
process.exit(0);
