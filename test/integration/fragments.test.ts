import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { testServer } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";

describe("fragmented messages", () => {
  it("a message in more than maxFragmentsPerMessage fragments closes with 4006", async () => {
    const server = await testServer({ maxFragmentsPerMessage: 100 });
    try {
      const c = await RawClient.hello(server.url, "frag");
      c.ws.send("{", { fin: false });
      for (let i = 0; i < 2_000; i++) c.ws.send("a", { fin: false });
      assert.equal((await c.waitClosed()).code, 4006);
    } finally {
      await server.close();
    }
  });

  it("a fragmented message left incomplete closes with 4006 after maxFragmentedMessageMs", async () => {
    const server = await testServer({ maxFragmentedMessageMs: 300 });
    try {
      const c = await RawClient.hello(server.url, "slowfrag");
      c.ws.send('{"type":', { fin: false });
      const started = Date.now();
      assert.equal((await c.waitClosed()).code, 4006);
      assert.ok(Date.now() - started >= 250);
    } finally {
      await server.close();
    }
  });

  it("a message in a few fragments is served", async () => {
    const server = await testServer({ maxFragmentsPerMessage: 8 });
    try {
      const c = await RawClient.hello(server.url, "fine");
      const parts = ['{"type":"ping",', '"id":5,', '"sentAt":1', "}"];
      parts.forEach((p, i) => c.ws.send(p, { fin: i === parts.length - 1 }));
      assert.equal((await c.next("pong")).id, 5);
      assert.equal(c.closed, null);
      c.close();
    } finally {
      await server.close();
    }
  });
});
