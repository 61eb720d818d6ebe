/**
 * npm run bench:fill — the time to fill one shared room, Pulse beside plain ws in the same run.
 *
 * Each round starts a fresh server of each system (alternating which goes first), connects
 * 5,000 idle clients from four generator processes, has the first one send --history N messages
 * (default 50: a room that has been talked in, so Pulse's `joined` carries a page of history),
 * then grows the room in two steps: 1,000 joins sent at once, then 4,000 more. A step's time runs
 * from the first join sent to the last join answered (Pulse's `joined`, plain ws's constant
 * 30-byte reply); server CPU, payload bytes received and the server's write and read system calls
 * are per join (both servers make about one of each: what differs is the work around them). The figures are the medians
 * over --rounds (default 5), the ratio the median of the rounds' ratios: the machine is shared.
 * "Server busy" is its CPU over the step's wall time: near 100 % the server is what the step
 * waits for; well below, the generator (one core for its four processes) is.
 * --history 0 is the flattering case for Pulse (its `joined` carries no messages).
 * Writes bench/results/fill.json (history 50) or fill-history0.json, and the table as .md.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { Fleet } from "./load/fleet.js";
import { cpuSeconds, ioSyscalls } from "./lib/proc.js";
import { LOAD_CORE } from "./lib/spawn.js";
import { median, sleep } from "./lib/stats.js";
import { markdownTable, textTable } from "./lib/table.js";
import { startSystem, systemById } from "./systems.js";

const arg = (name: string): string | undefined => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : undefined);
const intArg = (name: string, fallback: number, min: number, max: number): number => {
  const v = Number(arg(name) ?? fallback);
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`--${name} takes an integer from ${min} to ${max}`);
  return v;
};
const ROUNDS = intArg("rounds", 5, 1, 20);
const HISTORY = intArg("history", 50, 0, 500);
const PORT = intArg("port", 9700, 1024, 60_000);
const STEPS = [1_000, 5_000];
const CAP_MS = 30_000;
const hrMs = (): number => Number(process.hrtime.bigint()) / 1e6;
execFileSync("taskset", ["-pc", String(LOAD_CORE), String(process.pid)], { stdio: "ignore" });

type Step = { room: number; joins: number; ms: number; serverUsPerJoin: number; serverBusy: number; bytesPerJoin: number; writesPerJoin: number; readsPerJoin: number };

async function fillOnce(id: string, port: number): Promise<Step[]> {
  const def = systemById(id);
  const server = await startSystem(def, port, false, true);
  const fleet = await Fleet.start(4, { kind: def.kind, host: "127.0.0.1", port, reconnect: false, track: false }, 40);
  try {
    const connected = await fleet.grow(STEPS.at(-1)!);
    if (connected < STEPS.at(-1)!) throw new Error(`${id}: only ${connected} clients connected`);
    // The history: sender 0 joins and talks; its messages are the page a Pulse join carries.
    await fleet.fillBig(4);
    for (let i = 0; i < HISTORY; i++) await fleet.workers[0]!.request({ op: "send", conn: 0, id: `h${i}`, text: `message ${i} of the room's recent history` });
    await fleet.settle(1_000);
    await fleet.traffic();
    const steps: Step[] = [];
    let before = await fleet.fillBig(0);
    for (const room of STEPS) {
      const cpu0 = cpuSeconds(server.pid);
      const io0 = ioSyscalls(server.pid);
      const t0 = hrMs();
      const inBig = await Promise.race([fleet.fillBig(room), sleep(CAP_MS).then(() => null)]);
      if (inBig === null) throw new Error(`${id}: room of ${room} not filled within ${CAP_MS} ms`);
      const ms = hrMs() - t0;
      const cpu = cpuSeconds(server.pid) - cpu0;
      const io = ioSyscalls(server.pid);
      const joins = inBig - before;
      await fleet.settle(1_000);
      const traffic = await fleet.traffic();
      steps.push({ room, joins, ms, serverUsPerJoin: (cpu * 1e6) / joins, serverBusy: (cpu * 1e3) / ms, bytesPerJoin: traffic.bytes / joins, writesPerJoin: (io.writes - io0.writes) / joins, readsPerJoin: (io.reads - io0.reads) / joins });
      before = inBig;
    }
    return steps;
  } finally {
    await fleet.close();
    await server.stop();
  }
}

const systems = ["pulse", "ws"];
const results = new Map<string, Step[][]>(systems.map((s) => [s, []]));
const ratios = new Map<number, number[]>(STEPS.map((r) => [r, []]));
const startedAt = new Date().toISOString();
const loadAtStart = loadavg().map((l) => l.toFixed(2)).join(" ");
console.log(`room fill, ${ROUNDS} rounds, history ${HISTORY}; load average at start ${loadAtStart}`);
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? systems : [...systems].reverse();
  const got = new Map<string, Step[]>();
  for (const [k, id] of order.entries()) {
    const steps = await fillOnce(id, PORT + k * 10);
    got.set(id, steps);
    results.get(id)!.push(steps);
    console.log(`round ${round + 1} ${id}: ${steps.map((s) => `room ${s.room} ${s.ms.toFixed(0)} ms, ${s.serverUsPerJoin.toFixed(0)} us/join`).join("; ")}`);
  }
  for (const [i, room] of STEPS.entries()) ratios.get(room)!.push(got.get("pulse")![i]!.ms / got.get("ws")![i]!.ms);
}
const rows: string[][] = [];
for (const [i, room] of STEPS.entries()) {
  const med = (id: string, f: (s: Step) => number): number => median(results.get(id)!.map((r) => f(r[i]!)));
  rows.push([
    `${room} (${results.get("pulse")![0]![i]!.joins} joins)`,
    med("pulse", (s) => s.ms).toFixed(0),
    med("ws", (s) => s.ms).toFixed(0),
    `${median(ratios.get(room)!).toFixed(2)}x`,
    med("pulse", (s) => s.serverUsPerJoin).toFixed(0),
    med("ws", (s) => s.serverUsPerJoin).toFixed(0),
    `${(med("pulse", (s) => s.serverBusy) * 100).toFixed(0)} %`,
    `${(med("ws", (s) => s.serverBusy) * 100).toFixed(0)} %`,
    med("pulse", (s) => s.bytesPerJoin).toFixed(0),
    med("ws", (s) => s.bytesPerJoin).toFixed(0),
    med("pulse", (s) => s.writesPerJoin).toFixed(2),
    med("ws", (s) => s.writesPerJoin).toFixed(2),
    med("pulse", (s) => s.readsPerJoin).toFixed(2),
    med("ws", (s) => s.readsPerJoin).toFixed(2),
  ]);
}
const header = ["room", "Pulse ms", "ws ms", "Pulse / ws", "Pulse us/join", "ws us/join", "Pulse server busy", "ws server busy", "Pulse B/join", "ws B/join", "Pulse writes/join", "ws writes/join", "Pulse reads/join", "ws reads/join"];
const loadAtEnd = loadavg().map((l) => l.toFixed(2)).join(" ");
console.log(textTable(header, rows));
console.log(`load average at end ${loadAtEnd}`);
const name = HISTORY === 50 ? "fill" : `fill-history${HISTORY}`;
const dir = new URL("./results/", import.meta.url);
mkdirSync(dir, { recursive: true });
writeFileSync(new URL(`${name}.json`, dir), JSON.stringify({ startedAt, rounds: ROUNDS, history: HISTORY, loadAtStart, loadAtEnd, results: Object.fromEntries(results), ratios: Object.fromEntries(ratios) }, null, 2) + "\n");
writeFileSync(new URL(`${name}.md`, dir), `Room fill, ${ROUNDS} rounds, history ${HISTORY}, ${startedAt}; load average ${loadAtStart} at the start, ${loadAtEnd} at the end (1 / 5 / 15 min, 2 cores).\n\n${markdownTable(header, rows)}\n`);
process.exit(0);
