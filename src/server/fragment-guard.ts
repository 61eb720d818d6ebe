import type { Socket } from "node:net";
import type WebSocket from "ws";

export interface FragmentLimits {
  /** Frames one message may be split into. */
  maxFragments: number;
  /** How long a fragmented message may stay incomplete. */
  maxIncompleteMs: number;
}

/** The parts of ws's Receiver (lib/receiver.js, ws 8) this guard reads; not in @types/ws. */
interface ReceiverState {
  _fragments: unknown[];
  /** The opcode of the message being assembled, 0 when none. */
  _fragmented: number;
}

/**
 * Bounds how a client may fragment a message. `maxPayload` bounds the message's bytes, but
 * not the number of frames: 16,000 one-byte fragments held ~1.7 MB of heap per connection
 * (one Buffer and its bookkeeping each) for 100 KB sent, and a message left incomplete holds
 * it forever. ws has no option for either, so the guard looks at its Receiver after each chunk
 * of input (ws parses a chunk synchronously in its own 'data' listener, registered before
 * this one). Returns a function that detaches the guard.
 */
export function guardFragments(ws: WebSocket, limits: FragmentLimits, violated: (why: string) => void): () => void {
  const internals = ws as unknown as { _socket?: Socket; _receiver?: ReceiverState };
  const raw = internals._socket;
  const receiver = internals._receiver;
  if (!raw || !receiver || !Array.isArray(receiver._fragments)) return () => {};
  let incompleteSince = 0;
  let timer: NodeJS.Timeout | null = null;
  const clear = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  const onData = () => {
    if (receiver._fragmented === 0) {
      incompleteSince = 0;
      return clear();
    }
    if (receiver._fragments.length > limits.maxFragments) {
      clear();
      return violated(`a message in more than ${limits.maxFragments} fragments`);
    }
    if (incompleteSince === 0) {
      incompleteSince = Date.now();
      timer = setTimeout(() => {
        timer = null;
        if (receiver._fragmented !== 0) violated(`a fragmented message incomplete for ${limits.maxIncompleteMs} ms`);
      }, limits.maxIncompleteMs);
      timer.unref();
    }
  };
  raw.on("data", onData);
  return () => {
    clear();
    raw.off("data", onData);
  };
}
