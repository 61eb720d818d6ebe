/**
 * Starting processes pinned to a core. `taskset` execs the command, so the child's pid is the
 * pinned process itself and /proc/<pid> describes what we measure.
 */
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";

/** The server under test gets core 0 to itself; the load generator and coordinator use core 1. */
export const SERVER_CORE = 0;
export const LOAD_CORE = 1;

export function spawnPinned(core: number, command: string, args: string[], stdio: StdioOptions = ["ignore", "pipe", "inherit"]): ChildProcess {
  return spawn("taskset", ["-c", String(core), command, ...args], { stdio, cwd: new URL("../..", import.meta.url).pathname });
}

/** Resolves when the child prints a line starting with `marker`; rejects on exit or timeout. */
export function waitForLine(child: ChildProcess, marker: string, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`no "${marker}" within ${timeoutMs} ms`)), timeoutMs);
    child.stdout?.on("data", (chunk: Buffer) => {
      seen += String(chunk);
      if (seen.split("\n").some((line) => line.startsWith(marker))) {
        clearTimeout(timer);
        resolve();
      }
      if (seen.length > 10_000) seen = seen.slice(-1_000);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before "${marker}"`));
    });
  });
}

/** The port a Pulse server started with `--port 0` prints in its "listening on" line. */
export function listeningPort(child: ChildProcess, timeoutMs = 20_000): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error("server did not start")), timeoutMs);
    child.stdout!.on("data", (chunk: Buffer) => {
      seen += String(chunk);
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
}

/** Sends `signal` and waits for the exit, escalating to SIGKILL after `graceMs`. */
export function stopProcess(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM", graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill(signal);
  });
}
