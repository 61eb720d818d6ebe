/**
 * The coordinator's handle on the load generator: several worker processes pinned to the load
 * core, each bound to its own 127.0.0.x source address (every address has its own ephemeral
 * port range, and a process holds at most ~5,000 sockets here).
 */
import type { ChildProcess } from "node:child_process";
import { cpuSeconds } from "../lib/proc.js";
import { LOAD_CORE, spawnPinned, stopProcess } from "../lib/spawn.js";
import type { Command, Status, WorkerConfig } from "./ipc.js";

/** Per worker process; below the ~20,000 open files a process may have here. */
export const MAX_PER_WORKER = 5_000;

type Reply = Record<string, unknown>;
type Options = Omit<WorkerConfig, "localAddress" | "name">;

class WorkerHandle {
  private seq = 0;
  private readonly waiting = new Map<number, (r: Reply) => void>();
  size = 0;

  constructor(
    readonly proc: ChildProcess,
    onEvent: (e: Reply) => void,
  ) {
    proc.on("message", (m: Reply) => {
      if (m.event) return onEvent(m);
      const done = this.waiting.get(m.re as number);
      this.waiting.delete(m.re as number);
      done?.(m);
    });
  }

  request<T = Reply>(cmd: Command): Promise<T> {
    const seq = ++this.seq;
    return new Promise((resolve) => {
      this.waiting.set(seq, resolve as (r: Reply) => void);
      this.proc.send({ ...cmd, seq });
    });
  }
}

export class Fleet {
  private constructor(
    readonly workers: WorkerHandle[],
    private readonly events: Reply[],
  ) {}

  /** `addressBase` picks the 127.0.0.x range so that concurrent fleets don't share one. */
  static async start(workers: number, options: Options, addressBase = 2, tag = "w"): Promise<Fleet> {
    const events: Reply[] = [];
    const handles = await Promise.all(
      Array.from({ length: workers }, async (_, i) => {
        const proc = spawnPinned(LOAD_CORE, process.execPath, ["--import", "tsx", "bench/load/worker.ts"], ["ignore", "inherit", "inherit", "ipc"]);
        const h = new WorkerHandle(proc, (e) => events.push(e));
        await h.request({ op: "init", config: { ...options, localAddress: `127.0.0.${addressBase + i}`, name: `${tag}${i}` } });
        return h;
      }),
    );
    return new Fleet(handles, events);
  }

  get size(): number {
    return this.workers.reduce((n, w) => n + w.size, 0);
  }

  /** Adds clients until `total` are connected and joined, spread evenly over the workers. */
  async grow(total: number, concurrency = 100): Promise<number> {
    const per = Math.ceil(total / this.workers.length);
    const results = await Promise.all(
      this.workers.map(async (w) => {
        const want = per - w.size;
        if (want <= 0) return w.size;
        const r = await w.request<{ ready: number }>({ op: "connect", count: want, concurrency });
        w.size += want;
        return r.ready;
      }),
    );
    return results.reduce((a, b) => a + b, 0);
  }

  /** The first `size / workers` clients of each worker join the shared room. */
  async fillBig(size: number): Promise<number> {
    const per = Math.ceil(size / this.workers.length);
    const r = await this.all<{ inBig: number }>({ op: "join-big", count: per });
    return r.reduce((n, x) => n + x.inBig, 0);
  }

  all<T = Reply>(cmd: Command): Promise<T[]> {
    return Promise.all(this.workers.map((w) => w.request<T>(cmd)));
  }

  /** Waits until no worker has received anything for `quietMs` (joins and presence drained); false if it never got quiet. */
  async settle(quietMs = 500, capMs = 120_000): Promise<boolean> {
    const deadline = Date.now() + capMs;
    while (Date.now() < deadline) {
      const q = await this.all<{ quietMs: number }>({ op: "quiet" });
      if (q.every((x) => x.quietMs >= quietMs)) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  /** hrtime ms (CLOCK_MONOTONIC, as `process.hrtime`) of the last frame other than a heartbeat that any worker received. */
  async lastFrameMs(): Promise<number> {
    return Math.max(...(await this.all<{ lastMs: number }>({ op: "quiet" })).map((q) => q.lastMs));
  }

  /** Frames other than heartbeats received by all workers since the last call, and their payload bytes (raw clients only). */
  async traffic(): Promise<{ frames: number; bytes: number }> {
    const all = await this.all<{ frames: number; bytes: number }>({ op: "traffic" });
    return { frames: all.reduce((n, t) => n + t.frames, 0), bytes: all.reduce((n, t) => n + t.bytes, 0) };
  }

  /** Message frames received by all workers since the last call. */
  async count(): Promise<number> {
    return (await this.all<{ count: number }>({ op: "count" })).reduce((n, x) => n + x.count, 0);
  }

  async status(): Promise<Status> {
    const all = await this.all<Status>({ op: "status" });
    return {
      total: all.reduce((n, s) => n + s.total, 0),
      ready: all.reduce((n, s) => n + s.ready, 0),
      readyTimes: all.flatMap((s) => s.readyTimes),
    };
  }

  /** CPU seconds used by all generator processes so far. */
  cpuSeconds(): number {
    return this.workers.reduce((n, w) => n + (w.proc.pid ? cpuSeconds(w.proc.pid) : 0), 0);
  }

  pids(): number[] {
    return this.workers.map((w) => w.proc.pid!);
  }

  /** Unsolicited reports (dead-peer detections), oldest first. */
  takeEvents(): Reply[] {
    return this.events.splice(0);
  }

  async close(): Promise<void> {
    await Promise.race([this.all({ op: "close" }), new Promise((r) => setTimeout(r, 3_000))]);
    await Promise.all(this.workers.map((w) => stopProcess(w.proc, "SIGKILL", 1_000)));
  }
}
