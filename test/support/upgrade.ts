import WebSocket from "ws";
import { SUBPROTOCOL } from "../../src/protocol/messages.js";

/** How an upgrade went: the open socket, or the HTTP status and `Retry-After` it was refused with. */
export type UpgradeOutcome = { ws: WebSocket } | { status: number; retryAfter: string | undefined };

/** Opens a WebSocket from `localAddress` (any 127.x.y.z on Linux), with extra request headers; never rejects on a refusal. */
export function tryUpgrade(url: string, localAddress?: string, headers?: Record<string, string>): Promise<UpgradeOutcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, [SUBPROTOCOL], { ...(localAddress ? { localAddress } : {}), ...(headers ? { headers } : {}) });
    ws.once("open", () => resolve({ ws }));
    ws.once("unexpected-response", (_req, res) => {
      const retryAfter = res.headers["retry-after"];
      resolve({ status: res.statusCode ?? 0, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter });
      res.resume();
      ws.terminate();
    });
    ws.once("error", reject);
  });
}

/** The socket of an upgrade that must have opened. */
export function opened(outcome: UpgradeOutcome): WebSocket {
  if (!("ws" in outcome)) throw new Error(`upgrade refused with HTTP ${outcome.status}`);
  return outcome.ws;
}
