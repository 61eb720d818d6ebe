/**
 * `npm run build && node --import tsx bench/trickled-frame.ts`: how much server memory does a
 * WebSocket frame cost when its bytes arrive one TCP segment each? --connections N (default 20)
 * upgrade, announce one masked text frame of --bytes (default 30,000) and send its payload a
 * byte per write (TCP_NODELAY, a turn of the event loop between rounds), while an honest
 * connection from another address sends a frame of the same size in 536-byte pieces (the
 * smallest MSS IPv4 hosts must accept) and must be answered. Prints the server's heap and RSS
 * growth (its `/stats`), its peak RSS (VmHWM), how the trickling connections ended, and whether
 * the honest one was answered. The server runs with its defaults on the memory store; --server PATH runs another
 * build's pulse.js.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { connect as tcpConnect, type Socket } from "node:net";
import { parseArgs } from "node:util";
import { SUBPROTOCOL } from "../src/protocol/messages.js";
import { listeningPort, SERVER_CORE, spawnPinned, stopProcess } from "./lib/spawn.js";
import { sleep, waitUntil } from "./lib/stats.js";
import { textTable } from "./lib/table.js";

const { values } = parseArgs({ options: { connections: { type: "string" }, bytes: { type: "string" }, server: { type: "string" } } });
const CONNECTIONS = Number(values.connections ?? 20);
const BYTES = Number(values.bytes ?? 30_000);
const SERVER_SCRIPT = values.server ?? "dist/cli/pulse.js";
const SMALLEST_MSS = 536;
const MASK = [0x11, 0x22, 0x33, 0x44] as const;
/** Bounds the whole run: a server that stops reading must not hang the bench. */
const TRICKLE_DEADLINE_MS = 120_000;

const child = spawnPinned(SERVER_CORE, process.execPath, [SERVER_SCRIPT, "serve", "--port", "0", "--host", "127.0.0.1", "--store", "memory", "--quiet"]);
// A bench that throws must not leave its server running.
process.on("exit", () => child.kill("SIGKILL"));
const port = await listeningPort(child);

interface Stats { heapUsedBytes: number; rssBytes: number }
const stats = async (): Promise<Stats> => (await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as Stats;
const peakRss = (): number => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1] ?? NaN) * 1024;
const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);

/** A raw TCP connection that completed the WebSocket upgrade; records the close code it got. */
interface Raw { socket: Socket; received: Buffer[]; closed: boolean }
async function upgraded(localAddress = "127.0.0.1"): Promise<Raw> {
  const socket = tcpConnect({ port, host: "127.0.0.1", localAddress, noDelay: true });
  const raw: Raw = { socket, received: [], closed: false };
  socket.on("error", () => {});
  socket.on("close", () => (raw.closed = true));
  await new Promise((resolve) => socket.once("connect", resolve));
  socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${SUBPROTOCOL}\r\n\r\n`);
  const head = await new Promise<Buffer>((resolve) => socket.once("data", resolve));
  if (!head.toString("latin1").startsWith("HTTP/1.1 101")) throw new Error(`upgrade refused: ${head.toString("latin1").split("\r\n")[0]}`);
  socket.on("data", (chunk: Buffer) => raw.received.push(chunk));
  // Welcomed first, as an attacker would be: the handshake timeout no longer applies, only the
  // liveness timeout, which an incomplete frame does not put off.
  const id = `trickle-${++helloes}`;
  socket.write(frameHeaderAndMask(Buffer.from(JSON.stringify({ type: "hello", clientId: id, nick: id }))));
  if (!(await waitUntil(() => Buffer.concat(raw.received).includes('"welcome"'), 5_000, 10))) throw new Error("no welcome");
  raw.received.length = 0;
  return raw;
}
let helloes = 0;
/** A whole masked text frame of `payload` (up to 65,535 bytes). */
const frameHeaderAndMask = (payload: Buffer): Buffer => Buffer.concat([frameHeader(payload.length), masked(payload)]);

/** A masked text frame's header announcing `length` bytes (16-bit length: up to 65,535). */
const frameHeader = (length: number): Buffer => Buffer.from([0x81, 0x80 | 126, length >> 8, length & 255, ...MASK]);
const masked = (payload: Buffer): Buffer => Buffer.from(payload.map((byte, i) => byte ^ MASK[i % 4]!));

/** The close code in the first close frame the server sent (unmasked, so its header is 2 bytes), if any. */
function closeCode(raw: Raw): number | null {
  const all = Buffer.concat(raw.received);
  for (let at = 0; at + 2 <= all.length; ) {
    const opcode = all[at]! & 0x0f;
    let length = all[at + 1]! & 0x7f;
    let start = at + 2;
    if (length === 126) { length = all.readUInt16BE(at + 2); start += 2; }
    if (opcode === 8) return length >= 2 ? all.readUInt16BE(start) : 1005;
    at = start + length;
  }
  return null;
}

if (BYTES > 65_535) throw new Error("--bytes must fit a 16-bit frame length");
// A JSON ping padded to BYTES: a frame the server must parse and answer (its canonical form is
// exactly {"type":"ping"}, so this one goes through ws and the parser).
const honestPayload = Buffer.from(`{"type":"ping","pad":"${"x".repeat(BYTES - 24)}"}`);
const before = await stats();

const tricklers = await Promise.all(Array.from({ length: CONNECTIONS }, () => upgraded()));
for (const raw of tricklers) raw.socket.write(frameHeader(BYTES));
// From another address: the tricklers may use all of theirs (100 connections).
const honest = await upgraded("127.0.0.2");
honest.socket.write(frameHeader(honestPayload.length));
const honestMasked = masked(honestPayload);

const trickleStart = Date.now();
let honestAt = 0;
let written = 0;
// The last byte is never sent: the trickled frames stay incomplete, as an attacker keeps them.
for (let i = 0; i < BYTES - 1 && Date.now() - trickleStart < TRICKLE_DEADLINE_MS; i++) {
  const byte = Buffer.from([0x20 ^ MASK[i % 4]!]);
  for (const raw of tricklers) if (!raw.closed) raw.socket.write(byte);
  written = i + 1;
  // The honest frame goes out alongside, one smallest segment per round until it is whole.
  if (honestAt < honestMasked.length) {
    honest.socket.write(honestMasked.subarray(honestAt, honestAt + SMALLEST_MSS));
    honestAt += SMALLEST_MSS;
  }
  if (tricklers.every((raw) => raw.closed)) break;
  await new Promise((resolve) => setImmediate(resolve));
}
const trickleMs = Date.now() - trickleStart;
await sleep(500);
const after = await stats();
const honestAnswered = await waitUntil(() => honest.received.length > 0, 5_000);

const codes = new Map<string, number>();
for (const raw of tricklers) {
  const code = closeCode(raw);
  const key = code !== null ? `closed ${code}` : raw.closed ? "closed, no close frame" : "still open";
  codes.set(key, (codes.get(key) ?? 0) + 1);
}
console.log(`${SERVER_SCRIPT}: ${CONNECTIONS} connections, each one frame of ${BYTES} bytes trickled a byte per write (${written} rounds in ${trickleMs} ms)`);
console.log(textTable(["server heap growth", "RSS growth", "peak RSS", "trickling connections", "honest frame in 536-byte pieces"], [[
  `${mib(after.heapUsedBytes - before.heapUsedBytes)} MiB`,
  `${mib(after.rssBytes - before.rssBytes)} MiB`,
  `${mib(peakRss())} MiB`,
  [...codes].map(([key, n]) => `${n} ${key}`).join(", "),
  honestAnswered && !honest.closed ? "answered, open" : honestAnswered ? "answered, then closed" : "not answered",
]]));
for (const raw of [...tricklers, honest]) raw.socket.destroy();
await stopProcess(child, "SIGTERM", 3_000);
process.exit(0);
