import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LogBudget } from "../../src/server/log-budget.js";
import type { LogFields } from "../../src/server/logger.js";

/** A budget writing into an array, on a clock the test moves. */
function budgeted(options: ConstructorParameters<typeof LogBudget>[1] = {}) {
  const written: Array<{ message: string; fields: LogFields | undefined }> = [];
  let t = 1_000_000;
  const budget = new LogBudget((message, fields) => written.push({ message, fields }), options, () => t);
  const of = (event: string) => written.filter((w) => w.fields?.event === event);
  return { budget, written, of, advance: (ms: number) => (t += ms) };
}

describe("log budget", () => {
  it("writes a warning or error event's first `burst` lines, then holds the rest back and counts them in one log_suppressed line", () => {
    const { budget, of } = budgeted({ burst: 20, perSecond: 1 });
    for (let i = 0; i < 500; i++) budget.log(`append failed ${i}`, { event: "store_failed", err: "store unreachable" });
    assert.equal(of("store_failed").length, 20);
    assert.equal(of("log_suppressed").length, 0, "nothing said before the report");
    budget.report();
    const [report] = of("log_suppressed");
    assert.deepEqual(report!.fields!.suppressed, { store_failed: 480 });
    assert.match(report!.message, /left out 480 line/);
    budget.report();
    assert.equal(of("log_suppressed").length, 1, "a report with nothing left out writes nothing");
  });

  it("lets `perSecond` lines through after the burst, and a full burst again after a quiet spell", () => {
    const { budget, of, advance } = budgeted({ burst: 5, perSecond: 2 });
    const fail = () => budget.log("heartbeat to Redis failed", { event: "redis_failed", op: "heartbeat" });
    for (let i = 0; i < 10; i++) fail();
    assert.equal(of("redis_failed").length, 5);
    advance(1_000);
    for (let i = 0; i < 10; i++) fail();
    assert.equal(of("redis_failed").length, 7, "two more in the next second");
    advance(10_000);
    for (let i = 0; i < 10; i++) fail();
    assert.equal(of("redis_failed").length, 12, "the burst is back");
  });

  it("keeps a bucket per event: one event's flood does not silence another's first line", () => {
    const { budget, of } = budgeted({ burst: 3 });
    for (let i = 0; i < 50; i++) budget.log("slow", { event: "slow_consumer" });
    budget.log("the epoch moved", { event: "store_epoch_renewed" });
    budget.log("a failed hello", { event: "hello_failed" });
    assert.equal(of("slow_consumer").length, 3);
    assert.equal(of("store_epoch_renewed").length, 1);
    assert.equal(of("hello_failed").length, 1);
  });

  it("never holds back info and debug events, or lines without an event", () => {
    const { budget, written, of } = budgeted({ burst: 1 });
    for (let i = 0; i < 100; i++) {
      budget.log("closed", { event: "connection_closed" });
      budget.log("opened", { event: "connection_opened" });
      budget.log("Redis reachable again");
    }
    assert.equal(of("connection_closed").length, 100);
    assert.equal(of("connection_opened").length, 100);
    assert.equal(written.filter((w) => w.fields === undefined).length, 100);
  });

  it("reports by itself after reportMs, without a call", async () => {
    const { budget, of } = budgeted({ burst: 1, reportMs: 30 });
    budget.log("a", { event: "fragment_limit" });
    budget.log("b", { event: "fragment_limit" });
    budget.log("c", { event: "liveness_dead" });
    budget.log("d", { event: "liveness_dead" });
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(of("log_suppressed").map((w) => w.fields!.suppressed), [{ fragment_limit: 1, liveness_dead: 1 }]);
  });

  it("refuses a budget that would hold back everything or report never", () => {
    assert.throws(() => new LogBudget(() => {}, { burst: 0 }), RangeError);
    assert.throws(() => new LogBudget(() => {}, { perSecond: 0 }), RangeError);
    assert.throws(() => new LogBudget(() => {}, { reportMs: 0 }), RangeError);
  });
});
