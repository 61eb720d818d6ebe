import { Socket } from "node:net";

/**
 * The private key under which a Node socket keeps the timer of `socket.setTimeout`. Node does
 * not export it, so it is found once, on a socket that never connects, as the key whose value is
 * a Timeout; undefined if a Node version keeps it otherwise (then nothing is dropped).
 */
const TIMER_KEY: symbol | undefined = (() => {
  const probe = new Socket();
  probe.setTimeout(60_000);
  probe.setTimeout(0);
  const record = probe as unknown as Record<symbol, unknown>;
  return Object.getOwnPropertySymbols(probe).find((key) => (record[key] as object | null)?.constructor?.name === "Timeout");
})();

/**
 * Lets go of the timer a socket keeps after `setTimeout(0)` cleared it. The HTTP idle timeout
 * (`server.timeout`) gives every socket a timer; ws clears it at the upgrade, but Node keeps the
 * cleared Timeout on the socket for the socket's life and refreshes it at every read and write.
 * On 10,000 idle WebSockets that was about 170 bytes of heap each (bench:liveness, 3.42 against
 * 3.25 KiB per connection without the timeout). Only a socket whose timeout is off is touched.
 */
export function dropClearedTimeout(socket: Socket): void {
  if (TIMER_KEY === undefined || socket.timeout !== 0) return;
  (socket as unknown as Record<symbol, unknown>)[TIMER_KEY] = null;
}

/** Whether the socket still holds a timer (set or cleared); for tests. */
export function holdsTimer(socket: Socket): boolean {
  return TIMER_KEY !== undefined && (socket as unknown as Record<symbol, unknown>)[TIMER_KEY] != null;
}
