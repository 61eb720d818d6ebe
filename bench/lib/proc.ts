/**
 * Reads what the kernel knows about a process, so server CPU and memory are measured rather
 * than inferred from the load we applied.
 */
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second for utime/stime in /proc/<pid>/stat (`getconf CLK_TCK`, 100 on Linux). */
export const CLK_TCK = 100;

/** User + system CPU seconds the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may contain spaces or parens: split after its closing paren.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the name, utime and stime are fields 14 and 15 of the full line, 12 and 13 here.
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/**
 * Seconds the process's threads spent runnable but waiting for a CPU (the second field of
 * /proc/<pid>/task/<tid>/schedstat, in ns). On a shared machine this tells a server that had
 * nothing to do from one that was kept off the cores. 0 when the kernel does not report it.
 */
export function runQueueWaitSeconds(pid: number): number {
  let ns = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[1] ?? 0);
    }
  } catch {
    return ns / 1e9; // the process (or a thread) went away meanwhile
  }
  return ns / 1e9;
}

/**
 * Read and write system calls the process has made so far (syscr, syscw of /proc/<pid>/io): on
 * loopback each socket write costs the sender the receiver's TCP work too, so a server's writes
 * are much of its CPU.
 */
export function ioSyscalls(pid: number): { reads: number; writes: number } {
  const io = readFileSync(`/proc/${pid}/io`, "utf8");
  const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)$`, "m").exec(io)?.[1] ?? NaN);
  return { reads: field("syscr"), writes: field("syscw") };
}

/** Resident set size in bytes (VmRSS from /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) * 1024 : NaN;
}

/** Measures CPU share over a window: call stop() at the end. */
export function cpuMeter(pid: number): { stop(): { cpuSeconds: number; wallSeconds: number; share: number } } {
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  return {
    stop() {
      const used = cpuSeconds(pid) - cpu0;
      const wall = (performance.now() - t0) / 1000;
      return { cpuSeconds: used, wallSeconds: wall, share: used / wall };
    },
  };
}

const ESTABLISHED = "01";

/**
 * TCP connections whose local port is `port` and that are still ESTABLISHED, from
 * /proc/net/tcp. A server that gives up on a peer closes its socket, which leaves this state
 * at once even if the peer process is frozen, so this observes detection from outside.
 */
export function establishedRemotePorts(port: number): Set<number> {
  const out = new Set<number>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4 || cols[3] !== ESTABLISHED) continue;
    const [, localPort] = (cols[1] ?? "").split(":");
    if (localPort !== hexPort) continue;
    const [, remotePort] = (cols[2] ?? "").split(":");
    out.add(parseInt(remotePort ?? "0", 16));
  }
  return out;
}
