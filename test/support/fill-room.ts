import type { MessageStore } from "../../src/store/message-store.js";

/**
 * Fills a room straight through the store API, in batches: faster than `send`, and able to
 * store text that `send` refuses (control characters), as an old database might hold.
 */
let filled = 0;

export async function fillRoom(store: MessageStore, room: string, count: number, text: (i: number) => string, batch = 2_000): Promise<void> {
  for (let start = 0; start < count; start += batch) {
    const appends = [];
    for (let i = start; i < Math.min(count, start + batch); i++) {
      // Ids are unique across calls: a repeated id would be stored once (deduplicated).
      appends.push(store.append({ room, userId: "filler", clientId: "filler", id: `fill-${++filled}`, from: "filler", text: text(i), ts: Date.now() }));
    }
    await Promise.all(appends);
  }
}
