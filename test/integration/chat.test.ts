import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { testServer, testClient } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { waitFor } from "../support/wait.js";
import type { ChatMessage } from "../../src/protocol/messages.js";

describe("chat", () => {
  it("welcome advertises the liveness settings, the ping slot included", async () => {
    const liveness = { intervalMs: 1_000, suspectMs: 2_000, timeoutMs: 3_000 };
    const server = await testServer({ liveness });
    const raw = await RawClient.hello(server.url, "ada");
    try {
      const welcome = await raw.next("welcome");
      assert.deepEqual(welcome.liveness, { ...liveness, pingSlotMs: 250 }, "the ping slot defaults to 250 ms");
      assert.equal(welcome.protocol, 1);
      assert.ok(welcome.epoch.length > 0);
    } finally {
      raw.close();
      await server.close();
    }
  });

  it("two clients chat: ack, live delivery, presence, history paging", async () => {
    const server = await testServer({ historyLimit: 5 });
    const ada = testClient(server.url, "ada");
    const bob = testClient(server.url, "bob");
    const bobGot: ChatMessage[] = [];
    bob.on("message", (m) => bobGot.push(m));
    try {
      ada.join("lobby");
      bob.join("lobby");
      await waitFor(() => ada.online("lobby").includes("bob") && bob.online("lobby").includes("ada"), "presence both ways");
      const sent: string[] = [];
      ada.on("outbox", (e) => e.status === "sent" && sent.push(e.id));
      for (let i = 0; i < 12; i++) ada.send("lobby", `m${i}`);
      await waitFor(() => bobGot.length === 12 && sent.length === 12, "12 delivered and acked");
      assert.deepEqual(bobGot.map((m) => m.seq), Array.from({ length: 12 }, (_, i) => i + 1));
      assert.equal(bobGot[0]!.from, "ada");

      // A newcomer gets the latest page, then pages backwards.
      const cy = testClient(server.url, "cy");
      const joined = new Promise<ChatMessage[]>((resolve) => cy.on("joined", (e) => resolve(e.messages)));
      cy.join("lobby");
      const page = await joined;
      assert.deepEqual(page.map((m) => m.text), ["m7", "m8", "m9", "m10", "m11"]);
      const older = new Promise<{ messages: ChatMessage[]; hasMore: boolean }>((resolve) => cy.on("history", resolve));
      cy.loadOlder("lobby", page[0]!.seq);
      const h = await older;
      assert.deepEqual(h.messages.map((m) => m.text), ["m2", "m3", "m4", "m5", "m6"]);
      assert.equal(h.hasMore, true);
      await waitFor(() => ada.online("lobby").includes("cy"), "ada sees cy");
      cy.close();
      await waitFor(() => !ada.online("lobby").includes("cy"), "ada sees cy leave");
    } finally {
      ada.close();
      bob.close();
      await server.close();
    }
  });

  it("shutdown sends goaway with a retry delay within the spread, then 4001; clients come back", async () => {
    const server = await testServer({ restartSpreadMs: 400 });
    const raw = await RawClient.hello(server.url, "ada");
    await server.close();
    const goaway = await raw.next("goaway");
    assert.ok(goaway.retryAfterMs >= 0 && goaway.retryAfterMs < 400);
    assert.equal((await raw.waitClosed()).code, 4001);
  });

  it("a terminal close code stops the client for good with a plain reason", async () => {
    const server = await testServer();
    // Two users (each client is its own anonymous identity) asking for one name.
    const first = testClient(server.url, "zed");
    const second = testClient(server.url, "zed");
    try {
      await waitFor(() => first.state.kind === "open", "first open");
      await waitFor(() => second.state.kind === "closed", "second closed");
      const s = second.state;
      assert.ok(s.kind === "closed" && s.code === 4501 && /nickname is taken/.test(s.reason));
    } finally {
      first.close();
      second.close();
      await server.close();
    }
  });
});
