import type { LivenessSettings, PingMessage, PongMessage } from "../protocol/messages.js";
import type { Clock } from "./clock.js";
import { idlePingAt, validateLiveness } from "./settings.js";

export type PeerHealth = "alive" | "suspect" | "dead";

/** Why the engine moved to a health. */
export type HealthReason = "inbound" | "silence" | "timeout" | "probe-timeout";

export interface HealthChange {
  next: PeerHealth;
  prev: PeerHealth;
  reason: HealthReason;
  /** now - lastInboundAt at the moment of the change. */
  silentForMs: number;
}

/** What the engine needs from the end it runs on. It does no I/O of its own. */
export interface LivenessHost {
  /** Put a ping on the wire. */
  sendPing(ping: PingMessage): void;
  /** Bytes queued but not yet written (WebSocket.bufferedAmount). */
  bufferedAmount(): number;
  onHealthChange(change: HealthChange): void;
  /** A round-trip sample from a pong to one of our pings (optional; the server's metrics use it). */
  onRttSample?(ms: number): void;
}

/**
 * Who drives the heartbeat on an idle link.
 *
 * - `initiator` (the client): pings when it has sent nothing for intervalMs (or, once it knows
 *   the server's clock, at the last ping slot before that: see alignPings), or heard nothing
 *   for intervalMs and not pinged in that time.
 * - `responder` (the server): answers pings and pings on its own only when it has heard nothing
 *   for intervalMs + graceMs (and not pinged in that time). A healthy idle link then carries the
 *   initiator's ping and the responder's pong once per interval, nothing else; the responder's
 *   own pings are for a peer that stopped pinging: a background tab whose timers the browser
 *   throttles still answers a ping at once (event handlers are not throttled), or a minimal
 *   client that only answers.
 */
export type PingRole = { kind: "initiator" } | { kind: "responder"; graceMs: number };

export const INITIATOR: PingRole = { kind: "initiator" };

const DEFAULT_WAKE_PROBE_MS = 2_000;
const NO_OPTIONS: LivenessEngineOptions = {};

export interface LivenessEngineOptions {
  /** Deadline of the probe sent when a check finds that our own timers slept; capped at timeoutMs. Default 2000. */
  wakeProbeMs?: number;
  /** Default INITIATOR. */
  role?: PingRole;
}

/**
 * Why a probe is out. A `host` probe (network back, send after idle) may bring the verdict
 * earlier than the silence rules, never later: timeoutMs of silence still means dead. A `slept`
 * probe holds the verdict until its deadline, because the silence we measured includes time our
 * own timers did not run.
 */
type ProbeCause = "host" | "slept";

export interface Rtt {
  lastMs: number | null;
  smoothedMs: number | null;
}

/** A probe that is out: when it was sent, its deadline, and why. */
interface Probe {
  sentAt: number;
  deadline: number;
  cause: ProbeCause;
}

/**
 * Our own pings: made at the first. A server whose clients ping on their own never pings them
 * (see PingRole), so most of its engines never make this.
 */
interface OwnPings {
  nextId: number;
  lastAt: number;
  probe: Probe | null;
  rtt: Rtt | null;
}

/** What an engine reads and never changes (setSettings and alignPings replace it). */
interface Setup {
  readonly settings: LivenessSettings;
  readonly clock: Clock;
  readonly options: LivenessEngineOptions;
  /** The server's clock minus ours, once known (see alignPings); null: pings are not aligned. */
  readonly serverOffsetMs: number | null;
}

/**
 * The last Setup made: engines made one after another with the same settings, clock and options
 * (a server's connections) share it, one field on each instead of three.
 */
let lastSetup: Setup | null = null;
function setupOf(settings: LivenessSettings, clock: Clock, options: LivenessEngineOptions, serverOffsetMs: number | null): Setup {
  const last = lastSetup;
  if (last !== null && last.settings === settings && last.clock === clock && last.options === options && last.serverOffsetMs === serverOffsetMs) return last;
  return (lastSetup = { settings, clock, options, serverOffsetMs });
}

/**
 * The heartbeat, shared by server and client.
 *
 * - A ping goes out only when the send buffer is empty (a heartbeat never queues behind chat),
 *   when the role's rule says so (see PingRole). The "heard nothing" rule matters when we talk
 *   and the peer only listens: a background tab with throttled timers receiving a busy room
 *   sends nothing of its own, so without a ping from us its silence would look like death.
 * - Every inbound frame is proof of life.
 * - Decisions compare wall-clock timestamps (now - lastInboundAt) at each check. A timer that
 *   fires late (background tab, laptop sleep) only delays a decision; it cannot produce a
 *   false one, because inbound frames that arrived meanwhile moved lastInboundAt.
 *
 * Thresholds: silence >= suspectMs is `suspect`; silence >= timeoutMs is `dead` (final).
 */
export class LivenessEngine {
  // Fields kept few on purpose: a server holds one engine per connection, idle ones included.
  // Settings, clock and options are one shared object; our own pings' state (ids, the last
  // ping's time, a probe, RTT) is made at our first ping (a server's engine rarely pings).
  // Timestamps are whatever the clock gives, in generic fields set in the constructor: a
  // server's clock counts from its start, so they are small integers stored in the field
  // itself, with no allocation or write barrier per store. (Initialised to a number, the
  // optimised inbound path made them doubles: a 16-byte box each, per connection. With epoch
  // times, as on a client, each store allocates a heap number: one engine there.)
  private setup: Setup;
  private lastInboundAt: number;
  private lastSentAt: number;
  private lastCheckAt: number;
  private _health: PeerHealth = "alive";
  /** null until our first ping. */
  private pings: OwnPings | null = null;
  /** The server's sweep keeps its slot and list links here (see LivenessSweep); -2: in no sweep. */
  sweepSlot = -2;
  sweepPrev: LivenessEngine | null = null;
  sweepNext: LivenessEngine | null = null;

  constructor(
    settings: LivenessSettings,
    private readonly host: LivenessHost,
    clock: Clock,
    /** Read when needed, not copied: a server passes one object for all its connections. */
    options: LivenessEngineOptions = NO_OPTIONS,
  ) {
    this.setup = setupOf(validateLiveness(settings), clock, options, null);
    const now = clock.now();
    this.lastInboundAt = now;
    this.lastSentAt = now;
    this.lastCheckAt = now;
  }

  private get settings(): LivenessSettings {
    return this.setup.settings;
  }
  private get clock(): Clock {
    return this.setup.clock;
  }
  private get options(): LivenessEngineOptions {
    return this.setup.options;
  }
  private get role(): PingRole {
    return this.options.role ?? INITIATOR;
  }

  get health(): PeerHealth {
    return this._health;
  }
  /** A responder's is always unknown (see onPong). */
  get rtt(): Rtt {
    const rtt = this.pings?.rtt;
    return { lastMs: rtt?.lastMs ?? null, smoothedMs: rtt?.smoothedMs ?? null };
  }
  get current(): Readonly<LivenessSettings> {
    return this.settings;
  }
  /** A probe is out and its deadline has not passed. */
  get probing(): boolean {
    return this.probeOut !== null;
  }
  private get probeOut(): Probe | null {
    return this.pings?.probe ?? null;
  }
  silentForMs(now = this.clock.now()): number {
    return now - this.lastInboundAt;
  }

  /** Adopt new settings (the client takes the server's from `welcome`). */
  setSettings(settings: LivenessSettings): void {
    this.setup = setupOf(validateLiveness(settings), this.clock, this.options, this.setup.serverOffsetMs);
  }

  /**
   * The server's clock minus ours (the client learns it from `welcome.serverTime`): idle pings
   * then go out on the settings' pingSlotMs boundaries of the server's clock, up to a slot
   * before they are due (see idlePingAt).
   */
  alignPings(serverOffsetMs: number): void {
    this.setup = setupOf(this.settings, this.clock, this.options, serverOffsetMs);
  }

  /** Any frame arrived. */
  noteInbound(): void {
    const now = this.clock.now();
    this.lastInboundAt = now;
    const probe = this.probeOut;
    if (probe !== null && now >= probe.sentAt) this.pings!.probe = null;
    if (this._health === "suspect") this.transition("alive", "inbound", 0);
  }

  /**
   * Any frame was sent (chat, pong, anything). Only the initiator's rule reads it, so a
   * responder (the server, after every frame it writes) does not read the clock for it.
   */
  noteSent(): void {
    if (this.role.kind === "initiator") this.lastSentAt = this.clock.now();
  }

  /** The pong that answers a ping. The caller sends it at once (and calls noteSent). */
  answer(ping: PingMessage): PongMessage {
    return { type: "pong", id: ping.id, sentAt: ping.sentAt };
  }

  /**
   * A pong for one of our pings: update RTT. Pongs are inbound frames; call noteInbound first.
   * A responder keeps no RTT (its host gets each sample) and, once answered with no probe out,
   * forgets its pings: it pinged a peer it had not heard from, and the answer is news of it;
   * nothing of that ping decides anything any more (the next is due by silence alone), so
   * an idle server's engines do not keep the state of one late ping for their whole life.
   */
  onPong(pong: PongMessage): void {
    const pings = this.pings;
    if (pings === null || pong.id <= 0 || pong.id >= pings.nextId) return; // not a ping of ours
    // Timed from the engine's own record of its newest ping, not the echoed sentAt: that is the
    // peer's word, and a peer echoing sentAt - 110000 recorded a 110 s round trip. A pong to an
    // older ping (one answered late) is no sample.
    if (pong.id !== pings.nextId - 1) return;
    const sample = this.clock.now() - pings.lastAt;
    if (sample < 0 || sample > this.settings.timeoutMs * 10) return;
    if (this.role.kind === "responder") {
      this.host.onRttSample?.(sample);
      if (pings.probe === null && this.lastInboundAt >= pings.lastAt) this.pings = null;
      return;
    }
    const rtt = (pings.rtt ??= { lastMs: null, smoothedMs: null });
    rtt.lastMs = sample;
    this.host.onRttSample?.(sample);
    // Smoothed like TCP's SRTT (RFC 6298): 7/8 old + 1/8 new.
    rtt.smoothedMs = rtt.smoothedMs === null ? sample : Math.round((rtt.smoothedMs * 7 + sample) / 8);
  }

  /**
   * Ping now and expect inbound within deadlineMs, else the peer is `dead` (probe-timeout).
   * Used when the host suspects its view is stale: network back, tab visible, send after idle.
   * The probe can only bring the verdict forward: timeoutMs of silence is still dead.
   */
  probe(deadlineMs: number): void {
    this.startProbe(deadlineMs, "host");
  }

  private startProbe(deadlineMs: number, cause: ProbeCause): void {
    if (this._health === "dead") return;
    const now = this.clock.now();
    this.ownPings(now).probe = { sentAt: now, deadline: now + deadlineMs, cause };
    this.ping(now);
  }

  /**
   * Evaluate the link now. Call from a timer, a sweep, or when the host resumed.
   *
   * If this check comes more than suspectMs after the previous one, our own timers slept
   * (background tab, suspended laptop, stopped process): the silence we measure may be ours,
   * not the peer's, and frames may be waiting unread. Then we probe instead of judging, and
   * the verdict waits for the probe's deadline.
   */
  check(): PeerHealth {
    if (this._health === "dead") return "dead";
    const now = this.clock.now();
    const silent = now - this.lastInboundAt;
    const slept = now - this.lastCheckAt > this.settings.suspectMs;
    this.lastCheckAt = now;
    const probe = this.probeOut;
    if (probe !== null && now >= probe.deadline) {
      this.pings!.probe = null;
      this.transition("dead", "probe-timeout", silent);
      return "dead";
    }
    if (slept && silent >= this.settings.suspectMs) {
      // A probe already out (the host's) now also stands for the sleep: keep its deadline.
      if (probe === null) this.startProbe(Math.min(this.options.wakeProbeMs ?? DEFAULT_WAKE_PROBE_MS, this.settings.timeoutMs), "slept");
      else probe.cause = "slept";
      return this._health;
    }
    if (probe !== null && probe.cause === "slept") return this._health;
    if (silent >= this.settings.timeoutMs) {
      if (probe !== null) this.pings!.probe = null;
      this.transition("dead", "timeout", silent);
      return "dead";
    }
    if (silent >= this.settings.suspectMs && this._health === "alive") {
      this.transition("suspect", "silence", silent);
    }
    if (this.probeOut === null && this.pingDue(now, silent) && this.host.bufferedAmount() === 0) this.ping(now);
    return this._health;
  }

  /** The role's rule: whether an idle or unheard link needs a ping now. */
  private pingDue(now: number, silent: number): boolean {
    const { intervalMs } = this.settings;
    if (this.role.kind === "responder") {
      const unheardMs = intervalMs + this.role.graceMs;
      return silent >= unheardMs && this.sincePing(now) >= unheardMs;
    }
    const idle = now >= this.idlePingAt();
    const unheard = silent >= intervalMs && this.sincePing(now) >= intervalMs;
    return idle || unheard;
  }

  /** When the next decision could change something: schedule the next check for then. */
  nextCheckAt(): number {
    const { intervalMs, suspectMs, timeoutMs } = this.settings;
    const unheardMs = this.role.kind === "responder" ? intervalMs + this.role.graceMs : intervalMs;
    const pings = this.pings;
    let at = Math.min((pings === null ? this.lastInboundAt : Math.max(this.lastInboundAt, pings.lastAt)) + unheardMs, this.lastInboundAt + timeoutMs);
    if (this.role.kind === "initiator") at = Math.min(at, this.idlePingAt());
    if (this._health === "alive") at = Math.min(at, this.lastInboundAt + suspectMs);
    const probe = this.probeOut;
    if (probe !== null) at = Math.min(at, probe.deadline);
    return at;
  }

  private idlePingAt(): number {
    return idlePingAt(this.settings, this.lastSentAt, this.setup.serverOffsetMs);
  }

  private sincePing(now: number): number {
    return this.pings === null ? Infinity : now - this.pings.lastAt;
  }

  private ping(now: number): void {
    const pings = this.ownPings(now);
    this.host.sendPing({ type: "ping", id: pings.nextId++, sentAt: now });
    this.lastSentAt = now;
    pings.lastAt = now;
  }

  /** `now`: the first ping's time, if this is the first. */
  private ownPings(now: number): OwnPings {
    return (this.pings ??= { nextId: 1, lastAt: now, probe: null, rtt: null });
  }

  private transition(next: PeerHealth, reason: HealthReason, silentForMs: number): void {
    const prev = this._health;
    if (prev === next) return;
    this._health = next;
    this.host.onHealthChange({ next, prev, reason, silentForMs });
  }
}
