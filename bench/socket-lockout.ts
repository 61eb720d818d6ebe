/**
 * `npm run build && node --import tsx bench/socket-lockout.ts`: can a few addresses that open
 * TCP connections and send nothing keep everyone else out? --addresses N (default 110) loopback
 * source addresses (127.0.3.1 on) each hold as many silent sockets as the server lets one
 * address have before the upgrade (100, `maxHttpSocketsPerIp`), and open a new one whenever one
 * closes (the headers timeout closes them after 10 s; the server may close them earlier), for
 * --seconds (default 30). Meanwhile a client from another address (127.0.0.250) tries once a
 * second to open a WebSocket and be welcomed, each try bounded by 3 s. Prints how many tries got
 * in, their time to `welcome`, and the silent sockets the attackers held. The server runs with
 * its defaults on a fresh SQLite store; --server PATH runs another build's pulse.js.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { connect as tcpConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { SUBPROTOCOL } from "../src/protocol/messages.js";
import { listeningPort, SERVER_CORE, spawnPinned, stopProcess } from "./lib/spawn.js";
import { median, sleep } from "./lib/stats.js";

const { values } = parseArgs({ options: { seconds: { type: "string" }, server: { type: "string" }, addresses: { type: "string" }, "per-address": { type: "string" } } });
const SECONDS = Number(values.seconds ?? 30);
const SERVER_SCRIPT = values.server ?? "dist/cli/pulse.js";
const ADDRESSES = Number(values.addresses ?? 110);
/** The server's default `maxHttpSocketsPerIp`. */
const PER_ADDRESS = Number(values["per-address"] ?? 100);
const VICTIM = "127.0.0.250";
const TRY_TIMEOUT_MS = 3_000;
/** Bounds the attackers' reopening: a socket closed at once is not reopened in a tight loop. */
const REOPEN_GAP_MS = 50;

const dir = mkdtempSync(join(tmpdir(), "pulse-socket-lockout-"));
const child = spawnPinned(SERVER_CORE, process.execPath, [SERVER_SCRIPT, "serve", "--port", "0", "--host", "127.0.0.1", "--store", join(dir, "pulse.db"), "--quiet"]);
const port = await listeningPort(child);
const start = Date.now();
const deadline = start + SECONDS * 1000;

/** Silent sockets open now, and opened in all. */
let held = 0;
let opened = 0;
const sockets = new Set<Socket>();

/** One attacker slot: a silent socket from `from`, opened again whenever it closes, until the deadline. */
function holdSlot(from: string): void {
  if (Date.now() >= deadline) return;
  const socket = tcpConnect({ port, host: "127.0.0.1", localAddress: from });
  sockets.add(socket);
  let counted = false;
  socket.on("connect", () => {
    counted = true;
    held++;
    opened++;
  });
  socket.on("data", () => {});
  socket.on("error", () => {});
  socket.on("close", () => {
    sockets.delete(socket);
    if (counted) held--;
    setTimeout(() => holdSlot(from), REOPEN_GAP_MS);
  });
}

/** One victim try: ms to `welcome`, or why not. */
async function victimTry(n: number): Promise<number | string> {
  const t0 = performance.now();
  const ws = new WebSocket(`ws://127.0.0.1:${port}`, [SUBPROTOCOL], { localAddress: VICTIM, handshakeTimeout: TRY_TIMEOUT_MS });
  const result = await new Promise<number | string>((resolve) => {
    const timer = setTimeout(() => resolve("no welcome in 3 s"), TRY_TIMEOUT_MS);
    const done = (r: number | string) => {
      clearTimeout(timer);
      resolve(r);
    };
    ws.on("unexpected-response", (_req, res) => done(`HTTP ${res.statusCode}`));
    ws.on("error", (e) => done(`error: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    ws.on("close", () => done("closed"));
    ws.on("open", () => ws.send(JSON.stringify({ type: "hello", clientId: `victim-${n}`, nick: `victim${n}` })));
    ws.on("message", (data) => {
      if ((JSON.parse(String(data)) as { type: string }).type === "welcome") done(performance.now() - t0);
    });
  });
  ws.terminate();
  return result;
}

for (let a = 0; a < ADDRESSES; a++) {
  const from = `127.0.3.${a + 1}`;
  for (let k = 0; k < PER_ADDRESS; k++) holdSlot(from);
  // Connects spread over the first seconds, not 11,000 SYNs in one turn.
  await sleep(10);
}
const filledS = (Date.now() - start) / 1000;
// Let the attackers' sockets settle before the first try.
await sleep(2_000);
const tries: Array<number | string> = [];
const heldAtTries: number[] = [];
for (let n = 0; Date.now() < deadline - TRY_TIMEOUT_MS; n++) {
  const tryStart = Date.now();
  heldAtTries.push(held);
  tries.push(await victimTry(n));
  await sleep(Math.max(0, 1_000 - (Date.now() - tryStart)));
}
const welcomed = tries.filter((t): t is number => typeof t === "number");
const failures = new Map<string, number>();
for (const t of tries) if (typeof t === "string") failures.set(t, (failures.get(t) ?? 0) + 1);

for (const s of sockets) s.destroy();
await stopProcess(child, "SIGTERM", 5_000);
rmSync(dir, { recursive: true, force: true });

console.log(`server ${SERVER_SCRIPT}, default limits; ${ADDRESSES} attacking addresses x ${PER_ADDRESS} silent sockets, opened over ${filledS.toFixed(1)} s, ${SECONDS} s in all`);
console.log(`attackers' silent sockets held at the victim's tries: median ${median(heldAtTries)}, max ${Math.max(...heldAtTries)}; opened in all ${opened}`);
console.log(`victim (${VICTIM}) welcomed in ${welcomed.length} of ${tries.length} tries${welcomed.length ? `, median ${median(welcomed).toFixed(1)} ms, max ${Math.max(...welcomed).toFixed(1)} ms` : ""}`);
if (failures.size) console.log(`victim's other tries: ${[...failures].map(([why, n]) => `${n} x ${why}`).join(", ")}`);
process.exit(0);
