import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Worker } from "node:cluster";
import { spawnSync } from "node:child_process";
import { connect, type Socket } from "node:net";
import { ConnectionDealer, hashOf, KEY_IN_FLIGHT_LIMIT, WAIT_LIMIT_MS } from "../../src/cli/connection-dealer.js";
import { waitFor } from "../support/wait.js";

/**
 * A worker as the dealer sees it. Its sends are recorded and complete only when the test says:
 * Node completes the send of a socket once the worker acknowledged the one before.
 * (`workers.test.ts` drives real workers; this drives the waiting rules through time.)
 */
class RecordingWorker {
  readonly sends: Array<(err: Error | null) => void> = [];
  readonly messages: Array<{ key: string; head?: string }> = [];
  readonly process = { pid: 4242 };
  isConnected(): boolean {
    return true;
  }
  send(message: { key: string; head?: string }, _socket: Socket, done: (err: Error | null) => void): boolean {
    this.sends.push(done);
    this.messages.push(message);
    return true;
  }
}

/** A dealer of two slots on a clock the test moves, each slot with a recording worker, listening on loopback. */
async function dealerOnTestClock() {
  let now = 0;
  const lines: string[] = [];
  const dealer = new ConnectionDealer(2, { trustedProxies: [], ipv6PrefixBits: 64 }, (line) => lines.push(line), () => now);
  const workers = [new RecordingWorker(), new RecordingWorker()];
  workers.forEach((worker, slot) => {
    dealer.seat(slot, worker as unknown as Worker);
    dealer.markReady(worker as unknown as Worker);
  });
  const port = await dealer.listen(0, "127.0.0.1");
  const clients: Socket[] = [];
  const closed = new Set<Socket>();
  /** Connects `n` clients whose addresses the dealer gives to slot 0, one after another, each once dealt to worker `to`. */
  const connectToSlot0 = async (n: number, to = 0) => {
    const addresses = Array.from({ length: 200 }, (_, i) => `127.0.4.${i + 1}`).filter((a) => hashOf(a) % 2 === 0).slice(clients.length, clients.length + n);
    for (const localAddress of addresses) {
      const socket = connect({ host: "127.0.0.1", port, localAddress });
      socket.on("error", () => {});
      socket.on("close", () => closed.add(socket));
      clients.push(socket);
      const want = workers[to]!.sends.length + 1;
      await waitFor(() => workers[to]!.sends.length === want, `${want} sends to worker ${to}`, 5_000);
    }
  };
  return {
    dealer,
    port,
    workers,
    lines,
    clients,
    closed,
    connectToSlot0,
    advance: (ms: number) => (now += ms),
    close: () => {
      dealer.close();
      for (const socket of clients) socket.destroy();
    },
  };
}

describe("ConnectionDealer: how long a connection waits for a worker", () => {
  it("passes over a worker that acknowledges nothing for WAIT_LIMIT_MS while sockets wait, deals them to the next worker, and takes it back when a send completes", async () => {
    const t = await dealerOnTestClock();
    try {
      await t.connectToSlot0(4);
      t.workers[0]!.sends[0]!(null); // the first written; the worker never acknowledges it
      t.advance(WAIT_LIMIT_MS - 1);
      t.dealer.closeLongWaits();
      assert.equal(t.dealer.stats().workers.passedOver, 0, "not before the limit");
      t.advance(1);
      t.dealer.closeLongWaits();
      assert.deepEqual(t.dealer.stats().workers, { ready: 1, starting: 0, passedOver: 1 });
      // Before, they waited for the stuck worker as long as it stayed stuck.
      assert.equal(t.workers[1]!.sends.length, 3, "the three queued dealt to the other worker");
      assert.deepEqual([t.dealer.stats().closed.waited_too_long, t.closed.size], [0, 0]);
      assert.match(t.lines.join("\n"), /worker 4242 acknowledged no connection for 10 s/);
      // So are the slot's newcomers, until it is back.
      await t.connectToSlot0(1, 1);
      // The worker acknowledges: Node sends it the next message (its socket dealt elsewhere).
      t.workers[0]!.sends[1]!(null);
      assert.deepEqual(t.dealer.stats().workers, { ready: 2, starting: 0, passedOver: 0 });
      assert.match(t.lines.join("\n"), /worker 4242 acknowledges connections again/);
      await t.connectToSlot0(1);
    } finally {
      t.close();
    }
  });

  it("closes the sockets queued for a worker passed over when no other worker is ready", async () => {
    const t = await dealerOnTestClock();
    try {
      t.dealer.vacate(t.workers[1]! as unknown as Worker); // the other slot's worker is gone
      await t.connectToSlot0(3);
      t.workers[0]!.sends[0]!(null);
      t.advance(WAIT_LIMIT_MS);
      t.dealer.closeLongWaits();
      assert.equal(t.dealer.stats().closed.waited_too_long, 2);
      await waitFor(() => t.closed.size === 2, "the two queued closed", 5_000);
      assert.ok(!t.closed.has(t.clients[0]!), "the one written to the worker stays");
    } finally {
      t.close();
    }
  });

  it("keeps a worker that acknowledges, however slowly, and its queue", async () => {
    // A long queue after a connection storm: every socket's wait grows though the worker
    // acknowledges. Before, the first socket to wait 10 s passed the worker over.
    const t = await dealerOnTestClock();
    try {
      await t.connectToSlot0(4);
      t.workers[0]!.sends[0]!(null);
      t.advance(6_000);
      t.workers[0]!.sends[1]!(null); // acknowledged the first, 6 s on
      t.advance(5_000);
      t.dealer.closeLongWaits();
      assert.deepEqual(t.dealer.stats().workers, { ready: 2, starting: 0, passedOver: 0 });
      assert.deepEqual([t.dealer.stats().held.inFlight, t.workers[1]!.sends.length, t.closed.size], [2, 0, 0]);
    } finally {
      t.close();
    }
  });

  it("closes an address's connections beyond KEY_IN_FLIGHT_LIMIT on their way to a worker, not the others of its slot", async () => {
    // Before, one address opening connections as fast as it could queued thousands for its
    // slot's worker, and every other client of the slot waited behind them.
    const t = await dealerOnTestClock();
    try {
      const flooder = Array.from({ length: 200 }, (_, i) => `127.0.5.${i + 1}`).find((a) => hashOf(a) % 2 === 0)!;
      for (let i = 0; i < KEY_IN_FLIGHT_LIMIT + 2; i++) {
        const socket = connect({ host: "127.0.0.1", port: t.port, localAddress: flooder });
        socket.on("error", () => {});
        socket.on("close", () => t.closed.add(socket));
        t.clients.push(socket);
      }
      await waitFor(() => t.dealer.stats().accepted === KEY_IN_FLIGHT_LIMIT + 2, "all accepted", 5_000);
      assert.equal(t.workers[0]!.sends.length, KEY_IN_FLIGHT_LIMIT, "none acknowledged: the worker has the limit's worth");
      assert.equal(t.dealer.stats().closed.key_in_flight_limit, 2);
      await waitFor(() => t.closed.size === 2, "the two beyond closed", 5_000);
      // Another address of the slot is dealt at once.
      await t.connectToSlot0(1);
      // Once the worker takes them, the address may send more.
      for (const done of t.workers[0]!.sends.splice(0)) done(null);
      const more = connect({ host: "127.0.0.1", port: t.port, localAddress: flooder });
      more.on("error", () => {});
      t.clients.push(more);
      await waitFor(() => t.workers[0]!.sends.length === 1, "the address dealt again", 5_000);
    } finally {
      t.close();
    }
  });

  it("closes a socket reset before it was accepted instead of dealing it by no address", async () => {
    // Before, such a socket was dealt by the address "" to one slot, whatever its client's:
    // a flood of connect-and-reset filled that worker's queue (an audit: 21 of 68 of its
    // honest clients closed).
    const t = await dealerOnTestClock();
    try {
      // A child connects and resets 50 sockets while this process (the dealer) is blocked in
      // spawnSync: the dealer accepts them reset.
      const run = spawnSync(process.execPath, ["-e", RESET_SOCKETS, String(t.port), "50"], { encoding: "utf8", timeout: 20_000 });
      assert.equal(run.stdout.trim(), "50 reset", run.stderr);
      await waitFor(() => t.dealer.stats().accepted === 50, `50 accepted (have ${t.dealer.stats().accepted})`, 5_000);
      assert.deepEqual(t.workers.map((w) => w.sends.length), [0, 0]);
      // Counted under a reason of their own: before, a flood of them moved only `accepted`.
      assert.equal(t.dealer.stats().closed.reset_before_accept, 50);
    } finally {
      t.close();
    }
  });

  it("reads a trusted proxy's head sent a few bytes at a time, its end split between writes, and deals it whole by the address it names", async () => {
    const dealer = new ConnectionDealer(1, { trustedProxies: ["127.0.0.7"], ipv6PrefixBits: 64 }, () => {});
    const worker = new RecordingWorker();
    dealer.seat(0, worker as unknown as Worker);
    dealer.markReady(worker as unknown as Worker);
    const port = await dealer.listen(0, "127.0.0.1");
    const proxy = connect({ host: "127.0.0.1", port, localAddress: "127.0.0.7" });
    proxy.on("error", () => {});
    try {
      await new Promise<void>((resolve) => proxy.once("connect", () => resolve()));
      const head = "GET /ws HTTP/1.1\r\nHost: chat\r\nX-Forwarded-For: 198.51.100.9\r\nUpgrade: websocket\r\n\r\n";
      // Pieces of 3 bytes: the blank line's four bytes always span two writes.
      for (let at = 0; at < head.length; at += 3) {
        proxy.write(head.slice(at, at + 3));
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      await waitFor(() => worker.messages.length === 1, "the head dealt", 5_000);
      assert.equal(worker.messages[0]!.head, head);
      assert.equal(worker.messages[0]!.key, "198.51.100.9");
    } finally {
      dealer.close();
      proxy.destroy();
    }
  });

  it("closes connections held WAIT_LIMIT_MS while no worker is ready", async () => {
    let now = 0;
    const dealer = new ConnectionDealer(1, { trustedProxies: [], ipv6PrefixBits: 64 }, () => {}, () => now);
    const port = await dealer.listen(0, "127.0.0.1");
    const socket = connect({ host: "127.0.0.1", port });
    socket.on("error", () => {});
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    try {
      await waitFor(() => dealer.stats().held.waiting === 1, "held for a worker", 5_000);
      now += WAIT_LIMIT_MS;
      dealer.closeLongWaits();
      await closed;
      assert.deepEqual([dealer.stats().held.waiting, dealer.stats().closed.waited_too_long], [0, 1]);
    } finally {
      dealer.close();
      socket.destroy();
    }
  });
});

/** A script: connects argv[2] sockets to 127.0.0.1:argv[1], resets each once connected, prints "N reset". */
const RESET_SOCKETS = `
const net = require("node:net");
const [port, n] = process.argv.slice(1).map(Number);
let reset = 0;
for (let i = 0; i < n; i++) {
  const socket = net.connect({ host: "127.0.0.1", port }, () => {
    socket.resetAndDestroy();
    if (++reset === n) setTimeout(() => console.log(reset + " reset"), 200);
  });
  socket.on("error", () => {});
}
`;
