/**
 * A side HTTP port every Node server under test opens, so memory after GC and event-loop delay
 * are read the same way for each of them (Pulse included, through bench/peers/pulse-server.ts).
 * It listens on its own port so it never shares a code path with the server being measured.
 *
 * GET /stats?gc=1&reset=1 -> { eventLoopDelayP99Ms, eventLoopDelayMaxMs, heapUsedBytes, rssBytes, connections }
 *   gc=1    run a full GC first (needs --expose-gc), so heapUsedBytes is the live heap
 *   reset=1 restart the event-loop delay histogram after reading it
 */
import { createServer } from "node:http";
import { monitorEventLoopDelay } from "node:perf_hooks";

/** Sampling resolution: fine enough for a 10 ms p99 target, cheap enough to be noise. */
const RESOLUTION_MS = 10;

/** `connections`: what the server itself counts as open, so "the server gave up" is observable. */
export function startStatsEndpoint(port: number, connections: () => number): void {
  const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  delay.enable();
  const gc = (globalThis as { gc?: () => void }).gc;
  createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.searchParams.has("gc") && gc) {
      gc();
      gc();
    }
    // The histogram records whole timer periods (an idle loop reads ~10 ms); the delay is the excess.
    const body = {
      eventLoopDelayP99Ms: Math.max(0, delay.percentile(99) / 1e6 - RESOLUTION_MS),
      eventLoopDelayMaxMs: Math.max(0, delay.max / 1e6 - RESOLUTION_MS),
      heapUsedBytes: process.memoryUsage().heapUsed,
      rssBytes: process.memoryUsage.rss(),
      connections: connections(),
    };
    if (url.searchParams.has("reset")) delay.reset();
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(body));
  }).listen(port, "127.0.0.1");
}

/** Reads `--name value` from argv, with a default. */
export function argNumber(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
export function argString(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? String(process.argv[i + 1]) : fallback;
}
