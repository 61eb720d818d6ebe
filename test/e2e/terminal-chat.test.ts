import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { testServer } from "../support/test-server.js";
import { RawClient } from "../support/raw-client.js";
import { waitFor } from "../support/wait.js";

const CLI = fileURLToPath(new URL("../../src/cli/pulse.ts", import.meta.url));

describe("terminal client (pulse chat)", () => {
  it("shows the connection state, sends what is typed and prints what others say", async () => {
    const server = await testServer();
    const bob = await RawClient.hello(server.url, "bob");
    bob.send({ type: "join", room: "lobby" });
    await bob.next("joined");
    const child = spawn(process.execPath, ["--import", "tsx", CLI, "chat", "--url", server.url, "--room", "lobby", "--nick", "ada"], { stdio: ["pipe", "pipe", "pipe"] });
    let screen = "";
    child.stdout.on("data", (d: Buffer) => (screen += d.toString()));
    child.stderr.on("data", (d: Buffer) => (screen += d.toString()));
    try {
      await waitFor(() => screen.includes("[Connection OK"), "the status line to say Connection OK", 20_000);
      await bob.nextPresence("ada", "join");
      child.stdin.write("hello from the terminal\n");
      const got = await bob.next("message", (m) => m.from === "ada");
      assert.equal(got.text, "hello from the terminal");
      bob.send({ type: "send", room: "lobby", id: "b1", text: "hi ada" });
      await waitFor(() => screen.includes("<bob> hi ada"), "bob's message on ada's screen");
      await server.close(); // the server goes away: the status line must say so
      await waitFor(() => /\[Reconnecting in \d+ s/.test(screen), "a reconnect countdown", 10_000);
      child.stdin.write("/quit\n");
      const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
      assert.equal(code, 0);
    } finally {
      child.kill();
      bob.close();
      await server.close();
    }
  });
});
