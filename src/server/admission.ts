import type { ClientMessage, ServerMessage } from "../protocol/messages.js";
import { ErrorCode } from "../protocol/messages.js";
import type { RateKind } from "./rate-limits.js";

/** Which rate limit a client message is charged to. */
export function rateKindOf(m: ClientMessage | null): RateKind {
  switch (m?.type) {
    case "send":
      return "messages";
    case "join":
    case "leave":
      return "membership";
    case "history":
    case "who":
      // Reads of the room's state (with Redis, a round trip each): limited like history.
      return "history";
    default:
      // ping, pong, hello, and frames that did not parse: cheap each, costly in a flood.
      return "pings";
  }
}

/**
 * The answer to a refused request, or null when it is dropped silently (pings, pongs and
 * unparsed frames: answering a flood of them would cost as much as serving it).
 */
export function refusalOf(m: ClientMessage | null, retryAfterMs: number): ServerMessage | null {
  if (!m || m.type === "ping" || m.type === "pong" || m.type === "hello") return null;
  const ref = m.type === "send" ? m.id : m.room;
  return {
    type: "error",
    code: ErrorCode.RateLimited,
    message: `too many '${m.type}' requests; retry after ${retryAfterMs} ms`,
    ref: ref.slice(0, 128),
    retryAfterMs,
  };
}
