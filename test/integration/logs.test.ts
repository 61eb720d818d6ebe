import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { testServer } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { waitFor } from "../support/wait.js";
import { EVENT_LEVELS, lineLog } from "../../src/server/logger.js";

/** A pino logger writing into an array of lines, as stdout would receive them. */
function capture(): { lines: string[]; logger: ReturnType<typeof pino> } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split("\n").filter((l) => l !== ""));
      done();
    },
  });
  return { lines, logger: pino({ level: "debug" }, sink) };
}

const events = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

describe("logs", () => {
  it("are JSON lines with the documented field names", async () => {
    const { lines, logger } = capture();
    const server = await testServer({ logger, log: undefined, liveness: { intervalMs: 300, suspectMs: 1_000, timeoutMs: 2_000 }, checkMs: 100 });
    try {
      const url = `ws://127.0.0.1:${server.port}`;
      const ada = await RawClient.hello(url, "ada");
      ada.close();
      const eve = await RawClient.hello(url, "eve");
      eve.silent = true;
      await eve.waitClosed(10_000);
      await waitFor(() => events(lines).filter((e) => e.event === "connection_closed").length === 2, "two connection_closed events");
      const all = events(lines); // every line parses
      for (const e of all) {
        assert.equal(typeof e.msg, "string");
        assert.ok(typeof e.event === "string" && e.event in EVENT_LEVELS, `undocumented event ${String(e.event)}`);
      }
      const closedAda = all.find((e) => e.event === "connection_closed" && e.nick === "ada")!;
      assert.equal(closedAda.conn, ada.welcome!.sessionId);
      assert.equal(closedAda.user, ada.welcome!.userId);
      assert.equal(closedAda.reason, "closed");
      assert.equal(closedAda.level, 30); // info
      const dead = all.find((e) => e.event === "liveness_dead")!;
      assert.equal(dead.conn, eve.welcome!.sessionId);
      assert.equal(dead.user, eve.welcome!.userId);
      assert.equal(dead.reason, "timeout");
      assert.ok(typeof dead.ms === "number" && dead.ms >= 2_000);
      assert.equal(dead.level, 40); // warn
      assert.ok(all.some((e) => e.event === "connection_opened" && e.conn === ada.welcome!.sessionId && e.level === 20));
    } finally {
      await server.close();
    }
  });

  it("still go to a plain string sink, message first, then key=value", () => {
    const lines: string[] = [];
    const log = lineLog((l) => lines.push(l));
    log("connection x ended: timeout", { event: "connection_closed", conn: "x", user: "u 1", reason: "timeout", ms: 12 });
    log("plain");
    assert.deepEqual(lines, ['connection x ended: timeout event=connection_closed conn=x user="u 1" reason=timeout ms=12', "plain"]);
  });

  it("pulse serve writes only JSON lines on stdout, at the asked level", async () => {
    const cli = fileURLToPath(new URL("../../src/cli/pulse.ts", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", cli, "serve", "--port", "0", "--host", "127.0.0.1", "--store", "memory", "--log-level", "debug", "--stats-token", "hidden-token-value"], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    try {
      const port = await waitFor(() => /"msg":"listening on http:\/\/127\.0\.0\.1:(\d+)"/.exec(out)?.[1], "the listening line", 30_000);
      const c = await RawClient.hello(`ws://127.0.0.1:${port}`, "ada");
      c.close();
      await waitFor(() => out.includes('"event":"connection_closed"'), "connection_closed", 10_000);
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
      const all = out.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(all[0]!.event, "config");
      assert.deepEqual((all[0]!.config as Record<string, unknown>).statsToken, { value: "***", from: "flag" });
      assert.ok(!out.includes("hidden-token-value"), "the stats token was logged");
      assert.ok(all.some((e) => e.event === "connection_opened"), "debug events are written at --log-level debug");
      assert.ok(all.some((e) => e.event === "server_closed"));
    } finally {
      child.kill("SIGKILL");
    }
  });
});
