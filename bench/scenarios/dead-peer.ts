/**
 * Dead-peer detection at each system's defaults, both ends at once:
 * - server side: a client process is frozen with SIGSTOP (its kernel still ACKs, so TCP looks
 *   healthy); detected when the server's own connection count drops (it gave up on the peer);
 *   released when the server's end of the TCP connection leaves ESTABLISHED in /proc/net/tcp
 *   (later than detection for a server that starts a closing handshake with a frozen peer).
 * - client side: the server is black-holed by a proxy; detected when the client gives up
 *   (Pulse: welcome liveness; Socket.IO: its ping timeout; ws and Bun: the ws README client
 *   pattern, no ping for interval + 1 s).
 * Each end gets its own server instance, so one death cannot be noticed through the other.
 * Systems run side by side: this is about time, not CPU, and their defaults are long.
 */
import { Fleet } from "../load/fleet.js";
import { establishedRemotePorts } from "../lib/proc.js";
import { BlackHoleProxy } from "../../test/support/black-hole-proxy.js";
import { sleep } from "../lib/stats.js";
import { startSystem, type SystemDef } from "../systems.js";

export interface DeadPeerResult {
  /** Seconds from SIGSTOP of the client to the server closing it; null: not within the cap. */
  serverDetectsS: number | null;
  /** Seconds until the server's TCP end of that connection is closed; null: not within the cap. */
  serverReleasesS: number | null;
  /** Seconds from the black hole to the client giving up; null: not within the cap. */
  clientDetectsS: number | null;
  capS: number;
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

export async function runDeadPeer(def: SystemDef, port: number, addressBase: number, capS: number): Promise<DeadPeerResult> {
  const server = await startSystem(def, port, false);
  const behindProxy = await startSystem(def, port + 1, false);
  const proxy = await new BlackHoleProxy(port + 1).start();
  const victim = await Fleet.start(1, { kind: def.kind, host: "127.0.0.1", port, reconnect: false, track: false }, addressBase, "v");
  const watcher = await Fleet.start(
    1,
    { kind: def.kind, host: "127.0.0.1", port: proxy.port, reconnect: false, track: false, ...(def.clientPingGapMs ? { watchPingGapMs: def.clientPingGapMs } : {}) },
    addressBase + 1,
    "c",
  );
  const victimPid = victim.pids()[0]!;
  try {
    await victim.grow(1);
    await watcher.grow(1);
    await watcher.all({ op: "watch" });
    await sleep(1_000);
    const victimPort = [...establishedRemotePorts(port)][0];

    const t0 = nowMs();
    process.kill(victimPid, "SIGSTOP");
    proxy.blackHole();
    let serverDetectsS: number | null = null;
    let serverReleasesS: number | null = null;
    let clientDetectsS: number | null = null;
    const since = (): number => (nowMs() - t0) / 1000;
    while (nowMs() - t0 < capS * 1000 && (serverDetectsS === null || serverReleasesS === null || clientDetectsS === null)) {
      await sleep(100);
      if (serverDetectsS === null && (await server.stats()).connections === 0) serverDetectsS = since();
      if (serverReleasesS === null && victimPort !== undefined && !establishedRemotePorts(port).has(victimPort)) serverReleasesS = since();
      const detected = watcher.takeEvents().find((e) => typeof e.detectedMs === "number");
      if (detected && clientDetectsS === null) clientDetectsS = ((detected.detectedMs as number) - t0) / 1000;
    }
    return { serverDetectsS, serverReleasesS, clientDetectsS, capS };
  } finally {
    process.kill(victimPid, "SIGCONT");
    await Promise.all([victim.close(), watcher.close(), proxy.close()]);
    await Promise.all([server.stop("SIGKILL"), behindProxy.stop("SIGKILL")]);
  }
}
