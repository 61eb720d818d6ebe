import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Children still running when the test process exits are killed, whatever the test did. */
const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

const INSTALL_COMMAND = "apt-get update && apt-get install -y redis-server";

/**
 * Finds `redis-server`; when missing, installs Debian's package if we are root, otherwise
 * fails with the command to run. Tests never skip silently for want of it.
 */
export function ensureRedisServer(): string {
  const found = () => spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" }).stdout.trim();
  let path = found();
  if (path) return path;
  if (process.getuid?.() !== 0) {
    throw new Error(`redis-server is not installed; install it with: sudo sh -c '${INSTALL_COMMAND}'`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update"], ["install", "-y", "redis-server"]]) {
    const run = spawnSync("apt-get", args, { stdio: "inherit", env });
    if (run.status !== 0) throw new Error(`apt-get ${args.join(" ")} failed (exit ${run.status}); run: ${INSTALL_COMMAND}`);
  }
  path = found();
  if (!path) throw new Error(`redis-server still missing after ${INSTALL_COMMAND}`);
  return path;
}

/** A free loopback port: bind port 0, read it, release it. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A real redis-server on 127.0.0.1 in its own temp dir, for tests that need Redis to crash,
 * freeze and come back. AOF is on with `appendfsync always`: Redis answers a write only after
 * fsync, so whatever Pulse acked survives even a SIGKILL of Redis. (`everysec`, the usual
 * production choice, can lose the last second of acked writes on a crash; the tests assert
 * "0 acked lost", so they run with the setting that promises it.)
 */
export class RedisServer {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private log = "";
  readonly dir: string;

  private constructor(readonly port: number, private readonly binary: string) {
    this.dir = mkdtempSync(join(tmpdir(), "pulse-redis-"));
  }

  static async start(): Promise<RedisServer> {
    const binary = ensureRedisServer();
    const server = new RedisServer(await freePort(), binary);
    try {
      await server.spawnAndWait();
    } catch (error) {
      await server.dispose();
      throw error;
    }
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The redis-server process id while it runs (benchmarks read its CPU time). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== null;
  }

  output(): string {
    return this.log;
  }

  /** SIGSTOP: Redis freezes with its sockets open; clients' commands hang. */
  pause(): void {
    this.child?.kill("SIGSTOP");
  }

  /** SIGCONT: Redis carries on and answers what was queued. */
  resume(): void {
    this.child?.kill("SIGCONT");
  }

  /** SIGTERM (Redis flushes the AOF and exits) and wait. */
  async stop(): Promise<void> {
    if (!this.child) return;
    this.child.kill("SIGCONT");
    this.child.kill("SIGTERM");
    await this.exited;
  }

  /** SIGKILL and wait: a crash. */
  async kill(): Promise<void> {
    if (!this.child) return;
    this.child.kill("SIGKILL");
    await this.exited;
  }

  /** Start again on the same port and directory (the AOF is replayed). */
  async restart(): Promise<void> {
    await this.stop();
    await this.spawnAndWait();
  }

  /**
   * SIGKILL, then start again on the same port and directory with its files gone: a Redis
   * that ran without persistence and came back empty (its epoch, signing secret, seqs and
   * streams lost), as the nodes' reconnecting clients find it.
   */
  async restartEmpty(): Promise<void> {
    await this.kill();
    for (const name of readdirSync(this.dir)) rmSync(join(this.dir, name), { recursive: true, force: true });
    await this.spawnAndWait();
  }

  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async spawnAndWait(): Promise<void> {
    // The port may linger a moment after a stop; retry the bind a few times.
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.spawnOnce();
      } catch (error) {
        if (attempt >= 20 || !/Address already in use/.test(String(error))) throw error;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  private spawnOnce(): Promise<void> {
    const args = [
      "--port", String(this.port),
      "--bind", "127.0.0.1",
      "--dir", this.dir,
      "--appendonly", "yes",
      "--appendfsync", "always",
      "--save", "",
      "--protected-mode", "yes",
      "--daemonize", "no",
      "--loglevel", "notice",
    ];
    const child = spawn(this.binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    live.add(child);
    this.exited = new Promise((done) => {
      child.once("exit", () => {
        live.delete(child);
        if (this.child === child) this.child = null;
        done();
      });
    });
    let own = "";
    return new Promise<void>((ready, fail) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        fail(new Error(`redis-server did not get ready in 20 s:\n${own}`));
      }, 20_000);
      const onData = (chunk: Buffer) => {
        const text = chunk.toString();
        own += text;
        this.log = (this.log + text).slice(-32_768);
        if (/Ready to accept connections/.test(own)) {
          clearTimeout(timer);
          ready();
        }
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", onData);
      child.once("exit", (code) => {
        clearTimeout(timer);
        fail(new Error(`redis-server exited (${code}) before it was ready:\n${own}`));
      });
    });
  }
}
