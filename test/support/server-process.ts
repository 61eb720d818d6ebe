import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

export interface ServerProcessOptions {
  /** Liveness flags passed to the CLI (`--interval-ms`, ...). Default: the server's defaults. */
  liveness?: { intervalMs?: number; suspectMs?: number; timeoutMs?: number };
  /** `--check-ms`: how often the server sweeps its connections. Default: the server's. */
  checkMs?: number;
  /** `--store`: a SQLite path, or "memory". Default: a fresh SQLite file in a temp directory. */
  store?: string;
  /** `--host`. Default 127.0.0.1. */
  host?: string;
  /** `--port` of the first start. Default 0 (any free port); restarts reuse the bound port. */
  port?: number;
  /** More CLI arguments, appended after the ones above. */
  args?: string[];
  /**
   * "dist" runs dist/cli/pulse.js (what `npm test` builds first); "source" runs
   * src/cli/pulse.ts through tsx, for tests that must not depend on a build. Default "dist".
   */
  entry?: "source" | "dist";
  /** How long to wait for the `listening on` line. Default 20000 ms. */
  readyTimeoutMs?: number;
}

/** Children still running when the test process exits are killed, whatever the test did. */
const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

// The line is plain text or a JSON log event with it as "msg".
const READY = /(?:^|"msg":")listening on http:\/\/(\[[^\]]+\]|[^:\s"]+):(\d+)/m;
const ADDRESS_IN_USE = /EADDRINUSE/;
/** Keep this much of the server's output for failure messages. */
const OUTPUT_LIMIT = 64 * 1024;

/**
 * The Pulse server as a real child process, for tests that need real signals: SIGSTOP for a
 * silent death, SIGKILL for a crash, a restart on the same database and port.
 */
export class ServerProcess {
  private child: ChildProcess | null = null;
  private exited: Promise<number | null> = Promise.resolve(null);
  private log = "";
  private readonly tempDir: string | null;
  readonly storePath: string;
  readonly host: string;
  port: number;

  private constructor(private readonly opts: ServerProcessOptions) {
    this.host = opts.host ?? "127.0.0.1";
    this.port = opts.port ?? 0;
    if (opts.store === undefined) {
      this.tempDir = mkdtempSync(join(tmpdir(), "pulse-server-"));
      this.storePath = join(this.tempDir, "pulse.db");
    } else {
      this.tempDir = null;
      this.storePath = opts.store;
    }
  }

  /** Spawn the server and resolve once it prints its `listening on` line. */
  static async start(opts: ServerProcessOptions = {}): Promise<ServerProcess> {
    const server = new ServerProcess(opts);
    try {
      await server.spawnAndWait();
    } catch (error) {
      await server.dispose();
      throw error;
    }
    return server;
  }

  /** http://HOST:PORT/ : the chat page. */
  get url(): string {
    return `http://${this.hostForUrl()}:${this.port}/`;
  }

  /** ws://HOST:PORT/ : the WebSocket endpoint (the server upgrades any path). */
  get wsUrl(): string {
    return `ws://${this.hostForUrl()}:${this.port}/`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Everything the server printed so far (stdout and stderr, interleaved), for diagnostics. */
  output(): string {
    return this.log;
  }

  /** SIGSTOP: the process freezes, its sockets stay open and silent (a half-open link). */
  pause(): void {
    this.signal("SIGSTOP");
  }

  /** SIGCONT: the frozen process carries on where it stopped. */
  resume(): void {
    this.signal("SIGCONT");
  }

  /** SIGTERM and wait for the exit: the graceful shutdown path. Returns the exit code. */
  async stop(): Promise<number | null> {
    if (this.child === null) return null;
    // A stopped process would hold SIGTERM until continued.
    this.child.kill("SIGCONT");
    this.child.kill("SIGTERM");
    return this.exited;
  }

  /** SIGKILL and wait for the exit: a crash (the kernel still closes the sockets). */
  async kill(): Promise<void> {
    if (this.child === null) return;
    this.child.kill("SIGKILL");
    await this.exited;
  }

  /** Start again on the same port and database; kills the running process first, if any. */
  async restart(): Promise<void> {
    await this.kill();
    await this.spawnAndWait();
  }

  /** Kill the process if it still runs and remove the temp directory. Safe to call twice. */
  async dispose(): Promise<void> {
    await this.kill();
    if (this.tempDir !== null) rmSync(this.tempDir, { recursive: true, force: true });
  }

  private hostForUrl(): string {
    return this.host.includes(":") ? `[${this.host}]` : this.host;
  }

  private signal(name: NodeJS.Signals): void {
    if (this.child === null) throw new Error(`server is not running; cannot send ${name}`);
    this.child.kill(name);
  }

  private args(): string[] {
    const { liveness = {}, checkMs, args = [] } = this.opts;
    const out = ["serve", "--host", this.host, "--port", String(this.port), "--store", this.storePath];
    if (liveness.intervalMs !== undefined) out.push("--interval-ms", String(liveness.intervalMs));
    if (liveness.suspectMs !== undefined) out.push("--suspect-ms", String(liveness.suspectMs));
    if (liveness.timeoutMs !== undefined) out.push("--timeout-ms", String(liveness.timeoutMs));
    if (checkMs !== undefined) out.push("--check-ms", String(checkMs));
    return [...out, ...args];
  }

  /**
   * A restart right after a kill can find the port still held for a moment; retry a few
   * times on EADDRINUSE instead of failing the test on a race the test does not care about.
   */
  private async spawnAndWait(): Promise<void> {
    const deadline = Date.now() + (this.opts.readyTimeoutMs ?? 20_000);
    for (;;) {
      try {
        await this.spawnOnce(deadline);
        return;
      } catch (error) {
        const inUse = this.port !== 0 && ADDRESS_IN_USE.test(String(error));
        if (!inUse || Date.now() > deadline - 500) throw error;
        await new Promise((done) => setTimeout(done, 200));
      }
    }
  }

  private spawnOnce(deadline: number): Promise<void> {
    const node = this.opts.entry === "source" ? ["--import", "tsx", "src/cli/pulse.ts"] : ["dist/cli/pulse.js"];
    const child = spawn(process.execPath, [...node, ...this.args()], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NODE_ENV: "test" },
    });
    this.child = child;
    live.add(child);
    this.exited = new Promise((done) => {
      child.once("exit", (code, signal) => {
        live.delete(child);
        if (this.child === child) this.child = null;
        this.append(`[server exited: ${signal ?? code}]\n`);
        done(code);
      });
    });
    // This start's own output: the ready line must come from this process, not an earlier one.
    let own = "";
    const collect = (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      own = (own + text).slice(-OUTPUT_LIMIT);
      this.append(text);
    };
    return new Promise<void>((ready, fail) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        fail(new Error(`server did not print "listening on" in time. Output:\n${own}`));
      }, Math.max(0, deadline - Date.now()));
      const onData = (chunk: Buffer) => {
        collect(chunk);
        const match = READY.exec(own);
        if (match !== null) {
          clearTimeout(timer);
          this.port = Number(match[2]);
          ready();
        }
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", collect);
      child.once("exit", () => {
        clearTimeout(timer);
        fail(new Error(`server exited before it was ready. Output:\n${own}`));
      });
    });
  }

  private append(text: string): void {
    this.log += text;
    if (this.log.length > OUTPUT_LIMIT) this.log = this.log.slice(-OUTPUT_LIMIT);
  }
}
