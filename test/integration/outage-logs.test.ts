import { it } from "node:test";
import assert from "node:assert/strict";
import { RedisServer } from "../support/redis-server.js";
import { testServer } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { sleep } from "../support/wait.js";
import { httpGet, parsePrometheus } from "../support/http-get.js";

/**
 * A Redis outage under a node with thirty rooms open: every room's presence publish, every
 * leave, every refused send, the heartbeat and the dead-node check fail again and again. With
 * no budget this run logged about 90 `redis_failed` lines in 6 s, growing with the rooms and
 * their members; the budget keeps 20 at once and one a second, and counts the rest, and the
 * metric pulse_redis_failures_total counts every one.
 */
it("a Redis outage logs its failures within the log budget, as tagged warnings, counts what it left out, and the metric counts them all", async () => {
  const redis = await RedisServer.start();
  const lines: string[] = [];
  const server = await testServer({ store: undefined, redis: redis.url, log: (line) => lines.push(line), liveness: { intervalMs: 500, suspectMs: 1_200, timeoutMs: 2_000 }, checkMs: 500 });
  const clients: RawClient[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const raw = await RawClient.hello(server.url, `outage${i}`);
      for (let r = 0; r < 10; r++) {
        raw.send({ type: "join", room: `outage-${i}-${r}` });
        await raw.next("joined");
      }
      clients.push(raw);
    }
    const before = lines.length;
    await redis.stop();
    for (const raw of clients) for (let r = 0; r < 10; r++) raw.send({ type: "send", room: `outage-${clients.indexOf(raw)}-${r}`, id: `m${r}`, text: "while Redis is away" });
    await sleep(6_000);
    await redis.restart();
    await sleep(2_000);
    const during = lines.slice(before);
    const redisFailed = during.filter((l) => l.includes("event=redis_failed"));
    assert.ok(redisFailed.length >= 20, `the first failures are written (${redisFailed.length})`);
    assert.ok(redisFailed.length <= 30, `${redisFailed.length} redis_failed lines in 8 s: over 20 at once plus one a second`);
    const untagged = during.filter((l) => / failed/.test(l) && !/ event=/.test(l));
    assert.deepEqual(untagged, [], "every failure line names its event, so the budget and log pipelines see it");
    // The metric counts every failure, the ones the log left out included.
    const metrics = parsePrometheus((await httpGet(server.port, "/metrics")).body).filter((s) => s.name === "pulse_redis_failures_total");
    const counted = metrics.reduce((sum, s) => sum + s.value, 0);
    assert.ok(counted > redisFailed.length, `pulse_redis_failures_total ${counted} against ${redisFailed.length} lines written`);
    assert.ok(metrics.some((s) => s.labels.op === "presence_leave" && s.value > 0), JSON.stringify(metrics));
  } finally {
    for (const raw of clients) raw.close();
    await server.close();
    await redis.dispose();
  }
  const report = lines.filter((l) => l.includes("event=log_suppressed"));
  assert.ok(report.some((l) => /"redis_failed":\d+/.test(l)), `what was left out is counted: ${report.join(" | ")}`);
});
