/**
 * The minimal chat protocol the plain-ws and Bun peers speak: the same JSON shapes as Pulse
 * (join -> joined, send -> message to every member), without Pulse's history, acks or presence.
 * Shared so the two peers differ only in their server library.
 */
export interface PeerRequest {
  type: "join" | "send";
  room: string;
  id?: string;
  text?: string;
}

/** The request in a text frame, or null for anything malformed (which the peers ignore). */
export function parsePeerRequest(data: unknown): PeerRequest | null {
  let msg: Partial<PeerRequest>;
  try {
    msg = JSON.parse(String(data));
  } catch {
    return null;
  }
  if (typeof msg.room !== "string" || (msg.type !== "join" && msg.type !== "send")) return null;
  return msg as PeerRequest;
}

export const joinedFrame = (room: string): string => JSON.stringify({ type: "joined", room });

export const messageFrame = (m: PeerRequest): string => JSON.stringify({ type: "message", room: m.room, id: m.id, text: m.text });
