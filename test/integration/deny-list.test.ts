import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Redis } from "ioredis";
import { RawClient } from "../support/raw-client.js";
import { RedisServer } from "../support/redis-server.js";
import { ServerProcess } from "../support/server-process.js";
import { httpGet, parsePrometheus, sampleValue } from "../support/http-get.js";
import { testClient, testServer } from "../support/test-server.js";
import { tryUpgrade, type UpgradeOutcome } from "../support/upgrade.js";
import { waitFor } from "../support/wait.js";

const statusOf = (o: UpgradeOutcome) => {
  if (!("ws" in o)) return o.status;
  o.ws.terminate();
  return "open";
};

/** A message from `from` in "lobby" that `to` receives: the server still serves them. */
async function stillChatting(from: RawClient, to: RawClient, id: string): Promise<void> {
  from.send({ type: "send", room: "lobby", id, text: `still here ${id}` });
  await to.next("message", (m) => m.text === `still here ${id}`);
}

async function inLobby(c: RawClient): Promise<RawClient> {
  c.send({ type: "join", room: "lobby" });
  await c.next("joined");
  return c;
}

describe("the deny list", () => {
  it("refuses an address or range it names at the upgrade with 403, before the rate limits, and serves it no page; other addresses connect", async () => {
    const server = await testServer({ denied: ["127.0.0.2", "127.0.0.16/28"], rateLimits: { upgrades: { perSecond: 0.01, burst: 2 } } });
    try {
      const statuses = [];
      for (const from of ["127.0.0.2", "127.0.0.17", "127.0.0.31", "127.0.0.3", "127.0.0.32"]) statuses.push(statusOf(await tryUpgrade(server.url, from)));
      assert.deepEqual(statuses, [403, 403, 403, "open", "open"]);
      // Refused before the new-connection bucket is drawn from: 403 every time, never 429.
      const again = [];
      for (let i = 0; i < 4; i++) again.push(statusOf(await tryUpgrade(server.url, "127.0.0.2")));
      assert.deepEqual(again, [403, 403, 403, 403]);
      // Counted apart from the other 403s (Host, Origin), and within them.
      const metrics = parsePrometheus((await httpGet(server.port, "/metrics")).body);
      assert.equal(sampleValue(metrics, "pulse_upgrades_denied_total"), 7);
      assert.equal(sampleValue(metrics, "pulse_upgrades_refused_total", { status: "403" }), 7);
      // Nor is the page served to it, or anything else over HTTP; another address gets it.
      const page = await httpGet(server.port, "/", {}, "127.0.0.2");
      assert.equal(page.status, 403);
      assert.equal(page.headers.connection, "close");
      assert.equal((await httpGet(server.port, "/", {}, "127.0.0.18")).status, 403);
      assert.equal((await httpGet(server.port, "/", {}, "127.0.0.3")).status, 200);
      const after = parsePrometheus((await httpGet(server.port, "/metrics")).body);
      assert.equal(sampleValue(after, "pulse_http_requests_denied_total"), 2);
    } finally {
      await server.close();
    }
  });

  it("deny() closes the connections it names with 4500 (by address, by user), refuses them again, and everyone else goes on", async () => {
    const server = await testServer();
    const clients: RawClient[] = [];
    try {
      const ada = await inLobby(await RawClient.hello(server.url, "ada", undefined, undefined, "127.0.0.2"));
      const bob = await inLobby(await RawClient.hello(server.url, "bob", undefined, undefined, "127.0.0.3"));
      const cy = await inLobby(await RawClient.hello(server.url, "cy", undefined, undefined, "127.0.0.4"));
      clients.push(ada, bob, cy);
      assert.deepEqual(server.deny(["127.0.0.2", `user:${cy.welcome!.userId}`]), { entries: 2, closed: 2 });
      for (const c of [ada, cy]) assert.deepEqual(await c.waitClosed(), { code: 4500, reason: "denied by this server's operator" });
      await stillChatting(bob, bob, "b1");

      // The user comes back with its resume token from another address: closed at hello.
      const again = await RawClient.connect(server.url, undefined, undefined, "127.0.0.5");
      clients.push(again);
      again.send({ type: "hello", clientId: "c-again", nick: "cy", token: cy.welcome!.token });
      assert.equal((await again.waitClosed()).code, 4500);
      assert.equal(again.received.some((m) => m.type === "welcome"), false);
      assert.equal(statusOf(await tryUpgrade(server.url, "127.0.0.2")), 403);

      // A bad entry changes nothing; an empty list lets everyone back.
      assert.throws(() => server.deny(["127.0.0.9", "nonsense"]), RangeError);
      assert.equal(statusOf(await tryUpgrade(server.url, "127.0.0.2")), 403, "the list stays as it was");
      assert.equal(statusOf(await tryUpgrade(server.url, "127.0.0.9")), "open");
      assert.deepEqual(server.deny([]), { entries: 0, closed: 0 });
      const back = await inLobby(await RawClient.hello(server.url, "cy", cy.welcome!.token, undefined, "127.0.0.2"));
      clients.push(back);
      await stillChatting(back, bob, "c1");
    } finally {
      for (const c of clients) c.close();
      await server.close();
    }
  });

  it("a user denied while its hello waits on the store (Redis) is closed with 4500 when the wait ends, never welcomed", async () => {
    const redis = await RedisServer.start();
    const server = await testServer({ redis: redis.url });
    const admin = new Redis(redis.url);
    const clients: RawClient[] = [];
    try {
      const first = await RawClient.hello(server.url, "mallory");
      const { token, userId } = first.welcome!;
      first.close();
      await first.waitClosed();
      // Redis answers nothing for a while: the next hello's nickname claim waits there.
      const racer = await RawClient.connect(server.url);
      clients.push(racer);
      await admin.call("CLIENT", "PAUSE", "1500", "ALL");
      racer.send({ type: "hello", clientId: "c-racer", nick: "mallory", token });
      await new Promise((r) => setTimeout(r, 300));
      // The connection has no user yet: the new list closes nothing now.
      assert.deepEqual(server.deny([`user:${userId}`]), { entries: 1, closed: 0 });
      assert.deepEqual(await racer.waitClosed(10_000), { code: 4500, reason: "denied by this server's operator" });
      assert.equal(racer.received.some((m) => m.type === "welcome"), false);
      // The server goes on: another user chats.
      const other = await RawClient.hello(server.url, "ok");
      clients.push(other);
      other.send({ type: "join", room: "lobby" });
      await other.next("joined");
    } finally {
      for (const c of clients) c.close();
      admin.disconnect();
      await server.close();
      await redis.dispose();
    }
  });

  it("the client library stops on a denial and says why, instead of reconnecting", async () => {
    const server = await testServer();
    const client = testClient(server.url, "eve");
    try {
      client.connect();
      await waitFor(() => client.state.kind === "open", "open");
      assert.deepEqual(server.deny([`user:${client.userId}`]), { entries: 1, closed: 1 });
      const state = await waitFor(() => (client.state.kind === "closed" ? client.state : null), "closed");
      assert.equal(state.code, 4500);
      assert.equal(state.reason, "policy violation: denied by this server's operator");
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.equal(server.stats().connections, 0, "no reconnect");
    } finally {
      client.close();
      await server.close();
    }
  });

  it("pulse serve --deny-file: read at start, read again on SIGHUP; a bad file keeps the list it had", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "pulse-deny-"));
    const file = join(dir, "deny.txt");
    writeFileSync(file, "# trolls\n127.0.0.2\n\n");
    const server = await ServerProcess.start({ args: ["--deny-file", file] });
    const clients: RawClient[] = [];
    try {
      assert.equal(statusOf(await tryUpgrade(server.wsUrl, "127.0.0.2")), 403);
      const bob = await inLobby(await RawClient.hello(server.wsUrl, "bob", undefined, undefined, "127.0.0.3"));
      const dee = await inLobby(await RawClient.hello(server.wsUrl, "dee", undefined, undefined, "127.0.0.4"));
      clients.push(bob, dee);

      // The operator finds bob in the log: his user id and address, and denies the user.
      const ready = server.output().split("\n").map((line) => (line.startsWith("{") ? (JSON.parse(line) as Record<string, unknown>) : {})).find((l) => l.event === "connection_ready" && l.nick === "bob");
      assert.equal(ready?.limitKey, "127.0.0.3");
      writeFileSync(file, `127.0.0.2\nuser:${String(ready!.user)}   # bob, now\n`);
      process.kill(server.pid!, "SIGHUP");
      assert.equal((await bob.waitClosed()).code, 4500);
      await stillChatting(dee, dee, "d1");

      writeFileSync(file, "127.0.0.4\nnot an address\n");
      process.kill(server.pid!, "SIGHUP");
      await waitFor(() => server.output().includes("deny_list_refused"), "the refusal in the log");
      assert.match(server.output(), /\\"not an address\\" is not an IP address/, "the log quotes the bad entry");
      assert.equal(dee.closed, null, "the bad file's good entry was not taken");
      assert.equal(statusOf(await tryUpgrade(server.wsUrl, "127.0.0.2")), 403, "the list before it stays");
      const bobAgain = await RawClient.connect(server.wsUrl, undefined, undefined, "127.0.0.5");
      clients.push(bobAgain);
      bobAgain.send({ type: "hello", clientId: "c-bob", nick: "bob", token: bob.welcome!.token });
      assert.equal((await bobAgain.waitClosed()).code, 4500, "bob, from anywhere, is still denied");
      await stillChatting(dee, dee, "d2");
    } finally {
      for (const c of clients) c.close();
      await server.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
