import { RedisStore } from "../store/redis-store.js";
import { RedisBroker } from "./redis-broker.js";
import { retentionOf, type ResolvedOptions } from "./options.js";
import type { Metrics } from "./metrics.js";

/**
 * Store and broker of a node that shares one Redis with other nodes: same rooms, seq,
 * history, dedupe, presence and nickname holds whichever node a client is on.
 *
 * A node is declared dead when its heartbeat key is `liveness.timeoutMs` old; the others look
 * every `checkMs`. So a SIGKILLed node's members leave everyone's presence within
 * timeoutMs + checkMs + a margin for the round trips and the presence batch (see README).
 */
export async function openRedisEngine(url: string, options: ResolvedOptions, metrics: Metrics): Promise<{ store: RedisStore; broker: RedisBroker }> {
  const store = await RedisStore.open({ url, ...retentionOf(options) });
  const broker = new RedisBroker(store, {
    nodeTimeoutMs: options.liveness.timeoutMs,
    reapCheckMs: options.checkMs,
    onlineListMax: options.onlineListMax,
    largeRoomPresenceMs: options.largeRoomPresenceMs,
    // Every failure counted, before the log budget drops the repeats.
    log: (message, fields) => {
      if (fields?.event === "redis_failed") metrics.redisFailures.inc({ op: String(fields.op) });
      options.log(message, fields);
    },
  });
  return { store, broker };
}
