/** Messages between bench/cluster.ts and its generator processes (bench/cluster/generator.ts). */
import type { MemberKind } from "./members.js";

export interface MemberPlan {
  /** The member's index in the room (its nickname is `u<index>`). */
  index: number;
  url: string;
  /** Source address of its socket (127.0.0.x). */
  localAddress: string;
}

export type GeneratorRequest =
  | { op: "connect"; kind: MemberKind; members: MemberPlan[] }
  /** `senders` (indices held by this process) each keep `window` sends in flight. */
  | { op: "flood"; senders: number[]; window: number; text: string; tag: string }
  | { op: "flood-stop" }
  /** Chat messages received by this process's members so far. */
  | { op: "count" }
  /** `sender` (when held here) sends `text`; answered when every member here has it, or at `timeoutMs`. */
  | { op: "probe"; text: string; sender: number | null; timeoutMs: number }
  | { op: "close" };

export interface GeneratorReply {
  members?: number;
  received?: number;
  /** wallMs of the probe's send (by the process holding the sender). */
  sentAt?: number;
  /** wallMs at which the last member of this process had the probe; null: not all had it in time. */
  lastAt?: number | null;
}
