import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { HttpSockets } from "../../src/server/http-sockets.js";
import { waitFor } from "../support/wait.js";

/**
 * Real TCP sockets on loopback; the peers' keys are IPv6 /64s, read from the client's IPv4
 * loopback address (127.0.0.N is 2001:db8:5:N::/64, 127.0.1.N is 2001:db8:6:N::/64), since
 * loopback has one IPv6 address.
 */
const keyOf = (socket: Socket) => {
  const [, , third, fourth] = socket.remoteAddress!.replace("::ffff:", "").split(".");
  const site = `2001:db8:${third === "0" ? 5 : 6}`;
  return { limitKey: `${site}:${Number(fourth).toString(16)}::/64`, siteKey: `${site}::/48` };
};

describe("HttpSockets", () => {
  it("the /64s of one /48 share a cap of ten peers' worth of sockets still speaking HTTP; a closed socket gives its place back", async () => {
    const sockets = new HttpSockets(2, keyOf);
    const server = createServer((socket) => sockets.admit(socket));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    const opened: Array<{ socket: Socket; refused: () => boolean }> = [];
    const open = async (localAddress: string) => {
      const socket = connect({ port, host: "127.0.0.1", localAddress });
      let received = "";
      socket.on("data", (d) => (received += d));
      socket.on("error", () => {});
      await new Promise((resolve) => socket.once("connect", resolve));
      const entry = { socket, refused: () => received.startsWith("HTTP/1.1 429") };
      opened.push(entry);
      return entry;
    };
    try {
      // Fifteen /64s of one /48, two silent sockets each (each /64's own cap).
      const site: Array<{ socket: Socket; refused: () => boolean }> = [];
      for (let i = 1; i <= 15; i++) for (let k = 0; k < 2; k++) site.push(await open(`127.0.0.${i + 1}`));
      await waitFor(() => site.filter((s) => s.refused()).length === 10, "ten refusals");
      assert.equal(site.filter((s) => !s.refused()).length, 20, "twenty held: the /48's cap");
      const refusal = site.find((s) => s.refused())!;
      await waitFor(() => refusal.socket.destroyed || refusal.socket.readableEnded, "the refused socket closed");
      assert.equal(sockets.countOfSite("2001:db8:5::/48"), 20);
      const elsewhere = await open("127.0.1.2");
      // Accepted in order: once a later socket of the site is refused, the other /48's answer would be in.
      const probe = await open("127.0.0.17");
      await waitFor(() => probe.refused(), "a later socket of the site refused");
      assert.ok(!elsewhere.refused(), "a /64 of another /48 has its own");
      // One of the site's sockets goes: its place is the site's again.
      site.find((s) => !s.refused())!.socket.destroy();
      await waitFor(() => sockets.countOfSite("2001:db8:5::/48") === 19, "the closed socket uncounted");
      const again = await open("127.0.0.20");
      const over = await open("127.0.0.21");
      await waitFor(() => over.refused(), "and then none");
      assert.ok(!again.refused(), "the site had a place again");
    } finally {
      for (const o of opened) o.socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
