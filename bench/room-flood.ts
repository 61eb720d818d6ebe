/**
 * `npm run build && node --import tsx bench/room-flood.ts`: what can one address make the
 * server write by sending into a large room? A room of --members (default 5,000) idle clients
 * (the load generator, 4 processes on core 1); then, for --seconds (default 12) each, no
 * attacker, and attackers from 1 or 3 loopback addresses (127.0.0.99 on), one connection each,
 * sending 100- or 4,000-character messages into the room as fast as the rate limits let them
 * (bench/room-flood-sender.ts: the reference client kept ahead of its acks, so it waits out
 * every refusal and is never cut, the most a client that follows the protocol gets stored).
 * Per scenario: the server's CPU, its event-loop delay p99 and max (what every other client
 * waits on top of its own traffic), deliveries per second to the members, and the attackers'
 * messages stored and sends refused (each resent later). Two scenarios come from one IPv6 /48
 * instead, through a proxy the server trusts (127.0.0.98, X-Forwarded-For): --site-senders
 * (default 100) connections, each from a /64 of its own, as anyone with a free /48 from a
 * tunnel broker can; one of them into the large room, one into a room of their own (what it
 * costs is the store's disk and the server's writes to it). --site-only runs those two and the
 * run without an attacker. --read-only makes the large room read-only (`readOnlyRooms`): the
 * attackers' sends there are refused with forbidden, and they send another each time.
 *
 * The server runs in this process (pinned to core 0) so that its rate limits can be the
 * defaults for the attackers while the generator's few addresses, each carrying 1,250 members,
 * get their per-address connection, ping and join limits opened. --server DIR imports
 * DIR/server/index.js instead of dist/ (an older build, to measure before and after).
 * Prints a table; nothing is written.
 */
import { execFileSync, spawn } from "node:child_process";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { Fleet } from "./load/fleet.js";
import { LOAD_CORE, SERVER_CORE } from "./lib/spawn.js";
import { sleep } from "./lib/stats.js";
import { textTable } from "./lib/table.js";

const { values } = parseArgs({ options: { members: { type: "string" }, seconds: { type: "string" }, server: { type: "string" }, "site-senders": { type: "string" }, "site-only": { type: "boolean" }, "read-only": { type: "boolean" } } });
const SITE_SENDERS = Number(values["site-senders"] ?? 100);
/** The proxy the site's senders connect from; the server trusts its X-Forwarded-For. */
const PROXY = "127.0.0.98";
const MEMBERS = Number(values.members ?? 5_000);
const SECONDS = Number(values.seconds ?? 12);
const DIST = resolve(values.server ?? "dist");
const ROOM = "big"; // the room the generator's clients join (bench/load/worker.ts)
execFileSync("taskset", ["-pc", String(SERVER_CORE), String(process.pid)], { stdio: "ignore" });

const WIDE = { perSecond: 1_000_000, burst: 1_000_000 };
const { startServer } = (await import(pathToFileURL(`${DIST}/server/index.js`).href)) as {
  startServer(o: object): Promise<{ port: number; close(): Promise<void> }>;
};
const server = await startServer({
  port: 0,
  host: "127.0.0.1",
  log: () => {},
  store: "memory",
  maxConnectionsPerIp: 100_000,
  maxHttpSocketsPerIp: 100_000,
  trustedProxies: [PROXY],
  // Only what the generator's members need; sends keep the defaults, per connection and per address.
  rateLimits: { upgrades: WIDE, pings: { perIp: WIDE }, membership: { perIp: WIDE }, history: { perIp: WIDE } },
  ...(values["read-only"] ? { readOnlyRooms: [ROOM] } : {}),
});
const fleet = await Fleet.start(4, { kind: "pulse", host: "127.0.0.1", port: server.port, reconnect: false, track: false });
await fleet.grow(MEMBERS);
const inRoom = await fleet.fillBig(MEMBERS);
await fleet.settle(1_500);

interface Sent {
  acked: number;
  refused: number;
  forbidden: number;
}
/** Runs one attacker process (its senders forwarded from `forwarded`, if any); resolves with its sends stored and refused. */
function attack(address: string, room: string, textLength: number, forwarded: readonly string[] = []): Promise<Sent> {
  return new Promise((done) => {
    const child = spawn("taskset", ["-c", String(LOAD_CORE), process.execPath, "--import", "tsx", "bench/room-flood-sender.ts", String(server.port), address, room, String(textLength), String(SECONDS), ...forwarded], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    child.on("exit", () => done(JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as Sent));
  });
}

interface Scenario {
  label: string;
  addresses: number;
  textLength: number;
  /** Senders from /64s of one IPv6 /48 instead of addresses of their own; into `room`. */
  site?: { room: string };
}
/** One address in each of SITE_SENDERS /64s of 2001:db8:5::/48. */
const SITE = Array.from({ length: SITE_SENDERS }, (_, i) => `2001:db8:5:${(i + 1).toString(16)}::1`);
const scenarios: Scenario[] = [
  { label: "no attacker", addresses: 0, textLength: 0 },
  { label: "1 address, 100-character messages", addresses: 1, textLength: 100 },
  { label: "1 address, 4,000-character messages", addresses: 1, textLength: 4_000 },
  { label: "3 addresses, 4,000-character messages", addresses: 3, textLength: 4_000 },
  { label: `one /48 (${SITE_SENDERS} /64s), 100-character messages`, addresses: 1, textLength: 100, site: { room: ROOM } },
  { label: `one /48 (${SITE_SENDERS} /64s), 4,000 characters, a room of its own`, addresses: 1, textLength: 4_000, site: { room: "side" } },
];

const rows: string[][] = [];
for (const s of scenarios.filter((x) => !values["site-only"] || x.addresses === 0 || x.site)) {
  await fleet.count();
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const cpuStart = process.cpuUsage();
  const wallStart = Date.now();
  const stored =
    s.addresses === 0
      ? (await sleep(SECONDS * 1000), [])
      : s.site
        ? [await attack(PROXY, s.site.room, s.textLength, SITE)]
        : await Promise.all(Array.from({ length: s.addresses }, (_, i) => attack(`127.0.0.${99 + i}`, ROOM, s.textLength)));
  const cpu = process.cpuUsage(cpuStart);
  const wallMs = Date.now() - wallStart;
  delay.disable();
  const delivered = await fleet.count();
  rows.push([
    s.label,
    `${(((cpu.user + cpu.system) / 1000 / wallMs) * 100).toFixed(0)} %`,
    // The histogram's resolution (10 ms) is its floor: subtracted, as in the other benches.
    (Math.max(0, delay.percentile(99) / 1e6 - 10)).toFixed(0),
    (delay.max / 1e6 - 10).toFixed(0),
    String(Math.round((delivered / wallMs) * 1000)),
    s.addresses === 0 ? "" : String(stored.reduce((n, x) => n + x.acked, 0)),
    s.addresses === 0 ? "" : String(stored.reduce((n, x) => n + x.refused, 0)),
    s.addresses === 0 ? "" : String(stored.reduce((n, x) => n + x.forbidden, 0)),
  ]);
  console.log(`  ${rows.at(-1)!.join(" | ")}`);
  await fleet.settle(1_000);
}
await fleet.close();
await server.close();

console.log(`\nA room of ${inRoom} idle members${values["read-only"] ? ", read-only" : ""}, ${SECONDS} s per scenario, server ${DIST}, ${new Date().toISOString()}\n`);
console.log(textTable(["scenario", "server CPU", "event-loop delay p99 (ms)", "max (ms)", "deliveries/s", "attackers' messages stored", "refused (rate_limited)", "refused for good (forbidden)"], rows));
process.exit(0);
