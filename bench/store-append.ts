/**
 * SqliteStore throughput on a temp file: persisted appends per second when 20 rooms append
 * 50,000 messages in bursts of 500 per tick (each burst awaited, so every figure counts only
 * committed messages), median of 3 runs; the same with every room held at its byte budget
 * (each batch also deletes as many old messages as it adds); the same with every burst going
 * into 20 rooms never seen before while the store is at its total budget (each batch also cuts
 * as many messages from the largest rooms, one room at a time, and at the end drops rooms down
 * to one message: a flood of fresh room names); then the time of one readAfter of 10,000
 * messages.
 *
 *   node --import tsx bench/store-append.ts
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { AppendInput } from "../src/store/message-store.js";
import { SqliteStore } from "../src/store/sqlite-store.js";
import { MESSAGE_OVERHEAD_BYTES, type RetentionOptions } from "../src/store/retention.js";

const ROOMS = 20;
const TOTAL_MESSAGES = 50_000;
const BURST = 500;
const RUNS = 3;
const READ_COUNT = 10_000;
const TARGET_PER_SECOND = 20_000;
/** A budget of about 500 of these messages per room, so the trimmed run trims from its first fifth on. */
const AT_BUDGET: RetentionOptions = { retainBytesPerRoom: 500 * (64 + MESSAGE_OVERHEAD_BYTES) };
/** About 2,000 of these messages in all: after the first four bursts, every burst cuts rooms. */
const AT_TOTAL: RetentionOptions = { ...AT_BUDGET, retainBytesTotal: 2_000 * (64 + MESSAGE_OVERHEAD_BYTES) };
/** 25 messages per room, so a burst of 500 opens 20 rooms never seen before. */
const freshRoom = (n: number) => `flood-${Math.floor(n / 25)}`;

function message(n: number, room: string): AppendInput {
  return {
    room,
    userId: `user-${n % 97}`,
    clientId: `client-${n % 97}`,
    id: `m-${n}`,
    from: `user-${n % 97}`,
    text: `benchmark message number ${n}, about as long as a short chat line`,
    ts: Date.now(),
  };
}

/** Runs `body` against a SqliteStore on a fresh temp file, removed afterwards. */
async function withTempStore<T>(body: (store: SqliteStore) => Promise<T>, retention: RetentionOptions = {}): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "pulse-bench-"));
  const store = new SqliteStore({ ...retention, path: join(dir, "bench.db") });
  try {
    return await body(store);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Appends `count` messages, BURST per tick, waiting for each burst's commit. */
async function appendInBursts(store: SqliteStore, count: number, roomOf: (n: number) => string) {
  for (let offset = 0; offset < count; offset += BURST) {
    const burst = [];
    for (let n = offset; n < Math.min(count, offset + BURST); n++) burst.push(store.append(message(n, roomOf(n))));
    await Promise.all(burst);
  }
}

async function appendRun(retention: RetentionOptions = {}, roomOf = (n: number) => `room-${n % ROOMS}`): Promise<number> {
  return withTempStore(async (store) => {
    const started = performance.now();
    await appendInBursts(store, TOTAL_MESSAGES, roomOf);
    const rate = TOTAL_MESSAGES / ((performance.now() - started) / 1000);
    const held = await store.readAfter(roomOf(0), 0, TOTAL_MESSAGES);
    if (retention.retainBytesTotal && held.length >= 25) throw new Error(`${roomOf(0)} holds ${held.length} messages: the total did not cut it`);
    if (retention.retainBytesPerRoom && held.length > 600) throw new Error(`room-0 holds ${held.length} messages: the budget did not trim`);
    return rate;
  }, retention);
}

async function readRun(): Promise<number> {
  return withTempStore(async (store) => {
    await appendInBursts(store, READ_COUNT, () => "history");
    const started = performance.now();
    const read = await store.readAfter("history", 0, READ_COUNT);
    const elapsedMs = performance.now() - started;
    if (read.length !== READ_COUNT) throw new Error(`read ${read.length} of ${READ_COUNT}`);
    return elapsedMs;
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const rates: number[] = [];
const trimmedRates: number[] = [];
const cuttingRates: number[] = [];
// Interleaved, so all see the same machine load.
for (let run = 1; run <= RUNS; run++) {
  rates.push(await appendRun());
  trimmedRates.push(await appendRun(AT_BUDGET));
  cuttingRates.push(await appendRun(AT_TOTAL, freshRoom));
  console.log(
    `run ${run}: ${Math.round(rates.at(-1)!).toLocaleString("en-US")} persisted appends/s; at the byte budget ${Math.round(trimmedRates.at(-1)!).toLocaleString("en-US")}; ` +
      `fresh rooms at the total ${Math.round(cuttingRates.at(-1)!).toLocaleString("en-US")}`,
  );
}
const rate = median(rates);
const trimmedRate = median(trimmedRates);
const cuttingRate = median(cuttingRates);
console.log(
  `append: ${TOTAL_MESSAGES.toLocaleString("en-US")} messages, ${ROOMS} rooms, bursts of ${BURST}/tick: ` +
    `median ${Math.round(rate).toLocaleString("en-US")} persisted appends/s ` +
    `(target ${TARGET_PER_SECOND.toLocaleString("en-US")}: ${rate >= TARGET_PER_SECOND ? "met" : "MISSED"})`,
);
console.log(
  `append with every room at its byte budget (${AT_BUDGET.retainBytesPerRoom!.toLocaleString("en-US")} bytes, each batch trims): ` +
    `median ${Math.round(trimmedRate).toLocaleString("en-US")} persisted appends/s, ${(trimmedRate / rate).toFixed(2)}x the untrimmed run`,
);
console.log(
  `append into fresh rooms at the total budget (${AT_TOTAL.retainBytesTotal!.toLocaleString("en-US")} bytes, each batch cuts the largest rooms): ` +
    `median ${Math.round(cuttingRate).toLocaleString("en-US")} persisted appends/s, ${(cuttingRate / rate).toFixed(2)}x the untrimmed run`,
);

const readTimes: number[] = [];
for (let run = 0; run < RUNS; run++) readTimes.push(await readRun());
console.log(`readAfter ${READ_COUNT.toLocaleString("en-US")} messages: median ${median(readTimes).toFixed(1)} ms`);
