import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { RawClient } from "../support/raw-client.js";
import { testServer } from "../support/test-server.js";
import { waitFor } from "../support/wait.js";

/**
 * A client that keeps every send in flight and, when one is refused, waits the retry time and
 * resends everything still unacked in the order it was first sent: what the protocol asks of a
 * client, and what the client library does.
 */
function pipelinedSender(c: RawClient, room: string, ids: string[]): { acked: Set<string> } {
  const acked = new Set<string>();
  let resendTimer: NodeJS.Timeout | null = null;
  const sendAll = (which: string[]) => {
    for (const id of which) c.send({ type: "send", room, id, text: id });
  };
  c.ws.on("message", (data) => {
    const m = JSON.parse(String(data)) as { type: string; id?: string; code?: string; retryAfterMs?: number };
    if (m.type === "ack" && m.id) acked.add(m.id);
    if (m.type === "error" && m.code === "rate_limited" && !resendTimer) {
      resendTimer = setTimeout(() => {
        resendTimer = null;
        sendAll(ids.filter((id) => !acked.has(id)));
      }, m.retryAfterMs ?? 100);
    }
  });
  sendAll(ids);
  return { acked };
}

describe("a sender's messages keep their order through rate-limit refusals", () => {
  it("sends in flight behind a refused one are refused too until it comes back: the room reads them in the order sent", async () => {
    const server = await testServer({ rateLimits: { messages: { perConnection: { perSecond: 50, burst: 3 }, perIp: { perSecond: 1_000, burst: 1_000 } }, refusals: { perSecond: 1_000, burst: 1_000 } } });
    const clients: RawClient[] = [];
    try {
      const reader = await RawClient.hello(server.url, "reader");
      const sender = await RawClient.hello(server.url, "sender");
      clients.push(reader, sender);
      for (const c of clients) {
        c.send({ type: "join", room: "r" });
        await c.next("joined");
      }
      const ids = Array.from({ length: 40 }, (_, i) => `m${String(i).padStart(2, "0")}`);
      const { acked } = pipelinedSender(sender, "r", ids);
      await waitFor(() => acked.size === ids.length, "every send acked", 20_000);
      await waitFor(() => reader.received.filter((m) => m.type === "message").length >= ids.length, "every message delivered");
      const order = reader.received.flatMap((m) => (m.type === "message" ? [m.text] : []));
      assert.ok(sender.received.some((m) => m.type === "error" && m.code === "rate_limited"), "the limit was hit (else this test proves nothing)");
      assert.deepEqual(order, ids, "stored and delivered in the order sent, each once");
    } finally {
      for (const c of clients) c.ws.terminate();
      await server.close();
    }
  });
});
