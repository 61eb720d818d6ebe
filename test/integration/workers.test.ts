import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { Redis } from "ioredis";
import type WebSocket from "ws";
import type { ChatMessage } from "../../src/protocol/messages.js";
import type { PulseClient } from "../../src/client/pulse-client.js";
import { RawClient } from "../support/raw-client.js";
import { RedisServer } from "../support/redis-server.js";
import { ServerProcess } from "../support/server-process.js";
import { testClient } from "../support/test-server.js";
import { opened, tryUpgrade, type UpgradeOutcome } from "../support/upgrade.js";
import { hashOf } from "../../src/cli/connection-dealer.js";
import { sleep, waitFor } from "../support/wait.js";
import { httpGet, parsePrometheus, sampleValue } from "../support/http-get.js";

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
    const probe = new Redis(redis.url);
    const clients: PulseClient[] = [];
    await withWorkers([], async (server) => {
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
    }).finally(() => {
      for (const c of clients) c.close();
      probe.disconnect();
    });
  });

  it("counts an address's connections whole: the primary deals all of them to one worker", async () => {
    // Before, node:cluster dealt connections in turn and each worker counted only its share:
    // with two workers one address held twice the cap.
    await withWorkers(["--max-connections-per-ip", "5", "--log-level", "debug"], async (server, open) => {
      const statuses = await upgradeStatuses(server.wsUrl, 10, open, "127.0.0.5");
      assert.deepEqual(statuses, [...Array<string>(5).fill("open"), ...Array<number>(5).fill(429)]);
      await waitFor(() => workerPids(server, "connection_opened", "127.0.0.5").length === 5, "five connections logged", 10_000);
      assert.equal(new Set(workerPids(server, "connection_opened", "127.0.0.5")).size, 1, "one worker serves the address");
      // Other addresses still reach both workers.
      for (let a = 10; a < 26; a++) open.push(opened(await tryUpgrade(server.wsUrl, `127.0.0.${a}`)));
      await waitFor(() => new Set(workerPids(server, "connection_opened")).size === 2, "sixteen addresses spread over both workers", 10_000);
    });
  });

  it("behind a trusted proxy, deals by the address X-Forwarded-For names", async () => {
    await withWorkers(["--max-connections-per-ip", "3", "--trusted-proxy", "127.0.0.7", "--log-level", "debug"], async (server, open) => {
      for (const client of ["198.51.100.7", "198.51.100.8", "203.0.113.9"]) {
        const statuses = await upgradeStatuses(server.wsUrl, 6, open, "127.0.0.7", { "x-forwarded-for": `10.9.9.9, ${client}` });
        assert.deepEqual(statuses, [...Array<string>(3).fill("open"), ...Array<number>(3).fill(429)], client);
        await waitFor(() => workerPids(server, "connection_opened", client).length === 3, `three connections of ${client} logged`, 10_000);
        assert.equal(new Set(workerPids(server, "connection_opened", client)).size, 1, `one worker serves ${client}`);
      }
      // The proxy's clients spread over both workers: dealt by the named address, not the proxy's.
      for (let a = 10; a < 26; a++) open.push(opened(await tryUpgrade(server.wsUrl, "127.0.0.7", { "x-forwarded-for": `192.0.2.${a}` })));
      await waitFor(() => new Set(workerPids(server, "connection_opened")).size === 2, "sixteen proxied clients spread over both workers", 10_000);
      // A chat through the proxy works: the head the primary read reached the worker whole.
      const c = await RawClient.hello(server.wsUrl, "proxied", undefined, { "x-forwarded-for": "192.0.2.44" }, "127.0.0.7");
      c.close();
    });
  });

  it("a worker that stops and then dies leaves no connection hanging, and its replacement takes its addresses", async () => {
    await withWorkers(["--log-level", "debug"], async (server, open) => {
      // A worker is replaced only after it lived 5 s (one that dies sooner would only crash again).
      await new Promise((resolve) => setTimeout(resolve, 5_500));
      // Addresses the primary deals to one slot (see hashOf), and the worker sitting in it.
      const inSlot = Array.from({ length: 64 }, (_, i) => `127.0.2.${i + 1}`).filter((a) => hashOf(a) % 2 === 0);
      const probe = opened(await tryUpgrade(server.wsUrl, inSlot[0]));
      await waitFor(() => workerPids(server, "connection_opened", inSlot[0]).length === 1, "the probe logged", 10_000);
      const victim = workerPids(server, "connection_opened", inSlot[0])[0]!;
      const survivor = workerPids(server, "server_listening").find((pid) => pid !== victim)!;
      probe.terminate();
      // Stopped, the worker acknowledges nothing: the primary has written one socket to it and
      // holds the next ones back. Then it dies.
      process.kill(victim, "SIGSTOP");
      const attempts = inSlot.slice(1, 5).map((a) => settledWithin(tryUpgrade(server.wsUrl, a), 10_000));
      await new Promise((resolve) => setTimeout(resolve, 500));
      process.kill(victim, "SIGKILL");
      const outcomes = await Promise.all(attempts);
      for (const o of outcomes) if (typeof o === "object") open.push(o.ws);
      // The socket written to the dead worker is closed (its client tries again); the ones held
      // back open on the other worker. Before, all four hung, neither answered nor closed.
      assert.deepEqual(outcomes.map((o) => (typeof o === "object" ? "open" : o)).sort(), ["closed", "open", "open", "open"]);
      await waitFor(() => inSlot.slice(1, 5).flatMap((a) => workerPids(server, "connection_opened", a)).length === 3, "three connections logged", 10_000);
      assert.ok(inSlot.slice(1, 5).flatMap((a) => workerPids(server, "connection_opened", a)).every((pid) => pid === survivor));
      // The replacement takes the slot's addresses once it is ready.
      await waitFor(() => new Set(workerPids(server, "server_listening")).size === 3, "a replacement worker listening", 30_000);
      const replacement = workerPids(server, "server_listening").find((pid) => pid !== victim && pid !== survivor)!;
      open.push(opened(await tryUpgrade(server.wsUrl, inSlot[5]!)));
      await waitFor(() => workerPids(server, "connection_opened", inSlot[5]).length === 1, "the last connection logged", 10_000);
      assert.deepEqual(workerPids(server, "connection_opened", inSlot[5]), [replacement]);
    });
  });

  it("passes over a worker that acknowledges no connection for 10 s, deals those queued for it to the other, and deals to it again once it is back", async () => {
    await withWorkers(["--log-level", "debug", "--metrics-port", "0"], async (server, open) => {
      const primaryMetrics = async () => parsePrometheus((await httpGet(primaryMetricsPortOf(server), "/metrics")).body);
      const inSlot = Array.from({ length: 64 }, (_, i) => `127.0.3.${i + 1}`).filter((a) => hashOf(a) % 2 === 0);
      open.push(opened(await tryUpgrade(server.wsUrl, inSlot[0])));
      await waitFor(() => workerPids(server, "connection_opened", inSlot[0]).length === 1, "the probe logged", 10_000);
      const stuck = workerPids(server, "connection_opened", inSlot[0])[0]!;
      const other = workerPids(server, "server_listening").find((pid) => pid !== stuck)!;
      process.kill(stuck, "SIGSTOP");
      try {
        // Written to the stopped worker, which does not acknowledge it; the next ones queue behind it.
        const first = tryUpgrade(server.wsUrl, inSlot[1]!);
        await sleep(300);
        const started = Date.now();
        const queued = await Promise.all(inSlot.slice(2, 5).map((a) => settledWithin(tryUpgrade(server.wsUrl, a), 20_000)));
        for (const outcome of queued) if (typeof outcome === "object") open.push(outcome.ws);
        // Before, they hung as long as the worker stayed stopped, and so did every retry.
        assert.deepEqual(queued.map((o) => (typeof o === "object" ? "open" : o)), ["open", "open", "open"], `after ${Date.now() - started} ms`);
        assert.ok(Date.now() - started >= 9_000, `opened after ${Date.now() - started} ms, once the worker was passed over`);
        await waitFor(() => inSlot.slice(2, 5).every((a) => workerPids(server, "connection_opened", a).length === 1), "the three logged", 10_000);
        assert.ok(inSlot.slice(2, 5).every((a) => workerPids(server, "connection_opened", a)[0] === other), "on the other worker");
        assert.ok(server.output().includes(`worker ${stuck} acknowledged no connection for 10 s`), "the primary says why");
        const during = await primaryMetrics();
        assert.deepEqual([sampleValue(during, "pulse_primary_workers", { state: "ready" }), sampleValue(during, "pulse_primary_workers", { state: "passed_over" })], [1, 1]);
        assert.equal(sampleValue(during, "pulse_primary_connections_closed_total", { reason: "waited_too_long" }), 0);
        // The slot's clients now reach the other worker.
        open.push(opened(await tryUpgrade(server.wsUrl, inSlot[5]!)));
        await waitFor(() => workerPids(server, "connection_opened", inSlot[5]).length === 1, "the passed-over slot's connection logged", 10_000);
        assert.deepEqual(workerPids(server, "connection_opened", inSlot[5]), [other]);
        process.kill(stuck, "SIGCONT");
        // Back, the worker takes the connection written to it, and its slot again.
        open.push(opened(await first));
        await waitFor(() => server.output().includes(`worker ${stuck} acknowledges connections again`), "the primary says the worker is back", 10_000);
        assert.equal(sampleValue(await primaryMetrics(), "pulse_primary_workers", { state: "ready" }), 2);
        open.push(opened(await tryUpgrade(server.wsUrl, inSlot[6]!)));
        await waitFor(() => workerPids(server, "connection_opened", inSlot[6]).length === 1, "the last connection logged", 10_000);
        assert.deepEqual(workerPids(server, "connection_opened", inSlot[6]), [stuck]);
      } finally {
        process.kill(stuck, "SIGCONT");
      }
    });
  });

  for (const given of ["a port", "0"] as const) it(`gives every worker a metrics port of its own (--metrics-port ${given}), each scrape answered by that worker, and the primary one after them`, async () => {
    // Before, the workers shared --metrics-port and each scrape was answered by another worker in
    // turn: one series mixed two processes' counters. With 0 (any free port) they shared one too.
    const base = given === "0" ? 0 : await freePortRun(3);
    await withWorkers(["--metrics-port", String(base), "--log-level", "debug"], async (server, open) => {
      const ports = server.output().split("\n").filter((line) => line.includes('"event":"server_listening"')).map((line) => (JSON.parse(line) as { metricsPort: number }).metricsPort);
      const primaryPort = primaryMetricsPortOf(server);
      if (base !== 0) assert.deepEqual([...ports.sort(), primaryPort], [base, base + 1, base + 2]);
      else assert.equal(new Set([...ports.filter((p) => p > 0), primaryPort]).size, 3, `three ports: ${ports.join(", ")}, ${primaryPort}`);
      for (let i = 0; i < 3; i++) open.push(opened(await tryUpgrade(server.wsUrl, "127.0.0.9")));
      const opened3 = async (port: number) => sampleValue(parsePrometheus((await httpGet(port, "/metrics")).body), "pulse_connections_opened_total") ?? 0;
      const seen = new Map<number, number[]>();
      for (let round = 0; round < 3; round++) for (const port of ports) seen.set(port, [...(seen.get(port) ?? []), await opened3(port)]);
      // One worker served the address: its port says 3 every time, the other's 0 every time.
      assert.deepEqual([...seen.values()].map((v) => v.join(",")).sort(), ["0,0,0", "3,3,3"]);
      // The primary's own: the workers it deals to, and the connections it took.
      const primary = parsePrometheus((await httpGet(primaryPort, "/metrics")).body);
      assert.equal(sampleValue(primary, "pulse_primary_workers", { state: "ready" }), 2);
      assert.equal(sampleValue(primary, "pulse_primary_connections_accepted_total"), 3);
      assert.ok((sampleValue(primary, "process_open_fds") ?? 0) > 0);
      // A worker that took every socket dealt to it dies: it lost none on the way (before, every
      // exit counted one).
      process.kill(workerPids(server, "connection_opened", "127.0.0.9")[0]!, "SIGKILL");
      const exited = async () => parsePrometheus((await httpGet(primaryPort, "/metrics")).body);
      await waitFor(async () => sampleValue(await exited(), "pulse_primary_worker_exits_total") === 1, "the exit counted", 10_000);
      assert.equal(sampleValue(await exited(), "pulse_primary_connections_closed_total", { reason: "handover_failed" }), 0);
    });
  });

  it("refuses at start metrics ports the workers cannot have, naming them", () => {
    for (const [args, why] of [
      [["--metrics-port", "65534"], /the workers and the primary take ports 65534-65536, past 65535/],
      [["--port", "9000", "--metrics-port", "8998"], /take ports 8998-9000, which holds --port 9000/],
    ] as const) {
      const run = spawnSync(process.execPath, ["dist/cli/pulse.js", "serve", "--workers", "2", "--redis", redis.url, ...args], { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
      assert.equal(run.status, 1, run.stderr);
      assert.match(run.stderr, why);
    }
  });

  it("reads at most 1,024 trusted proxy sockets' heads at once, and closes a head not whole within 10 s", async () => {
    // Before, a trusted range's sockets that never finished a head were all held by the primary
    // (3,000 held 3,000 descriptors), then handed to a worker that held them 10 s more.
    await withWorkers(["--trusted-proxy", "127.0.0.7"], async (server, sockets) => {
      const closedAt: number[] = [];
      const start = Date.now();
      for (let i = 0; i < 1_100; i++) {
        const socket = connect({ host: "127.0.0.1", port: server.port, localAddress: "127.0.0.7" });
        socket.on("error", () => {});
        socket.on("close", () => closedAt.push(Date.now() - start));
        socket.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        sockets.push(socket);
      }
      await waitFor(() => closedAt.length >= 76, "the sockets past 1,024 closed", 5_000);
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(closedAt.length, 76, "the 1,024 being read are held");
      await waitFor(() => closedAt.length === 1_100, "every unfinished head closed", 20_000);
      assert.ok(Math.max(...closedAt) < 14_000, `the last closed at ${Math.max(...closedAt)} ms`);
      // A head with bare line feeds is finished at once and refused by the worker's parser (the
      // socket closed, as with one process), not held for the head's 10 s.
      const bare = connect({ host: "127.0.0.1", port: server.port, localAddress: "127.0.0.7" });
      sockets.push(bare);
      const sent = Date.now();
      await new Promise<void>((resolve) => {
        bare.on("close", () => resolve());
        bare.on("error", () => {});
        bare.write("GET / HTTP/1.1\nHost: 127.0.0.1\n\n");
      });
      assert.ok(Date.now() - sent < 5_000, `closed after ${Date.now() - sent} ms`);
    });
  });

  it("re-deals an upgrade that a trusted proxy sends on a socket dealt by another client's request", async () => {
    // A proxy that keeps upstream sockets alive can send one client's upgrade on a socket the
    // primary dealt by another client's page load. Before, the upgrade was counted by that other
    // client's worker: a client holding its whole cap on its own worker got as many again there.
    await withWorkers(["--max-connections-per-ip", "3", "--trusted-proxy", "127.0.0.7", "--log-level", "debug"], async (server, open) => {
      // Two clients the primary deals to different workers.
      const [a, b] = [slotAddress(0), slotAddress(1)];
      for (let i = 0; i < 3; i++) open.push(opened(await tryUpgrade(server.wsUrl, "127.0.0.7", { "x-forwarded-for": b })));
      // A page load for a, then an upgrade on the same socket.
      const upgradeAfterPageLoad = async (upgrading: string): Promise<string> => {
        const socket = connect({ host: "127.0.0.1", port: server.port, localAddress: "127.0.0.7" });
        open.push(socket);
        socket.on("error", () => {});
        const reply = replies(socket);
        socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: ${a}\r\n\r\n`);
        assert.match(await reply.next(), /^HTTP\/1\.1 200/);
        socket.write(upgradeRequest(upgrading));
        return reply.next();
      };
      // b's fourth connection is over its cap of 3, wherever the socket was dealt first.
      assert.match(await upgradeAfterPageLoad(b), /^HTTP\/1\.1 429/);
      // And one of a fresh client on such a socket opens, on the worker of its own address.
      const c = slotAddress(1, 1);
      assert.match(await upgradeAfterPageLoad(c), /^HTTP\/1\.1 101/);
      await waitFor(() => workerPids(server, "connection_opened", c).length === 1, "c's connection logged", 10_000);
      assert.deepEqual(workerPids(server, "connection_opened", c), [workerPids(server, "connection_opened", b)[0]]);
    });
  });

  it("on SIGTERM, kills a worker that has not ended 15 s later, rather than leave it behind", async () => {
    let stopped = 0;
    await withWorkers([], async (server) => {
      stopped = workerPids(server, "server_listening")[0]!;
      process.kill(stopped, "SIGSTOP");
      await server.stop(); // SIGTERM; the primary waits 15 s for its workers
      await waitFor(() => !alive(stopped), "the stopped worker gone", 5_000);
    }).finally(() => {
      if (stopped && alive(stopped)) process.kill(stopped, "SIGKILL");
    });
  });

  it("passes SIGHUP on with a deny file, so every worker reloads it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pulse-deny-"));
    const file = join(dir, "deny.txt");
    writeFileSync(file, "# nobody yet\n");
    const clients: RawClient[] = [];
    await withWorkers(["--deny-file", file], async (server, open) => {
      // The primary deals connections by address: eight addresses reach both workers.
      for (let i = 0; i < 8; i++) clients.push(await RawClient.hello(server.wsUrl, `t${i}`, undefined, undefined, `127.0.0.${30 + i}`));
      await waitFor(() => workerPids(server, "connection_ready").length === 8, "eight connections ready", 10_000);
      assert.equal(new Set(workerPids(server, "connection_ready")).size, 2, "the eight connections are on both workers");
      writeFileSync(file, "127.0.0.0/26\n");
      process.kill(server.pid!, "SIGHUP");
      for (const c of clients) assert.equal((await c.waitClosed(10_000)).code, 4500);
      assert.deepEqual(await upgradeStatuses(server.wsUrl, 4, open, "127.0.0.3"), [403, 403, 403, 403]);
    }).finally(() => {
      for (const c of clients) c.close();
      rmSync(dir, { recursive: true, force: true });
    });
  });
});

/**
 * Runs `body` against `pulse serve --workers 2` on the test's Redis with `args`, once both
 * workers listen (the primary deals only to a worker that is ready); then closes what `body`
 * put in `open` and stops the server, however `body` ended.
 */
async function withWorkers(args: string[], body: (server: ServerProcess, open: Array<WebSocket | Socket>) => Promise<void>): Promise<void> {
  const server = await ServerProcess.start({ args: ["--workers", "2", "--redis", redis.url, ...args], readyTimeoutMs: 60_000 });
  const open: Array<WebSocket | Socket> = [];
  try {
    await waitFor(() => new Set(workerPids(server, "server_listening")).size === 2, "both workers listening", 30_000);
    await body(server, open);
  } finally {
    for (const s of open) "terminate" in s ? s.terminate() : s.destroy();
    await server.stop();
    await server.dispose();
  }
}

/** `n` upgrades one after another from `from`, each "open" (kept in `open`) or its HTTP status. */
async function upgradeStatuses(url: string, n: number, open: Array<WebSocket | Socket>, from: string, headers?: Record<string, string>): Promise<Array<number | "open">> {
  const statuses: Array<number | "open"> = [];
  for (let i = 0; i < n; i++) {
    const outcome = await tryUpgrade(url, from, headers);
    if ("ws" in outcome) open.push(outcome.ws);
    statuses.push("ws" in outcome ? "open" : outcome.status);
  }
  return statuses;
}

/** The pid of the worker behind each log line of `event` (for `ip`, when given). */
function workerPids(server: ServerProcess, event: string, ip?: string): number[] {
  const pids: number[] = [];
  for (const line of server.output().split("\n")) {
    if (!line.includes(`"event":"${event}"`)) continue;
    const entry = JSON.parse(line) as { pid: number; ip?: string };
    if (ip === undefined || entry.ip === ip) pids.push(entry.pid);
  }
  return pids;
}

/** An upgrade's outcome: open, refused (its HTTP status), "closed" (the connection ended unanswered) or "hung" (nothing within `ms`). */
async function settledWithin(attempt: Promise<UpgradeOutcome>, ms: number): Promise<{ ws: WebSocket } | number | "closed" | "hung"> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<"hung">((resolve) => (timer = setTimeout(() => resolve("hung"), ms)));
  try {
    const outcome = await Promise.race([attempt.catch(() => "closed" as const), hung]);
    return typeof outcome === "string" ? outcome : "ws" in outcome ? { ws: outcome.ws } : outcome.status;
  } finally {
    clearTimeout(timer);
  }
}

/** A port p with p to p + n - 1 all free on 127.0.0.1 (bound once to check, then let go). */
async function freePortRun(n: number): Promise<number> {
  const bind = (port: number) =>
    new Promise<Server | null>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(null));
      server.listen(port, "127.0.0.1", () => resolve(server));
    });
  for (let tries = 0; tries < 50; tries++) {
    const first = await bind(0);
    const port = (first!.address() as AddressInfo).port;
    const bound = [first!];
    while (bound.length < n) {
      const next = await bind(port + bound.length);
      if (!next) break;
      bound.push(next);
    }
    await Promise.all(bound.map((server) => new Promise((resolve) => server.close(resolve))));
    if (bound.length === n) return port;
  }
  throw new Error(`no ${n} free ports in a row on 127.0.0.1 in 50 tries`);
}

/** The port of the primary's metrics, from its "primary metrics on" line. */
function primaryMetricsPortOf(server: ServerProcess): number {
  const port = /primary metrics on http:\/\/[^\s]+:(\d+)\/metrics/.exec(server.output())?.[1];
  if (port === undefined) throw new Error("the primary printed no \"primary metrics on\" line");
  return Number(port);
}

/** The `nth` address of 198.51.100.0/24 that the primary deals to `slot` of two (see hashOf). */
function slotAddress(slot: number, nth = 0): string {
  const all = Array.from({ length: 254 }, (_, i) => `198.51.100.${i + 1}`).filter((a) => hashOf(a) % 2 === slot);
  return all[nth]!;
}

/** A WebSocket upgrade request for `client`, as a trusted proxy sends it. */
const upgradeRequest = (client: string): string =>
  `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: pulse.v1\r\nX-Forwarded-For: ${client}\r\n\r\n`;

/** The responses read from a raw socket, one head (and its body, if it came with it) per next(). */
function replies(socket: Socket): { next(): Promise<string> } {
  let buffered = "";
  const waiting: Array<(text: string) => void> = [];
  socket.on("data", (d: Buffer) => {
    buffered += d.toString("latin1");
    const end = buffered.indexOf("\r\n\r\n");
    if (end < 0 || waiting.length === 0) return;
    const headText = buffered.slice(0, end);
    let stop = end + 4 + Number(/content-length: *(\d+)/i.exec(headText)?.[1] ?? 0);
    if (/transfer-encoding: *chunked/i.test(headText)) {
      const last = buffered.indexOf("\r\n0\r\n\r\n", end);
      if (last < 0) return;
      stop = last + 7;
    }
    if (buffered.length < stop) return;
    const text = buffered.slice(0, stop);
    buffered = buffered.slice(stop);
    waiting.shift()!(text);
  });
  return { next: () => new Promise((resolve, reject) => { waiting.push(resolve); setTimeout(() => reject(new Error("no response within 10 s")), 10_000).unref(); }) };
}

/** Whether a process exists (a zombie counts as gone: its parent ended). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] !== "Z";
  } catch {
    return false;
  }
}
