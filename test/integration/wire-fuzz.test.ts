import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import fc from "fast-check";
import { SUBPROTOCOL } from "../../src/protocol/messages.js";
import type { PulseServer } from "../../src/server/index.js";
import { testServer } from "../support/test-server.js";
import { LobbyPair } from "../support/lobby-pair.js";
import { closeCodeOf, FrameReader, maskedFrame, type WireFrame } from "../support/wire-frames.js";
import { waitFor } from "../support/wait.js";

/**
 * Hostile bytes on the wire, generated: whatever a client sends after the upgrade, the server
 * answers with JSON objects that name their type (errors with a code docs/protocol.md lists and
 * a message), or closes
 * with a code docs/protocol.md lists as arriving on the wire; it keeps serving everyone else,
 * and every connection it closed or lost is gone from its count afterwards.
 */

/** The codes in docs/protocol.md's table of what arrives on the wire. */
function documentedWireCodes(): Set<number> {
  const doc = readFileSync(new URL("../../docs/protocol.md", import.meta.url), "utf8");
  const section = doc.slice(doc.indexOf("## Close codes"));
  const wireTable = section.slice(0, section.indexOf("Local to the client"));
  const codes = new Set<number>();
  for (const line of wireTable.split("\n")) {
    const row = /^\| ([\d, ]+) \|/.exec(line);
    for (const code of row?.[1]!.split(",") ?? []) codes.add(Number(code.trim()));
  }
  return codes;
}

/** The codes in docs/protocol.md's table of error codes. */
function documentedErrorCodes(): Set<string> {
  const doc = readFileSync(new URL("../../docs/protocol.md", import.meta.url), "utf8");
  const section = doc.slice(doc.indexOf("### Error codes"));
  const table = section.slice(0, section.indexOf("\n\n", section.indexOf("| code |")));
  return new Set([...table.matchAll(/^\| `([a-z_]+)` \|/gm)].map((row) => row[1]!));
}

/** A connection that did the upgrade by hand and reads every frame the server sends. */
class WireConnection {
  readonly frames: WireFrame[] = [];
  ended = false;
  private readonly reader = new FrameReader();

  private constructor(readonly socket: Socket) {}

  static async open(port: number, localAddress: string): Promise<WireConnection> {
    const socket = connect({ port, host: "127.0.0.1", localAddress, noDelay: true });
    const conn = new WireConnection(socket);
    socket.on("error", () => {});
    socket.on("close", () => (conn.ended = true));
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${SUBPROTOCOL}\r\n\r\n`);
    let head = Buffer.alloc(0);
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        socket.off("data", onData);
        if (!head.subarray(0, end).toString("latin1").startsWith("HTTP/1.1 101")) return reject(new Error(`upgrade refused: ${head.toString("latin1").split("\r\n")[0]}`));
        socket.on("data", (more: Buffer) => conn.frames.push(...conn.reader.push(more)));
        conn.frames.push(...conn.reader.push(head.subarray(end + 4)));
        resolve();
      };
      socket.on("data", onData);
    });
    return conn;
  }

  /** Whether the server sent a message of this type. */
  sent(type: string): boolean {
    return this.frames.some((f) => f.opcode === 1 && f.payload.includes(`"type":"${type}"`));
  }

  /** Whether the server sent an error with this code. */
  sentError(code: string): boolean {
    return this.frames.some((f) => f.opcode === 1 && f.payload.includes(`"type":"error"`) && f.payload.includes(`"code":"${code}"`));
  }

  /** The close code the server sent, if it sent a close frame. */
  get closeCode(): number | null {
    const close = this.frames.find((f) => f.opcode === 8);
    return close ? closeCodeOf(close) : null;
  }
}

/**
 * The codes of the close frames among `bytes` (client frames, whole, one after another): the
 * server answers a client's close frame with the same code (1005, none, for an empty one).
 */
const closeCodesSent = (bytes: Buffer): Set<number> => new Set(new FrameReader().push(bytes).filter((f) => f.opcode === 8).map(closeCodeOf));

// What a hostile client sends: each action is the bytes of one or a few frames.
const fieldValue = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom("lobby", "fuzz", "", " ", "a".repeat(200), "\u202eadmin", "ｌｏｂｂｙ"),
  fc.integer(),
  fc.constantFrom(-1, 0, 2 ** 53, 1e308, 0.5),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 }),
);
const shapedMessage = fc
  .record(
    {
      type: fc.constantFrom("hello", "join", "leave", "send", "history", "who", "ping", "pong", "teleport", "__proto__", "constructor"),
      room: fieldValue, id: fieldValue, text: fieldValue, nick: fieldValue, clientId: fieldValue, token: fieldValue,
      since: fieldValue, epoch: fieldValue, before: fieldValue, limit: fieldValue, sentAt: fieldValue,
    },
    { requiredKeys: ["type"] },
  )
  .map((message) => JSON.stringify(message));
// Requests of the right shape with hostile values, so the server's checks past the parser
// (before hello, rooms not joined, names, texts, ids, pages, limits) are reached too.
const roomName = fc.oneof({ weight: 4, arbitrary: fc.constant("fuzz") }, fc.constantFrom("lobby", " lobby", "", "x".repeat(65), "\u202e", "a\u0000b"), fc.string({ maxLength: 70 }));
const text = fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: "binary", maxLength: 60 }), fc.constantFrom("", "\u001b[2J", "\n".repeat(40), "x".repeat(4_001)));
const int = fc.oneof(fc.integer({ min: -5, max: 200 }), fc.constantFrom(0, 2 ** 53 - 1, -(2 ** 31)));
const wellFormed = fc
  .oneof(
    fc.record({ type: fc.constant("hello"), clientId: fc.string({ maxLength: 140 }), nick: fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom("bystander", "other", "Other", "ｏｔｈｅｒ")) }),
    fc.record({ type: fc.constant("join"), room: roomName, since: fc.option(int, { nil: undefined }), epoch: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }) }),
    fc.record({ type: fc.constant("leave"), room: roomName }),
    fc.record({ type: fc.constant("send"), room: roomName, id: fc.string({ maxLength: 140 }), text }),
    fc.record({ type: fc.constant("history"), room: roomName, before: int, limit: fc.option(int, { nil: undefined }) }),
    fc.record({ type: fc.constant("who"), room: roomName, after: fc.option(fc.string({ maxLength: 300 }), { nil: undefined }), limit: fc.option(int, { nil: undefined }) }),
    fc.record({ type: fc.constantFrom("ping", "pong"), id: int, sentAt: int }),
  )
  .map((message) => JSON.stringify(message));
const anyText = fc.oneof({ weight: 3, arbitrary: wellFormed }, shapedMessage, fc.json({ maxDepth: 3 }), fc.string({ unit: "binary", maxLength: 120 }));
const payload = fc.uint8Array({ maxLength: 125 }).map((bytes) => Buffer.from(bytes));

const action = fc.oneof(
  { weight: 6, arbitrary: anyText.map((text) => maskedFrame(text)) },
  { weight: 1, arbitrary: payload.map((bytes) => maskedFrame(bytes, { opcode: 2 })) },
  // Control frames: ping, pong, close (with any payload, so any close code or none).
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(8, 9, 10), payload).map(([opcode, bytes]) => maskedFrame(bytes, { opcode })) },
  // A message in fragments, with frames of other kinds possibly in between.
  {
    weight: 1,
    arbitrary: fc.tuple(anyText, fc.integer({ min: 2, max: 5 })).map(([text, parts]) => {
      const bytes = Buffer.from(text);
      const size = Math.ceil(bytes.length / parts) || 1;
      const frames: Buffer[] = [];
      for (let i = 0, at = 0; i < parts; i++, at += size) frames.push(maskedFrame(bytes.subarray(at, at + size), { opcode: i === 0 ? 1 : 0, fin: i === parts - 1 }));
      return Buffer.concat(frames);
    }),
  },
  // A frame header with any first byte (FIN, the RSV bits, any opcode) and the mask bit set or not.
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 0, max: 255 }), fc.boolean(), payload).map(([first, isMasked, bytes]) => {
      const frame = maskedFrame(bytes);
      frame[0] = first;
      if (!isMasked) {
        frame[1] = frame[1]! & 0x7f;
        const headerBytes = bytes.length < 126 ? 2 : 4;
        return Buffer.concat([frame.subarray(0, headerBytes), bytes]);
      }
      return frame;
    }),
  },
);
/**
 * A limit that a run of random frames rarely reaches, reached on purpose right after the join,
 * so that what follows meets a connection in that state: its sends refused for a while (and its
 * reads paused), all its rooms taken, or a message id it has used in another room.
 */
type Limit = "rate_limited" | "too_many_rooms" | "id_reused";
const frameOf = (message: object) => maskedFrame(JSON.stringify(message));
async function reachLimit(conn: WireConnection, limit: Limit, runId: number): Promise<void> {
  if (limit === "rate_limited") {
    // One more than the per-connection burst of sends (20).
    conn.socket.write(Buffer.concat(Array.from({ length: 21 }, (_, i) => frameOf({ type: "send", room: "fuzz", id: `burst-${runId}-${i}`, text: "x" }))));
  } else if (limit === "too_many_rooms") {
    // It is in "fuzz": 32 more rooms is one over maxRooms (32), within the burst of joins (40).
    conn.socket.write(Buffer.concat(Array.from({ length: 32 }, (_, i) => frameOf({ type: "join", room: `fuzz-${runId}-${i}` }))));
  } else {
    const id = `reused-${runId}`;
    conn.socket.write(frameOf({ type: "send", room: "fuzz", id, text: "first" }));
    await waitFor(() => conn.sent("ack"), "the first use acknowledged", 5_000);
    conn.socket.write(Buffer.concat([frameOf({ type: "join", room: `other-${runId}` }), frameOf({ type: "send", room: `other-${runId}`, id, text: "again" })]));
  }
  await waitFor(() => conn.sentError(limit), `error ${limit}`, 5_000);
}

const run = fc.record({
  helloFirst: fc.boolean(),
  limit: fc.option(fc.constantFrom<Limit>("rate_limited", "too_many_rooms", "id_reused"), { freq: 2 }),
  actions: fc.array(action, { minLength: 1, maxLength: 25 }),
  // How the bytes fall into TCP writes.
  writeSizes: fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 8 }),
});

describe("hostile bytes on the wire (generated)", () => {
  let server: PulseServer;
  let pair: LobbyPair;
  const documented = documentedWireCodes();
  const errorCodes = documentedErrorCodes();

  before(async () => {
    server = await testServer({ maxPayloadBytes: 4 * 1024 });
    pair = await LobbyPair.join(server.url);
  });
  after(async () => {
    pair.close();
    await server.close();
  });

  it("answers JSON or a documented close code, serves everyone else, and leaks no connection", async () => {
    assert.ok(documented.has(1009) && documented.has(4006), "the close-code table was read from docs/protocol.md");
    assert.ok(errorCodes.has("bad_json") && errorCodes.has("rate_limited"), "the error-code table was read from docs/protocol.md");
    let runs = 0;
    const reached = new Set<Limit>();
    await fc.assert(
      fc.asyncProperty(run, async ({ helloFirst, limit, actions, writeSizes }) => {
        runs++;
        // Each run from an address of its own: the per-address limits are not what is tested.
        const conn = await WireConnection.open(server.port, `127.0.10.${1 + (runs % 250)}`);
        try {
          if (helloFirst) {
            // Welcomed and in a room, so that requests reach the checks past hello, sends those of their text.
            conn.socket.write(maskedFrame(JSON.stringify({ type: "hello", clientId: `fuzz-${runs}`, nick: `fuzz${runs}` })));
            await waitFor(() => conn.sent("welcome"), "welcome", 5_000);
            conn.socket.write(maskedFrame(JSON.stringify({ type: "join", room: "fuzz" })));
            await waitFor(() => conn.sent("joined"), "joined", 5_000);
            if (limit !== null) {
              await reachLimit(conn, limit, runs);
              reached.add(limit);
            }
          }
          const bytes = Buffer.concat(actions);
          for (let at = 0, i = 0; at < bytes.length && !conn.ended; i++) {
            const size = writeSizes[i % writeSizes.length]!;
            conn.socket.write(bytes.subarray(at, at + size));
            at += size;
            await new Promise((resolve) => setImmediate(resolve));
          }
          // Quiet: nothing more from the server for a while (or the connection ended).
          let seen = -1;
          await waitFor(() => {
            const settled = conn.ended || conn.frames.length === seen;
            seen = conn.frames.length;
            return settled;
          }, "the server to go quiet on a fuzzed connection", 5_000, 150);

          for (const frame of conn.frames) {
            assert.equal(frame.fin, true, "the server sends whole frames");
            assert.equal(frame.masked, false, "the server never masks");
            assert.ok([1, 8, 10].includes(frame.opcode), `opcode ${frame.opcode} from the server`);
            if (frame.opcode !== 1) continue;
            const message = JSON.parse(frame.payload.toString("utf8")) as Record<string, unknown>;
            assert.equal(typeof message.type, "string", `a frame without a type: ${frame.payload.toString("utf8").slice(0, 200)}`);
            if (message.type !== "error") continue;
            assert.ok(typeof message.code === "string" && typeof message.message === "string", `an error without code and message: ${JSON.stringify(message)}`);
            assert.ok(errorCodes.has(message.code), `error code ${message.code}, which docs/protocol.md's table does not list`);
          }
          const code = conn.closeCode;
          if (code !== null) assert.ok(documented.has(code) || closeCodesSent(bytes).has(code), `closed with ${code}, which docs/protocol.md does not list as arriving on the wire, and the client did not send`);

          // Everyone else is still served, and nothing they send is lost.
          await pair.stillChat(`honest-${runs}`);
        } finally {
          conn.socket.destroy();
        }
      }),
      { numRuns: 60, includeErrorInReport: true },
    );
    // Each run that reached a limit saw its error above; this says which ones the 60 runs reached.
    assert.ok(reached.size > 0, "no run reached a limit");
    // Every fuzzed connection is gone: only the two honest ones are counted.
    await waitFor(() => server.stats().connections === 2, "only the two honest connections to be counted", 20_000);
  });
});
