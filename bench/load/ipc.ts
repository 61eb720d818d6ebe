/** Messages between the coordinator (fleet.ts) and its generator processes (worker.ts). */
import type { ProtocolKind } from "./protocol.js";

export interface WorkerConfig {
  kind: ProtocolKind;
  host: string;
  port: number;
  /** Source address this worker binds its sockets to (127.0.0.x). */
  localAddress: string;
  /** Unique prefix for client ids and nicknames. */
  name: string;
  /** Reconnect after a close (reconnect storm); Socket.IO always uses its own reconnection. */
  reconnect: boolean;
  /** Parse message ids and keep them per client (loss accounting); costs CPU, off elsewhere. */
  track: boolean;
  /**
   * Dead-peer watch: detect a silent server the way that system's client does at its defaults.
   * Pulse: the welcome's liveness (ping after intervalMs idle, dead after timeoutMs of silence).
   * json: the ws README client pattern, dead when no ping arrives for this many ms.
   * Socket.IO: its client's own ping timeout.
   */
  watchPingGapMs?: number;
}

export type Command =
  | { op: "init"; config: WorkerConfig }
  | { op: "connect"; count: number; concurrency: number }
  | { op: "arm"; expect: number }
  | { op: "disarm" }
  | { op: "send"; conn: number; id: string; text: string }
  | { op: "count" }
  | { op: "flood"; senders: number; window: number; text: string }
  | { op: "flood-stop" }
  | { op: "trickle"; periodMs: number }
  | { op: "trickle-stop" }
  | { op: "status" }
  | { op: "join-big"; count: number }
  | { op: "quiet" }
  | { op: "traffic" }
  | { op: "loss" }
  | { op: "watch" }
  | { op: "close" };

/** Every command is answered with { re: its seq, ...result }; `event` messages are unsolicited. */
export type Request = Command & { seq: number };

export interface Status {
  total: number;
  ready: number;
  /** hrtime ms of each (re)connect that completed a join, since the last status call. */
  readyTimes: number[];
}
