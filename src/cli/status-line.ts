import type { ConnectionState } from "../client/types.js";

/** The connection state as one short line of text, for the terminal client. */
export function statusLine(state: ConnectionState, rttMs: number | null, now: number): string {
  switch (state.kind) {
    case "idle":
      return "not connected";
    case "connecting":
      return state.attempt > 0 ? `connecting (attempt ${state.attempt + 1})` : "connecting";
    case "open":
      return rttMs === null ? "Connection OK" : `Connection OK, ${rttMs} ms`;
    case "suspect":
      return `Server not responding (${Math.floor((now - state.silentSince) / 1000)} s)`;
    case "reconnecting":
      return `Reconnecting in ${Math.max(0, Math.ceil((state.retryAt - now) / 1000))} s (${state.reason})`;
    case "offline":
      return "Offline";
    case "closed":
      return `Disconnected: ${state.reason}`;
  }
}
