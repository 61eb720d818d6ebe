import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { describe, it } from "node:test";
import WebSocket from "ws";
import { SUBPROTOCOL } from "../../src/protocol/messages.js";
import { testServer } from "../support/test-server.js";
import { httpGet } from "../support/http-get.js";
import { waitFor } from "../support/wait.js";

/** A TCP connection from `localAddress` (any 127.x.y.z is this machine) that sends nothing. */
async function silentSocket(port: number, localAddress: string): Promise<{ socket: Socket; closed: () => boolean; received: () => string }> {
  const socket = connect({ port, host: "127.0.0.1", localAddress });
  let closed = false;
  let received = "";
  socket.on("close", () => (closed = true));
  socket.on("data", (chunk) => (received += chunk.toString()));
  socket.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return { socket, closed: () => closed, received: () => received };
}

/** A WebSocket from `localAddress`, open and speaking the protocol. */
async function openWebSocket(url: string, localAddress: string): Promise<WebSocket> {
  const ws = new WebSocket(url, [SUBPROTOCOL], { localAddress });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return ws;
}

/** `pulse_http_requests_refused_total`, read from another loopback address than the tests' clients. */
async function refusedCount(port: number): Promise<number> {
  const metrics = await httpGet(port, "/metrics", {}, "127.0.0.250");
  return Number(/^pulse_http_requests_refused_total (\d+)/m.exec(metrics.body)?.[1] ?? NaN);
}

/**
 * A socket that asks for the page's largest file `times` over in one write and never reads: more than the kernel buffers between the two ends hold, so the server's answers
 * back up and never finish.
 */
async function nonReader(port: number, localAddress: string, times: number): Promise<{ socket: Socket }> {
  const socket = connect({ port, host: "127.0.0.1", localAddress });
  socket.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.pause();
  socket.write(`GET /app.js.map HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`.repeat(times));
  return { socket };
}

/** Long enough for the server to have read a connection and closed it if it meant to. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

describe("sockets still speaking HTTP", () => {
  it("one address cannot hold more than maxHttpSocketsPerIp silent sockets; other addresses and WebSockets are not affected", async () => {
    const server = await testServer({ maxHttpSocketsPerIp: 5 });
    const sockets: Socket[] = [];
    const webSockets: WebSocket[] = [];
    try {
      const held = [];
      for (let i = 0; i < 5; i++) held.push(await silentSocket(server.port, "127.0.0.3"));
      sockets.push(...held.map((h) => h.socket));
      const extra = await silentSocket(server.port, "127.0.0.3");
      sockets.push(extra.socket);
      await waitFor(extra.closed, "the sixth silent socket from one address to be closed", 5_000);
      assert.match(extra.received(), /^HTTP\/1\.1 429 /);
      await settle();
      assert.ok(held.every((h) => !h.closed()), "the first five are still open (closed only by the headers timeout)");

      // Another address gets in, as a WebSocket or a silent socket.
      webSockets.push(await openWebSocket(server.url, "127.0.0.4"));
      const other = await silentSocket(server.port, "127.0.0.4");
      sockets.push(other.socket);
      await settle();
      assert.equal(other.closed(), false);

      // A WebSocket stops counting at its upgrade: an address with 5 open WebSockets may still load pages.
      for (let i = 0; i < 5; i++) webSockets.push(await openWebSocket(server.url, "127.0.0.5"));
      const page = [];
      for (let i = 0; i < 5; i++) page.push(await silentSocket(server.port, "127.0.0.5"));
      sockets.push(...page.map((p) => p.socket));
      await settle();
      assert.ok(page.every((p) => !p.closed()));

      // A closed socket gives its place back.
      held[0]!.socket.destroy();
      await settle();
      const again = await silentSocket(server.port, "127.0.0.3");
      sockets.push(again.socket);
      await settle();
      assert.equal(again.closed(), false);
    } finally {
      for (const s of sockets) s.destroy();
      for (const ws of webSockets) ws.terminate();
      await server.close();
    }
  });

  it("one address's HTTP requests over rateLimits.httpRequests are answered 429 with Retry-After and the socket closed; another address is served", async () => {
    // One token every 5 s: the refusals below hold however slow the machine is.
    const server = await testServer({ rateLimits: { httpRequests: { perSecond: 0.2, burst: 3 } } });
    try {
      const request = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n\r\n`;
      const statuses = (text: string) => [...text.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1]));
      // Ten requests pipelined on one keep-alive socket, as a flood would send them.
      const flood = await silentSocket(server.port, "127.0.0.1");
      flood.socket.write(request.repeat(10));
      await waitFor(() => flood.closed(), "the socket to be closed after the refusal");
      assert.deepEqual(statuses(flood.received()), [200, 200, 200, 429], "the burst served, then one refusal, and nothing read after it");
      assert.match(flood.received(), /retry-after: 5\r\n/i);
      // Node hands every request of one read to the handler: the six behind the refusal are
      // dropped unanswered, not each refused (counted) again.
      assert.equal(await refusedCount(server.port), 1, "one refusal made for the ten pipelined requests");
      // A new socket from the refused address is turned away at accept, before Node parses
      // what it carries: one connection of 2,000 pipelined requests cost 24 ms even dropped.
      const fresh = await silentSocket(server.port, "127.0.0.1");
      fresh.socket.write(request.repeat(10));
      await waitFor(() => statuses(fresh.received()).length > 0, "an answer on a new socket");
      assert.deepEqual(statuses(fresh.received()), [429], "the address, not the socket, is limited");
      assert.match(fresh.received(), /went over its request rate/);
      assert.equal(await refusedCount(server.port), 1, "none of the new socket's requests reached the handler");
      const other = await silentSocket(server.port, "127.0.0.2");
      other.socket.write(request);
      await waitFor(() => statuses(other.received()).length > 0, "an answer to another address");
      assert.deepEqual(statuses(other.received()), [200]);
      for (const s of [fresh, other]) s.socket.destroy();
    } finally {
      await server.close();
    }
  });

  it("a request with a body is answered and its socket closed, not kept reading a body nothing reads", async () => {
    const server = await testServer();
    try {
      const poster = await silentSocket(server.port, "127.0.0.2");
      // Announces 200 MB, sends 64 KB of it: the rest never comes.
      poster.socket.write(`POST /nothing HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nContent-Length: 200000000\r\n\r\n`);
      poster.socket.write(Buffer.alloc(64 * 1024, 0x61));
      await waitFor(poster.closed, "the server to close the socket after its answer", 5_000);
      assert.match(poster.received(), /^HTTP\/1\.1 404 /);
      assert.match(poster.received(), /connection: close\r\n/i);
    } finally {
      await server.close();
    }
  });

  it("in all, at most maxConnections + maxHttpSockets sockets are accepted", async () => {
    const server = await testServer({ maxConnections: 3, maxHttpSockets: 2 });
    const sockets: Socket[] = [];
    try {
      const held = [];
      // From five addresses, so the per-address limit is not what refuses.
      for (let i = 0; i < 5; i++) held.push(await silentSocket(server.port, `127.0.1.${i + 1}`));
      sockets.push(...held.map((h) => h.socket));
      const extra = await silentSocket(server.port, "127.0.1.9");
      sockets.push(extra.socket);
      await waitFor(extra.closed, "the sixth socket to be refused", 5_000);
      await settle();
      assert.ok(held.every((h) => !h.closed()));
    } finally {
      for (const s of sockets) s.destroy();
      await server.close();
    }
  });

  it("silent sockets holding every place do not lock a newcomer out: it takes the place of the oldest socket of the address with the most", async () => {
    // Five places in all (maxConnections + maxHttpSockets), five silent sockets allowed per address.
    const server = await testServer({ maxConnections: 3, maxHttpSockets: 2, maxHttpSocketsPerIp: 5, metricsPort: 0 });
    const sockets: Socket[] = [];
    const webSockets: WebSocket[] = [];
    try {
      const held = [];
      for (let i = 0; i < 5; i++) held.push(await silentSocket(server.port, "127.0.1.1"));
      sockets.push(...held.map((h) => h.socket));
      await settle();
      assert.ok(held.every((h) => !h.closed()));
      assert.equal(server.stats().httpSockets, 5);
      // Before, Node refused the newcomer at accept, and every newcomer while the attacker
      // reopened what the headers timeout closed.
      const newcomer = await openWebSocket(server.url, "127.0.1.2");
      webSockets.push(newcomer);
      await waitFor(held[0]!.closed, "the attacker's oldest socket closed");
      assert.ok(held.slice(1).every((h) => !h.closed()), "only that one");
      assert.equal(server.stats().httpSockets, 4, "the newcomer counts as a connection from its upgrade on");
      // The attacker asks for its place back: it holds the most, so it is refused.
      const again = await silentSocket(server.port, "127.0.1.1");
      sockets.push(again.socket);
      await waitFor(again.closed, "the attacker's new socket refused");
      assert.match(again.received(), /^HTTP\/1\.1 503 /);
      assert.equal(newcomer.readyState, WebSocket.OPEN);
      // The WebSocket takes a place too: a second newcomer still gets in, in another of the attacker's.
      webSockets.push(await openWebSocket(server.url, "127.0.1.3"));
      await waitFor(held[1]!.closed, "the attacker's next oldest socket closed");
      // From the metrics port, which is not among the places counted.
      const metrics = (await httpGet(server.metricsPort!, "/metrics")).body;
      assert.match(metrics, /pulse_http_sockets_turned_away_total\{why="took_a_place"\} 2\n/);
      assert.match(metrics, /pulse_http_sockets_turned_away_total\{why="server_full"\} 1\n/);
    } finally {
      for (const s of sockets) s.destroy();
      for (const ws of webSockets) ws.terminate();
      await server.close();
    }
  });

  it("a refused upgrade's socket is closed by the server, even when the peer never closes its side: refused upgrades cannot hold every place", async () => {
    const server = await testServer({ maxConnections: 3, maxHttpSockets: 2 });
    const sockets: Socket[] = [];
    try {
      // Each asks for an upgrade without the subprotocol (426), reads the answer, and keeps its
      // side open (allowHalfOpen): 12 of them, twice the server's 5 places plus one.
      const refusals: string[] = [];
      for (let i = 0; i < 12; i++) {
        const socket = connect({ port: server.port, host: "127.0.0.1", localAddress: "127.0.0.2", allowHalfOpen: true });
        sockets.push(socket);
        socket.on("error", () => {});
        let answer = "";
        socket.on("data", (chunk) => (answer += chunk.toString()));
        await new Promise<void>((resolve, reject) => {
          socket.once("connect", resolve);
          socket.once("error", reject);
        });
        socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
        await new Promise((resolve) => socket.once("end", resolve));
        refusals.push(answer.split("\r\n")[0]!);
      }
      assert.deepEqual(new Set(refusals), new Set(["HTTP/1.1 426 Upgrade Required: subprotocol pulse.v1"]));
      // Had the server kept its side of them, no place would be left.
      const ws = await openWebSocket(server.url, "127.0.0.3");
      ws.terminate();
    } finally {
      for (const s of sockets) s.destroy();
      await server.close();
    }
  });

  it("a client that never reads its answers loses its socket after 10 s without traffic, not when it likes", { timeout: 60_000 }, async () => {
    const server = await testServer();
    const sockets: Socket[] = [];
    try {
      // 40 x 230 KB asked for in one write: the answers back up behind the kernel's buffers.
      const stalled = await nonReader(server.port, "127.0.0.8", 40);
      sockets.push(stalled.socket);
      const stalledAt = Date.now();
      await waitFor(() => server.stats().httpSockets === 1, "the socket to be counted");
      // The client reads nothing, so it cannot see the close: the server's count says it.
      await waitFor(() => server.stats().httpSockets === 0, "the stalled socket to be closed", 30_000, 100);
      const heldMs = Date.now() - stalledAt;
      assert.ok(heldMs >= 9_000 && heldMs < 25_000, `the stalled socket was held ${heldMs} ms`);
    } finally {
      for (const s of sockets) s.destroy();
      await server.close();
    }
  });

  it("an Expect header does not get past the deny list and the request rate: it is answered 417 and its socket closed", async () => {
    const server = await testServer({ rateLimits: { httpRequests: { perSecond: 0.2, burst: 3 } } });
    try {
      const request = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nExpect: x\r\n\r\n`;
      const statuses = (text: string) => [...text.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1]));
      // Node answers such a request itself (417), keeping the socket: ten pipelined were ten answers.
      const flood = await silentSocket(server.port, "127.0.0.9");
      flood.socket.write(request.repeat(10));
      await waitFor(() => flood.closed(), "the socket to be closed after its first answer");
      assert.deepEqual(statuses(flood.received()), [417]);
      const answers: number[] = [];
      for (let i = 0; i < 3; i++) {
        const one = await silentSocket(server.port, "127.0.0.9");
        one.socket.write(request);
        await waitFor(() => one.closed(), "the socket to be closed");
        answers.push(...statuses(one.received()));
      }
      assert.deepEqual(answers, [417, 417, 429], "each takes a request of the address's rate");
    } finally {
      await server.close();
    }
  });

  it("the operator's port keeps at most 64 sockets open, so silent ones there cannot take the main port's descriptors", async () => {
    const server = await testServer({ metricsPort: 0 });
    const sockets: Array<Awaited<ReturnType<typeof silentSocket>>> = [];
    try {
      const opsPort = server.metricsPort!;
      for (let i = 0; i < 70; i++) sockets.push(await silentSocket(opsPort, "127.0.0.10"));
      await waitFor(() => sockets.filter((s) => s.closed()).length === 6, "the six over the cap to be closed");
      assert.equal((await httpGet(server.port, "/healthz", {}, "127.0.0.11")).status, 200, "the main port serves");
    } finally {
      for (const s of sockets) s.socket.destroy();
      await server.close();
    }
  });

  it("a socket that sends nothing is closed by the headers timeout (10 s), not held for Node's 30 s check interval", async () => {
    const server = await testServer();
    const sockets: Socket[] = [];
    try {
      const started = Date.now();
      const silent = await silentSocket(server.port, "127.0.0.6");
      sockets.push(silent.socket);
      // Generous: 10 s of timeout, checked every second; without the check interval set, 30 s.
      await waitFor(silent.closed, "the silent socket to be closed", 25_000, 100);
      const heldMs = Date.now() - started;
      assert.ok(heldMs < 20_000, `held ${heldMs} ms`);
    } finally {
      for (const s of sockets) s.destroy();
      await server.close();
    }
  });
});
