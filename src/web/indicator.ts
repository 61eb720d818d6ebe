import { CloseCode, describeClose } from "../protocol/close-codes.js";
import type { ConnectionState, ConnectionStateKind } from "../client/types.js";

/** Colour family of the indicator. Never the only signal: `icon` and `text` carry the same meaning. */
export type Tone = "ok" | "warn" | "bad" | "neutral";

/**
 * What a person cares about, coarser than the client's states: one outage goes through
 * reconnecting, connecting, reconnecting, ... but to a person it is one phase, "reconnecting",
 * with one colour and one announcement.
 */
export type Phase = "idle" | "connecting" | "ok" | "not-responding" | "reconnecting" | "offline" | "closed";

/** What the connection indicator shows for one state at one instant. */
export interface IndicatorView {
  kind: ConnectionStateKind;
  phase: Phase;
  tone: Tone;
  /** A text symbol shown beside the colour, for people who cannot tell the colours apart. */
  icon: string;
  /** The headline, in words for people: "Connection OK", "Server not responding", ... */
  text: string;
  /**
   * The technical part (round-trip time, silence, the close reason), shown on hover and
   * focus rather than in the headline.
   */
  detail: string;
  /**
   * What a screen reader hears. It depends on the phase only, so the live region speaks once
   * per phase instead of once per retry cycle or per second of a countdown.
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

/** One colour per phase, so the box does not flicker between the steps of one outage. */
const TONE: Record<Phase, Tone> = {
  idle: "neutral",
  connecting: "neutral",
  ok: "ok",
  "not-responding": "bad",
  reconnecting: "warn",
  offline: "bad",
  closed: "bad",
};

const ICON: Record<Phase, string> = {
  idle: "○",
  connecting: "…",
  ok: "✓",
  "not-responding": "!",
  reconnecting: "↻",
  offline: "✕",
  closed: "✕",
};

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
 * a taken nickname says what to do (names are server-wide, so changing the room does not
 * help); a code the tables know gets its plain description; an unknown code falls back to
 * the reason the server sent, which is better than a bare number.
 */
export function describeTerminalClose(code: number, reason: string): string {
  if (code === CloseCode.Normal) return "Disconnected";
  if (code === CloseCode.NicknameTaken) return "This nickname is in use by someone else. Choose another nickname";
  const known = describeClose(code);
  const unknown = known === `closed (${code})`;
  const why = unknown && reason.trim() !== "" ? reason.trim() : known;
  return `Disconnected: ${why}`;
}

function roundTrip(rtt: number | null | undefined, label: string): string {
  return rtt === null || rtt === undefined ? "" : `${label} ${Math.round(rtt)} ms`;
}

function joinDetail(...parts: string[]): string {
  return parts.filter((part) => part !== "").join(" · ");
}

/** The phase of a client state: the one place that folds retry cycles into one outage. */
export function phaseOf(state: ConnectionState): Phase {
  switch (state.kind) {
    case "idle":
      return "idle";
    case "connecting":
      // A later attempt is still the same outage: same words, same colour as the wait before it.
      return state.attempt > 0 ? "reconnecting" : "connecting";
    case "open":
      return "ok";
    case "suspect":
      return "not-responding";
    case "reconnecting":
      return "reconnecting";
    case "offline":
      return "offline";
    case "closed":
      return "closed";
  }
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
  const phase = phaseOf(state);
  const base = { kind: state.kind, phase, tone: TONE[phase], icon: ICON[phase] };
  const lastRtt = roundTrip(inputs.rttMs, "Last round trip");
  switch (state.kind) {
    case "idle":
      return { ...base, text: "Not connected", detail: "", announce: "Not connected", retry: false, ticking: false };
    case "connecting":
      if (phase === "reconnecting") {
        return {
          ...base,
          text: "Reconnecting…",
          detail: joinDetail(`Attempt ${state.attempt + 1}`, lastRtt),
          announce: "Connection lost. Reconnecting.",
          retry: false,
          ticking: false,
        };
      }
      return { ...base, text: "Connecting…", detail: "", announce: "Connecting", retry: false, ticking: false };
    case "open": {
      const rtt = inputs.rttMs ?? state.rttMs;
      return {
        ...base,
        text: "Connection OK",
        detail: roundTrip(rtt, "Round trip") || "Measuring round trip…",
        announce: "Connection OK",
        retry: false,
        // The round-trip time changes between state events; the view re-reads it on each tick.
        ticking: true,
      };
    }
    case "suspect":
      return {
        ...base,
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
        ...base,
        text: seconds > 0 ? `Reconnecting in ${seconds} s` : "Reconnecting…",
        detail: joinDetail(state.reason.trim() === "" ? "" : `Reason: ${state.reason.trim()}`, `Attempt ${state.attempt}`, lastRtt),
        announce: "Connection lost. Reconnecting.",
        retry: true,
        ticking: true,
      };
    }
    case "offline":
      return {
        ...base,
        text: "Offline, messages will be sent when you are back",
        detail: `No network for ${formatDuration(now - state.since)}`,
        announce: "Offline. Messages will be sent when you are back.",
        retry: false,
        ticking: true,
      };
    case "closed": {
      const sentence = describeTerminalClose(state.code, state.reason);
      return {
        ...base,
        text: sentence,
        detail: state.reason.trim() === "" ? `Close code ${state.code}` : `Close code ${state.code}: ${state.reason.trim()}`,
        announce: sentence,
        retry: false,
        ticking: false,
      };
    }
  }
}
