/** The limits, as the server's options name them (one object shared by all connections). */
export interface FragmentLimits {
  /** Frames one message may be split into. */
  maxFragmentsPerMessage: number;
  /** How long a fragmented message may stay incomplete. */
  maxFragmentedMessageMs: number;
}

/** The parts of ws's Receiver (lib/receiver.js, ws 8) the guard reads; not in @types/ws. */
export interface FragmentState {
  _fragments: unknown[];
  /** The opcode of the message being assembled, 0 when none. */
  _fragmented: number;
}

/** The connection the guard works for. */
export interface FragmentGuarded {
  readonly fragmentLimits: FragmentLimits;
  /** The deadline of the fragmented message being assembled; null while none is (nearly always). */
  fragmentTimer: NodeJS.Timeout | null;
  /** The client broke the limits: close it. */
  onFragmentLimit(why: string): void;
}

/**
 * Bounds how a client may fragment a message. `maxPayload` bounds the message's bytes, but
 * not the number of frames: 16,000 one-byte fragments held ~1.7 MB of heap per connection
 * (one Buffer and its bookkeeping each) for 100 KB sent, and a message left incomplete holds
 * it forever. ws has no option for the time limit, so the guard looks at its Receiver after
 * each chunk of input, once ws has parsed it (ws parses a chunk synchronously; see
 * receiver-intake).
 */
export function checkFragments(receiver: FragmentState, guarded: FragmentGuarded): void {
  if (receiver._fragmented === 0) return endWatch(guarded);
  const limits = guarded.fragmentLimits;
  if (receiver._fragments.length > limits.maxFragmentsPerMessage) {
    endWatch(guarded);
    return guarded.onFragmentLimit(`a message in more than ${limits.maxFragmentsPerMessage} fragments`);
  }
  if (guarded.fragmentTimer) return;
  guarded.fragmentTimer = setTimeout(() => {
    guarded.fragmentTimer = null;
    if (receiver._fragmented !== 0) guarded.onFragmentLimit(`a fragmented message incomplete for ${limits.maxFragmentedMessageMs} ms`);
  }, limits.maxFragmentedMessageMs);
  guarded.fragmentTimer.unref();
}

/** No fragmented message is incomplete any more, or the connection ended. */
export function endWatch(guarded: FragmentGuarded): void {
  if (!guarded.fragmentTimer) return;
  clearTimeout(guarded.fragmentTimer);
  guarded.fragmentTimer = null;
}
