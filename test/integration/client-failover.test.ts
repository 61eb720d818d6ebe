import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { testClient, testServer } from "../support/test-server.js";
import { waitFor } from "../support/wait.js";

describe("client failover over a list of nodes", () => {
  it("moves to the next URL when a node is gone, with the same backoff, and back round the list", async () => {
    const gone = await testServer();
    const goneUrl = gone.url;
    await gone.close(); // nothing listens there any more
    const live = await testServer();
    const states: string[] = [];
    const client = testClient([goneUrl, live.url], "ada", { backoff: { baseMs: 50, capMs: 200 } });
    client.on("state", (s) => states.push(s.kind));
    try {
      await waitFor(() => client.state.kind === "open", "open on the live node");
      assert.equal(client.currentUrl, live.url);
      // The failed first node cost one reconnect wait: the backoff applies between nodes too.
      assert.ok(states.includes("reconnecting"), `states: ${states.join(" ")}`);

      // The live node goes; with only dead nodes left the client keeps cycling, never gives up.
      await live.close();
      await waitFor(() => client.state.kind === "reconnecting" || client.state.kind === "connecting", "reconnecting");
      const seen = new Set<string>();
      await waitFor(() => {
        seen.add(client.currentUrl);
        return seen.size === 2;
      }, "both URLs tried again", 10_000, 5);
      assert.notEqual(client.state.kind, "closed");
    } finally {
      client.close();
    }
  });

  it("refuses an empty URL list", () => {
    assert.throws(() => testClient([], "ada"), /at least one URL/);
  });
});
