import type { Socket } from "node:net";
import type WebSocket from "ws";

/** The limits, as the server's options name them (one object shared by all connections). */
export interface FragmentLimits {
  /** Frames one message may be split into. */
  maxFragmentsPerMessage: number;
  /** How long a fragmented message may stay incomplete. */
  maxFragmentedMessageMs: number;
}

/** Who is told when a client breaks the limits. */
export interface FragmentLimitListener {
  onFragmentLimit(why: string): void;
}

/** The parts of ws's Receiver (lib/receiver.js, ws 8) this guard reads; not in @types/ws. */
interface ReceiverState {
  _fragments: unknown[];
  /** The opcode of the message being assembled, 0 when none. */
  _fragmented: number;
}

/** One guarded socket's state, kept on the socket itself (see GUARD). */
interface Guard {
  receiver: ReceiverState;
  limits: FragmentLimits;
  listener: FragmentLimitListener;
  /** When the message being assembled became fragmented; 0 when none is. */
  incompleteSince: number;
  timer: NodeJS.Timeout | null;
}

const GUARD = Symbol("pulse.fragmentGuard");
type GuardedSocket = Socket & { [GUARD]?: Guard };

/**
 * Bounds how a client may fragment a message. `maxPayload` bounds the message's bytes, but
 * not the number of frames: 16,000 one-byte fragments held ~1.7 MB of heap per connection
 * (one Buffer and its bookkeeping each) for 100 KB sent, and a message left incomplete holds
 * it forever. ws has no option for either, so the guard looks at its Receiver after each chunk
 * of input (ws parses a chunk synchronously in its own 'data' listener, registered before
 * this one).
 *
 * The listener is one function for all sockets and the state one small object on the socket:
 * closures per connection cost a few hundred bytes of heap each, on every idle connection.
 */
export function guardFragments(ws: WebSocket, limits: FragmentLimits, listener: FragmentLimitListener): void {
  const internals = ws as unknown as { _socket?: GuardedSocket; _receiver?: ReceiverState };
  const raw = internals._socket;
  const receiver = internals._receiver;
  if (!raw || !receiver || !Array.isArray(receiver._fragments)) return;
  raw[GUARD] = { receiver, limits, listener, incompleteSince: 0, timer: null };
  raw.on("data", checkFragments);
}

/** Detaches the guard (the connection ended). */
export function unguardFragments(ws: WebSocket): void {
  const raw = (ws as unknown as { _socket?: GuardedSocket })._socket;
  const guard = raw?.[GUARD];
  if (!raw || !guard) return;
  clearTimer(guard);
  raw.off("data", checkFragments);
  delete raw[GUARD];
}

function checkFragments(this: GuardedSocket): void {
  const guard = this[GUARD];
  if (!guard) return;
  const { receiver, limits } = guard;
  if (receiver._fragmented === 0) {
    guard.incompleteSince = 0;
    return clearTimer(guard);
  }
  if (receiver._fragments.length > limits.maxFragmentsPerMessage) {
    clearTimer(guard);
    return guard.listener.onFragmentLimit(`a message in more than ${limits.maxFragmentsPerMessage} fragments`);
  }
  if (guard.incompleteSince === 0) {
    guard.incompleteSince = Date.now();
    guard.timer = setTimeout(() => {
      guard.timer = null;
      if (receiver._fragmented !== 0) guard.listener.onFragmentLimit(`a fragmented message incomplete for ${limits.maxFragmentedMessageMs} ms`);
    }, limits.maxFragmentedMessageMs);
    guard.timer.unref();
  }
}

function clearTimer(guard: Guard): void {
  if (guard.timer) clearTimeout(guard.timer);
  guard.timer = null;
}
