/** The coordinator's handle on its generator processes (bench/cluster/generator.ts). */
import { spawn, type ChildProcess } from "node:child_process";
import { cpuSeconds } from "../lib/proc.js";
import { stopProcess } from "../lib/spawn.js";
import type { GeneratorReply, GeneratorRequest } from "./ipc.js";

/** A generator that does not answer this long is stuck: the run fails rather than hang. */
const ANSWER_DEADLINE_MS = 180_000;

class Generator {
  private seq = 0;
  private readonly waiting = new Map<number, (r: GeneratorReply) => void>();

  constructor(readonly proc: ChildProcess) {
    proc.on("message", (m: GeneratorReply & { re: number }) => {
      const done = this.waiting.get(m.re);
      this.waiting.delete(m.re);
      done?.(m);
    });
  }

  request(req: GeneratorRequest): Promise<GeneratorReply> {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`generator ${this.proc.pid}: no answer to '${req.op}' in ${ANSWER_DEADLINE_MS} ms`)), ANSWER_DEADLINE_MS);
      this.waiting.set(seq, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.proc.send({ ...req, seq });
    });
  }
}

export class Generators {
  private constructor(readonly list: Generator[]) {}

  static start(count: number): Generators {
    const cwd = new URL("../..", import.meta.url).pathname;
    return new Generators(
      Array.from({ length: count }, () => {
        const proc = spawn(process.execPath, ["--import", "tsx", "bench/cluster/generator.ts"], { cwd, stdio: ["ignore", "inherit", "inherit", "ipc"] });
        proc.once("exit", (code, signal) => {
          // A generator that dies mid-run (a refused send, a closed connection) voids the run.
          if (code !== 0 && signal !== "SIGKILL") {
            console.error(`generator ${proc.pid} exited with ${code ?? signal}`);
            process.exit(1);
          }
        });
        return new Generator(proc);
      }),
    );
  }

  get size(): number {
    return this.list.length;
  }

  /** Which generator holds room member `index`. */
  holderOf(index: number): number {
    return index % this.list.length;
  }

  request(generator: number, req: GeneratorRequest): Promise<GeneratorReply> {
    return this.list[generator]!.request(req);
  }

  all(req: GeneratorRequest | ((generator: number) => GeneratorRequest)): Promise<GeneratorReply[]> {
    return Promise.all(this.list.map((g, i) => g.request(typeof req === "function" ? req(i) : req)));
  }

  async received(): Promise<number> {
    return (await this.all({ op: "count" })).reduce((n, r) => n + (r.received ?? 0), 0);
  }

  cpuSeconds(): number {
    return this.list.reduce((n, g) => n + (g.proc.pid ? cpuSeconds(g.proc.pid) : 0), 0);
  }

  async close(): Promise<void> {
    await Promise.race([this.all({ op: "close" }), new Promise((r) => setTimeout(r, 3_000))]).catch(() => {});
    await Promise.all(this.list.map((g) => stopProcess(g.proc, "SIGKILL", 1_000)));
  }
}
