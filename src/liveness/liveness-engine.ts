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

export interface Rtt {
  lastMs: number | null;
  smoothedMs: number | null;
}

/**
 * The heartbeat, shared by server and client.
 *
 * - A ping goes out only when the send buffer is empty (a heartbeat never queues behind chat)
 *   and either nothing has been sent for intervalMs, or nothing has been heard for intervalMs
 *   and no ping asked since. The second rule matters when we talk and the peer only listens:
 *   a background tab with throttled timers receiving a busy room sends nothing of its own, so
 *   without a ping from us its silence would look like death.
 * - Traffic both ways suppresses heartbeats entirely.
 * - Every inbound frame is proof of life.
 * - Decisions compare wall-clock timestamps (now - lastInboundAt) at each check. A timer that
 *   fires late (background tab, laptop sleep) only delays a decision; it cannot produce a
 *   false one, because inbound frames that arrived meanwhile moved lastInboundAt.
 *
 * Thresholds: silence >= suspectMs is `suspect`; silence >= timeoutMs is `dead` (final).
 */
export class LivenessEngine {
  private settings: LivenessSettings;
  private lastInboundAt: number;
  private lastSentAt: number;
  private lastPingAt = -Infinity;
  private nextPingId = 1;
  private probeDeadline: number | null = null;
  private probeSentAt = 0;
  private lastCheckAt: number;
  private _health: PeerHealth = "alive";
  private rttLastMs: number | null = null;
  private rttSmoothedMs: number | null = null;

  /**
   * @param wakeProbeMs deadline of the probe sent when a check finds that our own timers
   *   slept; capped at timeoutMs. Default 2000.
   */
  constructor(
    settings: LivenessSettings,
    private readonly host: LivenessHost,
    private readonly clock: Clock,
    private readonly wakeProbeMs = 2_000,
  ) {
    // Shared, not copied: a server holds one settings object for all its connections.
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

  /** Any frame was sent (chat, pong, anything). */
  noteSent(): void {
    this.lastSentAt = this.clock.now();
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
   */
  probe(deadlineMs: number): void {
    if (this._health === "dead") return;
    const now = this.clock.now();
    this.probeSentAt = now;
    this.probeDeadline = now + deadlineMs;
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
    if (this.probeDeadline !== null) {
      if (now < this.probeDeadline) return this._health;
      this.probeDeadline = null;
      this.transition("dead", "probe-timeout", silent);
    } else if (slept && silent >= this.settings.suspectMs) {
      this.probe(Math.min(this.wakeProbeMs, this.settings.timeoutMs));
    } else if (silent >= this.settings.timeoutMs) {
      this.transition("dead", "timeout", silent);
    } else {
      if (silent >= this.settings.suspectMs && this._health === "alive") {
        this.transition("suspect", "silence", silent);
      }
      const { intervalMs } = this.settings;
      const idle = now - this.lastSentAt >= intervalMs;
      const unheard = silent >= intervalMs && now - this.lastPingAt >= intervalMs;
      if ((idle || unheard) && this.host.bufferedAmount() === 0) this.ping(now);
    }
    return this._health;
  }

  /** When the next decision could change something: schedule the next check for then. */
  nextCheckAt(): number {
    const { intervalMs, suspectMs, timeoutMs } = this.settings;
    const unheardAt = Math.max(this.lastInboundAt, this.lastPingAt) + intervalMs;
    let at = Math.min(this.lastSentAt + intervalMs, unheardAt, this.lastInboundAt + timeoutMs);
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
