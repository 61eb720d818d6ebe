import type { LivenessSettings, PingMessage, PongMessage } from "../protocol/messages.js";
import type { Clock } from "./clock.js";
import { validateLiveness } from "./settings.js";

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
 * - `initiator` (the client): pings when it has sent nothing for intervalMs, or heard nothing
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
  private settings: LivenessSettings;
  // Timestamps start as numbers (NaN until the constructor sets them), not undefined: V8 then
  // keeps each as a double updated in place. A field first defined as undefined is generic, and
  // every store of a timestamp into it allocated a new heap number (a write barrier each, on
  // every inbound frame of every connection).
  private lastInboundAt = NaN;
  private lastSentAt = NaN;
  private lastPingAt = -Infinity;
  private nextPingId = 1;
  private probeDeadline: number | null = null;
  private probeSentAt = 0;
  private probeCause: ProbeCause = "host";
  private lastCheckAt = NaN;
  private _health: PeerHealth = "alive";
  private rttLastMs: number | null = null;
  private rttSmoothedMs: number | null = null;
  /** The server's sweep keeps its slot here (see LivenessSweep); -2: in no sweep. */
  sweepSlot = -2;

  private readonly wakeProbeMs: number;
  private readonly role: PingRole;

  constructor(
    settings: LivenessSettings,
    private readonly host: LivenessHost,
    private readonly clock: Clock,
    options: LivenessEngineOptions = {},
  ) {
    this.wakeProbeMs = options.wakeProbeMs ?? 2_000;
    // Settings and role are shared, not copied: a server holds one of each for all its connections.
    this.role = options.role ?? INITIATOR;
    this.settings = validateLiveness(settings);
    const now = clock.now();
    this.lastInboundAt = now;
    this.lastSentAt = now;
    this.lastCheckAt = now;
  }

  get health(): PeerHealth {
    return this._health;
  }
  get rtt(): Rtt {
    return { lastMs: this.rttLastMs, smoothedMs: this.rttSmoothedMs };
  }
  get current(): Readonly<LivenessSettings> {
    return this.settings;
  }
  /** A probe is out and its deadline has not passed. */
  get probing(): boolean {
    return this.probeDeadline !== null;
  }
  silentForMs(now = this.clock.now()): number {
    return now - this.lastInboundAt;
  }

  /** Adopt new settings (the client takes the server's from `welcome`). */
  setSettings(settings: LivenessSettings): void {
    this.settings = validateLiveness(settings);
  }

  /** Any frame arrived. */
  noteInbound(): void {
    const now = this.clock.now();
    this.lastInboundAt = now;
    if (this.probeDeadline !== null && now >= this.probeSentAt) this.probeDeadline = null;
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

  /** A pong for one of our pings: update RTT. Pongs are inbound frames; call noteInbound too. */
  onPong(pong: PongMessage): void {
    if (pong.id <= 0 || pong.id >= this.nextPingId) return; // not a ping of ours
    const sample = this.clock.now() - pong.sentAt;
    if (sample < 0 || sample > this.settings.timeoutMs * 10) return;
    this.rttLastMs = sample;
    this.host.onRttSample?.(sample);
    // Smoothed like TCP's SRTT (RFC 6298): 7/8 old + 1/8 new.
    this.rttSmoothedMs =
      this.rttSmoothedMs === null ? sample : Math.round((this.rttSmoothedMs * 7 + sample) / 8);
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
    this.probeSentAt = now;
    this.probeDeadline = now + deadlineMs;
    this.probeCause = cause;
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
    if (this.probeDeadline !== null && now >= this.probeDeadline) {
      this.probeDeadline = null;
      this.transition("dead", "probe-timeout", silent);
      return "dead";
    }
    if (slept && silent >= this.settings.suspectMs) {
      // A probe already out (the host's) now also stands for the sleep: keep its deadline.
      if (this.probeDeadline === null) this.startProbe(Math.min(this.wakeProbeMs, this.settings.timeoutMs), "slept");
      else this.probeCause = "slept";
      return this._health;
    }
    if (this.probeDeadline !== null && this.probeCause === "slept") return this._health;
    if (silent >= this.settings.timeoutMs) {
      this.probeDeadline = null;
      this.transition("dead", "timeout", silent);
      return "dead";
    }
    if (silent >= this.settings.suspectMs && this._health === "alive") {
      this.transition("suspect", "silence", silent);
    }
    if (this.probeDeadline === null && this.pingDue(now, silent) && this.host.bufferedAmount() === 0) this.ping(now);
    return this._health;
  }

  /** The role's rule: whether an idle or unheard link needs a ping now. */
  private pingDue(now: number, silent: number): boolean {
    const { intervalMs } = this.settings;
    if (this.role.kind === "responder") {
      const unheardMs = intervalMs + this.role.graceMs;
      return silent >= unheardMs && now - this.lastPingAt >= unheardMs;
    }
    const idle = now - this.lastSentAt >= intervalMs;
    const unheard = silent >= intervalMs && now - this.lastPingAt >= intervalMs;
    return idle || unheard;
  }

  /** When the next decision could change something: schedule the next check for then. */
  nextCheckAt(): number {
    const { intervalMs, suspectMs, timeoutMs } = this.settings;
    const unheardMs = this.role.kind === "responder" ? intervalMs + this.role.graceMs : intervalMs;
    let at = Math.min(Math.max(this.lastInboundAt, this.lastPingAt) + unheardMs, this.lastInboundAt + timeoutMs);
    if (this.role.kind === "initiator") at = Math.min(at, this.lastSentAt + intervalMs);
    if (this._health === "alive") at = Math.min(at, this.lastInboundAt + suspectMs);
    if (this.probeDeadline !== null) at = Math.min(at, this.probeDeadline);
    return at;
  }

  private ping(now: number): void {
    this.host.sendPing({ type: "ping", id: this.nextPingId++, sentAt: now });
    this.lastSentAt = now;
    this.lastPingAt = now;
  }

  private transition(next: PeerHealth, reason: HealthReason, silentForMs: number): void {
    const prev = this._health;
    if (prev === next) return;
    this._health = next;
    this.host.onHealthChange({ next, prev, reason, silentForMs });
  }
}
