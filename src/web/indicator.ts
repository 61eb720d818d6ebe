import { CloseCode, describeClose } from "../protocol/close-codes.js";
import type { ConnectionState, ConnectionStateKind } from "../client/types.js";

/** Colour family of the indicator. Never the only signal: `icon` and `text` carry the same meaning. */
export type Tone = "ok" | "warn" | "bad" | "neutral";

/** What the connection indicator shows for one state at one instant. */
export interface IndicatorView {
  kind: ConnectionStateKind;
  tone: Tone;
  /** A text symbol shown beside the colour, for people who cannot tell the colours apart. */
  icon: string;
  /** The headline: "Connection OK", "Server not responding", "Reconnecting in 3 s", ... */
  text: string;
  /** A second, quieter line: round-trip time, how long the server has been silent, the reason. */
  detail: string;
  /**
   * What a screen reader hears. It holds no ticking numbers, so the live region speaks once
   * per change of state instead of once per second of a countdown.
   */
  announce: string;
  /** Show the "Retry now" button. */
  retry: boolean;
  /** The text depends on the clock: re-render about once a second while this state lasts. */
  ticking: boolean;
}

export interface IndicatorInputs {
  /** Latest (smoothed) round-trip time from the client; wins over the one in the open state. */
  rttMs?: number | null;
}

/** "4 s", "2 min 5 s": short enough for a status line, exact enough to be honest. */
export function formatDuration(ms: number): string {
  const totalSeconds = Math.max(0, Math.floor(ms / 1000));
  if (totalSeconds < 60) return `${totalSeconds} s`;
  const minutes = Math.floor(totalSeconds / 60);
  const seconds = totalSeconds % 60;
  if (minutes < 60) return seconds === 0 ? `${minutes} min` : `${minutes} min ${seconds} s`;
  const hours = Math.floor(minutes / 60);
  return `${hours} h ${minutes % 60} min`;
}

/**
 * The sentence for a terminal close. A normal close (the user left) is just "Disconnected";
 * a code the tables know gets its plain description; an unknown code falls back to the
 * reason the server sent, which is better than a bare number.
 */
export function describeTerminalClose(code: number, reason: string): string {
  if (code === CloseCode.Normal) return "Disconnected";
  const known = describeClose(code);
  const unknown = known === `closed (${code})`;
  const why = unknown && reason.trim() !== "" ? reason.trim() : known;
  return `Disconnected: ${why}`;
}

/**
 * Pure mapping from the client's connection state (plus the current time) to what the
 * indicator shows. All wording lives here so it can be tested without a browser.
 */
export function describeConnection(
  state: ConnectionState,
  now: number,
  inputs: IndicatorInputs = {},
): IndicatorView {
  switch (state.kind) {
    case "idle":
      return {
        kind: state.kind,
        tone: "neutral",
        icon: "○",
        text: "Not connected",
        detail: "",
        announce: "Not connected",
        retry: false,
        ticking: false,
      };
    case "connecting":
      return {
        kind: state.kind,
        tone: "neutral",
        icon: "…",
        text: "Connecting…",
        detail: state.attempt > 0 ? `Attempt ${state.attempt + 1}` : "",
        announce: "Connecting",
        retry: false,
        ticking: false,
      };
    case "open": {
      const rtt = inputs.rttMs ?? state.rttMs;
      return {
        kind: state.kind,
        tone: "ok",
        icon: "✓",
        text: "Connection OK",
        detail: rtt === null || rtt === undefined ? "Measuring round trip…" : `Round trip ${Math.round(rtt)} ms`,
        announce: "Connection OK",
        retry: false,
        // The round-trip time changes between state events; the view re-reads it on each tick.
        ticking: true,
      };
    }
    case "suspect":
      return {
        kind: state.kind,
        tone: "bad",
        icon: "!",
        text: "Server not responding",
        detail: `Silent for ${formatDuration(now - state.silentSince)}`,
        announce: "Server not responding",
        retry: false,
        ticking: true,
      };
    case "reconnecting": {
      // Round up so the countdown never shows 0 while there is still time to wait.
      const seconds = Math.max(0, Math.ceil((state.retryAt - now) / 1000));
      return {
        kind: state.kind,
        tone: "warn",
        icon: "↻",
        text: seconds > 0 ? `Reconnecting in ${seconds} s` : "Reconnecting…",
        detail: state.reason.trim() === "" ? "" : `Reason: ${state.reason.trim()}`,
        announce: "Connection lost. Reconnecting.",
        retry: true,
        ticking: true,
      };
    }
    case "offline":
      return {
        kind: state.kind,
        tone: "bad",
        icon: "✕",
        text: "Offline",
        detail: `No network for ${formatDuration(now - state.since)}; reconnecting when it returns`,
        announce: "Offline. Reconnecting when the network returns.",
        retry: false,
        ticking: true,
      };
    case "closed": {
      const sentence = describeTerminalClose(state.code, state.reason);
      return {
        kind: state.kind,
        tone: "bad",
        icon: "✕",
        text: sentence,
        detail: "",
        announce: sentence,
        retry: false,
        ticking: false,
      };
    }
  }
}
