import { describe, it } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { testServer } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { BlackHoleProxy } from "../support/black-hole-proxy.js";
import { waitFor } from "../support/wait.js";
import { httpGet, parsePrometheus, sampleValue, type Sample } from "../support/http-get.js";
import { openStore } from "../../src/store/index.js";

/** Slow enough that a loaded machine does not make answering clients look dead. */
const LIVENESS = { intervalMs: 300, suspectMs: 1_500, timeoutMs: 3_000 };

async function scrape(port: number, headers: Record<string, string> = {}): Promise<Sample[]> {
  const answer = await httpGet(port, "/metrics", headers);
  assert.equal(answer.status, 200, answer.body);
  return parsePrometheus(answer.body);
}

describe("/metrics", () => {
  it("counts refused sends by their error code", async () => {
    const server = await testServer({ readOnlyRooms: ["news"], rateLimits: { messages: { perConnection: { perSecond: 0.1, burst: 4 } } } });
    const alice = await RawClient.hello(`ws://127.0.0.1:${server.port}`, "alice");
    try {
      for (const room of ["lobby", "news"]) {
        alice.send({ type: "join", room });
        await alice.next("joined", (j) => j.room === room);
      }
      const answer = async (room: string, id: string) => {
        alice.send({ type: "send", room, id, text: "hi" });
        const m = await waitFor(() => alice.received.find((r) => (r.type === "error" && r.ref === id) || (r.type === "ack" && r.id === id)), `an answer to ${id}`);
        return m.type === "error" ? m.code : m.type;
      };
      assert.equal(await answer("news", "n1"), "forbidden");
      assert.equal(await answer("elsewhere", "e1"), "not_in_room");
      assert.equal(await answer("lobby", "l1"), "ack");
      assert.equal(await answer("lobby", "l2"), "ack");
      assert.equal(await answer("lobby", "l3"), "rate_limited", "the burst of 4 is spent (refusals take their token too)");
      const m = await scrape(server.port);
      const refused = (code: string) => sampleValue(m, "pulse_messages_refused_total", { code });
      assert.deepEqual([refused("forbidden"), refused("not_in_room"), refused("rate_limited")], [1, 1, 1]);
      assert.equal(sampleValue(m, "pulse_messages_received_total", { result: "stored" }), 2);
    } finally {
      alice.close();
      await server.close();
    }
  });

  it("counts what a scripted session did", async () => {
    const server = await testServer({ liveness: LIVENESS, checkMs: 100 });
    const url = `ws://127.0.0.1:${server.port}`;
    const clients: RawClient[] = [];
    try {
      const alice = await RawClient.hello(url, "alice");
      const bob = await RawClient.hello(url, "bob");
      clients.push(alice, bob);
      for (const c of [alice, bob]) {
        c.send({ type: "join", room: "lobby" });
        await c.next("joined");
      }
      for (const id of ["a1", "a2", "a3"]) {
        alice.send({ type: "send", room: "lobby", id, text: `hello ${id}` });
        await alice.next("ack", (m) => m.id === id);
      }
      // A resend of a2: acked as a duplicate, not stored or broadcast again.
      alice.send({ type: "send", room: "lobby", id: "a2", text: "hello a2" });
      await alice.next("ack", (m) => m.id === "a2" && m.duplicate);
      await waitFor(() => bob.received.filter((m) => m.type === "message").length === 3, "bob to get 3 messages");
      await waitFor(() => alice.received.filter((m) => m.type === "message").length === 3, "alice to get her 3 messages");
      bob.close();
      await waitFor(async () => sampleValue(await scrape(server.port), "pulse_connections_closed_total", { reason: "closed" }) === 1, "bob's close to be counted");

      // Resumes: one from seq 1 in the same epoch (recovered: 2 messages), one from another epoch.
      const carol = await RawClient.hello(url, "carol");
      const dave = await RawClient.hello(url, "dave");
      clients.push(carol, dave);
      carol.send({ type: "join", room: "lobby", since: 1, epoch: carol.welcome!.epoch });
      assert.equal((await carol.next("joined")).recovered, true);
      dave.send({ type: "join", room: "lobby", since: 1, epoch: "another-epoch" });
      assert.equal((await dave.next("joined")).recovered, false);

      // A client that judged the server dead and said so in its close frame.
      const frank = await RawClient.hello(url, "frank");
      frank.ws.close(4000, "heartbeat timeout (silent for 12 s)");
      await frank.waitClosed();
      // A client that stops answering: the server finds it suspect, then dead.
      const eve = await RawClient.hello(url, "eve");
      clients.push(eve);
      eve.silent = true;
      await eve.waitClosed(15_000);
      // At least one ping was answered by someone, so the RTT histogram has a sample.
      await waitFor(async () => (sampleValue(await scrape(server.port), "pulse_heartbeat_rtt_seconds_count") ?? 0) >= 1, "an RTT sample", 10_000);
      await waitFor(async () => sampleValue(await scrape(server.port), "pulse_connections", { state: "alive" }) === 3, "3 live connections");

      const m = await scrape(server.port);
      const v = (name: string, labels: Record<string, string> = {}) => sampleValue(m, name, labels);
      assert.equal(v("pulse_messages_received_total", { result: "stored" }), 3);
      assert.equal(v("pulse_messages_received_total", { result: "duplicate" }), 1);
      assert.equal(v("pulse_frames_received_total", { type: "send" }), 4);
      assert.equal(v("pulse_frames_received_total", { type: "hello" }), 6);
      assert.equal(v("pulse_frames_received_total", { type: "join" }), 4);
      // 3 messages broadcast to 2 members each.
      assert.equal(v("pulse_deliveries_total", { kind: "message" }), 6);
      assert.equal(v("pulse_messages_sent_total", { path: "live" }), 6);
      // carol got seq 2..3 (the gap), dave the latest page (3 messages).
      assert.equal(v("pulse_messages_sent_total", { path: "join" }), 5);
      assert.equal(v("pulse_joins_total"), 4);
      assert.equal(v("pulse_resumes_total", { recovered: "true" }), 1);
      assert.equal(v("pulse_resumes_total", { recovered: "false" }), 1);
      assert.equal(v("pulse_liveness_verdicts_total", { side: "server", verdict: "dead", reason: "timeout" }), 1);
      assert.ok((v("pulse_liveness_verdicts_total", { side: "server", verdict: "suspect", reason: "silence" }) ?? 0) >= 1);
      assert.equal(v("pulse_liveness_verdicts_total", { side: "client", verdict: "dead", reason: "timeout" }), 1);
      assert.equal(v("pulse_connections_opened_total"), 6);
      assert.equal(v("pulse_connections_closed_total", { reason: "timeout" }), 1);
      assert.equal(v("pulse_connections_closed_total", { reason: "closed" }), 2);
      assert.equal(v("pulse_connections", { state: "handshake" }), 0);
      assert.equal(v("pulse_rooms"), 1);
      assert.equal(v("pulse_store_seconds_count", { op: "append", outcome: "ok" }), 4);
      assert.ok((v("pulse_bytes_received_total") ?? 0) > 0 && (v("pulse_bytes_sent_total") ?? 0) > (v("pulse_bytes_received_total") ?? 0) / 10);
      // Process metrics from prom-client.
      assert.ok(v("process_cpu_user_seconds_total") !== undefined);
      assert.ok(v("nodejs_eventloop_lag_p99_seconds") !== undefined);
    } finally {
      for (const c of clients) c.close();
      await server.close();
    }
  });

  it("counts bytes as the sockets moved them, and never goes backwards", async () => {
    const server = await testServer({ liveness: LIVENESS });
    try {
      const before = await scrape(server.port);
      const c = await RawClient.hello(`ws://127.0.0.1:${server.port}`, "ann");
      c.send({ type: "join", room: "r" });
      await c.next("joined");
      const during = await scrape(server.port);
      c.close();
      await waitFor(async () => sampleValue(await scrape(server.port), "pulse_connections_closed_total", { reason: "closed" }) === 1, "the close");
      const after = await scrape(server.port);
      const sent = (s: Sample[]) => sampleValue(s, "pulse_bytes_sent_total") ?? 0;
      assert.equal(sent(before), 0);
      // The upgrade response and the welcome are well over 200 bytes.
      assert.ok(sent(during) > 200, `sent ${sent(during)}`);
      assert.ok(sent(after) >= sent(during));
    } finally {
      await server.close();
    }
  });

  it("keeps each server's counts apart", async () => {
    const a = await testServer();
    const b = await testServer();
    try {
      const c = await RawClient.hello(`ws://127.0.0.1:${a.port}`, "ann");
      c.close();
      assert.equal(sampleValue(await scrape(a.port), "pulse_connections_opened_total"), 1);
      assert.equal(sampleValue(await scrape(b.port), "pulse_connections_opened_total"), 0);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("answers loopback and the stats token on the main port, anyone on the metrics port", async () => {
    const server = await testServer({ statsToken: "s3cret-token", metricsPort: 0 });
    try {
      // A request relayed by a proxy on this machine is not the operator's.
      const relayed = { "x-forwarded-for": "203.0.113.9" };
      assert.equal((await httpGet(server.port, "/metrics", relayed)).status, 403);
      assert.equal((await httpGet(server.port, "/metrics", { ...relayed, authorization: "Bearer wrong-token!" })).status, 403);
      assert.equal((await httpGet(server.port, "/metrics", { ...relayed, authorization: "Bearer s3cret-token" })).status, 200);
      assert.equal((await httpGet(server.port, "/metrics")).status, 200);
      assert.ok(server.metricsPort);
      const open = await httpGet(server.metricsPort, "/metrics", relayed);
      assert.equal(open.status, 200);
      assert.match(open.body, /^# HELP pulse_/m);
      // The metrics port serves only the operator's endpoints.
      assert.equal((await httpGet(server.metricsPort, "/stats")).status, 404);
      assert.equal((await httpGet(server.metricsPort, "/")).status, 404);
    } finally {
      await server.close();
    }
  });

  it("a scrape never calls process._getActiveHandles, a Node internal that aborted a test process during one", async () => {
    const server = await testServer({ metricsPort: 0 });
    const internal = process as unknown as { _getActiveHandles: () => unknown[] };
    const original = internal._getActiveHandles;
    let calls = 0;
    internal._getActiveHandles = () => {
      calls++;
      throw new Error("process._getActiveHandles called");
    };
    try {
      const scrape = await httpGet(server.metricsPort!, "/metrics");
      assert.equal(scrape.status, 200);
      assert.equal(calls, 0);
      assert.doesNotMatch(scrape.body, /nodejs_active_handles/);
      assert.match(scrape.body, /^nodejs_active_resources_total /m, "handles are still counted, through the public API");
    } finally {
      internal._getActiveHandles = original;
      await server.close();
    }
  });
});

describe("/healthz and /readyz", () => {
  it("readyz turns 503 while the server drains; healthz stays 200", async () => {
    const server = await testServer({ metricsPort: 0 });
    const proxy = await new BlackHoleProxy(server.port).start();
    try {
      assert.equal((await httpGet(server.port, "/readyz")).status, 200);
      assert.equal((await httpGet(server.metricsPort!, "/readyz")).status, 200);
      // A client behind a dead link holds the drain open (the server waits up to 2 s for it).
      const stuck = await RawClient.hello(`ws://127.0.0.1:${proxy.port}`, "stuck");
      proxy.blackHole();
      const closing = server.close();
      const ready = await httpGet(server.metricsPort!, "/readyz");
      assert.equal(ready.status, 503);
      assert.deepEqual(JSON.parse(ready.body), { ready: false, reason: "draining" });
      assert.equal((await httpGet(server.metricsPort!, "/healthz")).status, 200);
      await closing;
      stuck.close();
    } finally {
      await proxy.close();
      await server.close();
    }
  });

  it("readyz turns 503 when the store does not answer", async () => {
    const real = await openStore("memory");
    // A store that stops answering reads, as a wedged disk or an unreachable Redis would.
    let wedged = false;
    const store = new Proxy(real, {
      get(target, prop) {
        if (prop === "latestSeq" && wedged) return () => new Promise(() => {});
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const server = await testServer({ store });
    try {
      assert.equal((await httpGet(server.port, "/readyz")).status, 200);
      wedged = true;
      const answer = await httpGet(server.port, "/readyz");
      assert.equal(answer.status, 503);
      assert.match(JSON.parse(answer.body).reason, /no answer within/);
      assert.equal((await httpGet(server.port, "/healthz")).status, 200);
      wedged = false;
      assert.equal((await httpGet(server.port, "/readyz")).status, 200);
    } finally {
      await server.close();
    }
  });

  it("counts refused upgrades by status", async () => {
    const server = await testServer({ metricsPort: 0 });
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}`, ["not-pulse"]);
    await new Promise((resolve) => ws.on("error", resolve));
    const m = await scrape(server.metricsPort!);
    assert.equal(sampleValue(m, "pulse_upgrades_refused_total", { status: "426" }), 1);
    await server.close();
  });
});
