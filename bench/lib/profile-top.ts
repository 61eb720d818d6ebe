/**
 * Prints the functions with the most self time in a V8 .cpuprofile (from node --cpu-prof), to
 * find where a server spends its CPU. Usage: node --import tsx bench/lib/profile-top.ts FILE [N]
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
const [file, top = "25"] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(file!, "utf8")) as { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[] };
const usPerSample = (profile.endTime - profile.startTime) / profile.samples.length;
const self = new Map<string, number>();
for (const n of profile.nodes) {
  const where = n.callFrame.url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*\/(src|dist|bench)\//, "$1/");
  const key = `${n.callFrame.functionName || "(anonymous)"}  ${where}:${n.callFrame.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + (n.hitCount ?? 0));
}
const total = profile.samples.length;
for (const [key, hits] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) {
  console.log(`${((100 * hits) / total).toFixed(1).padStart(5)} %  ${((hits * usPerSample) / 1000).toFixed(0).padStart(6)} ms  ${key}`);
}
