import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import fc from "fast-check";
import { SUBPROTOCOL } from "../../src/protocol/messages.js";
import type { PulseServer } from "../../src/server/index.js";
import { testServer } from "../support/test-server.js";
import { LobbyPair } from "../support/lobby-pair.js";
import { waitFor } from "../support/wait.js";

/**
 * Hostile upgrade requests, generated: whatever headers an upgrade carries (Host, Origin, the
 * WebSocket key, version and subprotocols, and X-Forwarded-For, which the server reads because
 * loopback is a trusted proxy here), it is answered at once with 101 or a status from
 * docs/protocol.md's table of answers to an upgrade (with `Retry-After` where it says so), the
 * server keeps serving everyone else, and no socket or connection is left counted.
 */

/** docs/protocol.md's table of answers to an upgrade: status -> whether it carries Retry-After. */
function documentedAnswers(): Map<number, boolean> {
  const doc = readFileSync(new URL("../../docs/protocol.md", import.meta.url), "utf8");
  const section = doc.slice(doc.indexOf("### Answers to an upgrade"));
  const table = section.slice(0, section.indexOf("\n\n", section.indexOf("| status |")));
  return new Map([...table.matchAll(/^\| (\d{3}) \|.*\|\s*(yes|no)?\s*\|$/gm)].map((row) => [Number(row[1]), row[2] === "yes"]));
}
const NO_ANSWER_MS = 3_000;

/** Printable ASCII, as a header value Node's parser reads (anything else is not an HTTP request). */
const headerText = (maxLength: number) => fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength }).map((s) => s.trim());
const maybe = <T>(value: fc.Arbitrary<T>) => fc.option(value, { nil: undefined });
const addressLike = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.ipV4Extended(),
  fc.constantFrom("unknown", "_hidden", "[::1]:8080", "127.0.0.1:80", "fe80::1%eth0", "::ffff:10.0.0.1", "1.2.3.4.5", "", "999.1.1.1"),
  headerText(20),
);
/** Mostly what an honest client sends, so that the refusals further along (the rate, the caps) are reached too. */
const mostly = <T>(good: T, hostile: fc.Arbitrary<T>) => fc.oneof({ weight: 5, arbitrary: fc.constant(good) }, { weight: 2, arbitrary: hostile });
const request = fc.record({
  host: mostly<string | undefined>("HOST", maybe(fc.oneof(fc.constantFrom("evil.example", "localhost", "127.0.0.1:1", "[::1]"), headerText(30)))),
  origin: mostly<string | undefined>(undefined, fc.oneof(fc.constant("ORIGIN"), fc.constantFrom("http://evil.example", "null", "file://"), headerText(40))),
  key: mostly<string | undefined>("KEY", maybe(headerText(30))),
  version: mostly<string | undefined>("13", maybe(fc.oneof(fc.constantFrom("8", "14", "0"), headerText(5)))),
  protocols: mostly<string | undefined>(SUBPROTOCOL, maybe(fc.array(fc.oneof(fc.constant(SUBPROTOCOL), headerText(12)), { maxLength: 4 }).map((list) => list.join(", ")))),
  forwardedFor: maybe(fc.array(addressLike, { minLength: 1, maxLength: 40 }).map((list) => list.join(", "))),
  upgrade: mostly("websocket", fc.constantFrom("WebSocket", "h2c", "websocket, foo")),
  path: fc.constantFrom("/", "/chat", "/app.js", "/stats", "/metrics", "/?x=1", "//", "/%00"),
});

/** Sends one upgrade request on a raw socket; resolves with the answer's head (null: closed without one), or rejects when nothing came in time. */
function answerTo(port: number, text: string): Promise<{ status: number; head: string } | null> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1" });
    let head = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${NO_ANSWER_MS} ms to:\n${text}`));
    }, NO_ANSWER_MS);
    const done = (answer: { status: number; head: string } | null) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    socket.on("error", () => {});
    socket.on("data", (chunk: Buffer) => {
      head += chunk.toString("latin1");
      const end = head.indexOf("\r\n\r\n");
      const line = /^HTTP\/1\.1 (\d{3})/.exec(head);
      if (end >= 0 && line) done({ status: Number(line[1]), head: head.slice(0, end) });
    });
    socket.on("close", () => done(null));
    socket.write(text);
  });
}

describe("hostile upgrade requests (generated)", () => {
  let server: PulseServer;
  let pair: LobbyPair;

  before(async () => {
    server = await testServer({ trustedProxies: ["127.0.0.0/8"] });
    pair = await LobbyPair.join(server.url);
  });
  after(async () => {
    pair.close();
    await server.close();
  });

  it("answers every upgrade at once with 101 or a documented status, serves everyone else, and leaves nothing counted", async () => {
    const documented = documentedAnswers();
    assert.deepEqual([...documented.keys()].sort(), [101, 400, 403, 426, 429, 503], "the table of answers was read from docs/protocol.md");
    const seen = new Map<number, number>();
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        runs++;
        const lines = [`GET ${r.path} HTTP/1.1`, `Upgrade: ${r.upgrade}`, "Connection: Upgrade"];
        if (r.host !== undefined) lines.push(`Host: ${r.host === "HOST" ? `127.0.0.1:${server.port}` : r.host}`);
        if (r.origin !== undefined) lines.push(`Origin: ${r.origin === "ORIGIN" ? `http://127.0.0.1:${server.port}` : r.origin}`);
        if (r.key !== undefined) lines.push(`Sec-WebSocket-Key: ${r.key === "KEY" ? randomBytes(16).toString("base64") : r.key}`);
        if (r.version !== undefined) lines.push(`Sec-WebSocket-Version: ${r.version}`);
        if (r.protocols !== undefined) lines.push(`Sec-WebSocket-Protocol: ${r.protocols}`);
        if (r.forwardedFor !== undefined) lines.push(`X-Forwarded-For: ${r.forwardedFor}`);
        const answer = await answerTo(server.port, `${lines.join("\r\n")}\r\n\r\n`);
        const status = answer?.status ?? null;
        assert.ok(status !== null && documented.has(status), `answered ${status ?? "nothing (closed)"}, which docs/protocol.md does not give for an upgrade, to:\n${lines.join("\n")}`);
        assert.equal(/\r\nretry-after: \d+/i.test(answer!.head), documented.get(status), `${status} with Retry-After or without it, unlike docs/protocol.md:\n${answer!.head}`);
        seen.set(status, (seen.get(status) ?? 0) + 1);
        if (runs % 50 === 0) await pair.stillChat(`upgrades-${runs}`);
      }),
      { numRuns: 300, includeErrorInReport: true },
    );
    // The generator reached both sides: some upgrades taken, some refused.
    assert.ok((seen.get(101) ?? 0) > 0 && seen.size >= 3, `statuses seen: ${JSON.stringify([...seen])}`);
    await pair.stillChat("after-upgrades");
    await waitFor(() => server.stats().connections === 2 && server.stats().httpSockets === 0, `only the two honest connections counted (now ${JSON.stringify(server.stats())})`, 20_000);
  });
});
