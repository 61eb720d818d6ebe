import type { Worker } from "node:cluster";
import { createServer, type Server, type Socket } from "node:net";
import { affinityKeyReader, type ClientAddressOptions } from "../server/client-address.js";
import { stopReading } from "../server/stop-reading.js";
import { DEALER_CLOSE_REASONS, type DealerCloseReason, type PrimaryStats } from "./primary-metrics.js";

/** The primary's message that hands a worker a connection (the socket goes with it). */
export const DEALT_CONNECTION = "pulse:connection";
/** A worker's message to the primary: its server is up and takes connections. */
export const WORKER_READY = "pulse:ready";

/** A worker's message giving a socket back to be dealt again (see DealtSockets). */
export const HANDED_BACK = "pulse:handed-back";

export interface HandedBack {
  type: typeof HANDED_BACK;
  /** The client key to deal it by. */
  key: string;
  /** The request read from it, and whatever followed, as latin1. */
  head: string;
}

export interface DealtConnection {
  type: typeof DEALT_CONNECTION;
  /** The client key it was dealt by. */
  key: string;
  /** What the primary read of the connection before dealing it (a trusted proxy's request head), as latin1. */
  head?: string;
}

/**
 * The most of a trusted proxy's request the primary reads for its X-Forwarded-For: Node's
 * default header limit, which the worker's HTTP parser enforces on the whole request anyway.
 */
const HEAD_LIMIT_BYTES = 16 * 1024;
/**
 * How long the primary waits for a trusted proxy's request head: the workers' headers timeout.
 * A head not whole by then is closed, as a worker would close it.
 */
const HEAD_TIMEOUT_MS = 10_000;
/**
 * Trusted proxies' sockets whose head the primary reads at once; more are closed. A proxy's
 * head arrives with its connection, so the set is small; without a bound, sockets from a trusted
 * range that never finish a head held 3,000 descriptors and 100 MB in the primary (an audit).
 */
const READING_LIMIT = 1_024;
/**
 * Connections held while no worker is ready (at start, or every worker restarting); more are
 * closed. Room for a reconnecting crowd: clients spread their returns over seconds.
 */
const WAITING_LIMIT = 4_096;
/**
 * Connections on their way to one worker at most; more are closed. Node hands a worker one
 * socket at a time and waits for its acknowledgement, so a worker that stops answering (stopped,
 * or stuck in a long task) would otherwise pile up every connection of its addresses here, each
 * a file descriptor of the primary's, until the primary could accept nothing for anyone.
 */
const IN_FLIGHT_LIMIT = 4_096;
/**
 * Connections of one client key (address, IPv6 site, a proxy's named client) on their way to a
 * worker at once; more are closed. A handover takes the worker about a millisecond, so an honest
 * crowd behind one address never has this many waiting; without it one address opening
 * connections as fast as it could kept its slot's queue thousands long, and every other client
 * of that slot waited behind it (about 2 s in an audit, 4 ms on the other slot).
 */
export const KEY_IN_FLIGHT_LIMIT = 128;
/**
 * How long a connection is held while no worker is ready (then it is closed, and its client
 * tries again), and how long a worker may acknowledge nothing while a connection waits for it.
 * Then (stopped, or its event loop stuck) it is passed over: its queued connections and its
 * addresses go to the next ready worker until it acknowledges again. Without that, they waited
 * as long as it stayed stuck, and so did its clients' retries: a slot's worth of clients never
 * connected.
 */
export const WAIT_LIMIT_MS = 10_000;

const HEAD_END = Buffer.from("\r\n\r\n");
/** A head with bare line feeds ends here; the worker's parser refuses it at once (400). */
const BARE_HEAD_END = Buffer.from("\n\n");

/**
 * The primary of `pulse serve --workers N` accepts every connection itself and deals it to a
 * worker chosen by the client's address (see affinityKeyReader), so all of an address's
 * connections are served by one worker. Every per-address budget (connections, new connections
 * a second, sockets still speaking HTTP, rate limits, rooms opened) is counted by one process,
 * whole. Before, node:cluster dealt connections in turn, and each worker counted only its own
 * share: with two workers one address held 200 connections against a cap of 100.
 *
 * From a trusted proxy the client is named by the request's X-Forwarded-For, so the primary
 * reads the request head (at most HEAD_LIMIT_BYTES, for at most HEAD_TIMEOUT_MS) and passes it
 * on with the socket. Every other socket is dealt before anything is read from it.
 *
 * While the worker of an address's slot is not ready (starting, or replacing one that crashed),
 * its connections go to the next ready worker: the budgets are then split for that time.
 */
export class ConnectionDealer {
  private readonly seats: Array<Worker | null>;
  private readonly ready = new Set<Worker>();
  private readonly waiting: Array<{ socket: Socket; key: string; head?: Buffer; since: number }> = [];
  /**
   * Sockets handed to a worker whose send has not completed. Node queues a socket behind the one
   * a worker has not acknowledged yet, and a worker that dies leaves its queue unsent: those
   * sockets are dealt again (without this, a client that connected as its worker was killed
   * hung, neither answered nor closed).
   */
  private readonly inFlight = new Map<Socket, { worker: Worker; key: string; head?: Buffer; since: number }>();
  private readonly inFlightBy = new Map<Worker, number>();
  /** Sockets on their way to a worker, by client key (see KEY_IN_FLIGHT_LIMIT). */
  private readonly inFlightByKey = new Map<string, number>();
  /**
   * Per worker, the primary's handle of the last socket sent to it. Node keeps that handle open
   * until the worker acknowledges the socket (it hands a worker one at a time, so every earlier
   * one was acknowledged and closed). A worker that dies before it does leaves the handle open
   * in the primary, and its client hanging: it is closed when the worker goes.
   */
  private readonly lastSent = new Map<Worker, { close(): void; fd?: number }>();
  private readonly affinity: ReturnType<typeof affinityKeyReader>;
  /** Workers passed over for acknowledging nothing for WAIT_LIMIT_MS (see there). */
  private readonly stalled = new Set<Worker>();
  /** When a send to each worker last completed (`now`): it acknowledged the one before. */
  private readonly progressAt = new Map<Worker, number>();
  private server: Server | null = null;
  /** Closes connections that waited WAIT_LIMIT_MS. */
  private sweep: NodeJS.Timeout | null = null;
  /** Trusted proxies' sockets whose head is being read. */
  private reading = 0;
  private accepts = 0;
  private readonly closes = Object.fromEntries(DEALER_CLOSE_REASONS.map((reason) => [reason, 0])) as Record<DealerCloseReason, number>;

  /**
   * `log`: a line for the operator when a worker is passed over, and when it is back. `now`:
   * the clock the waits are measured on (ms; tests drive it).
   */
  constructor(
    slots: number,
    addresses: ClientAddressOptions,
    private readonly log: (line: string) => void = () => {},
    private readonly now: () => number = () => performance.now(),
  ) {
    this.seats = new Array<Worker | null>(slots).fill(null);
    this.affinity = affinityKeyReader(addresses); // throws on a bad trusted proxy, before anything listens
  }

  /** `worker` serves the addresses of `slot` once it says it is ready. */
  seat(slot: number, worker: Worker): void {
    this.seats[slot] = worker;
  }

  /** The slot `worker` sits in; -1 if none. */
  slotOf(worker: Worker): number {
    return this.seats.indexOf(worker);
  }

  markReady(worker: Worker): void {
    if (this.slotOf(worker) < 0) return;
    this.ready.add(worker);
    for (const held of this.waiting.splice(0)) this.deal(held.socket, held.key, held.head);
  }

  /** `worker` exited: its slot is empty until a new worker sits in it. */
  vacate(worker: Worker): void {
    const slot = this.slotOf(worker);
    if (slot >= 0) this.seats[slot] = null;
    this.ready.delete(worker);
    this.stalled.delete(worker);
    this.progressAt.delete(worker);
    // Closing the primary's copy is harmless when the worker took the socket: it has its own.
    const unacknowledged = this.lastSent.get(worker);
    if (unacknowledged) {
      // Node closes its copy once the worker acknowledges (fd negative then): only a copy still
      // open was never taken.
      if ((unacknowledged.fd ?? -1) >= 0) this.closes.handover_failed++;
      unacknowledged.close();
    }
    this.lastSent.delete(worker);
    for (const [socket, flight] of this.inFlight) {
      if (flight.worker !== worker) continue;
      this.landed(socket);
      this.deal(socket, flight.key, flight.head);
    }
  }

  /** A worker gave `socket` back: an upgrade on it belongs to the client `key`. */
  handedBack(socket: Socket, message: HandedBack): void {
    socket.on("error", () => socket.destroy());
    // Received over IPC, the socket starts reading at once: nothing may be read here that the
    // worker would not get.
    const more = stopReading(socket);
    this.deal(socket, message.key, Buffer.concat([Buffer.from(message.head, "latin1"), ...more]));
  }

  /** Listens on host:port; resolves with the bound port. */
  listen(port: number, host: string): Promise<number> {
    // Paused: nothing is read from a socket the primary hands on, so nothing read can be lost.
    const server = createServer({ pauseOnConnect: true }, (socket) => this.accepted(socket));
    this.server = server;
    this.sweep = setInterval(() => this.closeLongWaits(), 1_000);
    this.sweep.unref();
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        const address = server.address();
        resolve(typeof address === "object" && address ? address.port : port);
      });
    });
  }

  /** Stops accepting; connections held for a worker are closed. */
  close(): void {
    this.server?.close();
    if (this.sweep) clearInterval(this.sweep);
    for (const held of this.waiting.splice(0)) held.socket.destroy();
  }

  /** The workers' states and the connections held, for the primary's metrics. */
  stats(): Omit<PrimaryStats, "workerExits"> {
    const seated = this.seats.filter((worker) => worker !== null).length;
    return {
      workers: { ready: this.ready.size, starting: seated - this.ready.size - this.stalled.size, passedOver: this.stalled.size },
      held: { waiting: this.waiting.length, inFlight: this.inFlight.size, readingHead: this.reading },
      accepted: this.accepts,
      closed: { ...this.closes },
    };
  }

  private accepted(socket: Socket): void {
    this.accepts++;
    socket.on("error", () => socket.destroy());
    const remote = socket.remoteAddress;
    // Reset before it was accepted: no address to deal it by (as "" every such socket went to
    // one slot, and a flood of resets filled that worker's queue). Counted: a flood of them shows.
    if (remote === undefined) return this.refuse(socket, "reset_before_accept");
    if (!this.affinity.trustedPeer(remote)) return this.deal(socket, this.affinity.keyOf(remote));
    if (this.reading >= READING_LIMIT) return this.refuse(socket, "reading_limit");
    this.reading++;
    readHead(socket, (head) => {
      this.reading--;
      if (head === null) return this.refuse(socket, "head_not_whole");
      if (socket.destroyed) return;
      this.deal(socket, this.affinity.keyOf(remote, forwardedFor(head)), head);
    });
  }

  private deal(socket: Socket, key: string, head?: Buffer): void {
    if (socket.destroyed) return;
    const worker = this.workerFor(key);
    if (!worker) {
      if (this.waiting.length >= WAITING_LIMIT) this.refuse(socket, "waiting_limit");
      else this.waiting.push({ socket, key, ...(head ? { head } : {}), since: this.now() });
      return;
    }
    const queued = this.inFlightBy.get(worker) ?? 0;
    if (queued >= IN_FLIGHT_LIMIT) return this.refuse(socket, "in_flight_limit");
    const ofKey = this.inFlightByKey.get(key) ?? 0;
    if (ofKey >= KEY_IN_FLIGHT_LIMIT) return this.refuse(socket, "key_in_flight_limit");
    const flight = { worker, key, ...(head ? { head } : {}), since: this.now() };
    this.inFlight.set(socket, flight);
    this.inFlightBy.set(worker, queued + 1);
    this.inFlightByKey.set(key, ofKey + 1);
    const message: DealtConnection = { type: DEALT_CONNECTION, key, ...(head && head.length > 0 ? { head: head.toString("latin1") } : {}) };
    const handle = (socket as unknown as { _handle: { close(): void; fd?: number } | null })._handle;
    worker.send(message, socket, (err) => {
      if (!err) this.progressAt.set(worker, this.now());
      // Sent, even without its socket (closed meanwhile): a worker passed over acknowledged again.
      if (!err && this.stalled.delete(worker)) {
        this.log(`worker ${worker.process.pid} acknowledges connections again: its addresses are dealt to it again`);
        this.markReady(worker);
      }
      if (this.inFlight.get(socket) !== flight) return; // dealt again, or closed, meanwhile
      this.landed(socket);
      if (!err) {
        if (handle) this.lastSent.set(worker, handle);
        return;
      }
      // A worker whose channel closed is dying (its exit comes later): the socket never left,
      // so it goes to another worker.
      if (worker.isConnected()) return this.refuse(socket, "handover_failed");
      this.ready.delete(worker);
      this.deal(socket, key, head);
    });
  }

  /**
   * Closes the connections held WAIT_LIMIT_MS while no worker was ready, and passes over a
   * worker that acknowledged nothing for that long while a socket waited for it (stopped, or
   * its event loop stuck). The sockets queued for that worker go to the next ready worker (or
   * are closed when none is): Node's queue for the stuck worker still names them, but a socket
   * sent elsewhere first has no handle left, so Node later sends the stuck worker the message
   * alone, and that send's callback says the worker is back. A worker that acknowledges, however
   * slowly (a long queue after a connection storm), is not passed over and its queue waits: only
   * the count bound (IN_FLIGHT_LIMIT) holds it. The one socket already written to a stuck worker
   * stays, open in the primary until the worker acknowledges it or dies (see lastSent). Runs
   * every second.
   */
  closeLongWaits(): void {
    const since = this.now() - WAIT_LIMIT_MS;
    let expired = 0;
    while (expired < this.waiting.length && this.waiting[expired]!.since <= since) expired++;
    for (const held of this.waiting.splice(0, expired)) this.refuse(held.socket, "waited_too_long");
    const passedOver = new Set<Worker>();
    for (const flight of this.inFlight.values()) {
      const worker = flight.worker;
      // Waiting since this long, and no send to the worker completed since then.
      if (flight.since > since || (this.progressAt.get(worker) ?? 0) > since || !this.ready.delete(worker)) continue;
      this.stalled.add(worker);
      passedOver.add(worker);
      this.log(`worker ${worker.process.pid} acknowledged no connection for ${WAIT_LIMIT_MS / 1000} s (stopped, or its event loop stuck): its addresses go to the next worker until it is back`);
    }
    if (passedOver.size === 0) return;
    for (const [socket, flight] of this.inFlight) {
      if (!passedOver.has(flight.worker)) continue;
      this.landed(socket);
      if (this.workerFor(flight.key) === null) this.refuse(socket, "waited_too_long");
      else this.deal(socket, flight.key, flight.head);
    }
  }

  /** Closes a connection the primary does not deal, counted by why. */
  private refuse(socket: Socket, reason: DealerCloseReason): void {
    this.closes[reason]++;
    socket.destroy();
  }

  /** `socket` is no longer on its way to a worker. */
  private landed(socket: Socket): void {
    const flight = this.inFlight.get(socket);
    if (!flight) return;
    this.inFlight.delete(socket);
    const left = (this.inFlightBy.get(flight.worker) ?? 1) - 1;
    if (left > 0) this.inFlightBy.set(flight.worker, left);
    else this.inFlightBy.delete(flight.worker);
    const ofKey = (this.inFlightByKey.get(flight.key) ?? 1) - 1;
    if (ofKey > 0) this.inFlightByKey.set(flight.key, ofKey);
    else this.inFlightByKey.delete(flight.key);
  }

  /** The ready worker of the key's slot, else of the next slot with one; null when none is ready. */
  private workerFor(key: string): Worker | null {
    const n = this.seats.length;
    const slot = hashOf(key) % n;
    for (let i = 0; i < n; i++) {
      const worker = this.seats[(slot + i) % n];
      if (worker && this.ready.has(worker)) return worker;
    }
    return null;
  }
}

/** FNV-1a over the key's UTF-16 code units: cheap, and spreads addresses evenly enough over a few slots. */
export function hashOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Reads a request head from a paused socket: until its blank line, HEAD_LIMIT_BYTES or the
 * peer's end, whichever comes first; then stops reading from the socket and calls `done` with
 * everything read (the worker's parser reads it first). Null when HEAD_TIMEOUT_MS passed first,
 * or the socket closed.
 */
function readHead(socket: Socket, done: (head: Buffer | null) => void): void {
  const chunks: Buffer[] = [];
  let bytes = 0;
  /** The last bytes read, short of a head's end: an end may begin in one chunk and finish in the next. */
  let tail = Buffer.alloc(0);
  const stop = () => {
    clearTimeout(timer);
    socket.off("data", onData);
    socket.off("end", finish);
    socket.off("close", abandon);
  };
  const abandon = () => {
    stop();
    done(null);
  };
  const finish = () => {
    stop();
    done(Buffer.concat([...chunks, ...stopReading(socket)]));
  };
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    bytes += chunk.length;
    if (bytes < HEAD_LIMIT_BYTES) {
      // Only the new bytes and the tail before them are searched: searching everything read at
      // each chunk was quadratic in a head sent a few bytes at a time.
      const fresh = tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk;
      if (!fresh.includes(HEAD_END) && !fresh.includes(BARE_HEAD_END)) {
        tail = Buffer.from(fresh.subarray(Math.max(0, fresh.length - (HEAD_END.length - 1))));
        return;
      }
    }
    finish();
  };
  const timer = setTimeout(abandon, HEAD_TIMEOUT_MS);
  socket.on("data", onData);
  socket.once("end", finish);
  socket.once("close", abandon);
  socket.resume();
}

/** The X-Forwarded-For values of a request head, joined as Node joins repeated headers; undefined when absent. */
export function forwardedFor(head: Buffer): string | undefined {
  const end = head.indexOf(HEAD_END);
  const lines = head.subarray(0, end < 0 ? head.length : end).toString("latin1").split("\r\n").slice(1);
  const values: string[] = [];
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === "x-forwarded-for") values.push(line.slice(colon + 1).trim());
  }
  return values.length > 0 ? values.join(", ") : undefined;
}
