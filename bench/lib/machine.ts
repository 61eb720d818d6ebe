/** What the report says about the machine and software a run used. */
import { readFileSync } from "node:fs";
import { cpus, totalmem, release } from "node:os";

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  openFilesPerProcess: string;
}

export function machineInfo(): MachineInfo {
  let limit = "?";
  try {
    limit = /Max open files\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"))?.[1] ?? "?";
  } catch {
    // not Linux: leave it unknown
  }
  return {
    cpu: cpus()[0]?.model ?? "?",
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    openFilesPerProcess: limit,
  };
}
