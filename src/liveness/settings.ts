import type { LivenessSettings } from "../protocol/messages.js";

/**
 * Defaults: a peer that goes silent is `suspect` after 8 s and `dead` after 12 s. The server
 * checks its connections every `checkMs` (1 s), so its worst case is 13 s; the client checks on
 * a timer set for the exact deadline. Both are under the 15 s we promise (peers: 30-60 s).
 *
 * Why 5 s / 8 s: a healthy idle link hears something at least every intervalMs (a pong to the
 * client's ping, or the server's own ping), so silence beyond intervalMs + an RTT means a ping
 * went unanswered; 8 s leaves 3 s of slack for a slow network before we call it suspect.
 */
export const DEFAULT_LIVENESS: LivenessSettings = {
  intervalMs: 5_000,
  suspectMs: 8_000,
  timeoutMs: 12_000,
};

/** How often the server sweeps its connections' liveness engines. */
export const DEFAULT_SERVER_CHECK_MS = 1_000;

/** Smallest interval accepted: the seed's 1 s heartbeat and below, for tests. */
export const MIN_INTERVAL_MS = 50;

/**
 * The server's default ping slot (see LivenessSettings.pingSlotMs): 250 ms, or none when the
 * interval is shorter than two slots. At the default 5 s interval an idle client's pings then
 * stay on quarter seconds of the server's clock, one ping every 5 s as before: its clients'
 * pings reach the server in four bursts a second. (One burst a second, with 1 s slots, cost
 * no less CPU in bench:liveness and delayed the event loop by up to 19 ms at 10,000 clients.)
 */
export const DEFAULT_PING_SLOT_MS = 250;
export const defaultPingSlotMs = (s: LivenessSettings): number => (s.intervalMs >= 2 * DEFAULT_PING_SLOT_MS ? DEFAULT_PING_SLOT_MS : 0);

/** Throws a RangeError naming the bad setting; returns the settings when they are coherent. */
export function validateLiveness(s: LivenessSettings): LivenessSettings {
  const { pingSlotMs, ...times } = s;
  const ints = Object.entries(times).filter(([, v]) => !Number.isSafeInteger(v) || v <= 0);
  if (ints.length) throw new RangeError(`liveness: ${ints[0]![0]} must be a positive integer (ms)`);
  if (pingSlotMs !== undefined && (!Number.isSafeInteger(pingSlotMs) || pingSlotMs < 0 || pingSlotMs > s.intervalMs / 2)) {
    throw new RangeError("liveness: pingSlotMs must be an integer from 0 (none) to intervalMs / 2");
  }
  if (s.intervalMs < MIN_INTERVAL_MS) {
    throw new RangeError(`liveness: intervalMs must be at least ${MIN_INTERVAL_MS}`);
  }
  if (s.suspectMs <= s.intervalMs) {
    throw new RangeError("liveness: suspectMs must be greater than intervalMs");
  }
  if (s.timeoutMs < s.suspectMs) {
    throw new RangeError("liveness: timeoutMs must be at least suspectMs");
  }
  return s;
}

/**
 * When an initiator whose last frame went out at `lastSentAt` pings an idle link: intervalMs
 * later, or with a ping slot, at the last slot boundary of the server's clock (ours plus
 * `serverOffsetMs`) up to then. Never later than intervalMs, so no detection bound moves; at
 * least intervalMs / 2 after the last frame, since a slot is at most that.
 */
export function idlePingAt(s: LivenessSettings, lastSentAt: number, serverOffsetMs: number | null): number {
  const due = lastSentAt + s.intervalMs;
  const slot = s.pingSlotMs ?? 0;
  if (serverOffsetMs === null || slot <= 0) return due;
  return due - msIntoSlot(due, serverOffsetMs, slot);
}

/** How far our time `t` is into its slot of the server's clock (ours plus `serverOffsetMs`): 0 to slotMs, excluded. */
export function msIntoSlot(t: number, serverOffsetMs: number, slotMs: number): number {
  const into = (t + serverOffsetMs) % slotMs;
  return into < 0 ? into + slotMs : into;
}

/** Worst-case time from a peer's last frame to the dead verdict on a side that checks every checkMs. */
export const detectionBoundMs = (s: LivenessSettings, checkMs: number): number => s.timeoutMs + checkMs;

/**
 * The server's default check period: 1 s, but never so long that intervalMs + checkMs reaches
 * suspectMs (see responderGraceMs), and never below MIN_INTERVAL_MS / 2.
 */
export const defaultServerCheckMs = (s: LivenessSettings): number =>
  Math.max(MIN_INTERVAL_MS / 2, Math.min(DEFAULT_SERVER_CHECK_MS, s.intervalMs, Math.floor((s.suspectMs - s.intervalMs) / 2)));

/**
 * How long past intervalMs the server (the responder) waits for a client's ping before it pings
 * the client itself: half the slack between intervalMs + checkMs and suspectMs (1 s at the
 * defaults). A client pings at intervalMs of its own idleness, so the grace absorbs its timer's
 * lateness and the network delay. The other half of the slack is for the answer: the server's
 * pings are at most intervalMs + grace + checkMs apart (7 s at the defaults), so a client that
 * only answers still hears something well within suspectMs.
 */
export function responderGraceMs(s: LivenessSettings, checkMs: number): number {
  if (!Number.isSafeInteger(checkMs) || checkMs <= 0) throw new RangeError("liveness: checkMs must be a positive integer (ms)");
  if (s.intervalMs + checkMs >= s.suspectMs) {
    throw new RangeError("liveness: intervalMs + checkMs must be less than suspectMs (a client that only answers would turn suspect between server pings)");
  }
  return Math.floor((s.suspectMs - s.intervalMs - checkMs) / 2);
}

/** Longest time between two pings of the server to a client that never pings: intervalMs + grace + checkMs. */
export const serverPingGapMs = (s: LivenessSettings, checkMs: number): number => s.intervalMs + responderGraceMs(s, checkMs) + checkMs;
