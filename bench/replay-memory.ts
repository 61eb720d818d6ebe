/**
 * Where a catch-up's memory goes: `node --expose-gc --import tsx bench/replay-memory.ts`.
 * One in-process server on a SQLite store holding the replay bomb (10,000 messages of 4,000
 * control characters, 24 KB each once escaped) and one raw client that, for a few seconds:
 * - `bomb`: joins with `since: 0` again and again (a gap far over maxReplayBytes), as the
 *   abuse benchmark's attacker does;
 * - `fits`: joins with a gap of 300 messages (about 7 MB of frames, under maxReplayBytes) and
 *   reads the whole replay each time.
 * Rate limits are off (they would pace the joins to 5 a second): this measures what each join
 * costs. Printed per scenario: joins served, and the growth of RSS, V8 heap, external memory and
 * ArrayBuffers (Buffers) over the process's level after a forced GC, at the peak and after.
 *
 * Options: --seconds N per scenario (default 8), --only bomb|fits.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { startServer } from "../src/server/index.js";
import { SqliteStore } from "../src/store/index.js";

const { values } = parseArgs({ options: { seconds: { type: "string" }, only: { type: "string" } } });
const SECONDS = Number(values.seconds ?? 8);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");

const MiB = 2 ** 20;
type Usage = ReturnType<typeof process.memoryUsage>;
const FIELDS = ["rss", "heapUsed", "external", "arrayBuffers"] as const;

function settle(): Usage {
  gc!();
  gc!();
  return process.memoryUsage();
}

/** Opens a socket, says hello, resolves with it and the welcome's epoch. */
async function connect(url: string, nick: string): Promise<{ ws: WebSocket; epoch: string }> {
  const ws = new WebSocket(url, ["pulse.v1"]);
  await new Promise((r, e) => ws.once("open", r).once("error", e));
  ws.send(JSON.stringify({ type: "hello", clientId: `${nick}-c`, nick }));
  const epoch = await new Promise<string>((resolve) =>
    ws.on("message", function onWelcome(data: Buffer) {
      if (!data.includes('"type":"welcome"')) return;
      ws.off("message", onWelcome);
      resolve((JSON.parse(String(data)) as { epoch: string }).epoch);
    }),
  );
  return { ws, epoch };
}

/** One join of `room` from `since`, read to the end: resolves with the frames received. */
function joinOnce(ws: WebSocket, room: string, since: number, epoch: string, lastSeq: number): Promise<number> {
  return new Promise((resolve) => {
    let frames = 0;
    let joined = false;
    const onMessage = (data: Buffer) => {
      frames++;
      if (data.includes('"type":"joined"')) {
        joined = true;
        // Nothing more follows when the gap was not replayed or it all fit in `joined`.
        if (data.includes('"recovered":false') || data.includes(`"seq":${lastSeq},"recovered":true,"messages":[`) && data.includes(`"seq":${lastSeq},"from"`)) return done();
      } else if (joined && data.includes(`"seq":${lastSeq},`)) return done();
    };
    const done = () => {
      ws.off("message", onMessage);
      ws.send(JSON.stringify({ type: "leave", room }));
      resolve(frames);
    };
    ws.on("message", onMessage);
    ws.send(JSON.stringify({ type: "join", room, since, epoch }));
  });
}

async function scenario(name: string, url: string, room: string, since: number, lastSeq: number): Promise<void> {
  const { ws, epoch } = await connect(url, `reader-${name}`);
  const base = settle();
  const peak: Record<string, number> = Object.fromEntries(FIELDS.map((f) => [f, base[f]]));
  const sampler = setInterval(() => {
    const now = process.memoryUsage();
    for (const f of FIELDS) peak[f] = Math.max(peak[f]!, now[f]);
  }, 20);
  const endAt = Date.now() + SECONDS * 1000;
  let joins = 0;
  let frames = 0;
  while (Date.now() < endAt) {
    frames += await joinOnce(ws, room, since, epoch, lastSeq);
    joins++;
  }
  clearInterval(sampler);
  ws.close();
  const after = settle();
  const growth = (f: (typeof FIELDS)[number]) => `${((peak[f]! - base[f]) / MiB).toFixed(1)}`;
  console.log(
    `${name}: ${joins} joins (${(joins / SECONDS).toFixed(1)}/s, ${frames} frames); peak growth MiB: ` +
      FIELDS.map((f) => `${f} +${growth(f)}`).join(", ") +
      `; after GC: rss +${((after.rss - base.rss) / MiB).toFixed(1)}`,
  );
}

const dir = mkdtempSync(join(tmpdir(), "pulse-replay-memory-"));
const store = new SqliteStore({ path: join(dir, "bomb.db") });
try {
  const text = "\u0001".repeat(4_000);
  for (let start = 0; start < 10_000; start += 2_000) {
    await Promise.all(Array.from({ length: 2_000 }, (_, i) => store.append({ room: "bomb", userId: "filler", clientId: "filler", id: `b${start + i}`, from: "filler", text, ts: Date.now() })));
  }
  // Without rate limits: this measures what each join costs, as many as the server serves.
  const server = await startServer({ port: 0, host: "127.0.0.1", store, log: () => {}, rateLimits: false });
  try {
    if (!values.only || values.only === "bomb") await scenario("bomb", server.url, "bomb", 0, 10_000);
    if (!values.only || values.only === "fits") await scenario("fits", server.url, "bomb", 10_000 - 300, 10_000);
  } finally {
    await server.close();
  }
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
