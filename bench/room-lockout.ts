/**
 * `npm run build && node --import tsx bench/room-lockout.ts`: can a few addresses stop everyone
 * else from opening a room? --addresses N (default 4) loopback source addresses (127.0.0.2 on)
 * each open as many connections as the server lets one address have (100) and put each in as
 * many fresh rooms as one connection may be in (32), at the default join rate limits, until
 * the server refuses or --seconds (default 120) pass. Then a client from another address
 * (127.0.0.250) tries to open a room of its own and to join one the attackers hold open.
 * Prints the rooms open (`/stats`), the rooms each address got, what the victim got, and the
 * server's RSS. The server runs with its defaults on a fresh SQLite store; --server PATH runs
 * another build's pulse.js. --ipv6-site: the attacking addresses are instead /64s of one IPv6
 * /48 (2001:db8:5::/48), through a proxy the server trusts (127.0.0.98, X-Forwarded-For), as
 * anyone with a free /48 from a tunnel broker can; --connections N sets the connections each
 * address opens (default 100: with a /48, 4 of them across 250 /64s stay under its cap).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { SUBPROTOCOL } from "../src/protocol/messages.js";
import { rssBytes } from "./lib/proc.js";
import { listeningPort, SERVER_CORE, spawnPinned, stopProcess } from "./lib/spawn.js";
import { sleep } from "./lib/stats.js";
import { textTable } from "./lib/table.js";

const { values } = parseArgs({ options: { seconds: { type: "string" }, server: { type: "string" }, addresses: { type: "string" }, connections: { type: "string" }, "ipv6-site": { type: "boolean" } } });
const SECONDS = Number(values.seconds ?? 120);
const SERVER_SCRIPT = values.server ?? "dist/cli/pulse.js";
const ADDRESSES = Number(values.addresses ?? 4);
/** The server's defaults: connections per address, rooms per connection. */
const CONNECTIONS_PER_ADDRESS = Number(values.connections ?? 100);
const IPV6_SITE = values["ipv6-site"] === true;
/** With --ipv6-site: the proxy the attackers connect from; the server trusts its X-Forwarded-For. */
const PROXY = "127.0.0.98";
const ROOMS_PER_CONNECTION = 32;
/** One address's joins are paced to its per-address join rate (50/s). */
const JOIN_GAP_MS = 20;

const dir = mkdtempSync(join(tmpdir(), "pulse-room-lockout-"));
const child = spawnPinned(SERVER_CORE, process.execPath, [SERVER_SCRIPT, "serve", "--port", "0", "--host", "127.0.0.1", "--store", join(dir, "pulse.db"), "--quiet", ...(IPV6_SITE ? ["--trusted-proxy", PROXY] : [])]);
const port = await listeningPort(child);
const url = `ws://127.0.0.1:${port}`;

/** A welcomed connection from `localAddress`, and the answers to its joins by room. */
interface Client {
  ws: WebSocket;
  answers: Map<string, { type: string; code?: string; retryAfterMs?: number }>;
}

let nextId = 0;
/** A connection from `localAddress`, or with `forwardedFor` through the trusted proxy. */
async function connect(localAddress: string, forwardedFor?: string): Promise<Client | null> {
  const i = nextId++;
  const ws = new WebSocket(url, [SUBPROTOCOL], forwardedFor === undefined ? { localAddress } : { localAddress: PROXY, headers: { "x-forwarded-for": forwardedFor } });
  const client: Client = { ws, answers: new Map() };
  return new Promise((resolve) => {
    ws.on("unexpected-response", (_req, res) => {
      res.resume();
      resolve(null);
    });
    ws.on("error", () => resolve(null));
    ws.on("open", () => ws.send(JSON.stringify({ type: "hello", clientId: `c${i}`, nick: `n${i}` })));
    ws.on("message", (data) => {
      const m = JSON.parse(String(data)) as { type: string; room?: string; ref?: string; code?: string; retryAfterMs?: number };
      if (m.type === "welcome") resolve(client);
      else if (m.type === "joined" && m.room) client.answers.set(m.room, m);
      else if (m.type === "error" && m.ref) client.answers.set(m.ref, m);
    });
  });
}

/** Joins `room` and waits for the answer; a rate-limited join is sent again after its wait. */
async function joinRoom(client: Client, room: string, deadline: number): Promise<string> {
  while (Date.now() < deadline) {
    client.answers.delete(room);
    client.ws.send(JSON.stringify({ type: "join", room }));
    while (!client.answers.has(room) && Date.now() < deadline) await sleep(5);
    const answer = client.answers.get(room);
    if (!answer) break;
    if (answer.type === "joined") return "joined";
    if (answer.code !== "rate_limited") return answer.code ?? answer.type;
    await sleep(answer.retryAfterMs ?? 1_000);
  }
  return "no answer";
}

async function stats(): Promise<{ rooms: number; connections: number }> {
  return (await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as { rooms: number; connections: number };
}

const start = Date.now();
const deadline = start + SECONDS * 1000;
const perAddress = await Promise.all(
  Array.from({ length: ADDRESSES }, async (_, a) => {
    const from = IPV6_SITE ? `2001:db8:5:${(a + 1).toString(16)}::1` : `127.0.0.${2 + a}`;
    const clients: Client[] = [];
    for (let c = 0; c < CONNECTIONS_PER_ADDRESS; c++) {
      const client = IPV6_SITE ? await connect(PROXY, from) : await connect(from);
      if (client) clients.push(client);
    }
    let opened = 0;
    let refusedBy = "";
    for (let r = 0; r < ROOMS_PER_CONNECTION && !refusedBy && Date.now() < deadline; r++) {
      for (const [c, client] of clients.entries()) {
        const answer = await joinRoom(client, `lock-${a}-${c}-${r}`, deadline);
        if (answer === "joined") opened++;
        else {
          refusedBy = answer;
          break;
        }
        await sleep(JOIN_GAP_MS);
      }
    }
    return { from, connections: clients.length, opened, stoppedBy: refusedBy || (Date.now() >= deadline ? "time" : "all joined"), clients };
  }),
);
const filledS = (Date.now() - start) / 1000;
const open = await stats();
const victim = await connect("127.0.0.250");
const victimOwn = victim ? await joinRoom(victim, "victim-room", Date.now() + 10_000) : "not connected";
const victimShared = victim ? await joinRoom(victim, "lock-0-0-0", Date.now() + 10_000) : "not connected";
const rssMiB = rssBytes(child.pid!) / 1024 / 1024;
for (const { clients } of perAddress) for (const c of clients) c.ws.terminate();
victim?.ws.terminate();
await stopProcess(child, "SIGTERM", 5_000);
rmSync(dir, { recursive: true, force: true });

console.log(`server ${SERVER_SCRIPT}, default limits; ${ADDRESSES} attacking address(es)${IPV6_SITE ? " (/64s of one /48)" : ""}, ${filledS.toFixed(0)} s`);
const rows = perAddress.map((p) => [p.from, String(p.connections), String(p.opened), p.stoppedBy]);
if (rows.length <= 10) console.log(textTable(["address", "connections", "rooms opened", "stopped by"], rows));
else {
  const stops = [...new Set(perAddress.map((p) => p.stoppedBy))].join(", ");
  console.log(`${rows.length} addresses: ${perAddress.reduce((n, p) => n + p.connections, 0)} connections, ${perAddress.reduce((n, p) => n + p.opened, 0)} rooms opened; stopped by: ${stops}`);
}
console.log(`rooms open on the server: ${open.rooms}; connections: ${open.connections}; server RSS ${rssMiB.toFixed(0)} MiB`);
console.log(`victim (127.0.0.250) opening a room of its own: ${victimOwn}; joining a room the attackers hold open: ${victimShared}`);
process.exit(0);
