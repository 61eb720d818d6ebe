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

/**
 * A TCP server on loopback admitting through `sockets`, and `open(localAddress)`: a silent
 * socket from that address, once the server has decided on it (its admission).
 */
async function admittingServer(sockets: HttpSockets) {
  /** By the client's port. */
  const admissions = new Map<number, string>();
  const server = createServer((socket) => admissions.set(socket.remotePort!, sockets.admit(socket)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const opened: Socket[] = [];
  const open = async (localAddress: string) => {
    const socket = connect({ port, host: "127.0.0.1", localAddress });
    let received = "";
    let closed = false;
    socket.on("data", (d) => (received += d));
    socket.on("close", () => (closed = true));
    socket.on("error", () => {});
    await new Promise((resolve) => socket.once("connect", resolve));
    opened.push(socket);
    await waitFor(() => admissions.has(socket.localPort!), "the server to see the socket");
    return { closed: () => closed, received: () => received, admission: admissions.get(socket.localPort!) };
  };
  const close = async () => {
    for (const s of opened) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  return { open, close };
}

describe("HttpSockets", () => {
  it("the /64s of one /48 share a cap of ten peers' worth of sockets still speaking HTTP; a closed socket gives its place back", async () => {
    const sockets = new HttpSockets(2, keyOf, () => Infinity);
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
      assert.equal(sockets.countOf("2001:db8:5::/48"), 20);
      const elsewhere = await open("127.0.1.2");
      // Accepted in order: once a later socket of the site is refused, the other /48's answer would be in.
      const probe = await open("127.0.0.17");
      await waitFor(() => probe.refused(), "a later socket of the site refused");
      assert.ok(!elsewhere.refused(), "a /64 of another /48 has its own");
      // One of the site's sockets goes: its place is the site's again.
      site.find((s) => !s.refused())!.socket.destroy();
      await waitFor(() => sockets.countOf("2001:db8:5::/48") === 19, "the closed socket uncounted");
      const again = await open("127.0.0.20");
      const over = await open("127.0.0.21");
      await waitFor(() => over.refused(), "and then none");
      assert.ok(!again.refused(), "the site had a place again");
    } finally {
      for (const o of opened) o.socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("when the server's places are taken, a newcomer takes the oldest place of the holder with the most; a holder with the most is refused instead", async () => {
    /** IPv4 peers this time: each loopback address is its own holder. */
    const ipv4 = (socket: Socket) => ({ limitKey: socket.remoteAddress!.replace("::ffff:", ""), siteKey: null });
    const sockets = new HttpSockets(10, ipv4, () => 6);
    const { open, close } = await admittingServer(sockets);
    try {
      // One address takes five of the six places, another one.
      const heavy = [];
      for (let i = 0; i < 5; i++) heavy.push(await open("127.0.2.1"));
      const light = await open("127.0.2.2");
      assert.equal(sockets.count, 6);
      // The heavy address asks for more: it holds the most, so it is refused, not swapped.
      const more = await open("127.0.2.1");
      assert.equal(more.admission, "server_full");
      await waitFor(more.closed, "the heavy address's seventh socket closed");
      assert.match(more.received(), /^HTTP\/1\.1 503 /);
      // A newcomer gets in: the heavy address's oldest socket goes.
      const newcomer = await open("127.0.2.3");
      assert.equal(newcomer.admission, "took_a_place");
      await waitFor(heavy[0]!.closed, "the heavy address's oldest socket closed");
      assert.ok(heavy.slice(1).every((h) => !h.closed()) && !light.closed() && !newcomer.closed(), "only that one");
      assert.deepEqual([sockets.count, sockets.countOf("127.0.2.1"), sockets.countOf("127.0.2.3")], [6, 4, 1]);
      // Newcomers take places until the holders are level.
      for (const from of ["127.0.2.2", "127.0.2.4", "127.0.2.5"]) assert.equal((await open(from)).admission, "took_a_place", from);
      const hosts = ["127.0.2.1", "127.0.2.2", "127.0.2.3", "127.0.2.4", "127.0.2.5"];
      assert.deepEqual(hosts.map((h) => sockets.countOf(h)), [2, 1, 1, 1, 1]);
      // A holder of one that would hold two, against a largest of two: no reason to swap.
      const level = await open("127.0.2.4");
      assert.equal(level.admission, "server_full");
      assert.deepEqual(hosts.map((h) => sockets.countOf(h)), [2, 1, 1, 1, 1]);
    } finally {
      await close();
    }
  });

  it("when the places are taken, the /64s of one /48 are one holder: a newcomer from another network takes the /48's oldest place", async () => {
    const sockets = new HttpSockets(10, keyOf, () => 6);
    const { open, close } = await admittingServer(sockets);
    try {
      // Six /64s of 2001:db8:5::/48, one socket each: every place taken, no /64 holds more than one.
      const site = [];
      for (let i = 2; i <= 7; i++) site.push(await open(`127.0.0.${i}`));
      assert.equal(sockets.countOf("2001:db8:5::/48"), 6);
      const newcomer = await open("127.0.1.2");
      assert.equal(newcomer.admission, "took_a_place", "counted by its /64s, the /48 would hold one place each");
      await waitFor(site[0]!.closed, "the /48's oldest socket closed");
      assert.deepEqual([sockets.countOf("2001:db8:5::/48"), sockets.countOf("2001:db8:6::/48")], [5, 1]);
    } finally {
      await close();
    }
  });
});
