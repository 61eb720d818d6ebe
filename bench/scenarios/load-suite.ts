/**
 * One server, one fleet, grown in steps: idle memory per connection at each size, heartbeat cost
 * at the largest, then the time to fill a shared room and broadcast latency to the last
 * recipient as it grows, and throughput with 16 senders in the room of 1k. Every figure carries
 * the generator's CPU.
 */
import { Fleet } from "../load/fleet.js";
import { cpuSeconds, ioSyscalls, rssBytes } from "../lib/proc.js";
import { percentile, sleep } from "../lib/stats.js";
import { startSystem, type RunningServer, type SystemDef } from "../systems.js";

export interface LoadConfig {
  sizes: number[];
  latencySizes: number[];
  probes: number;
  heartbeatSeconds: number;
  throughputSeconds: number;
  /** Give up growing the shared room when one step takes longer than this (its joins are slow). */
  fillCapMs: number;
}

/**
 * Memory at one size of idle connections. `rssPerConnBytes` and `heapPerConnBytes`: the growth
 * since the server had no client, divided by the connections; that charges them with what the
 * server allocates once (code compiled for the first hellos and joins, caches that fill once).
 * `heapPerAddedConnBytes`: the heap's growth since the previous point (`addedSince` clients),
 * per connection added, which leaves that out (mostly: code optimised later still counts).
 */
export interface MemoryPoint {
  connections: number;
  rssPerConnBytes: number;
  heapPerConnBytes: number;
  heapPerAddedConnBytes: number;
  addedSince: number;
  /** Live heap after GC at this point. */
  heapBytes: number;
}

/** The first memory point's marginal figure is taken from this many clients (a warm-up). */
export const MEMORY_WARMUP_CONNECTIONS = 500;
export interface LatencyPoint { room: number; timedOut: number; dropped: number; p50Ms: number; p99Ms: number; generatorUsPerFrame: number; serverUsPerFrame: number }
/**
 * One step of growing the shared room: `joins` more clients join it at once (the room keeps the
 * previous step's members, and whatever history the steps before left in it).
 */
export interface FillPoint {
  room: number;
  joins: number;
  /** From the first join request to the last answer (`joined`, or Socket.IO's ack). */
  answeredMs: number;
  /** From the first join request to the last frame other than a heartbeat the clients received (presence included). */
  drainedMs: number;
  /** Server CPU from the first join until the traffic drained, per join. */
  serverUsPerJoin: number;
  /** Frames other than heartbeats the clients received, per join. */
  framesPerJoin: number;
  /** Their payload bytes per join; null where the generator does not see frames (Socket.IO's client). */
  bytesPerJoin: number | null;
}
export interface LoadResult {
  memory: MemoryPoint[];
  heartbeat: { connections: number; serverCpuPercent: number; eventLoopDelayP99Ms: number | null; generatorCpuPercent: number };
  fill: FillPoint[];
  latency: LatencyPoint[];
  /** A room size whose joins did not finish within fillCapMs, and how far it got. */
  fillTimedOut?: { room: number; capMs: number };
  throughput?: { room: number; senders: number; deliveriesPerServerCpuSecond: number; deliveriesPerSecond: number; serverCpuPercent: number; generatorCpuPercent: number; generatorUsPerFrame: number };
}

const THROUGHPUT_ROOM = 1_000;
const SENDERS = 16;
const WINDOW = 32;

export async function runLoadSuite(def: SystemDef, port: number, cfg: LoadConfig, log: (s: string) => void): Promise<LoadResult> {
  const server = await startSystem(def, port, true);
  const max = Math.max(...cfg.sizes);
  const fleet = await Fleet.start(Math.max(2, Math.ceil(max / 2_500)), { kind: def.kind, host: "127.0.0.1", port, reconnect: false, track: false });
  try {
    const base = await memoryBaseline(server);
    const memory: MemoryPoint[] = [];
    let previous = await memoryWarmup(server, fleet);
    for (const n of cfg.sizes) {
      const t0 = Date.now();
      const point = await memoryAt(server, fleet, n, base, previous);
      previous = point;
      memory.push(point);
      log(`  ${def.id}: ${point.connections}/${n} connected in ${Date.now() - t0} ms; rss/conn ${(point.rssPerConnBytes / 1024).toFixed(1)} KiB, heap/conn ${(point.heapPerConnBytes / 1024).toFixed(2)} KiB (${(point.heapPerAddedConnBytes / 1024).toFixed(2)} per connection added since ${point.addedSince})`);
    }

    // Heartbeat cost: nothing but heartbeats for a few intervals at the largest size.
    await fleet.settle(1_000);
    await server.stats({ reset: true });
    const hb = await meter(server.pid, fleet, cfg.heartbeatSeconds * 1000);
    const hbStats = await server.stats();
    const heartbeat = {
      connections: memory.at(-1)!.connections,
      serverCpuPercent: hb.server * 100,
      eventLoopDelayP99Ms: hbStats.eventLoopDelayP99Ms,
      generatorCpuPercent: hb.generator * 100,
    };
    log(`  ${def.id}: heartbeat at ${heartbeat.connections}: ${heartbeat.serverCpuPercent.toFixed(2)} % CPU, loop p99 ${hbStats.eventLoopDelayP99Ms?.toFixed(2)} ms`);

    const fill: FillPoint[] = [];
    const latency: LatencyPoint[] = [];
    let throughput: LoadResult["throughput"] | undefined;
    let fillTimedOut: LoadResult["fillTimedOut"];
    for (const room of [...new Set([THROUGHPUT_ROOM, ...cfg.latencySizes])].sort((a, b) => a - b)) {
      const step = await fillStep(server.pid, fleet, room, cfg.fillCapMs, def.kind !== "socketio");
      if (!step) {
        // Joins still queued: stop here; the server is restarted for the next system anyway.
        fillTimedOut = { room, capMs: cfg.fillCapMs };
        log(`  ${def.id}: room of ${room} not filled and quiet within ${cfg.fillCapMs} ms; it and larger rooms skipped`);
        break;
      }
      fill.push(step.point);
      const f = step.point;
      log(`  ${def.id}: room of ${step.inBig}: ${f.joins} joins answered in ${f.answeredMs.toFixed(0)} ms, drained in ${f.drainedMs.toFixed(0)} ms; ${f.serverUsPerJoin.toFixed(0)} us server CPU, ${f.framesPerJoin.toFixed(2)} frames${f.bytesPerJoin === null ? "" : `, ${f.bytesPerJoin.toFixed(0)} bytes`} per join`);
      if (cfg.latencySizes.includes(room)) latency.push(await probeLatency(server.pid, fleet, step.inBig, cfg.probes));
      if (room === THROUGHPUT_ROOM) throughput = await measureThroughput(server.pid, fleet, step.inBig, cfg.throughputSeconds * 1000);
    }
    for (const l of latency) {
      log(`  ${def.id}: room ${l.room}: p50 ${l.p50Ms.toFixed(2)} ms p99 ${l.p99Ms.toFixed(2)} ms (generator ${l.generatorUsPerFrame.toFixed(2)} us/frame; ${l.timedOut} probes timed out, ${l.dropped} clients dropped)`);
    }
    if (throughput) log(`  ${def.id}: throughput ${Math.round(throughput.deliveriesPerServerCpuSecond)} deliveries per server CPU-s`);
    return { memory, heartbeat, fill, latency, ...(throughput ? { throughput } : {}), ...(fillTimedOut ? { fillTimedOut } : {}) };
  } finally {
    await fleet.close();
    // A clean exit only when profiling (--cpu-prof writes its file at exit); otherwise do not wait.
    await server.stop(process.env.BENCH_NODE_FLAGS ? "SIGTERM" : "SIGKILL");
  }
}

/** RSS and live heap of the server with no clients, after GC. */
export async function memoryBaseline(server: RunningServer): Promise<{ rss: number; heap: number }> {
  await sleep(500);
  await server.stats({ gc: true });
  const heap = (await server.stats({ gc: true })).heapUsedBytes;
  return { rss: rssBytes(server.pid), heap };
}

/** The point that the first size's marginal heap figure starts from: MEMORY_WARMUP_CONNECTIONS clients, live heap after GC. */
export async function memoryWarmup(server: RunningServer, fleet: Fleet): Promise<{ connections: number; heapBytes: number }> {
  const connections = await fleet.grow(MEMORY_WARMUP_CONNECTIONS);
  await fleet.settle();
  return { connections, heapBytes: (await server.stats({ gc: true })).heapUsedBytes };
}

/**
 * Grows the fleet to `n` joined clients, lets it go quiet, and charges the growth per
 * connection: since no client (`base`), and since the `previous` point.
 */
export async function memoryAt(server: RunningServer, fleet: Fleet, n: number, base: { rss: number; heap: number }, previous: { connections: number; heapBytes: number }): Promise<MemoryPoint> {
  const ready = await fleet.grow(n);
  await fleet.settle();
  const heap = (await server.stats({ gc: true })).heapUsedBytes;
  await sleep(300); // let the allocator settle after GC before reading RSS
  const rss = rssBytes(server.pid);
  return {
    connections: ready,
    rssPerConnBytes: (rss - base.rss) / ready,
    heapPerConnBytes: (heap - base.heap) / ready,
    heapPerAddedConnBytes: (heap - previous.heapBytes) / Math.max(1, ready - previous.connections),
    addedSince: previous.connections,
    heapBytes: heap,
  };
}

/** Server and generator CPU (cores) over `ms`, and the server's read and write system calls per second. */
export async function meter(pid: number, fleet: Fleet, ms: number): Promise<{ server: number; generator: number; seconds: number; serverReadsPerSecond: number; serverWritesPerSecond: number }> {
  const s0 = cpuSeconds(pid);
  const io0 = ioSyscalls(pid);
  const g0 = fleet.cpuSeconds();
  const t0 = performance.now();
  await sleep(ms);
  const seconds = (performance.now() - t0) / 1000;
  const io = ioSyscalls(pid);
  return {
    server: (cpuSeconds(pid) - s0) / seconds,
    generator: (fleet.cpuSeconds() - g0) / seconds,
    seconds,
    serverReadsPerSecond: (io.reads - io0.reads) / seconds,
    serverWritesPerSecond: (io.writes - io0.writes) / seconds,
  };
}

/** The generator's clock: CLOCK_MONOTONIC in ms, as the workers stamp their frames. */
const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;
/**
 * Quiet this long (nothing but heartbeats) means the step's traffic drained. 2 s, not 0.5 s: a
 * server building thousands of `joined` replies in one turn can pause its output for over
 * 500 ms while the presence backlog is far from drained. The wait is not part of any figure:
 * the drained time is read back from the last frame's arrival.
 */
const DRAINED_AFTER_QUIET_MS = 2_000;
const POLL_MS = 100;

/**
 * Grows the shared room to `room` members; null if its joins were not all answered, or its
 * traffic did not go quiet, within `capMs`. Server CPU is sampled at every poll, so the CPU
 * until the drain is read at the first poll after the last frame (at most POLL_MS of
 * heartbeats more).
 */
async function fillStep(pid: number, fleet: Fleet, room: number, capMs: number, seesBytes: boolean): Promise<{ point: FillPoint; inBig: number } | null> {
  const before = await fleet.fillBig(0);
  await fleet.traffic();
  const cpu0 = cpuSeconds(pid);
  const t0 = monotonicMs();
  const deadline = t0 + capMs;
  const inBig = await Promise.race([fleet.fillBig(room), sleep(capMs).then(() => null)]);
  if (inBig === null) return null;
  const answeredMs = monotonicMs() - t0;
  const samples: Array<{ at: number; cpu: number }> = [];
  let lastFrameMs = 0;
  for (;;) {
    const quiet = await fleet.all<{ quietMs: number; lastMs: number }>({ op: "quiet" });
    samples.push({ at: monotonicMs(), cpu: cpuSeconds(pid) });
    lastFrameMs = Math.max(...quiet.map((q) => q.lastMs));
    if (quiet.every((q) => q.quietMs >= DRAINED_AFTER_QUIET_MS)) break;
    if (monotonicMs() > deadline) return null;
    await sleep(POLL_MS);
  }
  const drainedAt = Math.max(t0 + answeredMs, lastFrameMs);
  const cpuAtDrain = samples.find((x) => x.at >= drainedAt)?.cpu ?? samples.at(-1)!.cpu;
  const joins = Math.max(1, inBig - before);
  const traffic = await fleet.traffic();
  return {
    inBig,
    point: {
      room,
      joins,
      answeredMs,
      drainedMs: drainedAt - t0,
      serverUsPerJoin: ((cpuAtDrain - cpu0) * 1e6) / joins,
      framesPerJoin: traffic.frames / joins,
      bytesPerJoin: seesBytes ? traffic.bytes / joins : null,
    },
  };
}

/**
 * One message at a time from a member of the room; the time until the LAST member has it.
 * Receive times come from each worker's hrtime (CLOCK_MONOTONIC, shared by all processes).
 */
const PROBE_TIMEOUT_MS = 3_000;
/** Consecutive timeouts after which a room size is given up (the run must stay bounded). */
const MAX_TIMEOUTS_IN_A_ROW = 3;

async function probeLatency(pid: number, fleet: Fleet, room: number, probes: number): Promise<LatencyPoint> {
  const perWorker = await fleet.all<{ inBig: number; dropped: number }>({ op: "join-big", count: 0 });
  const samples: number[] = [];
  let timedOut = 0;
  const s0 = cpuSeconds(pid);
  const g0 = fleet.cpuSeconds();
  for (let k = 0; k < probes; k++) {
    await fleet.count();
    const arrivals = Promise.all(fleet.workers.map((w, i) => w.request<{ lastMs: number }>({ op: "arm", expect: perWorker[i]!.inBig })));
    // Ids unique per room size too: Pulse dedupes by (client, id), so reusing the ids of the
    // previous room's probes would be answered with duplicate acks and never broadcast.
    const { sentMs } = await fleet.workers[0]!.request<{ sentMs: number }>({ op: "send", conn: 0, id: `p${room}-${k}`, text: `probe ${k}` });
    // Bounded: a member that never gets the probe (dropped by the server) must not hang the run.
    const got = await Promise.race([arrivals, sleep(PROBE_TIMEOUT_MS).then(() => null)]);
    if (!got) {
      timedOut++;
      await fleet.all({ op: "disarm" });
      if (timedOut >= MAX_TIMEOUTS_IN_A_ROW && samples.length === 0) break;
      continue;
    }
    samples.push(Math.max(...got.map((a) => a.lastMs)) - sentMs);
    await sleep(20);
  }
  const frames = Math.max(1, samples.length) * room;
  return {
    room,
    timedOut,
    dropped: perWorker.reduce((n, w) => n + w.dropped, 0),
    p50Ms: percentile(samples, 50),
    p99Ms: percentile(samples, 99),
    generatorUsPerFrame: ((fleet.cpuSeconds() - g0) * 1e6) / frames,
    serverUsPerFrame: ((cpuSeconds(pid) - s0) * 1e6) / frames,
  };
}

/** 16 senders, a bounded window in flight; deliveries counted at the generator. */
async function measureThroughput(pid: number, fleet: Fleet, room: number, ms: number): Promise<NonNullable<LoadResult["throughput"]>> {
  await fleet.workers[0]!.request({ op: "flood", senders: SENDERS, window: WINDOW, text: "x".repeat(64) });
  await sleep(1_000); // warm-up: JIT and socket buffers reach a steady state
  await fleet.count();
  const m = await meter(pid, fleet, ms);
  const deliveries = await fleet.count();
  await fleet.workers[0]!.request({ op: "flood-stop" });
  await fleet.settle();
  return {
    room,
    senders: SENDERS,
    deliveriesPerServerCpuSecond: deliveries / (m.server * m.seconds),
    deliveriesPerSecond: deliveries / m.seconds,
    serverCpuPercent: m.server * 100,
    generatorCpuPercent: m.generator * 100,
    generatorUsPerFrame: (m.generator * m.seconds * 1e6) / deliveries,
  };
}
