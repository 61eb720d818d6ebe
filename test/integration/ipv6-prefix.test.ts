import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import type { PulseServer } from "../../src/server/index.js";
import type { ServerOptions } from "../../src/server/options.js";
import { testServer } from "../support/test-server.js";
import { tryUpgrade, type UpgradeOutcome } from "../support/upgrade.js";
import { RawClient } from "../support/raw-client.js";
import { waitFor } from "../support/wait.js";

// The server's only peer is loopback, made a trusted proxy: each client's address is what
// X-Forwarded-For says, as behind nginx.
const PROXY = "127.0.0.1";
const xff = (value: string) => ({ "x-forwarded-for": value });
const statusOf = (o: UpgradeOutcome) => ("ws" in o ? "open" : o.status);
/** A random address in `prefix64` (four groups, e.g. "2001:db8:1:2"), as a host rotating its source address would use. */
const inPrefix = (prefix64: string) => `${prefix64}:${[...randomBytes(8).toString("hex").matchAll(/..../g)].join(":")}`;

/** Upgrades one after another from `addresses` (through the proxy); the outcomes, in order. */
async function upgradesFrom(url: string, addresses: readonly string[], into: UpgradeOutcome[]): Promise<(string | number)[]> {
  const statuses: (string | number)[] = [];
  for (const a of addresses) {
    const outcome = await tryUpgrade(url, PROXY, xff(a));
    into.push(outcome);
    statuses.push(statusOf(outcome));
  }
  return statuses;
}

const closeAll = (outcomes: UpgradeOutcome[]) => {
  for (const o of outcomes) if ("ws" in o) o.ws.terminate();
};

/** A server behind the trusted proxy (the test itself), with `options`; the sockets `body` opens are closed after it, then the server. */
async function behindProxy(options: ServerOptions, body: (server: PulseServer, sockets: UpgradeOutcome[]) => Promise<void>): Promise<void> {
  const server = await testServer({ trustedProxies: [PROXY], ...options });
  const sockets: UpgradeOutcome[] = [];
  try {
    await body(server, sockets);
  } finally {
    closeAll(sockets);
    await server.close();
  }
}

describe("per-address limits count an IPv6 client by its /64", () => {
  it("many addresses in one /64 share one connection cap; another /64 has its own", async () => {
    await behindProxy({ maxConnectionsPerIp: 4 }, async (server, sockets) => {
      const rotating = Array.from({ length: 20 }, () => inPrefix("2001:db8:1:2"));
      assert.equal(new Set(rotating).size, 20, "twenty different addresses");
      const statuses = await upgradesFrom(server.url, rotating, sockets);
      assert.deepEqual(statuses, [...Array<string>(4).fill("open"), ...Array<number>(16).fill(429)], "the cap holds for the whole /64");
      const neighbours = await upgradesFrom(server.url, ["2001:db8:1:3::1", "2001:db8:1:1:ffff:ffff:ffff:ffff", "2001:db8:2:2::1"], sockets);
      assert.deepEqual(neighbours, ["open", "open", "open"], "the /64s next to it are other clients");
      assert.equal(statusOf(await tryUpgrade(server.url, PROXY, xff("203.0.113.1"))), "open", "IPv4 clients are not affected");
    });
  });

  it("the /64s of one /48 share a cap of their own: a site cannot take every connection", async () => {
    await behindProxy({ maxConnectionsPerIp: 2, maxConnectionsPerIpv6Site: 5 }, async (server, sockets) => {
      // Ten /64s of 2001:db8:5::/48, one address each: each under its own cap of 2.
      const site = Array.from({ length: 10 }, (_, i) => `2001:db8:5:${(i + 1).toString(16)}::1`);
      const statuses = await upgradesFrom(server.url, site, sockets);
      assert.deepEqual(statuses, [...Array<string>(5).fill("open"), ...Array<number>(5).fill(429)], "five connections for the whole /48");
      assert.deepEqual(await upgradesFrom(server.url, ["2001:db8:6:1::1", "203.0.113.9"], sockets), ["open", "open"], "another /48 and IPv4 clients have their own");
      // A connection of the site that ends gives its slot back.
      const first = sockets[0]!;
      assert.ok("ws" in first);
      first.ws.close();
      await waitFor(async () => {
        const o = await tryUpgrade(server.url, PROXY, xff("2001:db8:5:ff::1"));
        sockets.push(o);
        return "ws" in o;
      }, "a slot of the /48 to come back");
    });
  });

  it("new connections per second: the /64s of one /48 share a bucket of ten addresses' rate and burst", async () => {
    // One address: a burst of 1 that hardly refills; the /48: 10.
    await behindProxy({ rateLimits: { upgrades: { perSecond: 0.01, burst: 1 } } }, async (server, sockets) => {
      const site = Array.from({ length: 15 }, (_, i) => `2001:db8:9:${(i + 1).toString(16)}::1`);
      const statuses = await upgradesFrom(server.url, site, sockets);
      closeAll(sockets); // the connection cap is not what is tested here
      assert.deepEqual(statuses, [...Array<string>(10).fill("open"), ...Array<number>(5).fill(429)], "fifteen /64s, each with its own token, ten for the /48");
      const refused = sockets.at(-1)!;
      assert.ok(!("ws" in refused) && Number(refused.retryAfter) >= 1, "with Retry-After");
      assert.deepEqual(await upgradesFrom(server.url, ["2001:db8:a:1::1", "203.0.113.5"], sockets), ["open", "open"], "another /48 and IPv4 clients have their own");
    });
  });

  it("new connections per second: one /64 has one bucket", async () => {
    // 0.01/s: a bucket that was drained stays drained for the whole test.
    await behindProxy({ rateLimits: { upgrades: { perSecond: 0.01, burst: 3 } } }, async (server, sockets) => {
      const statuses = await upgradesFrom(server.url, Array.from({ length: 6 }, () => inPrefix("2001:db8:7:7")), sockets);
      closeAll(sockets); // the connection cap is not what is tested here
      assert.deepEqual(statuses, ["open", "open", "open", 429, 429, 429]);
      assert.deepEqual(await upgradesFrom(server.url, ["2001:db8:7:8::1"], sockets), ["open"], "the next /64 has its own bucket");
    });
  });

  it("message rate limits: connections from one /64 share the per-address buckets", async () => {
    const server = await testServer({ trustedProxies: [PROXY], rateLimits: { messages: { perConnection: { perSecond: 1, burst: 100 }, perIp: { perSecond: 1, burst: 10 } } } });
    const clients: RawClient[] = [];
    try {
      for (const nick of ["a", "b"]) clients.push(await RawClient.hello(server.url, nick, undefined, xff(inPrefix("2001:db8:5:5"))));
      for (const c of clients) {
        c.send({ type: "join", room: "r" });
        await c.next("joined");
      }
      for (let i = 0; i < 8; i++) for (const c of clients) c.send({ type: "send", room: "r", id: `${i}`, text: "hi" });
      const answered = (c: RawClient) => c.received.filter((m) => m.type === "ack" || m.type === "error").length;
      await waitFor(() => clients.every((c) => answered(c) === 8), "an answer to every send");
      const accepted = clients.reduce((n, c) => n + c.received.filter((m) => m.type === "ack").length, 0);
      assert.equal(accepted, 10, "the /64's burst, shared by both connections");
    } finally {
      for (const c of clients) c.close();
      await server.close();
    }
  });

  it("message rate limits: the /64s of one /48 also share the site's buckets, ten addresses' worth", async () => {
    // One send per /64 at once, none back within the test (0.01/s); the /48: ten.
    await behindProxy({ rateLimits: { messages: { perIp: { perSecond: 0.01, burst: 1 } } } }, async (server) => {
      const clients: RawClient[] = [];
      try {
        for (let i = 1; i <= 15; i++) clients.push(await RawClient.hello(server.url, `s${i}`, undefined, xff(`2001:db8:b:${i.toString(16)}::1`)));
        for (const c of clients) {
          c.send({ type: "join", room: "r" });
          await c.next("joined");
        }
        for (const c of clients) c.send({ type: "send", room: "r", id: "1", text: "hi" });
        const answer = (c: RawClient) => c.received.find((m) => m.type === "ack" || m.type === "error");
        await waitFor(() => clients.every((c) => answer(c) !== undefined), "an answer to every send");
        const acked = clients.filter((c) => answer(c)!.type === "ack").length;
        assert.equal(acked, 10, "fifteen /64s with a send each, ten for the /48");
        assert.ok(clients.filter((c) => answer(c)!.type === "error").every((c) => (answer(c) as { code?: string }).code === "rate_limited"), "the others are rate_limited");
        const other = await RawClient.hello(server.url, "other", undefined, xff("2001:db8:c:1::1"));
        clients.push(other);
        other.send({ type: "join", room: "r" });
        await other.next("joined");
        other.send({ type: "send", room: "r", id: "1", text: "hi" });
        assert.equal((await other.next("ack")).type, "ack", "another /48 has its own");
      } finally {
        for (const c of clients) c.close();
      }
    });
  });

  it("HTTP requests: the /64s of one /48 share a bucket of ten addresses' worth", async () => {
    await behindProxy({ rateLimits: { httpRequests: { perSecond: 0.01, burst: 1 } } }, async (server) => {
      const get = (address: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = request(`http://127.0.0.1:${server.port}/healthz`, { agent: false, localAddress: PROXY, headers: xff(address) }, (res) => {
            let body = "";
            res.setEncoding("utf8").on("data", (d: string) => (body += d)).on("end", () => resolve({ status: res.statusCode!, body }));
          });
          req.on("error", reject).end();
        });
      const answers = [];
      for (let i = 1; i <= 15; i++) answers.push(await get(`2001:db8:d:${i.toString(16)}::1`));
      assert.deepEqual(answers.map((a) => a.status), [...Array<number>(10).fill(200), ...Array<number>(5).fill(429)], "fifteen /64s with a request each, ten for the /48");
      assert.match(answers.at(-1)!.body, /from this network/);
      assert.equal((await get("2001:db8:e:1::1")).status, 200, "another /48 has its own");
    });
  });

  it("rooms opened: the /64s of one /48 share a budget of ten addresses' worth, each room counted until it closes", async () => {
    await behindProxy({ maxRoomsOpenedPerIp: 1 }, async (server) => {
      const clients: RawClient[] = [];
      const answer = (c: RawClient, room: string) => c.received.find((m) => (m.type === "joined" && m.room === room) || (m.type === "error" && m.ref === room));
      try {
        for (let i = 1; i <= 15; i++) clients.push(await RawClient.hello(server.url, `o${i}`, undefined, xff(`2001:db8:f:${i.toString(16)}::1`)));
        for (const [i, c] of clients.entries()) c.send({ type: "join", room: `room${i}` });
        await waitFor(() => clients.every((c, i) => answer(c, `room${i}`) !== undefined), "an answer to every join");
        const answers = clients.map((c, i) => answer(c, `room${i}`)!);
        assert.deepEqual(answers.map((a) => a.type), [...Array<string>(10).fill("joined"), ...Array<string>(5).fill("error")], "fifteen /64s opening a room each, ten for the /48");
        assert.match((answers[14] as { message: string }).message, /network/);
        const other = await RawClient.hello(server.url, "elsewhere", undefined, xff("2001:db8:10:1::1"));
        clients.push(other);
        other.send({ type: "join", room: "theirs" });
        assert.equal((await other.next("joined")).room, "theirs", "another /48 has its own budget");
        // A room of the site closes: its place goes back to the site.
        clients[0]!.send({ type: "leave", room: "room0" });
        await clients[0]!.next("left");
        clients[14]!.send({ type: "join", room: "again" });
        assert.equal((await clients[14]!.next("joined")).room, "again");
      } finally {
        for (const c of clients) c.close();
      }
    });
  });

  it("ipv6PrefixBits 128 counts each address on its own; 48 counts a /48 as one client", async () => {
    await behindProxy({ maxConnectionsPerIp: 2, ipv6PrefixBits: 128 }, async (whole, sockets) => {
      const rotating = Array.from({ length: 6 }, () => inPrefix("2001:db8:1:2"));
      assert.deepEqual(await upgradesFrom(whole.url, rotating, sockets), Array(6).fill("open"), "every address is its own client");
      assert.deepEqual(await upgradesFrom(whole.url, [rotating[0]!, rotating[0]!], sockets), ["open", 429], "one address still has its cap");
    });
    await behindProxy({ maxConnectionsPerIp: 2, ipv6PrefixBits: 48 }, async (wide, sockets) => {
      assert.deepEqual(await upgradesFrom(wide.url, ["2001:db8:1:2::1", "2001:db8:1:3::1", "2001:db8:1:ffff::1", "2001:db8:2::1"], sockets), ["open", "open", 429, "open"]);
    });
  });

  it("the connection log has the whole address and the key it was counted by", async () => {
    const lines: string[] = [];
    await behindProxy({ log: (line) => lines.push(line) }, async (server, sockets) => {
      await upgradesFrom(server.url, ["2001:db8:1:2:0:0:0:7", "203.0.113.5"], sockets);
      await waitFor(() => lines.filter((l) => l.includes("event=connection_opened")).length === 2, "two connection_opened lines");
      const opened = lines.filter((l) => l.includes("event=connection_opened"));
      assert.match(opened[0]!, / ip=2001:db8:1:2::7 limitKey=2001:db8:1:2::\/64( |$)/);
      assert.match(opened[1]!, / ip=203\.0\.113\.5 limitKey=203\.0\.113\.5( |$)/);
    });
  });
});

describe("link-local addresses with a zone id", () => {
  it("a forwarded fe80::1%eth0 is a client like any other, one per link", async () => {
    await behindProxy({ maxConnectionsPerIp: 1 }, async (server, sockets) => {
      // Before addresses were parsed by hand, the URL parser threw on the zone inside the
      // upgrade handler: the whole server process died.
      const statuses = await upgradesFrom(server.url, ["fe80::1%eth0", "fe80::2%eth0", "fe80::1%eth1"], sockets);
      assert.deepEqual(statuses, ["open", 429, "open"], "one /64 on one link is one client; the same /64 on another link is another");
    });
  });
});
