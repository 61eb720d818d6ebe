/**
 * Reconnect storm: 5,000 clients in rooms of 100, each room's first client sending a message
 * every 500 ms; the server is stopped (SIGTERM, its graceful path) and started again on the
 * same port and store. We time until every client is open and has rejoined its room, find the
 * busiest second of (re)joins, and count deliveries lost: messages the server accepted (Pulse:
 * acknowledged; peers: written on an open socket) that some member of the room never received.
 */
import { Fleet } from "../load/fleet.js";
import { sleep, waitUntil } from "../lib/stats.js";
import { startSystem, type SystemDef } from "../systems.js";

export interface StormResult {
  clients: number;
  /** From the stop signal until the last client rejoined. */
  allBackMs: number | null;
  /** From the new server being ready until the last client rejoined. */
  afterStartMs: number | null;
  peakJoinsPerSecond: number;
  back: number;
  accepted: number;
  lostDeliveries: number;
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

export async function runStorm(def: SystemDef, port: number, clients: number, capMs: number, log: (s: string) => void): Promise<StormResult> {
  let server = await startSystem(def, port, false);
  const fleet = await Fleet.start(Math.max(2, Math.ceil(clients / 2_500)), { kind: def.kind, host: "127.0.0.1", port, reconnect: true, track: true }, 40, "s");
  try {
    await fleet.grow(clients);
    await fleet.settle();
    await fleet.status(); // drop the initial joins
    await fleet.all({ op: "trickle", periodMs: 500 });
    await sleep(1_500);

    const t0 = nowMs();
    await server.stop("SIGTERM");
    const tStopped = nowMs();
    server = await startSystem(def, port, false, false);
    const tStart = nowMs();
    log(`  ${def.id}: storm: stopped in ${Math.round(tStopped - t0)} ms, started again in ${Math.round(tStart - tStopped)} ms`);
    const times: number[] = [];
    const allBack = await waitUntil(async () => {
      const s = await fleet.status();
      times.push(...s.readyTimes);
      return s.ready === s.total && times.length >= s.total;
    }, capMs, 100);
    const last = times.length ? Math.max(...times) : NaN;
    const status = await fleet.status();
    log(`  ${def.id}: storm: ${status.ready}/${status.total} back, ${allBack ? `${Math.round(last - t0)} ms after the stop` : "not all within the cap"}`);

    await sleep(1_500); // traffic continues on the new server
    const stopped = await fleet.all<{ accepted: number; unacked: number }>({ op: "trickle-stop" });
    await sleep(500);
    await fleet.settle();
    const lost = await fleet.all<{ missing: number }>({ op: "loss" });
    return {
      clients,
      allBackMs: allBack ? last - t0 : null,
      afterStartMs: allBack ? last - tStart : null,
      peakJoinsPerSecond: peakPerSecond(times),
      back: status.ready,
      accepted: stopped.reduce((n, x) => n + x.accepted, 0),
      lostDeliveries: lost.reduce((n, x) => n + x.missing, 0),
    };
  } finally {
    await fleet.close();
    await server.stop("SIGKILL");
  }
}

/** Most events in any 1-second window. */
function peakPerSecond(times: number[]): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[i]! - t[j]! >= 1000) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}
