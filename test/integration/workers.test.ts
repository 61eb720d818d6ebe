import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import type { ChatMessage } from "../../src/protocol/messages.js";
import type { PulseClient } from "../../src/client/pulse-client.js";
import { RawClient } from "../support/raw-client.js";
import { RedisServer } from "../support/redis-server.js";
import { ServerProcess } from "../support/server-process.js";
import { testClient } from "../support/test-server.js";
import { tryUpgrade } from "../support/upgrade.js";
import { waitFor } from "../support/wait.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

let redis: RedisServer;
before(async () => {
  redis = await RedisServer.start();
});
after(async () => {
  await redis?.dispose();
});

describe("pulse serve --workers", () => {
  it("refuses more than one worker without --redis, saying why", () => {
    const run = spawnSync(process.execPath, ["dist/cli/pulse.js", "serve", "--workers", "2", "--port", "0"], { cwd: ROOT, encoding: "utf8", timeout: 30_000, env: { ...process.env, PULSE_REDIS_URL: "" } });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /--workers above 1 needs --redis: each worker is its own process/);
  });

  it("runs N workers on one port that serve one chat through Redis", async () => {
    const server = await ServerProcess.start({ args: ["--workers", "2", "--redis", redis.url, "--quiet"], readyTimeoutMs: 60_000 });
    const probe = new Redis(redis.url);
    const clients: PulseClient[] = [];
    try {
      // Both workers registered as nodes in Redis.
      await waitFor(async () => (await probe.smembers("pulse:nodes")).length === 2, "two worker nodes in Redis", 30_000, 100);
      const got = new Map<string, ChatMessage[]>();
      for (const nick of ["kim", "lou", "max", "ned"]) {
        const c = testClient(server.wsUrl, nick);
        got.set(nick, []);
        c.on("message", (m) => got.get(nick)!.push(m));
        c.join("w");
        clients.push(c);
      }
      await waitFor(() => clients.every((c) => c.online("w").length === 4), "all four online everywhere", 30_000);
      for (const c of clients) for (let i = 0; i < 5; i++) c.send("w", `${c.nick} ${i}`);
      await waitFor(() => [...got.values()].every((l) => l.length === 20), "20 messages at each client", 30_000);
      const reference = got.get("kim")!.map((m) => `${m.seq} ${m.text}`);
      for (const list of got.values()) assert.deepEqual(list.map((m) => `${m.seq} ${m.text}`), reference);
      assert.deepEqual(got.get("kim")!.map((m) => m.seq), Array.from({ length: 20 }, (_, i) => i + 1));
    } finally {
      for (const c of clients) c.close();
      probe.disconnect();
      await server.stop();
      await server.dispose();
    }
  });

  it("passes SIGHUP on with a deny file, so every worker reloads it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pulse-deny-"));
    const file = join(dir, "deny.txt");
    writeFileSync(file, "# nobody yet\n");
    const server = await ServerProcess.start({ args: ["--workers", "2", "--redis", redis.url, "--deny-file", file], readyTimeoutMs: 60_000 });
    const probe = new Redis(redis.url);
    const clients: RawClient[] = [];
    try {
      await waitFor(async () => (await probe.smembers("pulse:nodes")).length === 2, "two worker nodes in Redis", 30_000, 100);
      // The primary deals connections to the workers in turn: six reach both.
      for (let i = 0; i < 6; i++) clients.push(await RawClient.hello(server.wsUrl, `t${i}`, undefined, undefined, "127.0.0.3"));
      const readyLines = server.output().split("\n").filter((line) => line.includes('"event":"connection_ready"'));
      const workerPids = new Set(readyLines.map((line) => (JSON.parse(line) as { pid: number }).pid));
      assert.equal(workerPids.size, 2, "the six connections are on both workers");
      writeFileSync(file, "127.0.0.3\n");
      process.kill(server.pid!, "SIGHUP");
      for (const c of clients) assert.equal((await c.waitClosed(10_000)).code, 4500);
      const statuses = [];
      for (let i = 0; i < 4; i++) {
        const outcome = await tryUpgrade(server.wsUrl, "127.0.0.3");
        if ("ws" in outcome) outcome.ws.terminate();
        statuses.push("ws" in outcome ? "open" : outcome.status);
      }
      assert.deepEqual(statuses, [403, 403, 403, 403]);
    } finally {
      for (const c of clients) c.close();
      probe.disconnect();
      await server.stop();
      await server.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
