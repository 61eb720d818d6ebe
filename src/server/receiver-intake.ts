import { Writable } from "node:stream";
import type WebSocket from "ws";
import { pongFrameOfMaskedPing } from "./canonical-ping.js";
import { checkFragments, endWatch, type FragmentGuarded, type FragmentState } from "./fragment-guard.js";

/** The connection a tapped receiver works for. */
export interface IntakeTarget extends FragmentGuarded {
  /** A canonical ping arrived as one whole frame; `pong` is its answer, framed for the socket. */
  onCanonicalPing(pong: Buffer): void;
}

/** ws's Receiver (lib/receiver.js, ws 8): the state this module reads; not in @types/ws. */
interface ReceiverInternals extends FragmentState, Writable {
  /** 0 (GET_INFO): waiting for the first byte of a frame. */
  _state: number;
  /** Bytes received but not yet parsed. */
  _bufferedBytes: number;
  /** The last frame's opcode (8: a close frame arrived, and ws ignores all later input). */
  _opcode: number;
  _errored: boolean;
}

const INTAKE = Symbol("pulse.intake");
type TappedReceiver = ReceiverInternals & { [INTAKE]?: IntakeTarget | undefined };

/** What ws's Receiver does with a chunk: it inherits write from Writable. */
const writableWrite = Writable.prototype.write as (this: Writable, chunk: Buffer) => boolean;

const GET_INFO = 0;
const CLOSE_OPCODE = 8;

/**
 * Puts Pulse's intake in front of ws's Receiver. ws's 'data' listener hands every chunk the
 * socket reads to `receiver.write`; the tap replaces that method on this one receiver:
 *
 * - A chunk that is exactly one whole canonical ping frame, arriving while the receiver sits
 *   between frames with nothing buffered and no fragmented message open, is answered without
 *   ws: an idle connection's traffic is almost only that, and ws's stream machinery, frame
 *   parser and two event emissions were most of an idle server's JavaScript time per ping.
 *   Any other chunk (several frames, part of one, any other message, a ping in another form)
 *   goes to ws unchanged, so ws's checks (masking, UTF-8, sizes, close handshake) still apply.
 * - After ws parsed a chunk, the fragment limits are checked (see fragment-guard).
 *
 * Returns false (and taps nothing) if ws's internals are not what this module knows: the
 * server then works as before, only slower per ping, and without the fragment limits.
 */
export function tapReceiver(ws: WebSocket, target: IntakeTarget): boolean {
  const receiver = (ws as unknown as { _receiver?: TappedReceiver })._receiver;
  if (!receiver || !(receiver instanceof Writable) || !Array.isArray(receiver._fragments) || receiver._state !== GET_INFO || typeof receiver._bufferedBytes !== "number") return false;
  receiver[INTAKE] = target;
  receiver.write = intakeWrite as Writable["write"];
  return true;
}

/** The connection ended: the receiver stops reporting to it. */
export function untapReceiver(ws: WebSocket): void {
  const receiver = (ws as unknown as { _receiver?: TappedReceiver })._receiver;
  const target = receiver?.[INTAKE];
  if (!receiver || !target) return;
  endWatch(target);
  receiver[INTAKE] = undefined;
}

/** Shared by all receivers (`this` is one): no closure per connection. */
function intakeWrite(this: TappedReceiver, chunk: Buffer): boolean {
  const target = this[INTAKE];
  if (target && betweenFrames(this)) {
    const pong = pongFrameOfMaskedPing(chunk);
    if (pong) {
      target.onCanonicalPing(pong);
      return true;
    }
  }
  const more = writableWrite.call(this, chunk);
  if (target) checkFragments(this, target);
  return more;
}

/** Nothing of an earlier chunk is pending: a chunk that is one whole frame is that frame. */
function betweenFrames(r: TappedReceiver): boolean {
  return r._state === GET_INFO && r._bufferedBytes === 0 && r._fragmented === 0 && r.writableLength === 0 && r._opcode !== CLOSE_OPCODE && !r._errored;
}
