import type { ServerMessage } from "../../src/protocol/messages.js";
import type { MessageStore } from "../../src/store/message-store.js";
import { fillRoom } from "./fill-room.js";
import { RawClient } from "./raw-client.js";

/**
 * Fills room `r` with 2.4 MB of text (600 messages of 4,000 characters) and joins it from seq 0
 * as a client of the store's epoch would: the `joined` answer, for a server whose
 * maxReplayBytes is below that.
 */
export async function joinOversizedGap(url: string, store: MessageStore & { epoch: string }): Promise<Extract<ServerMessage, { type: "joined" }>> {
  await fillRoom(store, "r", 600, (i) => `${i} `.padEnd(4_000, "z"));
  const c = await RawClient.hello(url, "cyd");
  try {
    c.send({ type: "join", room: "r", since: 0, epoch: store.epoch });
    return await c.next("joined");
  } finally {
    c.close();
  }
}
