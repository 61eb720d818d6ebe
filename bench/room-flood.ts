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
 * messages stored.
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

const { values } = parseArgs({ options: { members: { type: "string" }, seconds: { type: "string" }, server: { type: "string" } } });
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
  // Only what the generator's members need; sends keep the defaults, per connection and per address.
  rateLimits: { upgrades: WIDE, pings: { perIp: WIDE }, membership: { perIp: WIDE }, history: { perIp: WIDE } },
});
const fleet = await Fleet.start(4, { kind: "pulse", host: "127.0.0.1", port: server.port, reconnect: false, track: false });
await fleet.grow(MEMBERS);
const inRoom = await fleet.fillBig(MEMBERS);
await fleet.settle(1_500);

/** Runs one attacker process; resolves with the messages it had stored. */
function attack(address: string, textLength: number): Promise<number> {
  return new Promise((done) => {
    const child = spawn("taskset", ["-c", String(LOAD_CORE), process.execPath, "--import", "tsx", "bench/room-flood-sender.ts", String(server.port), address, ROOM, String(textLength), String(SECONDS)], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    child.on("exit", () => done((JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as { acked: number }).acked));
  });
}

interface Scenario {
  label: string;
  addresses: number;
  textLength: number;
}
const scenarios: Scenario[] = [
  { label: "no attacker", addresses: 0, textLength: 0 },
  { label: "1 address, 100-character messages", addresses: 1, textLength: 100 },
  { label: "1 address, 4,000-character messages", addresses: 1, textLength: 4_000 },
  { label: "3 addresses, 4,000-character messages", addresses: 3, textLength: 4_000 },
];

const rows: string[][] = [];
for (const s of scenarios) {
  await fleet.count();
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const cpuStart = process.cpuUsage();
  const wallStart = Date.now();
  const stored = s.addresses === 0 ? (await sleep(SECONDS * 1000), []) : await Promise.all(Array.from({ length: s.addresses }, (_, i) => attack(`127.0.0.${99 + i}`, s.textLength)));
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
    s.addresses === 0 ? "" : String(stored.reduce((a, b) => a + b, 0)),
  ]);
  console.log(`  ${rows.at(-1)!.join(" | ")}`);
  await fleet.settle(1_000);
}
await fleet.close();
await server.close();

console.log(`\nA room of ${inRoom} idle members, ${SECONDS} s per scenario, server ${DIST}, ${new Date().toISOString()}\n`);
console.log(textTable(["scenario", "server CPU", "event-loop delay p99 (ms)", "max (ms)", "deliveries/s", "attackers' messages stored"], rows));
process.exit(0);
