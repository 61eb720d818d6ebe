import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import type { ChatMessage } from "../../src/protocol/messages.js";
import { CloseCode } from "../../src/protocol/close-codes.js";
import type { PulseClient } from "../../src/client/pulse-client.js";
import { RawClient } from "../support/raw-client.js";
import { RedisServer } from "../support/redis-server.js";
import { ServerProcess } from "../support/server-process.js";
import { testClient } from "../support/test-server.js";
import { sleep, waitFor } from "../support/wait.js";

/** Nodes as child processes (so one can be SIGKILLed), all on one real redis-server. */
const LIVENESS = { intervalMs: 500, suspectMs: 1_200, timeoutMs: 2_000 };
const CHECK_MS = 500;
/** The margin the README states for a dead node's members to leave: Redis round trips, the presence batch. */
const LEAVE_MARGIN_MS = 2_000;

let redis: RedisServer;
const nodes: ServerProcess[] = [];
const clients: PulseClient[] = [];
before(async () => {
  redis = await RedisServer.start();
});
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(nodes.map((n) => n.dispose()));
  await redis?.dispose();
});

async function startNodes(n: number): Promise<ServerProcess[]> {
  const started = await Promise.all(
    Array.from({ length: n }, () => ServerProcess.start({ liveness: LIVENESS, checkMs: CHECK_MS, args: ["--redis", redis.url, "--quiet"], readyTimeoutMs: 60_000 })),
  );
  nodes.push(...started);
  return started;
}

function client(url: string | string[], nick: string): { c: PulseClient; got: ChatMessage[] } {
  const c = testClient(url, nick, { backoff: { baseMs: 200, capMs: 1_000 } });
  const got: ChatMessage[] = [];
  c.on("message", (m) => got.push(m));
  clients.push(c);
  return { c, got };
}

/** A watcher on one node and another member on a second, both in `room`, once the watcher has seen the other's join. */
async function watchedPair(watcherUrl: string, watcherNick: string, otherUrl: string, otherNick: string, room: string): Promise<[RawClient, RawClient]> {
  const watcher = await RawClient.hello(watcherUrl, watcherNick);
  const other = await RawClient.hello(otherUrl, otherNick);
  watcher.send({ type: "join", room });
  await watcher.next("joined");
  other.send({ type: "join", room });
  await other.next("joined");
  await watcher.nextPresence(otherNick, "join", 10_000);
  return [watcher, other];
}

const seqsOf = (list: ChatMessage[]) => list.map((m) => m.seq);
const oneToN = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const acked = (c: PulseClient) => c.outboxEntries().length === 0;

describe("nodes on one Redis, under faults", () => {
  it("SIGKILL a node: its users leave within the bound; its clients move on, resume, lose nothing; dedupe holds through another node", async (t) => {
    const [a, b, c] = await startNodes(3);
    const ada = client([a!.wsUrl, b!.wsUrl], "ada");
    const bob = client(b!.wsUrl, "bob");
    const watcher = await RawClient.hello(c!.wsUrl, "cy");
    const dee = await RawClient.hello(a!.wsUrl, "dee"); // dies with node a and never comes back
    const eve = await RawClient.hello(a!.wsUrl, "eve");
    for (const raw of [watcher, dee, eve]) raw.send({ type: "join", room: "ops" });
    ada.c.join("ops");
    bob.c.join("ops");
    await waitFor(() => ["ada", "bob", "cy", "dee", "eve"].every((n) => ada.c.online("ops").includes(n) && bob.c.online("ops").includes(n)), "everyone online", 30_000);

    for (let i = 0; i < 5; i++) ada.c.send("ops", `ada ${i}`);
    eve.send({ type: "send", room: "ops", id: "eve-1", text: "eve once" });
    const eveAck = await eve.next("ack", () => true, 10_000);
    await waitFor(() => acked(ada.c) && bob.got.length === 6, "6 acked and delivered", 20_000);

    const killedAt = Date.now();
    await a!.kill();
    // While ada is away: bob talks, ada writes (kept in the outbox).
    for (let i = 0; i < 5; i++) bob.c.send("ops", `bob ${i}`);
    for (let i = 5; i < 8; i++) ada.c.send("ops", `ada ${i}`);

    const leave = await watcher.nextPresence("dee", "leave", 30_000);
    const leftAfterMs = Date.now() - killedAt;
    t.diagnostic(`dead node's user left others' presence ${leftAfterMs} ms after SIGKILL`);
    assert.equal(leave.reason, "timeout");
    const bound = LIVENESS.timeoutMs + CHECK_MS + LEAVE_MARGIN_MS;
    assert.ok(leftAfterMs <= bound, `dee left others' presence ${leftAfterMs} ms after the kill; bound ${bound} ms`);

    await waitFor(() => ada.c.state.kind === "open" && acked(ada.c), "ada moved to node b and her outbox drained", 30_000);
    assert.equal(ada.c.currentUrl, b!.wsUrl);
    const total = 6 + 5 + 3;
    await waitFor(() => ada.got.length >= total && bob.got.length >= total, `${total} messages at ada and bob`, 20_000);
    assert.deepEqual(seqsOf(ada.got), oneToN(total), "ada: gap-free, no duplicates, nothing lost");
    assert.deepEqual(seqsOf(bob.got), oneToN(total), "bob: gap-free, no duplicates, nothing lost");
    assert.deepEqual(ada.got.filter((m) => m.from === "ada").map((m) => m.text), Array.from({ length: 8 }, (_, i) => `ada ${i}`));

    // eve resends her acked message through node c: it is the same message, not a new one.
    const eveAgain = await RawClient.hello(c!.wsUrl, "eve", eve.welcome!.token);
    eveAgain.send({ type: "join", room: "ops", since: eveAck.seq, epoch: eve.welcome!.epoch });
    await eveAgain.next("joined", () => true, 10_000);
    eveAgain.send({ type: "send", room: "ops", id: "eve-1", text: "eve once" });
    const dup = await eveAgain.next("ack", () => true, 10_000);
    assert.deepEqual([dup.seq, dup.duplicate], [eveAck.seq, true]);
    for (const raw of [watcher, dee, eve, eveAgain]) raw.close();
  });

  it("one user through two nodes in a room: no leave while one connection stays (its leave, its node's SIGKILL); one name in the lists; the leave comes with the last", async () => {
    const [a, b, c] = await startNodes(3);
    const watcher = await RawClient.hello(c!.wsUrl, "wat");
    const tabA = await RawClient.hello(a!.wsUrl, "twin");
    const tabB = await RawClient.hello(b!.wsUrl, "twin", tabA.welcome!.token); // the same user, another tab
    const solo = await RawClient.hello(a!.wsUrl, "solo"); // only on node a: its leave shows the sweep ran
    assert.equal(tabB.welcome!.nick, "twin");
    for (const raw of [tabA, tabB, solo]) {
      raw.send({ type: "join", room: "twins" });
      await raw.next("joined");
    }
    watcher.send({ type: "join", room: "twins" });
    const joined = await watcher.next("joined");
    assert.deepEqual([[...joined.online].sort(), joined.onlineCount], [["solo", "twin", "wat"], 3], "joined: each nickname once");
    watcher.send({ type: "who", room: "twins" });
    const who = await watcher.next("who");
    assert.deepEqual([who.online, who.count], [["solo", "twin", "wat"], 3], "who: each nickname once");
    const twinLeaves = () => watcher.presenceChanges().filter((ch) => ch.nick === "twin" && ch.event === "leave");

    // One tab leaves the room: the user is still in it through node b.
    tabA.send({ type: "leave", room: "twins" });
    await tabA.next("left");
    await sleep(1_500); // many presence batches
    assert.deepEqual(twinLeaves(), [], "no leave while the other tab is in the room");
    tabA.received.length = 0;
    tabA.send({ type: "join", room: "twins" });
    await tabA.next("joined");

    // Node a dies with one of the tabs: the sweep announces solo, not twin.
    await a!.kill();
    const soloLeave = await watcher.nextPresence("solo", "leave", 30_000);
    assert.equal(soloLeave.reason, "timeout");
    await sleep(1_000);
    assert.deepEqual(twinLeaves(), [], "no leave for a user still online through node b");
    watcher.received.length = 0;
    watcher.send({ type: "who", room: "twins" });
    const after = await watcher.next("who");
    assert.deepEqual([after.online, after.count], [["twin", "wat"], 2]);

    // The last connection goes: now the user leaves.
    tabB.send({ type: "leave", room: "twins" });
    const last = await watcher.nextPresence("twin", "leave", 10_000);
    assert.equal(last.reason, "left");
    const frame = watcher.received.find((m) => m.type === "presence" && m.changes.some((ch) => ch.nick === "twin"));
    assert.equal(frame?.type === "presence" && frame.count, 1);
    for (const raw of [watcher, tabA, tabB, solo]) raw.close();
  });

  it("a node killed right after a member left, before its presence batch went out: the leave still comes, and the lists agree", async () => {
    const [a, b] = await startNodes(2);
    const [watcher, quick] = await watchedPair(a!.wsUrl, "look", b!.wsUrl, "quick", "blink");
    quick.send({ type: "leave", room: "blink" });
    await quick.next("left");
    // Within the 50 ms presence batch of node b: its leave is in Redis's hash, not yet announced.
    await b!.kill();
    const leave = await watcher.nextPresence("quick", "leave", LIVENESS.timeoutMs + CHECK_MS + LEAVE_MARGIN_MS + 5_000);
    assert.ok(leave.reason === "timeout" || leave.reason === "left");
    // A newcomer and the watcher see the same room.
    const late = await RawClient.hello(a!.wsUrl, "late");
    late.send({ type: "join", room: "blink" });
    assert.deepEqual([...(await late.next("joined")).online].sort(), ["late", "look"]);
    for (const raw of [watcher, quick, late]) raw.close();
  });

  it("a member who leaves while Redis is away (shorter than the node timeout) is announced gone once it is back; a joiner's list agrees", async () => {
    const [a, b] = await startNodes(2);
    const [watcher, leaver] = await watchedPair(a!.wsUrl, "cleo", b!.wsUrl, "bram", "ghost");
    // Away for less than the nodes' timeout (here LIVENESS.timeoutMs, 2 s), after which they
    // would give up on Redis and send their clients elsewhere.
    await redis.stop();
    await sleep(200);
    // Node b can neither take bram out of Redis's online hash nor publish the leave.
    leaver.close();
    await sleep(300);
    await redis.restart();
    // Before, bram stayed listed online (on node a, and in Redis) for as long as node b lived.
    const leave = await watcher.nextPresence("bram", "leave", 30_000);
    assert.equal(leave.reason, "closed");
    const late = await RawClient.hello(a!.wsUrl, "dirk");
    late.send({ type: "join", room: "ghost" });
    const joined = await late.next("joined", () => true, 10_000);
    assert.deepEqual([[...joined.online].sort(), joined.onlineCount], [["cleo", "dirk"], 2]);
    for (const raw of [watcher, late]) raw.close();
  });

  it("a room whose subscription was on its way when Redis went down is joined on that node once Redis is back", async () => {
    const [a] = await startNodes(1);
    const first = client(a!.wsUrl, "kim");
    first.c.join("warm");
    await waitFor(() => first.c.online("warm").includes("kim"), "kim in a room: the node talks to Redis", 30_000);
    redis.pause();
    // The node subscribes the new room's channel: the command is sent, never answered.
    first.c.join("stuck");
    await sleep(1_000);
    await redis.kill();
    await redis.restart();
    // Others join as the first one's joins fail and are retried, so a join of the room is always
    // pending on the node and its feed is never dropped. Before, every one of them failed for
    // as long as that lasted: the subscription waited for an answer that never came.
    const others = ["lee", "max", "ned", "oda", "pia"].map((nick) => client(a!.wsUrl, nick));
    for (const other of others) {
      other.c.join("stuck");
      await sleep(700);
    }
    // Once the node's link to Redis is back (about a second), a join takes a round trip; before,
    // none of them got in for half a minute and more.
    await waitFor(() => [first, ...others].every((x) => x.c.online("stuck").includes(x.c.nick)), "all six in the room", 20_000);
  });

  it("Redis restarted: nodes reconnect by themselves, sends in between are refused (never acked), 0 acked lost", async () => {
    const [a, b] = await startNodes(2);
    const fay = client(a!.wsUrl, "fay");
    const gil = client(b!.wsUrl, "gil");
    fay.c.join("restart");
    gil.c.join("restart");
    await waitFor(() => fay.c.online("restart").includes("gil") && gil.c.online("restart").includes("fay"), "both online", 30_000);
    for (let i = 0; i < 10; i++) fay.c.send("restart", `before ${i}`);
    await waitFor(() => acked(fay.c) && gil.got.length === 10, "10 acked and delivered", 20_000);

    const failed: string[] = [];
    fay.c.on("outbox", (e) => e.status === "failed" && failed.push(e.id));
    await redis.stop();
    const during = fay.c.send("restart", "while Redis is down");
    // Refused (store_failed) and resent by the client, again and again, while Redis is away.
    await sleep(3_000);
    assert.equal(fay.c.outboxEntries().find((e) => e.id === during.id)?.status, "pending", "kept in the outbox, pending");
    assert.equal(gil.got.length, 10);
    await redis.restart();

    // No retry by the user: the client's own resends get it stored once Redis is back.
    await waitFor(() => fay.c.outboxEntries().length === 0, "the refused send acked after Redis came back", 45_000, 100);
    assert.deepEqual(failed, [], "nothing marked failed");
    gil.c.send("restart", "after");
    await waitFor(() => fay.got.length >= 12 && gil.got.length >= 12, "12 at both", 30_000);
    await sleep(500);
    for (const list of [fay.got, gil.got]) {
      assert.deepEqual(seqsOf(list), oneToN(12), "each message once, gap-free");
      assert.deepEqual(list.slice(0, 10).map((m) => m.text), Array.from({ length: 10 }, (_, i) => `before ${i}`));
      assert.equal(list.filter((m) => m.text === "while Redis is down").length, 1, "the refused send delivered exactly once");
    }
  });

  it("Redis frozen 5 s (SIGSTOP): nothing is acked that was not stored; chat resumes after SIGCONT", async () => {
    const [a, b] = await startNodes(2);
    const hal = client(a!.wsUrl, "hal");
    const ivy = client(b!.wsUrl, "ivy");
    hal.c.join("freeze");
    ivy.c.join("freeze");
    await waitFor(() => hal.c.online("freeze").includes("ivy") && ivy.c.online("freeze").includes("hal"), "both online", 30_000);
    hal.c.send("freeze", "before");
    await waitFor(() => acked(hal.c) && ivy.got.length === 1, "first delivered", 20_000);

    const acks: string[] = [];
    const failed: string[] = [];
    hal.c.on("outbox", (e) => e.status === "sent" && acks.push(e.id));
    hal.c.on("outbox", (e) => e.status === "failed" && failed.push(e.id));
    redis.pause();
    const frozenUntil = Date.now() + 5_000;
    const during = [hal.c.send("freeze", "frozen 1"), hal.c.send("freeze", "frozen 2")];
    while (Date.now() < frozenUntil) {
      assert.deepEqual(acks, [], "no ack while Redis cannot store anything");
      await sleep(100);
    }
    // Refused (store_failed after the 2 s command timeout) and resent, or, once the node gave
    // up on Redis and sent its clients away, waiting to be resent: either way still pending.
    for (const d of during) assert.equal(hal.c.outboxEntries().find((e) => e.id === d.id)?.status, "pending", `${d.text} kept in the outbox`);
    redis.resume();
    // No retry by the user.
    await waitFor(() => acked(hal.c), "the frozen sends acked after SIGCONT", 45_000, 100);
    assert.deepEqual(failed, [], "nothing marked failed");
    hal.c.send("freeze", "after");
    await waitFor(() => ivy.got.length >= 4 && hal.got.length >= 4, "4 at both", 30_000);
    await sleep(500);
    for (const list of [hal.got, ivy.got]) {
      assert.deepEqual(seqsOf(list), oneToN(4), "each message once, gap-free");
      assert.deepEqual(new Set(list.map((m) => m.text)), new Set(["before", ...during.map((e) => e.text), "after"]));
    }
  });
});

describe("a Redis that comes back with less than it acknowledged", () => {
  let probes = 0;
  /** The epoch a node's welcome carries now (each probe a new user and name: holds outlive the connection). */
  const epochAt = async (url: string): Promise<string> => {
    const raw = await RawClient.hello(url, `probe${++probes}`);
    raw.close();
    return raw.welcome!.epoch;
  };

  /** A client that shows a room as an app does: rebuilt from each `joined` that was not recovered, then live messages. */
  function viewer(url: string, nick: string, room: string): { c: PulseClient; got: ChatMessage[]; view: ChatMessage[] } {
    const x = { ...client(url, nick), view: [] as ChatMessage[] };
    x.c.on("joined", (e) => {
      if (e.room !== room) return;
      if (!e.recovered) x.view = [...e.messages];
      else x.view.push(...e.messages);
    });
    x.c.on("message", (m) => m.room === room && x.view.push(m));
    return x;
  }

  /** One member of `room` on each node, both having seen the first's `count` messages. */
  async function talkingPair(aUrl: string, aNick: string, bUrl: string, bNick: string, room: string, count: number) {
    const first = viewer(aUrl, aNick, room);
    const second = viewer(bUrl, bNick, room);
    first.c.join(room);
    second.c.join(room);
    await waitFor(() => first.c.online(room).includes(bNick) && second.c.online(room).includes(aNick), "both online", 30_000);
    for (let i = 0; i < count; i++) first.c.send(room, `before ${i}`);
    await waitFor(() => acked(first.c) && first.got.length === count && second.got.length === count, `${count} acked and delivered at both`, 20_000);
    assert.deepEqual(seqsOf(second.got), oneToN(count));
    return [first, second] as const;
  }

  /** Each of `texts` once in the view, and the view's seqs one run without a gap. */
  function shows(view: ChatMessage[], texts: string[]): boolean {
    const seqs = seqsOf(view);
    const run = seqs.every((seq, i) => i === 0 || seq === seqs[i - 1]! + 1);
    return run && texts.every((t) => view.filter((m) => m.text === t).length === 1);
  }

  const renewalLine = (node: ServerProcess): string | undefined => node.output().split("\n").find((line) => line.includes("store_epoch_renewed"));

  /** What a replica that missed the room's last appends holds once promoted: its counter and stream end at `seq`. */
  async function rollBack(room: string, seq: number, lastSeq: number): Promise<void> {
    const probe = new Redis(redis.url);
    try {
      await probe.set(`pulse:seq:${room}`, String(seq));
      await probe.xdel(`pulse:log:${room}`, ...Array.from({ length: lastSeq - seq }, (_, i) => `${seq + 1 + i}-0`));
      // The stream's last id too, or the next XADD (seq + 1) is refused as not above it.
      await probe.xsetid(`pulse:log:${room}`, `${seq}-0`);
    } finally {
      probe.disconnect();
    }
  }

  it("restarted without its data: both nodes find it and agree on one new epoch; their clients resync and show every message sent after; a token signed before still holds on a node started after", async () => {
    const [a, b] = await startNodes(2);
    const [lia, moe] = await talkingPair(a!.wsUrl, "lia", b!.wsUrl, "moe", "amnesia", 6);
    const nia = await RawClient.hello(a!.wsUrl, "nia");
    const before = nia.welcome!.epoch;

    await redis.restartEmpty();
    const after = ["after 0", "after 1", "after 2"];
    for (const text of after) lia.c.send("amnesia", text);
    // Before, they were numbered 1-3 again, and both nodes dropped them as delivered.
    await waitFor(() => acked(lia.c) && shows(lia.view, after) && shows(moe.view, after), "the messages sent after the loss, once each, in both views", 45_000);
    for (const x of [lia, moe]) assert.equal(x.c.lastDisconnect?.code, CloseCode.StoreReset, `${x.c.nick} was told to resync; last disconnect: ${JSON.stringify(x.c.lastDisconnect)}`);
    assert.equal((await nia.waitClosed(10_000)).code, CloseCode.StoreReset);
    const [atA, atB] = [await epochAt(a!.wsUrl), await epochAt(b!.wsUrl)];
    assert.notEqual(atA, before, "a new epoch");
    assert.equal(atA, atB, "the same on both nodes");
    for (const node of [a!, b!]) assert.match(renewalLine(node) ?? "", /epoch_missing|epoch_changed|seq_went_back/);

    // The signing secret went with the data and was written back: a node started now reads it.
    const [c] = await startNodes(1);
    const niaAgain = await RawClient.hello(c!.wsUrl, "nia", nia.welcome!.token);
    assert.equal(niaAgain.welcome!.userId, nia.welcome!.userId, "the token signed before the loss proves the same user");
    assert.equal(niaAgain.welcome!.epoch, atA);
    niaAgain.close();
  });

  it("flushed while the links stay up (FLUSHALL), nothing sent: found at the next heartbeat; the clients of both nodes resync and show what is sent after", async () => {
    const [a, b] = await startNodes(2);
    const [ora, pix] = await talkingPair(a!.wsUrl, "ora", b!.wsUrl, "pix", "flushed", 4);
    const probe = new Redis(redis.url);
    await probe.flushall();
    probe.disconnect();
    // No link drops, no send, no join: only the heartbeat's read of the epoch can find it.
    await waitFor(() => ora.c.lastDisconnect?.code === CloseCode.StoreReset && pix.c.lastDisconnect?.code === CloseCode.StoreReset, "both clients told to resync", 30_000);
    for (const node of [a!, b!]) assert.match(renewalLine(node) ?? "", /epoch_missing|epoch_changed/);
    pix.c.send("flushed", "after the flush");
    await waitFor(() => shows(ora.view, ["after the flush"]) && shows(pix.view, ["after the flush"]), "the message sent after the flush in both views", 30_000);
    assert.equal(await epochAt(a!.wsUrl), await epochAt(b!.wsUrl));
  });

  it("a room's seq gone back (a replica that lagged, promoted): the append answered below what its node delivered renews the epoch, the other node follows", async () => {
    const [a, b] = await startNodes(2);
    const [pam, quin] = await talkingPair(a!.wsUrl, "pam", b!.wsUrl, "quin", "rewind", 8);
    const before = await epochAt(a!.wsUrl);
    await rollBack("rewind", 5, 8);
    // Node b's append gets seq 6, which both nodes delivered already.
    quin.c.send("rewind", "after the rollback");
    await waitFor(() => shows(pam.view, ["after the rollback"]) && shows(quin.view, ["after the rollback"]), "the message sent after the rollback in both views", 45_000);
    for (const x of [pam, quin]) assert.equal(x.c.lastDisconnect?.code, CloseCode.StoreReset);
    assert.match(renewalLine(b!) ?? "", /seq_went_back/, "node b found it by its append");
    assert.ok(renewalLine(a!), "node a moved too");
    const [atA, atB] = [await epochAt(a!.wsUrl), await epochAt(b!.wsUrl)];
    assert.notEqual(atA, before);
    assert.equal(atA, atB);
  });

  it("a room's seq gone back, found when the link to Redis comes back: the catch-up reads a latest seq below what was delivered", async () => {
    const [a, b] = await startNodes(2);
    const [rex, sol] = await talkingPair(a!.wsUrl, "rex", b!.wsUrl, "sol", "relink", 8);
    await rollBack("relink", 5, 8);
    const probe = new Redis(redis.url);
    // The nodes' subscriber links drop and come back; nothing is sent meanwhile.
    await probe.call("CLIENT", "KILL", "TYPE", "pubsub");
    probe.disconnect();
    await waitFor(() => rex.c.lastDisconnect?.code === CloseCode.StoreReset && sol.c.lastDisconnect?.code === CloseCode.StoreReset, "both clients told to resync", 30_000);
    assert.ok([a!, b!].some((node) => /seq_went_back/.test(renewalLine(node) ?? "")), "a node found it by its catch-up");
    rex.c.send("relink", "after the relink");
    await waitFor(() => shows(rex.view, ["after the relink"]) && shows(sol.view, ["after the relink"]), "the message sent after in both views", 30_000);
  });
});
