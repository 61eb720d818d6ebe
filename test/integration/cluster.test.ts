import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import type { ChatMessage } from "../../src/protocol/messages.js";
import type { PulseServer } from "../../src/server/index.js";
import type { PulseClient } from "../../src/client/pulse-client.js";
import { RawClient } from "../support/raw-client.js";
import { BlackHoleProxy } from "../support/black-hole-proxy.js";
import { RedisServer } from "../support/redis-server.js";
import { testClient, testServer } from "../support/test-server.js";
import { sleep, waitFor } from "../support/wait.js";
import { MESSAGE_OVERHEAD_BYTES, messageBytes, ROOM_OVERHEAD_BYTES } from "../../src/store/index.js";

/** Three nodes in this process, one Redis: one chat whichever node a client is on. */
let redis: RedisServer;
before(async () => {
  redis = await RedisServer.start();
});
after(async () => {
  await redis?.dispose();
});

async function threeNodes(options: Parameters<typeof testServer>[0] = {}): Promise<PulseServer[]> {
  return Promise.all([0, 1, 2].map(() => testServer({ redis: redis.url, ...options })));
}

describe("three nodes on one Redis", () => {
  it("`who` lists everyone online through any node (a client resyncing with it keeps the others' names)", async () => {
    const nodes = await threeNodes();
    const raws: RawClient[] = [];
    try {
      for (const [i, nick] of ["kai", "lu", "mo"].entries()) {
        const raw = await RawClient.hello(nodes[i]!.url, nick);
        raw.send({ type: "join", room: "census" });
        await raw.next("joined");
        raws.push(raw);
      }
      const asker = raws[0]!;
      await waitFor(async () => {
        asker.received.length = 0;
        asker.send({ type: "who", room: "census" });
        const who = await asker.next("who");
        return who.count === 3 && who.online.join() === "kai,lu,mo";
      }, "who to list all three nodes' members", 10_000);
      // Paging runs over the union too.
      asker.received.length = 0;
      asker.send({ type: "who", room: "census", after: "kai", limit: 1 });
      const page = await asker.next("who");
      assert.deepEqual([page.online, page.more, page.count], [["lu"], true, 3]);
    } finally {
      for (const raw of raws) raw.close();
      await Promise.all(nodes.map((n) => n.close()));
    }
  });

  it("joins and `who` on one node share one read of the others' names until presence changes, and still list everyone", async () => {
    const nodes = await threeNodes();
    const probe = new Redis(redis.url);
    const raws: RawClient[] = [];
    try {
      // Names online through the two other nodes.
      for (const [i, nick] of ["far1", "far2", "far3", "far4"].entries()) {
        const raw = await RawClient.hello(nodes[1 + (i % 2)]!.url, nick);
        raw.send({ type: "join", room: "crowd" });
        await raw.next("joined");
        raws.push(raw);
      }
      const here = await Promise.all(["near1", "near2", "near3", "near4", "near5"].map((nick) => RawClient.hello(nodes[0]!.url, nick)));
      raws.push(...here);
      await probe.config("RESETSTAT");
      // Five joins and 30 `who` requests on node 0: 35 requests that each need the others' names.
      for (const raw of here) raw.send({ type: "join", room: "crowd" });
      const joined = await Promise.all(here.map((raw) => raw.next("joined")));
      for (const j of joined) for (const far of ["far1", "far2", "far3", "far4"]) assert.ok(j.online.includes(far), `a joiner on node 0 sees ${far}`);
      const asker = here[0]!;
      for (let i = 0; i < 30; i++) asker.send({ type: "who", room: "crowd" });
      await waitFor(() => asker.received.filter((m) => m.type === "who").length === 30, "30 answers to who");
      const whos = asker.received.filter((m) => m.type === "who");
      assert.deepEqual(whos.at(-1)!.type === "who" && whos.at(-1)!.online, ["far1", "far2", "far3", "far4", "near1", "near2", "near3", "near4", "near5"]);
      const stats = await probe.info("commandstats");
      const reads = Number(/cmdstat_hkeys:calls=(\d+)/.exec(stats)?.[1] ?? 0);
      // One read, plus one after each presence frame of the room (the joins' batches).
      assert.ok(reads >= 1 && reads <= 10, `node 0 read the online hash ${reads} times for 35 requests`);
      // A name that comes online elsewhere after that read: its presence frame makes the next
      // `who` read again, not the age of the read.
      const late = await RawClient.hello(nodes[1]!.url, "far5");
      raws.push(late);
      late.send({ type: "join", room: "crowd" });
      await asker.nextPresence("far5", "join");
      asker.received.length = 0;
      asker.send({ type: "who", room: "crowd" });
      const after = await asker.next("who");
      assert.ok(after.online.includes("far5"), "who lists a name whose presence frame came");
    } finally {
      for (const raw of raws) raw.close();
      probe.disconnect();
      await Promise.all(nodes.map((n) => n.close()));
    }
  });

  it("a client joining and leaving a large room it alone holds on a node does not read the others' names at each join", async () => {
    // Before, the read lived only while the room was open on the node: each join of the closed
    // room read the whole online hash (an audit: 20,000 names elsewhere, a node at a whole core).
    const nodes = await threeNodes({ onlineListMax: 3 });
    const probe = new Redis(redis.url);
    const monitor = await probe.monitor();
    let reads = 0;
    monitor.on("monitor", (_time: string, args: string[], source: string) => {
      if (String(args[0]).toLowerCase() === "hkeys" && source !== "lua" && String(args[1]).endsWith("online:arena")) reads++;
    });
    const raws: RawClient[] = [];
    try {
      for (const [i, nick] of ["rim1", "rim2", "rim3", "rim4", "rim5", "rim6"].entries()) {
        const raw = await RawClient.hello(nodes[1 + (i % 2)]!.url, nick);
        raw.send({ type: "join", room: "arena" });
        await raw.next("joined");
        raws.push(raw);
      }
      const cycler = await RawClient.hello(nodes[0]!.url, "cycler");
      raws.push(cycler);
      await sleep(200);
      reads = 0;
      const startedAt = Date.now();
      for (let i = 0; i < 10; i++) {
        cycler.send({ type: "join", room: "arena" });
        const joined = await cycler.next("joined");
        assert.equal(joined.onlineCount, 7, "six elsewhere and the cycler");
        cycler.send({ type: "leave", room: "arena" });
        await cycler.next("left");
        cycler.received.length = 0;
      }
      const seconds = (Date.now() - startedAt) / 1000;
      await sleep(200); // the monitor's last lines
      // A read is kept for a second (and dropped by the room's presence frames, at most one a second in a large room).
      assert.ok(reads <= 2 * Math.ceil(seconds) + 1, `${reads} reads of the online hash for 10 joins in ${seconds.toFixed(1)} s`);
    } finally {
      for (const raw of raws) raw.close();
      monitor.disconnect();
      probe.disconnect();
      await Promise.all(nodes.map((n) => n.close()));
    }
  });

  it("clients on different nodes chat: every message once, same order, gap-free seq; history and presence agree", async () => {
    const nodes = await threeNodes({ historyLimit: 100 });
    const clients: PulseClient[] = [];
    try {
      const nicks = ["ada", "bob", "cy", "dee", "eve", "fay"];
      const got = new Map<string, ChatMessage[]>();
      for (const [i, nick] of nicks.entries()) {
        const client = testClient(nodes[i % 3]!.url, nick);
        got.set(nick, []);
        client.on("message", (m) => got.get(nick)!.push(m));
        client.join("lobby");
        clients.push(client);
      }
      await waitFor(() => clients.every((c) => nicks.every((n) => c.online("lobby").includes(n))), "everyone sees everyone online", 20_000);

      const perSender = 20;
      for (let round = 0; round < perSender; round++) {
        for (const [i, client] of clients.entries()) client.send("lobby", `${nicks[i]} ${round}`);
      }
      const total = perSender * clients.length;
      await waitFor(() => [...got.values()].every((list) => list.length >= total), `${total} messages at every client`, 30_000);
      const reference = got.get("ada")!;
      assert.deepEqual(reference.map((m) => m.seq), Array.from({ length: total }, (_, i) => i + 1));
      for (const [nick, list] of got) {
        assert.equal(list.length, total, `${nick} got each message once`);
        assert.deepEqual(list.map((m) => `${m.seq} ${m.text}`), reference.map((m) => `${m.seq} ${m.text}`), `${nick} saw the same order`);
      }
      // Each sender's own messages keep their send order.
      for (const nick of nicks) {
        const mine = reference.filter((m) => m.from === nick).map((m) => m.text);
        assert.deepEqual(mine, Array.from({ length: perSender }, (_, r) => `${nick} ${r}`));
      }

      // A newcomer on any node sees the same history and the same online list.
      for (const node of nodes) {
        const raw = await RawClient.hello(node.url, `late${nodes.indexOf(node)}`);
        raw.send({ type: "join", room: "lobby" });
        const joined = await raw.next("joined");
        assert.equal(joined.seq, total);
        assert.deepEqual(joined.messages.map((m) => m.seq), reference.slice(-100).map((m) => m.seq));
        for (const nick of nicks) assert.ok(joined.online.includes(nick), `${nick} online through node ${nodes.indexOf(node)}`);
        raw.close();
      }
    } finally {
      for (const c of clients) c.close();
      await Promise.all(nodes.map((n) => n.close()));
    }
  });

  it("dedupes a resend through another node, and refuses a held nickname to another user on another node", async () => {
    const nodes = await threeNodes({ nicknameHoldMs: 3_000 });
    try {
      const a = await RawClient.hello(nodes[0]!.url, "gus");
      const welcome = a.welcome!;
      a.send({ type: "join", room: "r" });
      await a.next("joined");
      a.send({ type: "send", room: "r", id: "m1", text: "once" });
      const ack = await a.next("ack");
      assert.deepEqual([ack.seq, ack.duplicate], [1, false]);
      a.close();

      // The same user (resume token) and client id, through node 2: the resend is a duplicate.
      const b = await RawClient.hello(nodes[2]!.url, "gus", welcome.token);
      assert.equal(b.welcome!.userId, welcome.userId);
      b.send({ type: "join", room: "r" });
      await b.next("joined");
      b.send({ type: "send", room: "r", id: "m1", text: "once" });
      const again = await b.next("ack");
      assert.deepEqual([again.seq, again.duplicate], [1, true]);

      // gus stays online on node 2 longer than the hold: node 1 still refuses the name to others,
      // because node 2 keeps the hold fresh in Redis.
      await new Promise((r) => setTimeout(r, 4_500));
      const thief = await RawClient.connect(nodes[1]!.url);
      thief.send({ type: "hello", clientId: "thief", nick: "gus" });
      assert.equal((await thief.waitClosed()).code, 4501);
      b.close();
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
    }
  });
});

describe("a node shut down cleanly", () => {
  it("has its users leave the presence seen through the other nodes", async () => {
    const [a, b] = await Promise.all([testServer({ redis: redis.url }), testServer({ redis: redis.url })]);
    const pat = await RawClient.hello(a.url, "pat");
    const quinn = await RawClient.hello(b.url, "quinn");
    try {
      for (const raw of [pat, quinn]) raw.send({ type: "join", room: "bye" });
      await quinn.nextPresence("pat", "join", 10_000).catch(async () => {
        const joined = await quinn.next("joined");
        assert.ok(joined.online.includes("pat"));
      });
      await a.close();
      const leave = await quinn.nextPresence("pat", "leave", 10_000);
      assert.equal(leave.reason, "closed");
    } finally {
      pat.close();
      quinn.close();
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe("a room large across nodes", () => {
  it("hears only its count, at most every largeRoomPresenceMs, from a node that has few of its members", async () => {
    const options = { onlineListMax: 3, largeRoomPresenceMs: 1_000, presenceBatchMs: 20 };
    const [crowded, quiet] = await Promise.all([testServer({ redis: redis.url, ...options }), testServer({ redis: redis.url, ...options })]);
    const probe = new Redis(redis.url);
    const raws: RawClient[] = [];
    try {
      // Five members through one node: the room is large, but the other node has none of them.
      for (const nick of ["m1", "m2", "m3", "m4", "m5"]) {
        const raw = await RawClient.hello(crowded.url, nick);
        raw.send({ type: "join", room: "hall" });
        await raw.next("joined");
        raws.push(raw);
      }
      const watcher = raws[0]!;
      await waitFor(() => watcher.received.some((m) => m.type === "presence" && m.count === 5), "count 5");
      // A churner on the other node: joins and leaves, each in a batch of its own.
      const churner = await RawClient.hello(quiet.url, "churner");
      raws.push(churner);
      watcher.received.length = 0;
      await probe.config("RESETSTAT");
      const startedAt = Date.now();
      for (let i = 0; i < 8; i++) {
        churner.send({ type: i % 2 === 0 ? "join" : "leave", room: "hall" });
        await (i % 2 === 0 ? churner.next("joined", () => true) : churner.next("left"));
        churner.received.length = 0;
        await new Promise((r) => setTimeout(r, 60));
      }
      await new Promise((r) => setTimeout(r, 1_200));
      const frames = watcher.received.filter((m) => m.type === "presence");
      const elapsed = Date.now() - startedAt;
      assert.ok(frames.every((m) => m.type === "presence" && m.changes.length === 0), `no names in a large room: ${JSON.stringify(frames)}`);
      assert.ok(frames.length <= Math.ceil(elapsed / 1_000) + 1, `${frames.length} presence frames in ${elapsed} ms`);
      // And the churner's node, once it found the room large, batches as a large room does:
      // not a run of the publish script (which reads the whole online hash) per batch.
      const scripts = Number(/cmdstat_evalsha:calls=(\d+)/.exec(await probe.info("commandstats"))?.[1] ?? 0);
      assert.ok(scripts <= 5, `${scripts} scripts run for 8 changes`);
    } finally {
      probe.disconnect();
      for (const raw of raws) raw.close();
      await Promise.all([crowded.close(), quiet.close()]);
    }
  });
});

describe("deliveries across nodes", () => {
  it("a sender alone on its node is charged for the room's members on the other nodes", async () => {
    // A sender's deliveries bucket holds 100 (refilling 2 a second); its room has 24 members
    // through another node, so 15 sends cost 25 each: 4 go through.
    const [home, far] = await Promise.all([0, 1].map(() => testServer({ redis: redis.url, rateLimits: { deliveries: { perConnection: { perSecond: 2, burst: 100 } } } })));
    const raws: RawClient[] = [];
    try {
      const sender = await RawClient.hello(home!.url, "shouter");
      raws.push(sender);
      sender.send({ type: "join", room: "hall" });
      await sender.next("joined");
      for (let i = 0; i < 24; i++) {
        const raw = await RawClient.hello(far!.url, `listener${i}`);
        raws.push(raw);
        raw.send({ type: "join", room: "hall" });
        await raw.next("joined");
      }
      await waitFor(() => sender.received.some((m) => m.type === "presence" && m.count === 25), "the sender's node to hear the room's count on both nodes", 10_000);
      sender.received.length = 0;
      for (let i = 0; i < 15; i++) sender.send({ type: "send", room: "hall", id: `s${i}`, text: "hello all" });
      const answered = () => sender.received.filter((m) => m.type === "ack" || (m.type === "error" && m.code === "rate_limited")).length;
      await waitFor(() => answered() === 15, "an answer to every send");
      assert.equal(sender.received.filter((m) => m.type === "ack").length, 4, "100 deliveries at 25 a send");
    } finally {
      for (const raw of raws) raw.close();
      await Promise.all([home!.close(), far!.close()]);
    }
  });
});

describe("a room that was large", () => {
  it("announces the join of a name that left while the room was large, once it is small again", async () => {
    const node = await testServer({ redis: redis.url, onlineListMax: 2, largeRoomPresenceMs: 200, presenceBatchMs: 20 });
    const raws = new Map<string, RawClient>();
    const join = async (nick: string) => {
      const raw = raws.get(nick) ?? (await RawClient.hello(node.url, nick));
      raws.set(nick, raw);
      raw.send({ type: "join", room: "ebb" });
      await raw.next("joined", () => true);
      raw.received.length = 0;
    };
    const leave = async (nick: string) => {
      const raw = raws.get(nick)!;
      raw.send({ type: "leave", room: "ebb" });
      await raw.next("left");
      raw.received.length = 0;
    };
    try {
      await join("watcher");
      await join("x"); // small: announced by name
      const watcher = raws.get("watcher")!;
      await watcher.nextPresence("x", "join");
      await join("y");
      await join("z"); // 4 online: large
      await waitFor(() => watcher.received.some((m) => m.type === "presence" && m.count === 4), "count 4");
      watcher.received.length = 0;
      await leave("x"); // while large: its leave goes out as a count
      await waitFor(() => watcher.received.some((m) => m.type === "presence" && m.count === 3), "count 3 after x left");
      watcher.received.length = 0;
      await leave("y");
      await leave("z");
      await waitFor(() => watcher.received.some((m) => m.type === "presence" && m.count === 1), "count 1");
      watcher.received.length = 0;
      await join("x"); // small again: the watcher must hear x come back
      await watcher.nextPresence("x", "join", 3_000);
    } finally {
      for (const raw of raws.values()) raw.close();
      await node.close();
    }
  });
});

describe("presence is per nickname across nodes", () => {
  it("a second tab through another node announces no second join; the last tab's leave is announced once", async () => {
    const [a, b] = await Promise.all([testServer({ redis: redis.url }), testServer({ redis: redis.url })]);
    const obs = await RawClient.hello(a.url, "tabobs");
    const raws: RawClient[] = [obs];
    /** Another nickname joined through `node`, then its join seen by obs: every change before it has arrived. */
    let markers = 0;
    const marker = async (node: PulseServer) => {
      const nick = `tabmark${++markers}`;
      const raw = await RawClient.hello(node.url, nick);
      raws.push(raw);
      raw.send({ type: "join", room: "tabs" });
      await obs.nextPresence(nick, "join", 10_000);
    };
    const changesOf = (nick: string) => obs.presenceChanges().filter((c) => c.nick === nick).map((c) => c.event);
    try {
      obs.send({ type: "join", room: "tabs" });
      await obs.next("joined");
      const tab1 = await RawClient.hello(a.url, "tabann");
      raws.push(tab1);
      tab1.send({ type: "join", room: "tabs" });
      await obs.nextPresence("tabann", "join", 10_000);
      const tab2 = await RawClient.hello(b.url, "tabann", tab1.welcome!.token);
      raws.push(tab2);
      tab2.send({ type: "join", room: "tabs" });
      await tab2.next("joined");
      await marker(b);
      assert.deepEqual(changesOf("tabann"), ["join"], "the second tab on node b changed nothing");
      tab1.close();
      await marker(a);
      assert.deepEqual(changesOf("tabann"), ["join"], "ann is still online through b");
      tab2.close();
      await obs.nextPresence("tabann", "leave", 10_000);
      // Back later: announced again, once.
      const tab3 = await RawClient.hello(b.url, "tabann", tab1.welcome!.token);
      raws.push(tab3);
      tab3.send({ type: "join", room: "tabs" });
      await waitFor(() => changesOf("tabann").length === 3, "ann's third change", 10_000);
      await marker(a);
      assert.deepEqual(changesOf("tabann"), ["join", "leave", "join"]);

      // Two tabs joining through two nodes at once: exactly one join.
      const bo1 = await RawClient.hello(a.url, "tabbo");
      const bo2 = await RawClient.hello(b.url, "tabbo", bo1.welcome!.token);
      raws.push(bo1, bo2);
      bo1.send({ type: "join", room: "tabs" });
      bo2.send({ type: "join", room: "tabs" });
      await Promise.all([bo1.next("joined"), bo2.next("joined")]);
      await marker(a);
      await marker(b);
      assert.deepEqual(changesOf("tabbo"), ["join"], "one join for two tabs joining at once");

      // A second tab through another node asking for another spelling of the name is shown as
      // the first: one person, one name in the lists. Once both left, a new spelling is taken.
      const cy1 = await RawClient.hello(a.url, "TabCy");
      const cy2 = await RawClient.hello(b.url, "TABCY", cy1.welcome!.token);
      raws.push(cy1, cy2);
      assert.equal(cy2.welcome!.nick, "TabCy");
      cy1.send({ type: "join", room: "tabs" });
      cy2.send({ type: "join", room: "tabs" });
      await Promise.all([cy1.next("joined"), cy2.next("joined")]);
      await marker(a);
      await marker(b);
      assert.deepEqual(changesOf("TABCY"), [], "no second name for the second tab");
      obs.send({ type: "who", room: "tabs" });
      assert.deepEqual((await obs.next("who")).online.filter((n: string) => n.toLowerCase() === "tabcy"), ["TabCy"]);
      cy1.close();
      cy2.close();
      await obs.nextPresence("TabCy", "leave", 10_000);
      const cy3 = await RawClient.hello(b.url, "tabcy", cy1.welcome!.token);
      raws.push(cy3);
      assert.equal(cy3.welcome!.nick, "tabcy", "back later, under the spelling it asks for");
    } finally {
      for (const raw of raws) raw.close();
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe("a node's rooms in Redis", () => {
  it("a room a node's members all left leaves its rooms set, also when the join and the leave cancelled out in one batch", async () => {
    const node = await testServer({ redis: redis.url });
    const probe = new Redis(redis.url);
    const raw = await RawClient.hello(node.url, "passer");
    try {
      const rooms = ["pass-1", "pass-2", "pass-3"];
      // Joined and left at once: one batch, nothing announced.
      for (const room of rooms) {
        raw.send({ type: "join", room });
        raw.send({ type: "leave", room });
        await raw.next("left", (m) => m.room === room);
      }
      // And one joined, announced, then left.
      raw.send({ type: "join", room: "pass-4" });
      await raw.next("joined", (m) => m.room === "pass-4");
      await sleep(300);
      raw.send({ type: "leave", room: "pass-4" });
      await raw.next("left", (m) => m.room === "pass-4");
      const kept = async () => (await Promise.all((await probe.keys("*node-rooms:*")).map((k) => probe.smembers(k)))).flat().filter((r) => r.startsWith("pass-"));
      await waitFor(async () => (await kept()).length === 0, "the node's rooms set to let the rooms go", 5_000);
    } finally {
      raw.close();
      probe.disconnect();
      await node.close();
    }
  });
});

describe("Redis fan-out is at-most-once; the broker fills gaps", () => {
  it("a message stored without its publish reaches every node before the next one", async () => {
    const nodes = await threeNodes();
    // A writer that stores without publishing: exactly what a lost pub/sub message looks like.
    const { RedisStore } = await import("../../src/store/redis-store.js");
    const silent = await RedisStore.open({ url: redis.url, publish: false });
    const clients = ["hal", "ivy", "jo"].map((nick, i) => testClient(nodes[i]!.url, nick));
    try {
      const got = clients.map(() => [] as ChatMessage[]);
      clients.forEach((c, i) => {
        c.on("message", (m) => got[i]!.push(m));
        c.join("gaps");
      });
      await waitFor(() => clients.every((c) => c.online("gaps").length === 3), "all three online", 20_000);
      clients[0]!.send("gaps", "first");
      await waitFor(() => got.every((list) => list.length === 1), "first everywhere");
      const base = { room: "gaps", userId: "u-silent", clientId: "c", from: "ghost", ts: Date.now() };
      await silent.append({ ...base, id: "lost-1", text: "lost on the wire 1" });
      await silent.append({ ...base, id: "lost-2", text: "lost on the wire 2" });
      clients[1]!.send("gaps", "after the loss");
      await waitFor(() => got.every((list) => list.length === 4), "4 messages everywhere", 10_000);
      for (const list of got) {
        assert.deepEqual(list.map((m) => [m.seq, m.text]), [[1, "first"], [2, "lost on the wire 1"], [3, "lost on the wire 2"], [4, "after the loss"]]);
      }
      // Filled by the nodes: no client had to drop its socket and resync over the gap.
      for (const c of clients) assert.equal(c.lastDisconnect, null);
    } finally {
      for (const c of clients) c.close();
      await silent.close();
      await Promise.all(nodes.map((n) => n.close()));
    }
  });
});

describe("the storage total across nodes", () => {
  it("a room dropped whole while a member on another node is in it: the member resyncs once, honestly, and goes on live", async () => {
    const text = "é".repeat(3_000); // 6,000 UTF-8 bytes
    // What a room costs in the byte budgets with wren's one message in it (anonymous userIds are 27 characters).
    const roomWith = (room: string, id: string, body: string) =>
      ROOM_OVERHEAD_BYTES + MESSAGE_OVERHEAD_BYTES + messageBytes({ room, userId: `anon-${"x".repeat(22)}`, clientId: "raw-dropwriter", id, from: "dropwriter", text: body });
    const [keep, spam] = [roomWith("keep", "k1", text), roomWith("spam1", "spam1", "é".repeat(250))];
    // keep and two spam rooms fit, a third does not; after keep goes, its new small messages fit again.
    const total = keep + 2 * spam + Math.floor(spam / 2);
    // A Redis of its own: the total counts every room in a Redis, the other tests' rooms too.
    const own = await RedisServer.start();
    const [writer, reader] = await Promise.all([0, 1].map(() => testServer({ redis: own.url, retainBytesPerRoom: keep + MESSAGE_OVERHEAD_BYTES + 100, retainBytesTotal: total })));
    const raws: RawClient[] = [];
    const quinn = testClient(reader!.url, "dropreader");
    try {
      const joins: Array<{ recovered: boolean; texts: string[] }> = [];
      const live: ChatMessage[] = [];
      quinn.on("joined", (j) => j.room === "keep" && joins.push({ recovered: j.recovered, texts: j.messages.map((m) => m.text) }));
      quinn.on("message", (m) => m.room === "keep" && live.push(m));
      quinn.join("keep");
      await waitFor(() => joins.length === 1, "quinn in keep");

      const say = async (c: RawClient, room: string, id: string, body = text) => {
        c.send({ type: "send", room, id, text: body });
        return (await c.next("ack", (a) => a.id === id)).seq;
      };
      const wren = await RawClient.hello(writer!.url, "dropwriter");
      raws.push(wren);
      wren.send({ type: "join", room: "keep" });
      await wren.next("joined");
      await say(wren, "keep", "k1");
      await waitFor(() => live.length === 1, "quinn has keep's message");

      // Rooms named through the first node, each with a smaller message, take the total over:
      // keep, the largest and down to its one message, goes whole.
      for (const room of ["spam1", "spam2", "spam3"]) {
        wren.send({ type: "join", room });
        await wren.next("joined", (j) => j.room === room);
        await say(wren, room, room, "é".repeat(250));
      }
      assert.equal(await say(wren, "keep", "k2", "after the drop"), 3, "keep goes on above its old seqs");
      // Quinn's node saw 1 then 3: it found nothing to fill the gap with and passed the jump on;
      // quinn's client resumed from 1 and was told the truth: not recovered, the newest page.
      await waitFor(() => joins.length === 2, "quinn resynced");
      assert.deepEqual(joins[1], { recovered: false, texts: ["after the drop"] });
      assert.equal(await say(wren, "keep", "k3", "live again"), 4);
      await waitFor(() => live.some((m) => m.seq === 4), "quinn gets the next message live");
      assert.deepEqual(live.map((m) => m.seq), [1, 4], "nothing delivered twice, no seq from before the drop reused");
      assert.equal(joins.length, 2, "one resync");
    } finally {
      quinn.close();
      for (const raw of raws) raw.close();
      await Promise.all([writer!.close(), reader!.close()]);
      await own.dispose();
    }
  });
});

describe("a node cut from Redis", () => {
  it("notices within the bound, sends its clients to another node (goaway) and refuses new ones", async (t) => {
    const liveness = { intervalMs: 500, suspectMs: 1_200, timeoutMs: 2_000 };
    const checkMs = 500;
    const proxy = await new BlackHoleProxy(redis.port).start();
    const cut = await testServer({ redis: `redis://127.0.0.1:${proxy.port}`, liveness, checkMs });
    const other = await testServer({ redis: redis.url, liveness, checkMs });
    const kim = testClient([cut.url, other.url], "kim", { backoff: { baseMs: 100, capMs: 500 } });
    const observer = await RawClient.hello(cut.url, "obs");
    try {
      kim.join("cut");
      await waitFor(() => kim.online("cut").includes("kim") && kim.state.kind === "open", "kim in the room on the first node", 20_000);
      assert.equal(kim.currentUrl, cut.url);
      const cutAt = Date.now();
      proxy.blackHole();
      const goaway = await observer.next("goaway", () => true, 20_000);
      const noticedMs = Date.now() - cutAt;
      t.diagnostic(`node cut from Redis sent goaway after ${noticedMs} ms`);
      assert.match(goaway.reason, /lost its link to the shared store/);
      const bound = liveness.timeoutMs + checkMs + 2_000;
      assert.ok(noticedMs <= bound, `noticed after ${noticedMs} ms; bound ${bound} ms`);
      assert.equal((await observer.waitClosed()).code, 4001);
      const ready = await fetch(cut.url.replace("ws:", "http:") + "/readyz");
      assert.equal(ready.status, 503);

      await waitFor(() => kim.state.kind === "open" && kim.currentUrl === other.url, "kim moved to the other node", 20_000);
      const entry = kim.send("cut", "from the other node");
      await waitFor(() => kim.outboxEntries().every((e) => e.id !== entry.id), "acked through the other node", 20_000);
    } finally {
      kim.close();
      observer.close();
      proxy.heal();
      await Promise.all([cut.close(), other.close()]);
      await proxy.close();
    }
  });
});
