import WebSocket from "ws";
import { startServer, type PulseServer } from "../../src/server/index.js";
import type { ServerOptions } from "../../src/server/options.js";
import { PulseClient } from "../../src/client/pulse-client.js";
import type { PulseClientOptions, WebSocketFactory } from "../../src/client/types.js";

/** Fast heartbeats so liveness tests take seconds, not minutes. */
export const FAST_LIVENESS = { intervalMs: 200, suspectMs: 500, timeoutMs: 1_000 };

/** A real Pulse server on 127.0.0.1, port 0, memory store unless told otherwise. */
export async function testServer(options: ServerOptions = {}): Promise<PulseServer> {
  return startServer({ port: 0, host: "127.0.0.1", store: "memory", log: () => {}, ...options });
}

/** A client library instance using `ws`, created without connecting unless told to. */
export function testClient(url: string | readonly string[], nick: string, options: Partial<PulseClientOptions> = {}): PulseClient {
  return new PulseClient({ url, nick, WebSocket: WebSocket as unknown as WebSocketFactory, ...options });
}

/** Counts timers alive in this process (for "nothing of a dead connection stays" checks). */
export const activeTimers = (): number => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
